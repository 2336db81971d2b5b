"""VBPR against an independent computation of the published model (MMRec's
``models/vbpr.py``): score, loss, cold items, config."""

import pytest
import torch
from model_helpers import (
    assert_training_lowers_the_loss,
    assert_trains_reproducibly_on_cpu,
    make_batch,
    model_data,
)

from mde_pyg.data import make_synthetic
from mde_pyg.data.hetero import item_features
from mde_pyg.models import VBPR
from mde_pyg.pipeline import add_graphs, build_model, compose_config

DIM = 8
NUM_USERS, NUM_ITEMS = 40, 30
make_data = model_data(VBPR, NUM_USERS, NUM_ITEMS)


def reference_embeddings(model, data):
    """The published forward: users [n, 2d] as one matrix, items
    [i_embedding, Linear(raw features)], the features concatenated."""
    x = item_features(data)
    raw = torch.cat([x[m] for m in model.modalities], dim=-1)
    w, b = model.projection.weight, model.projection.bias
    users = torch.cat(
        [model.user_embedding.weight, model.user_content_embedding.weight], 1
    )
    items = torch.cat([model.item_embedding.weight, raw @ w.t() + b], 1)
    return users, items


def test_score_is_id_part_plus_content_part():
    torch.manual_seed(0)
    data = make_data()
    model = VBPR.from_data(data, embedding_dim=DIM)
    with torch.no_grad():  # a non-zero bias, so that it is checked too
        model.projection.bias.normal_()
    user_emb, item_emb = model(data)
    assert user_emb.shape == (NUM_USERS, 2 * DIM)
    assert item_emb.shape == (NUM_ITEMS, 2 * DIM)
    x = item_features(data)
    f = torch.cat([x["image"], x["text"]], 1)
    gamma_u, theta_u = model.user_embedding.weight, model.user_content_embedding.weight
    content = f @ model.projection.weight.t() + model.projection.bias
    expected = gamma_u @ model.item_embedding.weight.t() + theta_u @ content.t()
    torch.testing.assert_close(user_emb @ item_emb.t(), expected)
    ref_u, ref_i = reference_embeddings(model, data)
    torch.testing.assert_close(user_emb, ref_u)
    torch.testing.assert_close(item_emb, ref_i)


@pytest.mark.parametrize("reg_weight", [0.0, 0.1])
def test_loss_is_the_reference(reg_weight):
    torch.manual_seed(0)
    data = make_data()
    model = VBPR.from_data(data, embedding_dim=DIM, reg_weight=reg_weight)
    batch = make_batch(data)
    users, items = reference_embeddings(model, data)
    u, p, n = users[batch.user], items[batch.pos], items[batch.neg]
    # MMRec's BPRLoss (gamma 1e-10) and EmbLoss (unsquared norms / batch).
    bpr = -torch.log(1e-10 + torch.sigmoid((u * p).sum(1) - (u * n).sum(1))).mean()
    reg = (u.norm() + p.norm() + n.norm()) / batch.user.numel()
    expected = bpr + reg_weight * reg
    torch.testing.assert_close(model.loss(data, batch), expected, atol=1e-6, rtol=1e-5)


def test_parameters_and_init():
    data = make_data()
    model = VBPR.from_data(data, embedding_dim=DIM)
    # Fixed features by default (buffers, not in the state dict).
    assert set(model.state_dict()) == {
        "user_embedding.weight",
        "item_embedding.weight",
        "user_content_embedding.weight",
        "projection.weight",
        "projection.bias",
    }
    assert model.has_content_path()
    assert model.projection.in_features == 24
    assert torch.equal(model.projection.bias, torch.zeros(DIM))
    assert "reg_weight=0.0001" in repr(model) and "embedding_dim=8" in repr(model)
    before = model.user_content_embedding.weight.clone()
    model.reset_parameters()
    assert not torch.equal(before, model.user_content_embedding.weight)
    tuned = VBPR.from_data(data, embedding_dim=DIM, freeze_features=False)
    assert "x_image" in dict(tuned.named_parameters())
    single = VBPR.from_data(make_data({"text": 5}), embedding_dim=DIM)
    assert single.projection.in_features == 5


def test_cold_items_score_by_content_alone():
    torch.manual_seed(0)
    data = make_data()
    model = VBPR.from_data(data, embedding_dim=DIM)
    items = torch.tensor([3, 0, 7])
    cold = model.cold_item_embeddings(data, items)
    assert cold.shape == (3, 2 * DIM) and not cold.requires_grad
    assert torch.equal(cold[:, :DIM], torch.zeros(3, DIM))
    _, item_emb = model(data)
    torch.testing.assert_close(cold[:, DIM:], item_emb[items, DIM:])
    # The ID factors of the items do not move it.
    with torch.no_grad():
        model.item_embedding.weight.normal_()
    torch.testing.assert_close(model.cold_item_embeddings(data, items), cold)
    ids, scores = model.recommend_cold(data, torch.tensor([0, 1]), items, k=3)
    theta = model.user_content_embedding.weight[:2]
    expected = theta @ cold[:, DIM:].t()
    torch.testing.assert_close(scores, expected.sort(1, descending=True).values)
    with pytest.raises(ValueError, match="out of range"):
        model.cold_item_embeddings(data, torch.tensor([NUM_ITEMS]))


def test_training_lowers_the_loss():
    torch.manual_seed(0)
    data = make_data()
    model = VBPR.from_data(data, embedding_dim=DIM)
    assert_training_lowers_the_loss(model, data)


def test_config_builds_vbpr():
    cfg = compose_config(["model=vbpr", "model.reg_weight=0.01"])
    data = add_graphs(cfg, make_synthetic(num_users=60, num_items=50, seed=0))
    model = build_model(cfg, data)
    assert isinstance(model, VBPR) and model.reg_weight == 0.01
    assert model.freeze_features and model.embedding_dim == 64


def test_trains_reproducibly_on_cpu():
    assert_trains_reproducibly_on_cpu(VBPR)
