"""What a model sees in a missing feature row: the rules of
``missing_features`` (mean, zeros, propagated from the co-interacted items
of the training graph) and models trained on data with missing rows."""

import numpy as np
import pytest
import torch

from mde_pyg.data import make_synthetic, write_inter
from mde_pyg.data.hetero import ITEM, item_sim, mask_key, split_edge_index
from mde_pyg.data.missing import (
    MISSING_FEATURES,
    check_missing_features,
    fill_missing_features,
    propagated_features,
)
from mde_pyg.errors import ConfigError
from mde_pyg.pipeline import (
    build_data,
    build_dataset,
    build_model,
    compose_config,
    train_one,
)


def features_and_mask(num_items=12, dim=5, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(num_items, dim, generator=gen)
    mask = torch.rand(num_items, generator=gen) < 0.6
    mask[0], mask[1] = True, False
    return x, mask


def dense_propagation(x, mask, edge_index, num_users):
    """The co-interaction mean from the dense R^T R, pair by pair."""
    r = torch.zeros(num_users, x.size(0))
    r[edge_index[0], edge_index[1]] = 1.0
    co = r.t() @ r
    out = torch.zeros_like(x)
    reached = torch.zeros(x.size(0), dtype=torch.bool)
    for i in range(x.size(0)):
        weight = co[i] * mask.float()
        if weight.sum() > 0:
            out[i] = (weight.view(-1, 1) * x).sum(0) / weight.sum()
            reached[i] = True
    return out, reached


def test_unknown_rules_are_refused_with_the_choices():
    assert MISSING_FEATURES == ("mean", "zeros", "propagate")
    assert check_missing_features("zeros") == "zeros"
    with pytest.raises(ConfigError, match="'median'.*'mean', 'zeros', 'propagate'"):
        check_missing_features("median")
    x, mask = features_and_mask()
    with pytest.raises(ConfigError, match="choose one of"):
        fill_missing_features(x, mask, "Mean")


def test_mean_and_zeros_replace_the_missing_rows_only():
    x, mask = features_and_mask()
    x[~mask] = float("nan")  # whatever a missing row holds is never read
    mean = fill_missing_features(x, mask, "mean")
    zeros = fill_missing_features(x, mask, "zeros")
    expected_mean = x[mask].double().mean(0).float()
    for out in (mean, zeros):
        assert torch.equal(out[mask], x[mask]) and torch.isfinite(out).all()
    assert torch.equal(mean[~mask], expected_mean.expand(int((~mask).sum()), -1))
    assert (zeros[~mask] == 0).all()
    # Nothing missing: the features themselves.
    clean = torch.randn(12, 5)
    assert fill_missing_features(clean, torch.ones(12, dtype=torch.bool)) is clean


def test_propagation_matches_the_dense_co_interaction_mean():
    x, mask = features_and_mask(num_items=15, seed=1)
    gen = torch.Generator().manual_seed(2)
    pairs = (torch.rand(9, 15, generator=gen) < 0.25).nonzero().t()
    # A duplicated pair counts once; item 14 is nobody's: nothing reaches it.
    pairs = torch.cat([pairs, pairs[:, :3]], 1)
    pairs = pairs[:, pairs[1] != 14]
    mask[14] = False
    out, reached = propagated_features(x, mask, pairs, num_users=9)
    expected, expected_reached = dense_propagation(x, mask, pairs, 9)
    assert torch.equal(reached, expected_reached) and not reached[14]
    assert torch.allclose(out, expected, atol=1e-6)
    filled = fill_missing_features(x, mask, "propagate", pairs, 9)
    assert torch.equal(filled[mask], x[mask])
    missing = ~mask
    assert torch.allclose(filled[missing & reached], expected[missing & reached])
    # Where no real row is reached, the mean of the real rows.
    mean = x[mask].double().mean(0).float()
    assert torch.equal(filled[14], mean)


def test_bad_masks_and_missing_graph_are_refused():
    x, mask = features_and_mask()
    with pytest.raises(ValueError, match="boolean tensor of shape \\[12\\]"):
        fill_missing_features(x, mask.float())
    with pytest.raises(ValueError, match="no row real"):
        fill_missing_features(x, torch.zeros(12, dtype=torch.bool))
    with pytest.raises(ValueError, match="needs 'edge_index'"):
        fill_missing_features(x, mask, "propagate")


# ------------------------------------------------- from the folder to a model
NUM_USERS, NUM_ITEMS = 40, 30


@pytest.fixture
def folder(tmp_path):
    """A tiny MMRec folder of synthetic data whose text rows are missing for
    every third item (``text_mask.npy``; the rows hold NaN)."""
    data = make_synthetic(
        num_users=NUM_USERS,
        num_items=NUM_ITEMS,
        interactions_per_user=6,
        modalities={"image": 8, "text": 6},
        seed=3,
    )
    path = tmp_path / "shop"
    path.mkdir()
    index = [split_edge_index(data, s) for s in ("train", "val", "test")]
    labels = torch.cat([i.new_full((i.size(1),), s) for s, i in enumerate(index)])
    pairs = torch.cat(index, dim=1)
    write_inter(path / "shop.inter", pairs[0], pairs[1], labels)
    has_text = np.arange(NUM_ITEMS) % 3 != 0
    text = data[ITEM].x_text.numpy().copy()
    text[~has_text] = np.nan
    np.save(path / "image_feat.npy", data[ITEM].x_image.numpy())
    np.save(path / "text_feat.npy", text)
    np.save(path / "text_mask.npy", has_text)
    return path


def overrides(folder, model, rule=None):
    """The run on ``folder``; ``rule=None`` leaves the rule to the model."""
    chosen = [] if rule is None else [f"dataset.missing_features={rule}"]
    return [
        "dataset=mmrec",
        f"dataset.folder={folder}",
        *chosen,
        f"model={model}",
        "model.graphs.k=4",
        "trainer.max_epochs=2",
        "trainer.device=cpu",
        "trainer.verbose=false",
        "checkpoint=false",
    ]


def test_a_model_config_chooses_the_rule_the_dataset_leaves_open(folder):
    base = overrides(folder, "mgcn")
    asks_zeros = [*base, "+model.dataset.missing_features=zeros"]
    cfg = compose_config(asks_zeros)
    assert cfg.dataset.missing_features == "zeros"
    chosen = build_dataset(cfg)[ITEM]
    default = build_dataset(compose_config(base))[ITEM]
    # What the user sets for the dataset wins over the model's choice.
    explicit = build_dataset(
        compose_config([*asks_zeros, "dataset.missing_features=mean"])
    )[ITEM]
    missing = ~chosen[mask_key("text")]
    assert bool((chosen.x_text[missing] == 0).all())
    real_mean = default.x_text[~missing].mean(0)
    assert torch.allclose(
        default.x_text[missing], real_mean.expand(int(missing.sum()), -1)
    )
    assert torch.equal(explicit.x_text, default.x_text)


@pytest.mark.parametrize(
    "override, message",
    [
        ("+model.dataset.fill=zeros", "'model.dataset.fill' is not a setting"),
        (
            "+model.dataset.missing_features=nearest",
            "model.dataset.missing_features='nearest'.*'propagate'",
        ),
    ],
)
def test_what_a_model_asks_of_its_dataset_is_checked(folder, override, message):
    base = overrides(folder, "mgcn")
    with pytest.raises(ConfigError, match=message):
        build_dataset(compose_config([*base, override]))


def test_an_unknown_rule_in_the_config_is_a_config_error(folder):
    cfg = compose_config(overrides(folder, "mgcn", "nearest"))
    with pytest.raises(
        ConfigError, match="dataset.missing_features='nearest'.*'propagate'"
    ):
        build_data(cfg)


@pytest.mark.parametrize("model", ["mgcn", "lattice", "mde"])
def test_a_model_config_may_link_items_through_filled_in_rows(folder, model):
    base = overrides(folder, model)
    skipped = build_data(compose_config([*base, "model.graphs.skip_missing=true"]))
    linked = build_data(compose_config([*base, "model.graphs.skip_missing=false"]))
    missing = ~linked[ITEM][mask_key("text")]
    for data, neighbours in ((skipped, 1), (linked, 4)):
        degree = torch.bincount(data[item_sim("text")].edge_index[1], minlength=30)
        assert bool((degree[missing] == neighbours).all())
    if model == "lattice":  # its learned graphs follow the frozen ones
        cfg = compose_config([*base, "model.skip_missing=false"])
        assert cfg.model.graphs.skip_missing is False
        assert build_model(cfg, linked).skip_missing is False


def test_skip_missing_must_be_a_bool(folder):
    maybe = "model.graphs.skip_missing=maybe"
    cfg = compose_config([*overrides(folder, "mgcn"), maybe])
    with pytest.raises(
        ConfigError,
        match=r"'model.graphs.skip_missing' must be of type bool .*got 'maybe'",
    ):
        build_data(cfg)


@pytest.mark.parametrize(
    "model, rule", [("mgcn", "zeros"), ("freedom", "propagate"), ("mde", "propagate")]
)
def test_models_train_on_missing_rows(folder, tmp_path, model, rule):
    # With skipping graphs: MGCN, FREEDOM and MDE link the rows by default
    # (test_a_model_config_may_link_items_through_filled_in_rows).
    skipped = "model.graphs.skip_missing=true"
    cfg = compose_config([*overrides(folder, model, rule), skipped])
    data = build_data(cfg)
    mask = data[ITEM][mask_key("text")]
    assert mask.tolist() == [i % 3 != 0 for i in range(NUM_ITEMS)]
    x = data[ITEM].x_text
    assert torch.isfinite(x).all()
    assert bool((x[~mask] == 0).all()) == (rule == "zeros")
    # The text graph links no item through a missing row (FREEDOM mixes the
    # modalities' graphs: tests/data/test_transforms.py).
    if model != "freedom":
        index = data[item_sim("text")].edge_index
        touches = ~mask[index[0]] | ~mask[index[1]]
        assert torch.equal(index[0, touches], index[1, touches])
    result = train_one(cfg, seed=0, output_dir=tmp_path / "run")
    assert result.epochs_run == 2
    assert all(np.isfinite(v) for v in result.test.values())
