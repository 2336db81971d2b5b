import copy
import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F
from model_helpers import linear, make_batch

from mde_pyg.data import AddUserItemAdjacency, make_synthetic
from mde_pyg.data.hetero import (
    CO_INTERACTS,
    INTERACTS,
    ITEM,
    REV_INTERACTS,
    USER,
    item_features,
    item_sim,
    split_edge_index,
)
from mde_pyg.models import MDE, PAPER_OPTIONS, LightGCN, MDELossWeights
from mde_pyg.training import Trainer, seed_everything

DIM = 8
# MGCN as a configuration of MDE (spec: "Reduction to MGCN").
MGCN = dict(
    enhancement="none",
    tradeoff="fixed",
    learn_alpha=False,
    user_graph=False,
    align_pairs="content_behaviour",
    lambda_modal=0.0,
    lambda_diff=0.0,
)


def paper(data, **options):
    """MDE with the paper reconstruction's options (the default before the
    design study), which exercise every part of the model, then ``options``."""
    return MDE.from_data(data, embedding_dim=DIM, **{**PAPER_OPTIONS, **options})


def make_data(modalities=None, seed=0, **graph_kwargs):
    data = make_synthetic(
        num_users=40,
        num_items=30,
        interactions_per_user=6,
        modalities=modalities or {"image": 16, "text": 8},
        seed=seed,
    )
    options = {"k": 10, "user_k": 5, "user_graph": True, **graph_kwargs}
    return MDE.graph_transform(**options)(data)


def set_weights(model, **weights):
    """Changes loss weights of a model (a frozen dataclass)."""
    model.weights = dataclasses.replace(model.weights, **weights)


def dense(edge_index, edge_weight, num_src, num_dst):
    return torch.sparse_coo_tensor(
        edge_index.flip(0), edge_weight, (num_dst, num_src)
    ).to_dense()


def mgcn_reference(model, data):
    """MGCN's forward pass written out with dense matrices: returns the
    behaviour embeddings e_id and the fused content f of all nodes."""
    num_users, num_items = data[USER].num_nodes, data[ITEM].num_nodes
    user, item = split_edge_index(data, "train")
    R = torch.zeros(num_users, num_items)
    R[user, item] = 1.0
    R_hat = R / R.sum(1, keepdim=True).sqrt() / R.sum(0, keepdim=True).sqrt()
    A_hat = torch.zeros(num_users + num_items, num_users + num_items)
    A_hat[:num_users, num_users:] = R_hat
    A_hat[num_users:, :num_users] = R_hat.t()
    item_id = model.item_embedding.weight
    E0 = torch.cat([model.user_embedding.weight, item_id])
    e_id = (E0 + A_hat @ E0 + A_hat @ A_hat @ E0) / 3

    views = []
    for m in model.modalities:
        W, W_g = model.encoder.item_input[m]
        purified = item_id * torch.sigmoid(linear(W_g, linear(W, model.features[m])))
        graph = data[item_sim(m)]
        z_item = (
            dense(graph.edge_index, graph.edge_weight, num_items, num_items) @ purified
        )
        views.append(torch.cat([R_hat @ z_item, z_item]))
    conv, gate = model.conv, model.gate
    score = torch.cat(
        [
            torch.tanh(linear(conv.att_lin, z)) @ conv.att_query.weight.t()
            for z in views
        ],
        dim=1,
    )
    weight = score.softmax(dim=1)
    common = sum(weight[:, k : k + 1] * z for k, z in enumerate(views))
    separate = [
        torch.sigmoid(e_id @ gate.weight[k].t() + gate.bias[k]) * (z - common)
        for k, z in enumerate(views)
    ]
    return e_id, (common + separate[0] + separate[1]) / 3


def mgcn_info_nce(view1, view2, temperature):
    # MGCN's InfoNCE, verbatim up to naming.
    view1, view2 = F.normalize(view1, dim=1), F.normalize(view2, dim=1)
    pos_score = torch.exp((view1 * view2).sum(dim=-1) / temperature)
    ttl_score = torch.exp(view1 @ view2.t() / temperature).sum(dim=1)
    return torch.mean(-torch.log(pos_score / ttl_score))


def mgcn_loss(e_id, f, batch, num_users, reg_weight, cl_weight):
    e = e_id + f
    u, p, n = e[batch.user], e[batch.pos + num_users], e[batch.neg + num_users]
    mf_loss = -torch.mean(F.logsigmoid((u * p).sum(1) - (u * n).sum(1)))
    reg = (0.5 * u.pow(2).sum() + 0.5 * p.pow(2).sum() + 0.5 * n.pow(2).sum()) / len(u)
    items = batch.pos + num_users
    cl = mgcn_info_nce(f[items], e_id[items], 0.2) + mgcn_info_nce(
        f[batch.user], e_id[batch.user], 0.2
    )
    return mf_loss + reg_weight * reg + cl_weight * cl


def assert_matches_mgcn(model, data, batch, reg_weight, cl_weight):
    num_users = data[USER].num_nodes
    e_id, f = mgcn_reference(model, data)
    user_emb, item_emb = model(data)
    assert torch.allclose(user_emb, (e_id + f)[:num_users], atol=1e-5)
    assert torch.allclose(item_emb, (e_id + f)[num_users:], atol=1e-5)
    state = model.encode(data)
    assert torch.allclose(state.behaviour, e_id, atol=1e-5)
    assert torch.allclose(state.fused, f, atol=1e-5)
    expected = mgcn_loss(e_id, f, batch, num_users, reg_weight, cl_weight)
    assert torch.allclose(model.loss(data, batch), expected, atol=1e-5)


def test_reduces_to_mgcn():
    torch.manual_seed(0)
    data = make_data(user_graph=False)
    model = MDE.from_data(data, embedding_dim=DIM, lambda_align=0.1, **MGCN)
    assert model.conv.phi is None and model.gate.alpha_lin is None
    assert CO_INTERACTS not in model.encoder.edge_types
    assert CO_INTERACTS not in data.edge_types
    assert_matches_mgcn(model, data, make_batch(data), reg_weight=1e-4, cl_weight=0.1)


def test_default_initialisation_is_mgcn():
    torch.manual_seed(0)
    data = make_data(user_graph=False)
    model = paper(data, user_graph=False)
    assert model.conv.enhancement == "pairwise" and model.gate.tradeoff == "node"
    assert_matches_mgcn(model, data, make_batch(data), reg_weight=1e-4, cl_weight=1e-2)


def test_shapes_repr_explain_and_reset():
    torch.manual_seed(0)
    data = make_data()
    model = paper(data)
    user_emb, item_emb = model(data)
    assert user_emb.shape == (40, DIM) and item_emb.shape == (30, DIM)
    assert torch.equal(model.embeddings(data)[0], user_emb.detach())
    assert repr(model).startswith(
        "MDE(num_users=40, num_items=30, modalities=['image', 'text'], "
        "embedding_dim=8, num_layers=2, encoder='id_purify', user_graph=True"
    )
    # Graphs are derived from the data: they stay out of checkpoints (the
    # model holds no graph at all).
    assert not any(key.startswith("adj") for key in model.state_dict())
    assert not any("adj" in name for name, _ in model.named_buffers())

    explained = model.explain(data)
    assert explained["modalities"] == ["image", "text"]
    assert explained["user"]["alpha"].shape == (40,)
    assert explained["item"]["beta"].shape == (30, 2)
    assert not explained["user"]["alpha"].requires_grad
    assert torch.allclose(explained["item"]["alpha"], torch.full((30,), 1 / 3))
    assert torch.allclose(explained["user"]["beta"].sum(1), torch.ones(40))

    with torch.no_grad():
        model.gate.eps.fill_(0.5)
        model.gate.alpha_lin.weight.fill_(1.0)
    assert not torch.allclose(
        model.explain(data)["user"]["alpha"], torch.full((40,), 1 / 3)
    )
    model.reset_parameters()
    assert model.gate.eps.item() == 0.0
    assert torch.allclose(
        model.explain(data)["user"]["alpha"], torch.full((40,), 1 / 3)
    )


def test_graphs_are_read_from_data_as_given():
    torch.manual_seed(0)
    data = make_data(k=3)
    model = paper(data)  # k is not a model option
    assert data[item_sim("image")].adj_t._nnz() == 30 * 3
    # The transpose is stored for the backward pass.
    assert torch.equal(
        data[CO_INTERACTS].adj_t.to_dense().t(), data[CO_INTERACTS].adj.to_dense()
    )
    expected = model(data)

    # The same graphs as edge_index + edge_weight (no sparse adj_t) give the
    # same result ...
    edges_only = copy.copy(data)
    for et in model.encoder.edge_types:
        del edges_only[et].adj_t, edges_only[et].adj
    assert "adj_t" in data[INTERACTS]  # the copy's stores are its own
    for a, b in zip(model(edges_only), expected):
        assert torch.allclose(a, b, atol=1e-6)
    # ... and the graphs are used as given: other graphs, another result.
    other = make_data(k=5)
    assert not torch.allclose(model(other)[0], expected[0])

    # MDE.graph_transform(k=..., user_k=...) builds every graph the model
    # reads (the model no longer builds missing ones itself).
    bare = make_synthetic(num_users=40, num_items=30, interactions_per_user=6, seed=0)
    built = MDE.graph_transform(k=4, user_k=2, user_graph=True)(bare)
    assert built[item_sim("text")].adj_t._nnz() == 30 * 4
    assert built[CO_INTERACTS].adj_t._nnz() <= 40 * 2
    assert "edge_weight" in built[INTERACTS] and "adj" in built[REV_INTERACTS]
    assert item_sim("text") not in bare.edge_types  # the input is not modified
    assert "edge_weight" not in bare[INTERACTS]
    assert set(model.encoder.edge_types) <= set(built.edge_types)
    for a in model(built):
        assert torch.isfinite(a).all()
    # Without user_graph (the default, as the default model's) the user-user
    # graph is not built.
    assert CO_INTERACTS not in MDE.graph_transform()(bare).edge_types

    # A model on data without its graphs raises a clear KeyError naming the
    # missing relation and the transform.
    with pytest.raises(KeyError, match=r"'user', 'interacts', 'item'.*graph_transform"):
        model(bare)  # the training pairs carry no LightGCN weights
    with pytest.raises(KeyError, match=r"sim_image.*graph_transform"):
        model(AddUserItemAdjacency()(bare))
    with pytest.raises(KeyError, match=r"co_interacts.*graph_transform"):
        model.loss(make_data(user_graph=False), make_batch(data))


def test_gradients_reach_every_trained_parameter():
    torch.manual_seed(0)
    data = make_data()
    model = paper(data, lambda_modal=0.1)
    batch = make_batch(data)
    model.loss(data, batch).backward()
    for name, param in model.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), name
        if name.startswith("conv.phi"):
            # eps = 0 at initialisation: Delta does not enter f yet.
            assert param.grad.abs().sum() == 0, name
        else:
            assert param.grad.abs().sum() > 0, name
    model.zero_grad()
    with torch.no_grad():
        model.gate.eps.fill_(0.1)
    model.loss(data, batch).backward()
    assert model.conv.phi.weight.grad.abs().sum() > 0

    frozen = MDE.from_data(data, embedding_dim=DIM, freeze_features=True)
    names = {name for name, _ in frozen.named_parameters()}
    assert not any(name.startswith("x_") for name in names)
    assert "x_image" not in frozen.state_dict()
    assert torch.equal(frozen.features["image"], item_features(data)["image"])


def test_trainable_features_are_copies():
    data = make_data()
    original = item_features(data)["image"].clone()
    model = paper(data)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    model.loss(data, make_batch(data)).backward()
    optimizer.step()
    assert not torch.equal(model.features["image"], original)
    assert torch.equal(item_features(data)["image"], original)


def test_modality_alignment_is_alpha_weighted_with_detached_alpha():
    torch.manual_seed(0)
    data = make_data()
    model = paper(data, align_pairs="modality", lambda_align=0.5)
    with torch.no_grad():
        model.gate.alpha_lin.weight.normal_()
    batch = make_batch(data)
    num_users = data[USER].num_nodes

    full = model.loss(data, batch)
    set_weights(model, align=0.0)
    term = (full - model.loss(data, batch)) / 0.5

    # Independent computation: for each node set, the alpha-weighted
    # symmetric InfoNCE between the two views.
    state = model.encode(data)
    expected = 0.0
    for nodes in (batch.pos + num_users, batch.user):
        a = F.normalize(state.views[0, nodes], dim=1)
        b = F.normalize(state.views[1, nodes], dim=1)
        logits = a @ b.t() / model.tau
        diag = logits.diagonal()
        per_node = 0.5 * ((logits.logsumexp(1) - diag) + (logits.logsumexp(0) - diag))
        expected = expected + (state.alpha[nodes] * per_node).mean()
    assert torch.allclose(term, expected, atol=1e-5)

    alpha_params = list(model.gate.alpha_lin.parameters())
    grads = torch.autograd.grad(
        term, alpha_params, retain_graph=True, allow_unused=True
    )
    assert all(g is None or g.abs().max() < 1e-6 for g in grads)
    # ... while the term does train the encoder, and the rest of the loss alpha.
    grad = torch.autograd.grad(term, model.item_embedding.weight, retain_graph=True)[0]
    assert grad.abs().sum() > 0
    grad = torch.autograd.grad(full, alpha_params[0])[0]
    assert grad.abs().sum() > 1e-6


def test_regularisers():
    torch.manual_seed(0)
    data = make_data(modalities={"a": 8, "b": 6, "c": 4})
    model = paper(data)
    # The loss weights are one frozen record, with the class's defaults
    # (the orthogonality term on), and all off but reg and align here.
    assert MDE.from_data(data).weights == MDELossWeights()
    assert MDELossWeights().diff == 0.1
    assert model.weights == MDELossWeights(reg=1e-4, align=1e-2, diff=0.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        model.weights.diff = 0.3
    with torch.no_grad():
        model.gate.alpha_lin.weight.normal_()
    batch = make_batch(data)
    num_users = data[USER].num_nodes
    base = model.loss(data, batch)
    state = model.encode(data)
    nodes = (batch.pos + num_users, batch.user)

    set_weights(model, diff=0.3)
    diff = (
        sum(
            F.cosine_similarity(state.specific[i, n], state.specific[j, n], dim=-1)
            .pow(2)
            .mean()
            for n in nodes
            for i, j in ((0, 1), (0, 2), (1, 2))
        )
        / 3
    )
    assert torch.allclose(model.loss(data, batch) - base, 0.3 * diff, atol=1e-5)
    set_weights(model, diff=0.0)

    set_weights(model, phi=0.2)
    phi = model.conv.phi.weight.pow(2).sum()
    assert torch.allclose(model.loss(data, batch) - base, 0.2 * phi, atol=1e-5)
    set_weights(model, phi=0.0)

    set_weights(model, alpha=0.4)
    alpha = state.alpha[torch.cat(nodes)]
    penalty = (alpha - 1 / 3).pow(2).mean()
    assert penalty > 0
    assert torch.allclose(model.loss(data, batch) - base, 0.4 * penalty, atol=1e-5)

    # With two modalities the specific parts are collinear (delta_1 =
    # -beta_2 / beta_1 delta_2), so L_diff is the constant 1 per node set.
    two_data = make_data()
    two = paper(two_data)
    batch = make_batch(two_data)
    base = two.loss(two_data, batch)
    set_weights(two, diff=1.0)
    assert math.isclose((two.loss(two_data, batch) - base).item(), 2.0, rel_tol=1e-4)


def test_equivariant_in_modality_order():
    torch.manual_seed(0)
    data = make_data()
    model = paper(data, lambda_modal=0.1, lambda_diff=0.1)
    with torch.no_grad():
        model.gate.eps.fill_(0.4)
        model.gate.alpha_lin.weight.normal_()
    features = dict(reversed(list(item_features(data).items())))
    swapped = MDE(
        40,
        30,
        features,
        embedding_dim=DIM,
        **{**PAPER_OPTIONS, "lambda_modal": 0.1, "lambda_diff": 0.1},
    )
    assert swapped.modalities == ["text", "image"]
    state = model.state_dict()
    state["gate.weight"] = state["gate.weight"].flip(0)
    state["gate.bias"] = state["gate.bias"].flip(0)
    swapped.load_state_dict(state)
    for a, b in zip(model(data), swapped(data)):
        assert torch.allclose(a, b, atol=1e-5)
    batch = make_batch(data)
    assert torch.allclose(model.loss(data, batch), swapped.loss(data, batch), atol=1e-5)
    beta, beta_swapped = (
        model.explain(data)["item"]["beta"],
        swapped.explain(data)["item"]["beta"],
    )
    assert torch.allclose(beta.flip(1), beta_swapped, atol=1e-6)


@pytest.mark.parametrize(
    "options",
    [
        dict(),
        dict(encoder="feature_mlp"),
        dict(enhancement="amplify", tradeoff="fixed"),
        dict(lambda_modal=0.1, lambda_diff=0.1, align_pairs="modality"),
    ],
)
def test_one_modality_and_options(options):
    torch.manual_seed(0)
    data = make_data(modalities={"text": 8})
    model = MDE.from_data(data, embedding_dim=DIM, **options)
    loss = model.loss(data, make_batch(data))
    assert torch.isfinite(loss)
    loss.backward()
    state = model.encode(data)
    assert torch.equal(state.specific, torch.zeros_like(state.specific))
    assert torch.equal(model.explain(data)["user"]["beta"], torch.ones(40, 1))


def test_invalid_options():
    data = make_data()
    with pytest.raises(ValueError, match="align_pairs"):
        MDE.from_data(data, align_pairs="bogus")
    with pytest.raises(ValueError, match="at least one"):
        MDE(40, 30, {})


def test_training_beats_lightgcn_on_synthetic_data():
    # Content drives the synthetic interactions (shared and modality-specific
    # item latents), so a model that reads the features must rank better
    # than LightGCN on held-out pairs. Seeded, and the same training budget.
    data = MDE.graph_transform()(make_synthetic(num_users=1000, num_items=500, seed=0))
    options = dict(lr=1e-2, batch_size=2048, max_epochs=20, patience=10)
    results = {}
    for name, cls in (("lightgcn", LightGCN), ("mde", MDE)):
        seed_everything(0)
        model = cls.from_data(data, embedding_dim=32)
        results[name] = Trainer(model, data, seed=0, **options).fit()
    mde, lightgcn = results["mde"], results["lightgcn"]
    assert mde.best_val["recall@20"] > lightgcn.best_val["recall@20"]
    assert mde.test["recall@20"] > lightgcn.test["recall@20"]
