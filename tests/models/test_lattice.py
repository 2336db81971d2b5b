import inspect

import pytest
import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_module
from model_helpers import CONTENT_PARAMETERS
from omegaconf import OmegaConf

from mde_pyg.data.graphs import to_adj
from mde_pyg.data.hetero import (
    INTERACTS_MEAN,
    ITEM,
    REV_INTERACTS_MEAN,
    USER,
    build_heterodata,
    item_sim,
    split_edge_index,
)
from mde_pyg.data.synthetic import make_synthetic
from mde_pyg.evaluation import evaluate_embeddings, evaluate_scores
from mde_pyg.models.base import BPRBatch
from mde_pyg.models.lattice import LATTICE
from mde_pyg.pipeline import check_kwargs
from mde_pyg.training.trainer import Trainer


# The published code (MMRec / CRIPAC-DIG LATTICE), dense, for reference.
def build_sim(x):
    x = x / x.norm(p=2, dim=-1, keepdim=True)
    return x @ x.t()


def build_knn_neighbourhood(adj, k):
    value, index = adj.topk(k, dim=-1)
    return torch.zeros_like(adj).scatter_(-1, index, value)


def compute_normalized_laplacian(adj):
    d_inv_sqrt = adj.sum(-1).pow(-0.5)
    d_inv_sqrt[torch.isinf(d_inv_sqrt)] = 0.0
    d = torch.diagflat(d_inv_sqrt)
    return d @ adj @ d


def dense_item_graph(model, features):
    weight = model.modality_weight.softmax(0)
    learned = sum(
        weight[m]
        * build_knn_neighbourhood(build_sim(model.projections[name](x)), model.k)
        for m, (name, x) in enumerate(features.items())
    )
    original = sum(
        weight[m]
        * compute_normalized_laplacian(
            build_knn_neighbourhood(build_sim(x.detach()), model.k)
        )
        for m, x in enumerate(features.values())
    )
    lam = model.lambda_coeff
    return (1 - lam) * compute_normalized_laplacian(learned) + lam * original


def dense_ui_adj(num_users, num_items, pairs):
    n = num_users + num_items
    adj = torch.zeros(n, n)
    adj[pairs[0], pairs[1] + num_users] = 1.0
    adj[pairs[1] + num_users, pairs[0]] = 1.0
    adj = adj + torch.eye(n)
    return adj / adj.sum(1, keepdim=True)


def dense_forward(model, features, pairs):
    item_adj = dense_item_graph(model, features)
    h = model.item_embedding.weight
    for _ in range(model.num_item_layers):
        h = item_adj @ h
    adj = dense_ui_adj(model.num_users, model.num_items, pairs)
    ego = torch.cat([model.user_embedding.weight, model.item_embedding.weight])
    layers = [ego]
    for _ in range(model.propagation.num_layers):
        ego = adj @ ego
        layers.append(ego)
    user, item = (
        torch.stack(layers, 1).mean(1).split([model.num_users, model.num_items])
    )
    return user, item + F.normalize(h, p=2, dim=1)


def small_problem(
    seed=0, num_users=30, num_items=25, modalities=(("image", 12), ("text", 7))
):
    gen = torch.Generator().manual_seed(seed)
    pairs = torch.stack(
        [
            torch.randint(0, num_users, (150,), generator=gen),
            torch.randint(0, num_items, (150,), generator=gen),
        ]
    ).unique(dim=1)
    features = {m: torch.randn(num_items, d, generator=gen) for m, d in modalities}
    return num_users, num_items, pairs, features


def raw_data(num_users, num_items, pairs, features):
    """The HeteroData of a small problem, without graphs."""
    empty = torch.empty(2, 0, dtype=torch.long)
    return build_heterodata(num_users, num_items, pairs, empty, empty, features)


def problem_data(num_users, num_items, pairs, features):
    """The HeteroData of a small problem with LATTICE's graphs on it."""
    raw = raw_data(num_users, num_items, pairs, features)
    return LATTICE.graph_transform(k=5)(raw)


def make_model(**kwargs):
    num_users, num_items, pairs, features = small_problem()
    data = problem_data(num_users, num_items, pairs, features)
    torch.manual_seed(0)
    kwargs = {"embedding_dim": 8, "feat_embed_dim": 6, "k": 5, **kwargs}
    model = LATTICE(num_users, num_items, features, **kwargs)
    # Unequal modality weights, so that the mixing is actually checked.
    with torch.no_grad():
        model.modality_weight.copy_(torch.linspace(0.4, -0.3, len(features)))
    return model, data, pairs, features


def test_frozen_graphs_match_dense_reference():
    # The frozen graphs are data now: LATTICE.graph_transform puts them on
    # the HeteroData (the model holds no copy of them).
    model, data, _, features = make_model()
    for name, x in features.items():
        store = data[item_sim(name)]
        expected = compute_normalized_laplacian(
            build_knn_neighbourhood(build_sim(x), 5)
        )
        assert torch.allclose(store.adj_t.to_dense(), expected, atol=1e-6)
        got = to_adj(store.edge_index, store.edge_weight, (model.num_items,) * 2)
        assert torch.allclose(got.to_dense(), expected, atol=1e-6)
        # k per item, self included, weights = similarities (before normalising).
        assert store.edge_index.size(1) == 25 * 5
    assert model.frozen_edge_types == [item_sim(m) for m in features]


def test_user_item_graph_on_data_matches_dense_reference():
    # Formerly the model's `ui_adj` buffer; now the two relations of
    # LATTICE.graph_transform plus their self-loop weights.
    model, data, pairs, _ = make_model()
    num_users = model.num_users
    to_item, to_user = data[INTERACTS_MEAN], data[REV_INTERACTS_MEAN]
    got = torch.zeros(num_users + model.num_items, num_users + model.num_items)
    got[num_users:, :num_users] = to_item.adj_t.to_dense()
    got[:num_users, num_users:] = to_user.adj_t.to_dense()
    got += torch.diag(torch.cat([to_user.self_weight, to_item.self_weight]))
    expected = dense_ui_adj(num_users, model.num_items, pairs)
    assert torch.allclose(got, expected, atol=1e-6)
    assert model.propagation.edge_types == [INTERACTS_MEAN, REV_INTERACTS_MEAN]


@pytest.mark.parametrize("modalities", [(("image", 12), ("text", 7)), (("image", 12),)])
def test_item_graph_matches_dense_reference(modalities):
    num_users, num_items, pairs, features = small_problem(modalities=modalities)
    data = problem_data(num_users, num_items, pairs, features)
    model = LATTICE(num_users, num_items, features, feat_embed_dim=6, k=5)
    with torch.no_grad():
        model.modality_weight.copy_(torch.linspace(0.4, -0.3, len(features)))
        edge_index, edge_weight = model.item_graph(data)
        expected = dense_item_graph(model, features)
    got = to_adj(edge_index, edge_weight, (num_items, num_items)).to_dense()
    assert torch.allclose(got, expected, atol=1e-6)


def test_first_batch_matches_dense_reference_values_and_gradients():
    model, data, pairs, features = make_model()
    batch = BPRBatch(
        torch.tensor([0, 3, 7, 7]),
        torch.tensor([1, 4, 2, 9]),
        torch.tensor([5, 6, 0, 8]),
    )
    model.reg_weight = 0.1
    model.on_epoch_start(data, 0)
    params = [p for p in model.parameters() if p.requires_grad]
    loss = model.loss(data, batch)
    grads = torch.autograd.grad(loss, params, allow_unused=True)

    user, item = dense_forward(model, {m: model.feature(m) for m in features}, pairs)
    u, p, n = user[batch.user], item[batch.pos], item[batch.neg]
    expected = -F.logsigmoid((u * p).sum(1) - (u * n).sum(1)).mean()
    expected = (
        expected
        + 0.1 * 0.5 * (u.square().sum() + p.square().sum() + n.square().sum()) / 4
    )
    expected_grads = torch.autograd.grad(expected, params, allow_unused=True)

    assert torch.allclose(loss, expected, atol=1e-6)
    for (name, _), got, want in zip(model.named_parameters(), grads, expected_grads):
        assert got is not None and want is not None, name
        assert torch.allclose(got, want, atol=1e-5), name


def test_learned_graph_gradient_on_first_batch_of_each_epoch_only():
    model, data, _, _ = make_model()
    batch = BPRBatch(torch.tensor([0, 1]), torch.tensor([2, 3]), torch.tensor([4, 5]))
    learned = [model.modality_weight, model.x_image, model.x_text]
    learned += [p for proj in model.projections.values() for p in proj.parameters()]
    for epoch in range(2):
        model.on_epoch_start(data, epoch)
        model.zero_grad(set_to_none=True)
        model.loss(data, batch).backward()
        for p in learned:
            assert p.grad is not None and p.grad.abs().sum() > 0
        model.zero_grad(set_to_none=True)
        model.loss(data, batch).backward()
        for p in learned:
            assert p.grad is None
        assert model.item_embedding.weight.grad.abs().sum() > 0


def test_embeddings_rebuild_the_graph_from_current_parameters():
    model, data, pairs, features = make_model()
    model.on_epoch_start(data, 0)
    with torch.no_grad():
        for proj in model.projections.values():
            proj.weight.mul_(-2.0).add_(0.3)
        user, item = model.embeddings(data)
        expected_user, expected_item = dense_forward(model, features, pairs)
    assert not user.requires_grad and not item.requires_grad
    assert torch.allclose(user, expected_user, atol=1e-6)
    assert torch.allclose(item, expected_item, atol=1e-6)


def test_shapes_repr_reset_and_state_dict():
    data = LATTICE.graph_transform(k=4)(
        make_synthetic(num_users=50, num_items=40, seed=1)
    )
    model = LATTICE.from_data(data, embedding_dim=16, k=4)
    user, item = model(data)
    assert user.shape == (50, 16) and item.shape == (40, 16)
    assert model.modalities == ["image", "text"]
    text = repr(model)
    assert text.startswith("LATTICE(num_users=50, num_items=40")
    assert (
        "k=4" in text
        and "lambda_coeff=0.9" in text
        and "modalities=['image', 'text']" in text
    )
    # The model holds no graph (they are on the data): no buffers at all, so
    # nothing derived is checkpointed; fine-tuned features are.
    assert dict(model.named_buffers()) == {}
    assert set(model.state_dict()) == CONTENT_PARAMETERS | {"modality_weight"}
    # Fine-tuning must not write into the dataset's features.
    assert model.x_image.data_ptr() != data[ITEM].x_image.data_ptr()

    before = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        model.modality_weight.add_(1.0)
    model.reset_parameters()
    after = model.state_dict()
    for key in (
        "user_embedding.weight",
        "item_embedding.weight",
        "projections.text.weight",
    ):
        assert not torch.equal(before[key], after[key])
    assert torch.equal(before["x_image"], after["x_image"])
    assert torch.allclose(model.modality_weight, torch.full((2,), 0.5))


def test_freeze_features_keeps_them_out_of_parameters_and_state_dict():
    model, data, _, features = make_model(freeze_features=True)
    names = {name for name, _ in model.named_parameters()}
    assert "x_image" not in names and "x_image" not in model.state_dict()
    assert torch.equal(model.x_image, features["image"])
    batch = BPRBatch(torch.tensor([0]), torch.tensor([2]), torch.tensor([4]))
    model.on_epoch_start(data, 0)
    model.loss(data, batch).backward()
    assert model.projections["image"].weight.grad.abs().sum() > 0
    assert "freeze_features=True" in repr(model)


def test_frozen_graphs_are_cached_on_disk(tmp_path):
    # The cache moved from the constructor to LATTICE.graph_transform: two
    # transforms on the same features share the files of the frozen graphs.
    problem = small_problem()
    first = LATTICE.graph_transform(k=5, cache_dir=tmp_path)(raw_data(*problem))
    assert len(list(tmp_path.glob("graph-*.pt"))) == 2
    transform = LATTICE.graph_transform(k=5, cache_dir=tmp_path)
    second = transform(raw_data(*problem))
    cache = transform.transforms[-1].cache
    assert (cache.hits, cache.misses) == (2, 0)
    for modality in problem[3]:
        got, want = second[item_sim(modality)], first[item_sim(modality)]
        assert torch.equal(got.edge_index, want.edge_index)
        assert torch.equal(got.edge_weight, want.edge_weight)
    LATTICE.graph_transform(k=6, cache_dir=tmp_path)(raw_data(*problem))
    assert len(list(tmp_path.glob("graph-*.pt"))) == 4


def test_invalid_arguments():
    num_users, num_items, _, features = small_problem()
    with pytest.raises(ValueError, match="at least one"):
        LATTICE(num_users, num_items, {})
    with pytest.raises(ValueError, match="'image'.*num_items=25"):
        LATTICE(num_users, num_items, {"image": torch.randn(3, 4)})
    with pytest.raises(ValueError, match="lambda_coeff"):
        LATTICE(num_users, num_items, features, lambda_coeff=1.5)
    # The learned graph's k is refused at construction, not at the first step.
    with pytest.raises(ValueError, match=r"'k' must be >= 1 \(got 0\)"):
        LATTICE(num_users, num_items, features, k=0)


def test_training_beats_popularity_on_synthetic():
    data = LATTICE.graph_transform()(
        make_synthetic(num_users=300, num_items=150, interactions_per_user=12, seed=0)
    )
    train, val = split_edge_index(data, "train"), split_edge_index(data, "val")
    num_users, num_items = data[USER].num_nodes, data[ITEM].num_nodes
    counts = torch.bincount(train[1], minlength=num_items).float()
    popularity = evaluate_scores(counts.expand(num_users, -1), train, val, k=20)

    torch.manual_seed(0)
    model = LATTICE.from_data(data, reg_weight=1e-4)
    trainer = Trainer(
        model,
        data,
        lr=5e-3,
        batch_size=512,
        max_epochs=30,
        patience=30,
        lr_decay=0.96,
        lr_decay_every=50,
    )
    result = trainer.fit()
    user, item = model.embeddings(data)
    recall = evaluate_embeddings(user, item, train, val, k=20)["recall@20"]
    assert recall == pytest.approx(result.best_val["recall@20"])
    assert recall > popularity["recall@20"] + 0.02


def test_configs_compose_with_the_published_grid_and_schedule():
    with initialize_config_module("mde_pyg.conf", version_base="1.3"):
        cfg = compose(
            "config", overrides=["experiment=lattice_grid"], return_hydra_config=True
        )
    model = OmegaConf.to_container(cfg.model, resolve=True)
    assert model["_target_"] == "mde_pyg.models.LATTICE.from_data"
    graphs = model.pop("graphs")
    # The trainer settings the model asks for: the reference schedule.
    assert model.pop("trainer") == {"lr_decay": 0.96, "lr_decay_every": 50}
    check_kwargs(
        "model",
        model,
        LATTICE.from_data,
        provided=("num_users", "num_items", "features"),
    )
    check_kwargs("model.graphs", graphs, LATTICE.graph_transform)
    # Every option of the constructor is in the config, with its default.
    defaults = {
        name: p.default
        for name, p in inspect.signature(LATTICE.__init__).parameters.items()
        if p.default is not inspect.Parameter.empty
    }
    assert {k: v for k, v in model.items() if k != "_target_"} == defaults
    # The graph options are those of graph_transform, with their defaults.
    transform_defaults = {
        name: p.default
        for name, p in inspect.signature(LATTICE.graph_transform).parameters.items()
        if p.default is not inspect.Parameter.empty
    }
    assert {"k", "cache_dir"} <= graphs.keys()
    assert graphs.items() <= transform_defaults.items()
    assert (cfg.trainer.lr_decay, cfg.trainer.lr_decay_every) == (0.96, 50)
    params = cfg.hydra.sweeper.params
    assert params["trainer.lr"] == "1e-4,5e-4,1e-3,5e-3"
    assert params["model.reg_weight"] == "0,1e-5,1e-4,1e-3"


def test_learned_and_frozen_graphs_link_no_item_through_a_missing_row():
    num_users, num_items, pairs, features = small_problem(seed=3)
    missing = torch.arange(num_items) % 4 == 1
    features["text"][missing] = features["text"][~missing].mean(0)
    raw = build_heterodata(
        num_users,
        num_items,
        pairs,
        *(torch.empty(2, 0, dtype=torch.long),) * 2,
        features,
        masks={"text": ~missing},
    )
    data = LATTICE.graph_transform(k=5)(raw)
    torch.manual_seed(0)
    model = LATTICE(num_users, num_items, features, embedding_dim=8, k=5)
    index, _, _ = model.learned_graph(data)
    text = slice(num_items * 5, None)  # the image graph's edges come first
    for edge_index in (index[:, text], data[item_sim("text")].edge_index):
        touches = missing[edge_index[0]] | missing[edge_index[1]]
        assert torch.equal(edge_index[0, touches], edge_index[1, touches])
        assert int(touches.sum()) == int(missing.sum())
    # The image rows are all real: every item has its 5 image neighbours.
    assert torch.equal(
        index[1, : num_items * 5].bincount(), torch.full((num_items,), 5)
    )
    model.loss(data, BPRBatch(pairs[0, :4], pairs[1, :4], pairs[1, 4:8])).backward()
    assert torch.isfinite(model.x_text.grad).all()
