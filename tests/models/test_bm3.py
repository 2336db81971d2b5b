"""BM3 against an independent dense computation of the published model
(MMRec's ``models/bm3.py``): online embeddings, the dropout target views and
the cosine alignment losses (no negatives), cold items, config."""

import pytest
import torch
import torch.nn.functional as F
from model_helpers import (
    CONTENT_PARAMETERS,
    assert_training_lowers_the_loss,
    assert_trains_reproducibly_on_cpu,
    dense_norm_adj,
    linear,
    make_batch,
    model_data,
)

from mde_pyg.data import make_synthetic
from mde_pyg.data.hetero import INTERACTS, ITEM, USER, item_features, split_edge_index
from mde_pyg.models import BM3, BPRBatch
from mde_pyg.pipeline import add_graphs, build_model, compose_config

DIM = 8
NUM_USERS, NUM_ITEMS = 40, 30
make_data = model_data(BM3, NUM_USERS, NUM_ITEMS)


def dense_online(model, data):
    """The published forward: mean of layers 0..L on D^-1/2 A D^-1/2, the
    item ID embeddings added again."""
    n_u, n_i = data[USER].num_nodes, data[ITEM].num_nodes
    adj = dense_norm_adj(split_edge_index(data, "train"), n_u, n_i)
    ego = torch.cat([model.user_embedding.weight, model.item_embedding.weight])
    layers, x = [ego], ego
    for _ in range(model.propagation.num_layers):
        x = adj @ x
        layers.append(x)
    out = torch.stack(layers).mean(0)
    return out[:n_u], out[n_u:] + model.item_embedding.weight


def reference_loss(model, data, users, items, dropout):
    """The published calculate_loss, dense; the dropout draws in the
    model's order (users, items, then every modality's distinct items)."""
    u_ori, i_ori = dense_online(model, data)
    u_t, i_t = dropout(u_ori), dropout(i_ori)
    pred = model.predictor

    def ell(a, b):
        return 1 - F.cosine_similarity(a, b, dim=-1).mean()

    loss = ell(linear(pred, u_ori)[users], i_t[items])
    loss = loss + ell(linear(pred, i_ori)[items], u_t[users])
    modal = 0.0
    uniq, inv = items.unique(return_inverse=True)
    for m, x in item_features(data).items():
        h = linear(model.projections[m], x)  # every item, as the reference
        target = torch.zeros_like(h)
        target[uniq] = dropout(h[uniq])
        online = linear(pred, h)[items]
        modal = modal + ell(online, i_t[items]) + ell(online, target[items])
    reg = (u_ori.norm() + i_ori.norm()) / i_ori.size(0)
    return loss + model.reg_weight * reg + model.cl_weight * modal


def test_online_embeddings_and_scores():
    torch.manual_seed(0)
    for layers in (1, 2):
        data = make_data()
        model = BM3.from_data(data, embedding_dim=DIM, num_layers=layers)
        user_exp, item_exp = dense_online(model, data)
        user, item = model.online(data)
        torch.testing.assert_close(user, user_exp, atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(item, item_exp, atol=1e-6, rtol=1e-5)
        # Scored through the predictor.
        user_emb, item_emb = model(data)
        assert user_emb.shape == (NUM_USERS, DIM) and item_emb.shape == (NUM_ITEMS, DIM)
        torch.testing.assert_close(user_emb, linear(model.predictor, user_exp))
        torch.testing.assert_close(item_emb, linear(model.predictor, item_exp))


@pytest.mark.parametrize("p", [0.0, 0.5])
def test_loss_is_the_reference(p):
    torch.manual_seed(0)
    data = make_data()
    model = BM3.from_data(data, embedding_dim=DIM, dropout=p, reg_weight=0.1)
    batch = make_batch(data, size=24)
    # Repeated items in the batch share one dropout mask, as in the reference.
    assert batch.pos.unique().numel() < batch.pos.numel()
    torch.manual_seed(1)
    loss = model.loss(data, batch)
    torch.manual_seed(1)
    expected = reference_loss(
        model, data, batch.user, batch.pos, lambda x: F.dropout(x.detach(), p)
    )
    torch.testing.assert_close(loss, expected, atol=1e-5, rtol=1e-5)


def test_loss_reads_no_negatives_and_targets_take_no_gradient():
    torch.manual_seed(0)
    data = make_data()
    model = BM3.from_data(data, embedding_dim=DIM, dropout=0.0)
    batch = make_batch(data)
    other = BPRBatch(batch.user, batch.pos, torch.zeros_like(batch.neg))
    torch.testing.assert_close(model.loss(data, batch), model.loss(data, other))
    # Dropout makes the targets random: two draws differ.
    model.dropout = 0.5
    assert model.loss(data, batch).item() != model.loss(data, batch).item()
    # Only the online side takes gradients: with the predictor the identity
    # and no regulariser or modality terms, the loss of one pair is
    # 2 - 2 cos(h_u, h_i), whose gradient is that of the online sides only.
    model.dropout, model.reg_weight, model.cl_weight = 0.0, 0.0, 0.0
    with torch.no_grad():
        model.predictor.weight.copy_(torch.eye(DIM))
        model.predictor.bias.zero_()
    model.zero_grad()
    one = BPRBatch(batch.user[:1], batch.pos[:1], batch.neg[:1])
    model.loss(data, one).backward()
    grad = model.user_embedding.weight.grad.clone()
    u, i = model.online(data)
    u0, i0 = u.detach()[one.user], i.detach()[one.pos]
    model.zero_grad()
    u, i = model.online(data)
    (
        2
        - F.cosine_similarity(u[one.user], i0).sum()
        - F.cosine_similarity(i[one.pos], u0).sum()
    ).backward()
    torch.testing.assert_close(model.user_embedding.weight.grad, grad)


def test_parameters_and_checks():
    data = make_data()
    model = BM3.from_data(data, embedding_dim=DIM)
    assert set(dict(model.named_parameters())) == CONTENT_PARAMETERS | {
        "predictor.weight",
        "predictor.bias",
    }
    assert "cl_weight=2.0" in repr(model) and "num_layers=1" in repr(model)
    assert "adj_t" in data[INTERACTS]
    before = model.predictor.weight.clone()
    model.reset_parameters()
    assert not torch.equal(before, model.predictor.weight)
    frozen = BM3.from_data(data, embedding_dim=DIM, freeze_features=True)
    assert "x_image" not in dict(frozen.named_parameters())
    single = BM3.from_data(make_data({"text": 5}), embedding_dim=DIM)
    assert list(single.projections) == ["text"]
    with pytest.raises(ValueError, match="dropout"):
        BM3.from_data(data, dropout=1.0)


def test_cold_items_from_the_content_path():
    torch.manual_seed(0)
    data = make_data()
    model = BM3.from_data(data, embedding_dim=DIM)
    items = torch.tensor([4, 1])
    emb = model.cold_item_embeddings(data, items)
    assert emb.shape == (2, DIM) and not emb.requires_grad
    # Direct: the predicted modality projections, averaged, rescaled to the
    # mean online norm of the other items, through the predictor.
    x = item_features(data)
    pred = model.predictor
    c = torch.stack(
        [linear(pred, linear(model.projections[m], x[m][items])) for m in x]
    ).mean(0)
    masked = model.item_embedding.weight.detach().clone()
    masked[items] = 0.0
    _, item = model.online(data, item_embedding=masked)
    keep = torch.ones(NUM_ITEMS, dtype=torch.bool)
    keep[items] = False
    r = item[keep].norm(dim=1).mean()
    torch.testing.assert_close(emb, linear(pred, F.normalize(c, dim=1) * r))
    # The items' own ID embeddings do not move it; their features do.
    with torch.no_grad():
        model.item_embedding.weight[items] = torch.randn(2, DIM)
    torch.testing.assert_close(model.cold_item_embeddings(data, items), emb)
    with torch.no_grad():
        model.x_text[items] += 1.0
    assert not torch.allclose(model.cold_item_embeddings(data, items), emb)
    emb = model.cold_item_embeddings(data, items)
    ids, scores = model.recommend_cold(data, torch.tensor([0, 3]), items, k=2)
    expected = model(data)[0][[0, 3]] @ emb.t()
    torch.testing.assert_close(scores, expected.sort(1, descending=True).values)
    assert set(ids.flatten().tolist()) == set(items.tolist())
    with pytest.raises(ValueError, match="out of range"):
        model.cold_item_embeddings(data, torch.tensor([NUM_ITEMS]))


def test_training_lowers_the_loss():
    torch.manual_seed(0)
    data = make_data()
    model = BM3.from_data(data, embedding_dim=DIM, dropout=0.0)
    assert_training_lowers_the_loss(model, data)


def test_config_builds_bm3():
    cfg = compose_config(["model=bm3", "model.num_layers=2", "model.dropout=0.3"])
    data = add_graphs(cfg, make_synthetic(num_users=60, num_items=50, seed=0))
    model = build_model(cfg, data)
    assert isinstance(model, BM3) and model.propagation.num_layers == 2
    assert model.dropout == 0.3 and model.cl_weight == 2.0 and model.reg_weight == 0.1


def test_trains_reproducibly_on_cpu():
    assert_trains_reproducibly_on_cpu(BM3)
