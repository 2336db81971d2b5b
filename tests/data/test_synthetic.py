import math

import pytest
import torch

from mde_pyg.data.hetero import (
    INTERACTS,
    ITEM,
    REV_INTERACTS,
    USER,
    item_features,
    split_edge_index,
)
from mde_pyg.data.synthetic import make_synthetic


def tensors(data):
    return {
        (type_, key): value
        for type_, store in zip(
            data.node_types + data.edge_types, data.node_stores + data.edge_stores
        )
        for key, value in store.items()
    }


def test_deterministic_by_seed():
    first, again = make_synthetic(300, 120, seed=3), make_synthetic(300, 120, seed=3)
    other = make_synthetic(300, 120, seed=4)
    a, b = tensors(first), tensors(again)
    assert a.keys() == b.keys()
    for key, value in a.items():
        assert torch.equal(value, b[key]) if torch.is_tensor(value) else value == b[key]
    assert not torch.equal(
        split_edge_index(first, "train"), split_edge_index(other, "train")
    )
    assert not torch.equal(first[ITEM].x_image, other[ITEM].x_image)


def test_layout_and_shapes():
    data = make_synthetic(200, 90, modalities={"v": 12, "t": 7, "a": 5}, seed=0)
    assert data[USER].num_nodes == 200 and data[ITEM].num_nodes == 90
    assert list(item_features(data)) == ["v", "t", "a"]
    assert [x.shape for x in item_features(data).values()] == [
        (90, 12),
        (90, 7),
        (90, 5),
    ]
    assert all(x.dtype == torch.float32 for x in item_features(data).values())
    train = split_edge_index(data, "train")
    assert torch.equal(data[REV_INTERACTS].edge_index, train.flip(0))
    for split in ("train", "val", "test"):
        index = split_edge_index(data, split)
        assert index.dtype == torch.long and index.size(0) == 2
        assert index[0].max() < 200 and index[1].max() < 90
    # No pair twice, neither within nor across splits.
    pairs = torch.cat([split_edge_index(data, s) for s in ("train", "val", "test")], 1)
    keys = pairs[0] * 90 + pairs[1]
    assert keys.unique().numel() == keys.numel()
    assert set(data.edge_types) == {INTERACTS, REV_INTERACTS}


def test_per_user_split_rule():
    data = make_synthetic(500, 200, interactions_per_user=12, seed=1)
    counts = [
        torch.bincount(split_edge_index(data, s)[0], minlength=500)
        for s in ("train", "val", "test")
    ]
    n = sum(counts)
    assert n.min() >= 5 and (counts[0] > 0).all()
    assert abs(n.float().mean().item() - 12) < 1.0
    held_out = n // 5
    expected_val = torch.where(n < 10, 1, held_out // 2)
    expected_test = torch.where(n < 10, 1, held_out - held_out // 2)
    assert torch.equal(counts[1], expected_val) and torch.equal(
        counts[2], expected_test
    )
    # Both branches of the rule occur.
    assert (n < 10).any() and (n >= 10).any()


def test_small_catalogue_and_arguments():
    data = make_synthetic(num_users=40, num_items=8, seed=0)
    n = torch.bincount(
        torch.cat([split_edge_index(data, s) for s in ("train", "val", "test")], 1)[0]
    )
    assert n.max() <= 8 and n.min() >= 5
    # Every user still has an item left to sample as a negative.
    assert torch.bincount(split_edge_index(data, "train")[0]).max() < 8
    with pytest.raises(ValueError, match="interactions_per_user"):
        make_synthetic(interactions_per_user=3)
    with pytest.raises(ValueError, match="num_items"):
        make_synthetic(num_items=4)
    with pytest.raises(ValueError, match=r"'num_users' must be >= 1 \(got 0\)"):
        make_synthetic(num_users=0)


def recall_at(score, train, test, k=20):
    score = score.clone()
    score[train[0], train[1]] = float("-inf")
    hit = torch.zeros_like(score, dtype=torch.bool)
    hit[test[0], test[1]] = True
    hits = hit.gather(1, score.topk(k, dim=1).indices).sum(1).float()
    return (hits / hit.sum(1).clamp(min=1)).mean().item()


def test_specific_latents_drive_interactions():
    data, latents = make_synthetic(
        800, 300, popularity=0.0, seed=2, return_latents=True
    )
    train, test = split_edge_index(data, "train"), split_edge_index(data, "test")
    shared = latents["user_shared"] @ latents["item_shared"].t()
    specific = {
        m: latents["user_specific"][m] @ latents["item_specific"][m].t()
        for m in ("image", "text")
    }
    full = recall_at(shared + specific["image"] + specific["text"], train, test)
    shared_only = recall_at(shared, train, test)
    image_only = recall_at(shared + specific["image"], train, test)
    chance = 20 / 300
    assert full > image_only + 0.08 and image_only > shared_only + 0.08
    assert shared_only > 2 * chance


def probe_r2(x, target):
    """R^2 of a least-squares linear probe from x (with bias) to target."""
    design = torch.cat([x, torch.ones(x.size(0), 1)], 1).double()
    target = target.double()
    solution = torch.linalg.lstsq(design, target).solution
    residual = target - design @ solution
    return 1 - residual.pow(2).sum() / (target - target.mean(0)).pow(2).sum()


def test_features_carry_shared_and_specific_parts():
    # 3000 items for 65 probe parameters: chance R^2 is about 65 / 3000.
    data, latents = make_synthetic(50, 3000, seed=3, return_latents=True)
    x = item_features(data)
    # Each modality recovers the shared latent and its own specific latent,
    # but nothing of the other modality's specific latent.
    for m, other in (("image", "text"), ("text", "image")):
        assert probe_r2(x[m], latents["item_shared"]) > 0.95
        assert probe_r2(x[m], latents["item_specific"][m]) > 0.95
        assert probe_r2(x[m], latents["item_specific"][other]) < 0.1
    projection = latents["projection"]["image"]
    assert projection.shape == (16, 64)
    assert math.isclose(projection.pow(2).sum(0).mean().item(), 1.0, rel_tol=0.3)
