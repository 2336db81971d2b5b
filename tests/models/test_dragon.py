"""DRAGON against an independent dense computation of the published model
(MMRec's ``models/dragon.py`` and its user graph script): the per-modality
user-item propagation, the item-item and user-user graphs, the loss, cold
items, any number of modalities, training and the config."""

import math

import pytest
import torch
import torch.nn.functional as F
from model_helpers import (
    assert_training_lowers_the_loss,
    assert_trains_reproducibly_on_cpu,
    dense_norm_adj,
    make_batch,
    synthetic,
)

from mde_pyg.data import make_synthetic
from mde_pyg.data.hetero import (
    CO_INTERACTS,
    INTERACTS,
    ITEM,
    MM_SIM,
    USER,
    build_heterodata,
    item_features,
    split_edge_index,
)
from mde_pyg.errors import DatasetError
from mde_pyg.models import DRAGON
from mde_pyg.pipeline import add_graphs, build_model, compose_config

DIM = 8
NUM_USERS, NUM_ITEMS = 40, 30
K, USER_K = 4, 5


def make_data(modalities=None, seed=0):
    data = synthetic(NUM_USERS, NUM_ITEMS, modalities, seed)
    return DRAGON.graph_transform(k=K, user_k=USER_K)(data)


def build(data, **kwargs):
    torch.manual_seed(0)
    model = DRAGON.from_data(data, embedding_dim=DIM, **kwargs)
    with torch.no_grad():  # away from the initial point, nonzero biases
        for param in model.parameters():
            param.add_(0.1 * torch.randn_like(param))
    return model


def dense_item_graph(features, k):
    """The published mm_adj: per modality the binary top-k cosine graph
    (the item itself first), D^-1/2 A D^-1/2 by row sums, mixed 0.1 image /
    0.9 text (a single modality: weight 1; other modalities share the 0.1)."""
    others = max(len(features) - 1, 1)
    S = 0
    for m, x in features.items():
        weight = 1.0 if len(features) == 1 else 0.9 if m == "text" else 0.1 / others
        unit = F.normalize(x, dim=1)
        sim = unit @ unit.t()
        sim.fill_diagonal_(float("inf"))
        A = torch.zeros_like(sim).scatter_(1, sim.topk(k, dim=1).indices, 1.0)
        d = A.sum(1).pow(-0.5)
        S = S + weight * d[:, None] * A * d[None, :]
    return S


def dense_user_graph(edge_index, num_users, num_items, k):
    """The published user graph: co-interaction counts of the training pairs
    (sets: a repeated pair counts once), each user's k co-users with the
    largest positive counts (ties to the lower index), softmax of the counts."""
    R = torch.zeros(num_users, num_items)
    R[edge_index[0], edge_index[1]] = 1.0
    C = R @ R.t()
    C.fill_diagonal_(0.0)
    order = torch.sort(-C, dim=1, stable=True).indices[:, :k]
    counts = C.gather(1, order)
    weight = torch.where(counts > 0, counts.exp(), torch.zeros_like(counts))
    weight = weight / weight.sum(1, keepdim=True).clamp(min=1e-30)
    return torch.zeros(num_users, num_users).scatter_(1, order, weight)


def linear(layer, x):
    return x @ layer.weight.t() + layer.bias


def dense_dragon(model, data, k=K, user_k=USER_K):
    """The published forward with dense matrices, from the raw training
    pairs and features (no graph of the data is read)."""
    n_u, n_i = data[USER].num_nodes, data[ITEM].num_nodes
    train = split_edge_index(data, "train")
    A = dense_norm_adj(train, n_u, n_i)
    users, items = [], []
    for j, m in enumerate(model.modalities):
        first, _, second = model.projections[m]
        content = linear(second, F.leaky_relu(linear(first, model.feature(m))))
        x = F.normalize(torch.cat([model.preferences[m], content]), dim=1)
        layers = [x]
        for _ in range(model.propagation.num_layers):
            layers.append(A @ layers[-1])
        x = torch.stack(layers).sum(0)
        weight = (
            1.0
            if model.modality_weight is None
            else model.modality_weight[:, j : j + 1]
        )
        users.append(weight * x[:n_u])
        items.append(x[n_u:])
    user, item = torch.cat(users, 1), torch.cat(items, 1)
    S = dense_item_graph(item_features(data), k)
    h = item
    for _ in range(model.num_item_layers):
        h = S @ h
    U = dense_user_graph(train, n_u, n_i, user_k)
    return user + U @ user, item + h


def published_loss(model, user, item, batch):
    pos = (user[batch.user] * item[batch.pos]).sum(1)
    neg = (user[batch.user] * item[batch.neg]).sum(1)
    loss = -torch.mean(torch.log2(torch.sigmoid(pos - neg)))
    reg = sum((p[batch.user] ** 2).mean() for p in model.preferences.values())
    if model.modality_weight is not None:
        reg = reg + (model.modality_weight**2).mean()
    return loss + model.reg_weight * reg


@pytest.mark.parametrize(
    ("modalities", "num_layers", "num_item_layers"),
    [
        (None, 2, 1),  # the published image + text model
        (None, 1, 2),
        ({"text": 6}, 2, 1),  # the one-modality variant
        ({"image": 5, "text": 6, "meta": 4}, 2, 1),
    ],
)
def test_matches_the_dense_published_model(modalities, num_layers, num_item_layers):
    data = make_data(modalities)
    model = build(
        data, num_layers=num_layers, num_item_layers=num_item_layers, reg_weight=0.1
    )
    user_exp, item_exp = dense_dragon(model, data)
    user_emb, item_emb = model(data)
    num = len(model.modalities)
    assert user_emb.shape == (NUM_USERS, num * DIM)
    assert item_emb.shape == (NUM_ITEMS, num * DIM)
    torch.testing.assert_close(user_emb, user_exp, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(item_emb, item_exp, atol=1e-5, rtol=1e-5)
    batch = make_batch(data)
    torch.testing.assert_close(
        model.loss(data, batch),
        published_loss(model, user_exp, item_exp, batch),
        atol=1e-5,
        rtol=1e-5,
    )


def test_graphs():
    data = make_data()
    for edge_type in (INTERACTS, MM_SIM, CO_INTERACTS):
        assert "adj_t" in data[edge_type]
    train = split_edge_index(data, "train")
    U = dense_user_graph(train, NUM_USERS, NUM_ITEMS, USER_K)
    torch.testing.assert_close(data[CO_INTERACTS].adj_t.to_dense(), U)
    # Every user here has more than USER_K co-users: USER_K edges each.
    assert torch.equal(
        torch.bincount(data[CO_INTERACTS].edge_index[1]),
        torch.full((NUM_USERS,), USER_K),
    )
    S = dense_item_graph(item_features(data), K)
    torch.testing.assert_close(data[MM_SIM].adj_t.to_dense(), S)


def test_one_modality_has_no_modality_weights_and_zero_is_an_error():
    model = build(make_data({"text": 6}))
    assert model.modality_weight is None
    assert "modality_weight" not in dict(model.named_parameters())
    data = make_synthetic(num_users=20, num_items=10, modalities={}, seed=0)
    with pytest.raises(DatasetError, match="DRAGON needs at least one item feature"):
        DRAGON.from_data(data)
    # The pipeline says so before building the graphs of the features.
    cfg = compose_config(["model=dragon"])
    with pytest.raises(DatasetError, match="DRAGON needs at least one item feature"):
        add_graphs(cfg, data)


def test_published_initialisation_parameters_and_repr():
    data = make_data()
    torch.manual_seed(0)
    model = DRAGON.from_data(data, embedding_dim=DIM)
    # The users' modality weights start as a softmax over the modalities.
    weight = model.modality_weight.detach()
    assert weight.shape == (NUM_USERS, 2) and (weight > 0).all()
    torch.testing.assert_close(weight.sum(1), torch.ones(NUM_USERS))
    assert model.projections["image"][0].out_features == 4 * DIM
    assert set(dict(model.named_parameters())) == {
        "modality_weight",
        "preferences.image",
        "preferences.text",
        *(
            f"projections.{m}.{layer}.{p}"
            for m in ("image", "text")
            for layer in (0, 2)
            for p in ("weight", "bias")
        ),
    }
    # No ID embeddings; the raw features are fixed buffers unless fine-tuned.
    assert not hasattr(model, "user_embedding") and not hasattr(model, "item_embedding")
    assert model.has_content_path()
    tuned = DRAGON.from_data(data, embedding_dim=DIM, freeze_features=False)
    assert {"x_image", "x_text"} <= set(dict(tuned.named_parameters()))
    before = model.preferences["text"].clone()
    model.reset_parameters()
    assert not torch.equal(before, model.preferences["text"])
    assert repr(model) == (
        "DRAGON(num_users=40, num_items=30, modalities=['image', 'text'], "
        "embedding_dim=8, num_layers=2, num_item_layers=1, reg_weight=0.001, "
        "freeze_features=True)"
    )
    with pytest.raises(ValueError, match="num_item_layers"):
        DRAGON.from_data(data, num_item_layers=-1)


def test_loss_is_base_two_bpr_plus_the_regulariser():
    data = make_data()
    model = build(data, reg_weight=0.0)
    batch = make_batch(data)
    user, item = model(data)
    u = user[batch.user]
    diff = (u * item[batch.pos]).sum(1) - (u * item[batch.neg]).sum(1)
    torch.testing.assert_close(
        model.loss(data, batch), -F.logsigmoid(diff).mean() / math.log(2)
    )
    # The regulariser reads the batch's users only (and every modality weight).
    model.reg_weight = 1.0
    model.zero_grad()
    model.loss(data, batch).backward()
    grad = model.preferences["image"].grad
    others = torch.ones(NUM_USERS, dtype=torch.bool)
    others[batch.user] = False
    model.zero_grad()
    model.reg_weight = 0.0
    model.loss(data, batch).backward()
    torch.testing.assert_close(grad[others], model.preferences["image"].grad[others])


def test_cold_items_from_the_content_path():
    # Items NUM_WARM.. have no interaction at all.
    num_warm = 24
    gen = torch.Generator().manual_seed(0)
    user = torch.arange(NUM_USERS).repeat_interleave(6)
    item = torch.randint(0, num_warm, (user.numel(),), generator=gen)
    pairs = torch.stack([user, item]).unique(dim=1)
    full = synthetic(NUM_USERS, NUM_ITEMS)
    data = build_heterodata(
        NUM_USERS, NUM_ITEMS, pairs, pairs[:, :2], pairs[:, :2], item_features(full)
    )
    data = DRAGON.graph_transform(k=K, user_k=USER_K)(data)
    model = build(data)
    cold = torch.arange(num_warm, NUM_ITEMS)
    emb = model.cold_item_embeddings(data, cold[[2, 0]])
    assert emb.shape == (2, 2 * DIM) and not emb.requires_grad
    _, item_exp = dense_dragon(model, data)
    torch.testing.assert_close(emb, item_exp[cold[[2, 0]]], atol=1e-5, rtol=1e-5)
    # Direct: the item's own normalised content plus S times the items'
    # representations (a cold item's user-item layers are zero).
    with torch.no_grad():
        content = []
        for m in model.modalities:
            first, _, second = model.projections[m]
            x = linear(second, F.leaky_relu(linear(first, model.feature(m))))
            content.append(F.normalize(x, dim=1))
        own = torch.cat(content, 1)
        rep = model(data)[1] - dense_item_graph(item_features(data), K) @ torch.cat(
            model.modality_embeddings(data)[1], 1
        )
    torch.testing.assert_close(rep[cold], own[cold], atol=1e-5, rtol=1e-5)
    # Independent of which other items are asked for; moved by its features.
    torch.testing.assert_close(model.cold_item_embeddings(data, cold)[2], emb[0])
    with torch.no_grad():
        model.x_text[cold[2]] += 1.0
    assert not torch.allclose(model.cold_item_embeddings(data, cold[[2]]), emb[:1])
    ids, scores = model.recommend_cold(data, torch.tensor([0, 3]), cold, k=3)
    expected = model(data)[0][[0, 3]] @ model.cold_item_embeddings(data, cold).t()
    torch.testing.assert_close(scores, expected.topk(3, dim=1).values)
    assert set(ids.flatten().tolist()) <= set(cold.tolist())
    with pytest.raises(ValueError, match="out of range"):
        model.cold_item_embeddings(data, torch.tensor([NUM_ITEMS]))


def test_training_lowers_the_loss():
    data = make_data()
    torch.manual_seed(0)
    assert_training_lowers_the_loss(DRAGON.from_data(data, embedding_dim=DIM), data)


def test_config_builds_dragon():
    cfg = compose_config(
        ["model=dragon", "model.num_item_layers=2", "model.graphs.user_k=7"]
    )
    data = add_graphs(cfg, make_synthetic(num_users=60, num_items=50, seed=0))
    model = build_model(cfg, data)
    assert isinstance(model, DRAGON) and model.num_item_layers == 2
    assert model.propagation.num_layers == 2 and model.reg_weight == 1e-3
    assert model.embedding_dim == 64 and model.freeze_features
    assert int(torch.bincount(data[CO_INTERACTS].edge_index[1]).max()) == 7
    assert cfg.trainer.lr == 1e-3


def test_trains_reproducibly_on_cpu():
    assert_trains_reproducibly_on_cpu(DRAGON)
