"""MGCN: against an independent dense computation of the published model, and
as the named reduction of MDE."""

import pytest
import torch
import torch.nn.functional as F
from model_helpers import dense_knn_graph, linear, make_batch, reference_info_nce

from mde_pyg.data import make_synthetic
from mde_pyg.data.hetero import (
    CO_INTERACTS,
    ITEM,
    USER,
    item_features,
    item_sim,
    split_edge_index,
)
from mde_pyg.models import MDE, MGCN, MGCN_OPTIONS
from mde_pyg.pipeline import add_graphs, build_model, compose_config
from mde_pyg.training import Trainer, seed_everything

DIM = 8
K = 4
NUM_USERS, NUM_ITEMS = 40, 30


def make_data(modalities=None, seed=0, k=K):
    data = make_synthetic(
        num_users=NUM_USERS,
        num_items=NUM_ITEMS,
        interactions_per_user=6,
        modalities=modalities or {"image": 16, "text": 8},
        seed=seed,
    )
    return MGCN.graph_transform(k=k)(data)


def dense_mgcn(model, data, k=K):
    """MGCN's forward pass with dense matrices, from the data's raw training
    pairs and features (no graph of the data is read; the item graphs are
    those of the data's features, the purifier reads the model's fine-tuned
    copies). Returns the behaviour embeddings e and the fused content f of
    users then items."""
    num_users, num_items = data[USER].num_nodes, data[ITEM].num_nodes
    user, item = split_edge_index(data, "train")
    A = torch.zeros(num_users + num_items, num_users + num_items)
    A[user, item + num_users] = 1.0
    A[item + num_users, user] = 1.0
    d = A.sum(1).pow(-0.5)
    d[torch.isinf(d)] = 0.0  # nodes without training pairs, as the reference
    A_hat = d[:, None] * A * d[None, :]
    R_hat = A_hat[:num_users, num_users:]
    E0 = torch.cat([model.user_embedding.weight, model.item_embedding.weight])
    e = (E0 + A_hat @ E0 + A_hat @ A_hat @ E0) / 3

    views = []
    for m, x in item_features(data).items():
        W, W_g = model.encoder.item_input[m]
        purifier = torch.sigmoid(linear(W_g, linear(W, model.features[m])))
        h = model.item_embedding.weight * purifier
        z_item = dense_knn_graph(x, k) @ h
        views.append(torch.cat([R_hat @ z_item, z_item]))
    conv, gate = model.conv, model.gate
    score = torch.cat(
        [
            torch.tanh(linear(conv.att_lin, z)) @ conv.att_query.weight.t()
            for z in views
        ],
        dim=1,
    )
    beta = score.softmax(dim=1)
    common = sum(beta[:, m : m + 1] * z for m, z in enumerate(views))
    parts = [common] + [
        torch.sigmoid(e @ gate.weight[m].t() + gate.bias[m]) * (z - common)
        for m, z in enumerate(views)
    ]
    return e, sum(parts) / len(parts)


def dense_loss(e, f, batch, reg_weight, cl_loss, tau=0.2):
    o = e + f
    u = o[batch.user]
    p, n = o[batch.pos + NUM_USERS], o[batch.neg + NUM_USERS]
    bpr = -F.logsigmoid((u * p).sum(1) - (u * n).sum(1)).mean()
    reg = 0.5 * (u.pow(2).sum() + p.pow(2).sum() + n.pow(2).sum()) / len(u)
    items = batch.pos + NUM_USERS
    cl = reference_info_nce(f[items], e[items], tau) + reference_info_nce(
        f[batch.user], e[batch.user], tau
    )
    return bpr + reg_weight * reg + cl_loss * cl


@pytest.mark.parametrize("cl_loss", [1e-3, 0.1])
def test_matches_dense_mgcn(cl_loss):
    torch.manual_seed(0)
    data = make_data()
    model = MGCN.from_data(
        data, embedding_dim=DIM, lambda_align=cl_loss, reg_weight=1e-2
    )
    with torch.no_grad():  # away from the initial point
        for param in model.parameters():
            param.add_(0.1 * torch.randn_like(param))
    e, f = dense_mgcn(model, data)
    user_emb, item_emb = model(data)
    assert torch.allclose(user_emb, (e + f)[:NUM_USERS], atol=1e-5)
    assert torch.allclose(item_emb, (e + f)[NUM_USERS:], atol=1e-5)
    assert torch.allclose(model.embeddings(data)[1], item_emb.detach())
    batch = make_batch(data)
    expected = dense_loss(e, f, batch, reg_weight=1e-2, cl_loss=cl_loss)
    assert torch.allclose(model.loss(data, batch), expected, atol=1e-5)


def test_equals_the_mde_reduction():
    data = make_data()
    torch.manual_seed(3)
    mgcn = MGCN.from_data(data, embedding_dim=DIM, lambda_align=0.1, reg_weight=1e-3)
    torch.manual_seed(3)
    mde = MDE.from_data(
        data,
        embedding_dim=DIM,
        enhancement="none",
        tradeoff="fixed",
        learn_alpha=False,
        user_graph=False,
        align_pairs="content_behaviour",
        lambda_align=0.1,
        lambda_modal=0.0,
        lambda_diff=0.0,
        reg_weight=1e-3,
    )
    assert isinstance(mgcn, MDE)
    assert mgcn.weights == mde.weights and mgcn.weights.align == 0.1
    mgcn_state, mde_state = mgcn.state_dict(), mde.state_dict()
    assert mgcn_state.keys() == mde_state.keys()
    for key in mgcn_state:
        assert torch.equal(mgcn_state[key], mde_state[key]), key
    for a, b in zip(mgcn.embeddings(data), mde.embeddings(data)):
        assert torch.equal(a, b)
    batch = make_batch(data)
    assert torch.equal(mgcn.loss(data, batch), mde.loss(data, batch))


def test_graphs_and_options():
    bare = make_synthetic(num_users=NUM_USERS, num_items=NUM_ITEMS, seed=0)
    data = MGCN.graph_transform(k=3)(bare)
    assert CO_INTERACTS not in data.edge_types  # MGCN has no user-user graph
    assert data[item_sim("image")].adj_t._nnz() == NUM_ITEMS * 3
    model = MGCN.from_data(data, embedding_dim=DIM)
    assert model.conv.phi is None and model.conv.gamma is None
    assert model.gate.tradeoff == "fixed" and not model.gate.learn_alpha
    assert "gate.alpha_logit" in model.state_dict()  # a constant buffer
    assert not any("alpha" in name for name, _ in model.named_parameters())
    assert model.encoder.mode == "id_purify" and not model.encoder.user_graph
    assert repr(model) == (
        "MGCN(num_users=40, num_items=30, modalities=['image', 'text'], "
        "embedding_dim=8, num_layers=2, lambda_align=0.01, reg_weight=0.0001, "
        "tau=0.2, freeze_features=False)"
    )
    frozen = MGCN.from_data(data, embedding_dim=DIM, freeze_features=True)
    assert not any(name.startswith("x_") for name, _ in frozen.named_parameters())


@pytest.mark.parametrize("modalities", [{"a": 6}, {"a": 6, "b": 5, "c": 4}])
def test_other_numbers_of_modalities_average_all_parts(modalities):
    torch.manual_seed(0)
    data = make_data(modalities=modalities)
    model = MGCN.from_data(data, embedding_dim=DIM)
    assert model.gate.alpha_init == pytest.approx(1 / (len(modalities) + 1))
    e, f = dense_mgcn(model, data)
    user_emb, item_emb = model(data)
    assert torch.allclose(torch.cat([user_emb, item_emb]), e + f, atol=1e-5)
    batch = make_batch(data)
    assert torch.isfinite(model.loss(data, batch))


@pytest.mark.parametrize("modalities", [{"a": 6}, {"a": 6, "b": 5, "c": 4}])
def test_gate_is_built_once(modalities):
    # Only alpha (a constant) differs from MDE's reduction, and construction
    # leaves the random stream where the reduction's leaves it.
    data = make_data(modalities=modalities)
    torch.manual_seed(0)
    mgcn = MGCN.from_data(data, embedding_dim=DIM)
    after_mgcn = torch.rand(3)
    torch.manual_seed(0)
    mde = MDE.from_data(data, embedding_dim=DIM, **MGCN_OPTIONS)
    assert torch.equal(torch.rand(3), after_mgcn)
    mgcn_state, mde_state = mgcn.state_dict(), mde.state_dict()
    assert mgcn_state.keys() == mde_state.keys()
    for key in mgcn_state:
        if key != "gate.alpha_logit":
            assert torch.equal(mgcn_state[key], mde_state[key]), key
    assert mgcn.gate.alpha_init == pytest.approx(1 / (len(modalities) + 1))
    assert mde.gate.alpha_init == pytest.approx(1 / 3)


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    data = make_data()
    model = MGCN.from_data(data, embedding_dim=DIM)
    model.loss(data, make_batch(data)).backward()
    for name, param in model.named_parameters():
        if name == "gate.eps":  # MDE's difference weight: unused without diff
            assert param.grad is None
            continue
        assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_config_builds_mgcn_with_the_reference_schedule():
    cfg = compose_config(
        [
            "model=mgcn",
            "model.lambda_align=0.1",
            "model.graphs.k=3",
            "dataset.num_items=50",
        ]
    )
    assert cfg.trainer.lr_decay == 0.96 and cfg.trainer.lr_decay_every == 50
    data = add_graphs(cfg, make_synthetic(num_users=60, num_items=50, seed=0))
    model = build_model(cfg, data)
    assert isinstance(model, MGCN) and model.weights.align == 0.1
    assert data[item_sim("text")].adj_t._nnz() == 50 * 3


def test_trains():
    seed_everything(0)
    data = MGCN.graph_transform()(make_synthetic(num_users=100, num_items=60, seed=0))
    result = Trainer(MGCN.from_data(data), data, max_epochs=2, device="cpu").fit()
    assert len(result.history) == 2
    assert all(0.0 <= v <= 1.0 for v in result.test.values())
