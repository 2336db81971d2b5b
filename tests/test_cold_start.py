"""Cold-start items: items with features but no training interaction, in the
loader (``load_mmrec(num_items=...)``), in the models with a content path
(``cold_item_embeddings``) and in ``recommend_cold``."""

import warnings

import numpy as np
import pytest
import torch

from mde_pyg.data import make_synthetic
from mde_pyg.data.hetero import build_heterodata, item_features, split_edge_index
from mde_pyg.data.inter import write_inter
from mde_pyg.data.mmrec import load_mmrec
from mde_pyg.data.sampler import BPRSampler
from mde_pyg.errors import DatasetError
from mde_pyg.models import FREEDOM, LATTICE, MDE, MGCN, LightGCN

RNG = np.random.default_rng(0)
NUM_USERS, NUM_ITEMS, NUM_WARM = 40, 30, 24
COLD = torch.arange(NUM_WARM, NUM_ITEMS)


def write_folder(tmp_path, rows=NUM_ITEMS, text_rows=None, name="toy"):
    """An MMRec folder whose interactions name items ``0..NUM_WARM - 1`` only
    and whose feature files have ``rows`` (image) and ``text_rows`` rows."""
    folder = tmp_path / name
    folder.mkdir()
    gen = np.random.default_rng(1)
    user, item, label = [], [], []
    for u in range(NUM_USERS):
        picked = gen.choice(NUM_WARM, size=6, replace=False)
        user += [u] * 6
        item += picked.tolist()
        label += [0, 0, 0, 0, 1, 2]
    write_inter(folder / f"{name}.inter", user, item, label)
    np.save(folder / "image_feat.npy", RNG.random((rows, 8)).astype(np.float32))
    text_rows = rows if text_rows is None else text_rows
    np.save(folder / "text_feat.npy", RNG.random((text_rows, 5)).astype(np.float32))
    return folder


# ---------------------------------------------------------------- loader
def test_loader_infers_cold_items_from_the_feature_rows(tmp_path):
    folder = write_folder(tmp_path)
    with pytest.warns(UserWarning, match=r"items 24\.\.29 have no interaction"):
        data = load_mmrec(folder)
    assert data["item"].num_nodes == NUM_ITEMS
    assert data["item"].x_image.shape == (NUM_ITEMS, 8)
    assert data["item"].x_text.shape == (NUM_ITEMS, 5)
    seen = torch.cat([split_edge_index(data, s)[1] for s in ("train", "val", "test")])
    assert int(seen.max()) < NUM_WARM


def test_loader_takes_num_items_explicitly(tmp_path):
    folder = write_folder(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data = load_mmrec(folder, num_items=NUM_ITEMS)
    assert data["item"].num_nodes == NUM_ITEMS
    # Without features, num_items alone extends the catalogue.
    bare = load_mmrec(folder, modalities=[], num_items=50)
    assert bare["item"].num_nodes == 50 and item_features(bare) == {}


def test_loader_without_cold_items_is_unchanged(tmp_path):
    folder = write_folder(tmp_path, rows=NUM_WARM)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data = load_mmrec(folder)
    assert data["item"].num_nodes == NUM_WARM


@pytest.mark.parametrize(
    ("rows", "text_rows", "num_items", "match"),
    [
        # The feature files disagree: no catalogue size can be inferred.
        (NUM_ITEMS, NUM_ITEMS - 2, None, r"disagree on the number of items"),
        # num_items given, but the files have another number of rows.
        (NUM_ITEMS, NUM_ITEMS, NUM_ITEMS + 1, r"have 30 rows but num_items=31"),
        # num_items below the interactions' items.
        (NUM_ITEMS, NUM_ITEMS, NUM_WARM - 1, r"num_items=23 must be .* at least"),
        # Too few rows for the interactions: the loader's usual error.
        (NUM_WARM - 1, NUM_WARM - 1, None, r"have 23 rows but the dataset has 24"),
    ],
)
def test_loader_errors_when_the_rows_still_disagree(
    tmp_path, rows, text_rows, num_items, match
):
    folder = write_folder(tmp_path, rows=rows, text_rows=text_rows)
    with pytest.raises(DatasetError, match=match):
        load_mmrec(folder, num_items=num_items)


# ---------------------------------------------------------------- models
@pytest.fixture(scope="module")
def cold_data():
    """Synthetic data whose items ``COLD`` have no training (or validation)
    interaction: those pairs become test pairs."""
    data = make_synthetic(num_users=NUM_USERS, num_items=NUM_ITEMS, seed=0)
    train, val, test = (split_edge_index(data, s) for s in ("train", "val", "test"))
    warm_train = ~torch.isin(train[1], COLD)
    warm_val = ~torch.isin(val[1], COLD)
    test = torch.cat([test, train[:, ~warm_train], val[:, ~warm_val]], dim=1)
    return build_heterodata(
        NUM_USERS,
        NUM_ITEMS,
        train[:, warm_train],
        val[:, warm_val],
        test,
        features=item_features(data),
    )


GRAPH_OPTIONS = {
    MDE: {"k": 5, "user_k": 10},
    MGCN: {"k": 5},
    LATTICE: {"k": 5},
    FREEDOM: {"k": 5},
    LightGCN: {},
}


def with_graphs(model_cls, data):
    return model_cls.graph_transform(**GRAPH_OPTIONS[model_cls])(data.clone())


def build(model_cls, data, **kwargs):
    data = with_graphs(model_cls, data)
    torch.manual_seed(0)
    return model_cls.from_data(data, **kwargs), data


def train_briefly(model, data, steps=3):
    train = split_edge_index(data, "train")
    sampler = BPRSampler(
        train,
        model.num_users,
        model.num_items,
        batch_size=64,
        generator=torch.Generator().manual_seed(0),
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    model.on_epoch_start(data, 0)
    for _, batch in zip(range(steps), sampler):
        optimizer.zero_grad()
        model.loss(data, batch).backward()
        optimizer.step()
    return model.eval()


CONTENT_MODELS = [
    (MDE, {}),
    (MDE, {"encoder": "feature_mlp"}),
    (MGCN, {}),
    (LATTICE, {}),
    (FREEDOM, {}),
]


@pytest.mark.parametrize(("model_cls", "kwargs"), CONTENT_MODELS)
def test_cold_item_embeddings_shape_and_finite(cold_data, model_cls, kwargs):
    model, data = build(model_cls, cold_data, embedding_dim=16, **kwargs)
    emb = model.cold_item_embeddings(data, COLD)
    assert emb.shape == (COLD.numel(), 16)
    assert bool(torch.isfinite(emb).all()) and bool((emb.norm(dim=1) > 0).all())
    assert not emb.requires_grad
    # Any integer ids, in any order.
    some = model.cold_item_embeddings(data, [COLD[2].item(), COLD[0].item()])
    torch.testing.assert_close(some, emb[[2, 0]])
    with pytest.raises(ValueError, match="item id 30 is out of range for 30 items"):
        model.cold_item_embeddings(data, torch.tensor([NUM_ITEMS]))


@pytest.mark.parametrize(("model_cls", "kwargs"), CONTENT_MODELS)
def test_cold_item_embeddings_ignore_the_cold_id_embeddings(
    cold_data, model_cls, kwargs
):
    # A cold item's ID embedding was never trained on a positive pair: it
    # must not move the result.
    model, data = build(model_cls, cold_data, embedding_dim=16, **kwargs)
    before = model.cold_item_embeddings(data, COLD)
    with torch.no_grad():
        model.item_embedding.weight[COLD] = torch.randn(COLD.numel(), 16)
    torch.testing.assert_close(model.cold_item_embeddings(data, COLD), before)
    # ...but it does depend on the cold items' features (the content path),
    # through the item graphs built on them.
    altered = cold_data.clone()
    for name, x in item_features(altered).items():
        x = x.clone()
        x[COLD] = torch.randn(COLD.numel(), x.size(1))
        altered["item"][f"x_{name}"] = x
    after = model.cold_item_embeddings(with_graphs(model_cls, altered), COLD)
    assert not torch.allclose(after, before)


def test_cold_items_are_the_items_without_training_interactions(cold_data):
    model, data = build(MDE, cold_data, embedding_dim=8)
    assert torch.equal(model.cold_items(data), COLD)


def test_lightgcn_has_no_content_path(cold_data):
    model, data = build(LightGCN, cold_data)
    assert not model.has_content_path()
    message = "LightGCN has no content path: it cannot score items without interactions"
    with pytest.raises(NotImplementedError, match=message):
        model.cold_item_embeddings(data, COLD)
    with pytest.raises(NotImplementedError, match=message):
        model.recommend_cold(data, torch.arange(3), COLD)


# ------------------------------------------------------------ end to end
@pytest.mark.parametrize("model_cls", [MDE, MGCN, LATTICE, FREEDOM])
def test_recommend_among_cold_items_end_to_end(tmp_path, model_cls):
    folder = write_folder(tmp_path)
    data = load_mmrec(folder, num_items=NUM_ITEMS)
    model, data = build(model_cls, data, embedding_dim=16)
    model = train_briefly(model, data)
    users = torch.tensor([0, 3, 3, 39])
    items, scores = model.recommend_cold(data, users, COLD, k=4)
    assert items.shape == scores.shape == (4, 4)
    assert set(items.flatten().tolist()) <= set(COLD.tolist())
    assert bool((scores[:, 1:] <= scores[:, :-1]).all())
    assert torch.equal(items[1], items[2])
    # The scores are those of the cold embeddings against the user embeddings.
    user_emb, _ = model.embeddings(data)
    cold_emb = model.cold_item_embeddings(data, COLD)
    expected = user_emb[users] @ cold_emb.t()
    position = items - NUM_WARM
    torch.testing.assert_close(scores, expected.gather(1, position))
    # k past the candidates: padded; a subset of candidates maps back.
    items, scores = model.recommend_cold(data, users[:1], COLD[:3], k=5)
    assert set(items[0, :3].tolist()) == set(COLD[:3].tolist())
    assert items[0, 3:].eq(-1).all() and torch.isneginf(scores[0, 3:]).all()
    with pytest.raises(ValueError, match="must not repeat"):
        model.recommend_cold(data, users, torch.tensor([25, 25]))
