"""SMORE against an independent dense computation of the published model
(MMRec's ``models/smore.py``): spectral fusion, the modality and fused item
graphs, the modality-aware preference module and the loss (dropout draws
included), other numbers of modalities, cold items, config."""

import pytest
import torch
import torch.nn.functional as F
from model_helpers import (
    CONTENT_PARAMETERS,
    assert_training_lowers_the_loss,
    assert_trains_reproducibly_on_cpu,
    dense_knn_graph,
    dense_norm_adj,
    linear,
    make_batch,
    reference_info_nce,
    synthetic,
)

from mde_pyg.data import AddUserItemAdjacency
from mde_pyg.data.hetero import (
    INTERACTS,
    ITEM,
    MAX_SIM,
    USER,
    item_features,
    item_sim,
    split_edge_index,
)
from mde_pyg.models import SMORE
from mde_pyg.pipeline import add_graphs, build_model, compose_config

DIM = 8
NUM_USERS, NUM_ITEMS = 40, 30
IMAGE_K, TEXT_K = 4, 6
#: A query: Linear, Tanh, Linear without bias.
QUERY_PARAMETERS = ("0.weight", "0.bias", "2.weight")


def make_data(modalities=None, seed=0):
    data = synthetic(NUM_USERS, NUM_ITEMS, modalities, seed)
    return SMORE.graph_transform(image_k=IMAGE_K, text_k=TEXT_K)(data)


def perturbed(model):
    """``model`` moved away from its initial point."""
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.1 * torch.randn_like(param))
    return model


def dense_graphs(data):
    """The published item graphs, dense, from the data's raw features: each
    modality's (image_knn_k for every modality but text) and their max-pooled
    fusion (a missing edge counting as -inf)."""
    graphs = [
        dense_knn_graph(x, TEXT_K if m == "text" else IMAGE_K)
        for m, x in item_features(data).items()
    ]
    stacked = torch.stack([torch.where(g != 0, g, float("-inf")) for g in graphs])
    fused = stacked.max(0).values
    return graphs + [torch.where(torch.isinf(fused), torch.zeros(()), fused)]


def dense_smore(model, data, item_embedding=None, preference_mask=None):
    """The published forward pass with dense matrices, from the data's raw
    training pairs and features (no graph of the data is read), with
    torch.fft as the published spectrum_convolution. Returns the behaviour
    embeddings e and the side embeddings s of users then items;
    ``preference_mask`` ([N, M + 1, d]) multiplies the preference gates (the
    dropout draws)."""
    n_u, n_i = data[USER].num_nodes, data[ITEM].num_nodes
    adj = dense_norm_adj(split_edge_index(data, "train"), n_u, n_i)
    r_hat = adj[:n_u, n_u:]
    if item_embedding is None:
        item_embedding = model.item_embedding.weight
    ego = torch.cat([model.user_embedding.weight, item_embedding])
    layers, x = [ego], ego
    for _ in range(model.propagation.num_layers):
        x = adj @ x
        layers.append(x)
    e = torch.stack(layers).mean(0)

    modalities = list(item_features(data))
    d = model.embedding_dim
    weight = torch.view_as_complex(model.spectral.weight)
    spectra = [
        torch.fft.rfft(linear(model.projections[m], model.feature(m)), norm="ortho")
        for m in modalities
    ]
    fused_spectrum = spectra[0]
    for spectrum in spectra[1:]:
        fused_spectrum = fused_spectrum * spectrum
    filtered = [
        torch.fft.irfft(s * w, n=d, norm="ortho")
        for s, w in zip([*spectra, fused_spectrum], weight)
    ]
    views = []
    for gate, x, graph in zip(model.view_gates, filtered, dense_graphs(data)):
        z = item_embedding * torch.sigmoid(linear(gate, x))
        for _ in range(model.num_item_layers):
            z = graph @ z
        views.append(torch.cat([r_hat @ z, z]))

    fusion = views[-1]
    parts = []
    for m, z in zip(modalities, views):
        first, _, second = model.queries[m]
        query = linear(second, torch.tanh(linear(first, fusion)))
        parts.append(torch.softmax(query, dim=-1) * z)
    parts.append(fusion)
    num_views = len(parts)
    gates = torch.sigmoid(linear(model.preference, e)).view(-1, num_views, d)
    if preference_mask is not None:
        gates = gates * preference_mask
    side = sum(gates[:, k] * part for k, part in enumerate(parts)) / num_views
    return e, side


def dense_loss(e, s, batch, reg_weight, cl_loss, tau=0.2):
    """The published calculate_loss (BPR, its regulariser divided by the
    batch, InfoNCE of the side and behaviour embeddings)."""
    o = e + s
    u, p, n = o[batch.user], o[batch.pos + NUM_USERS], o[batch.neg + NUM_USERS]
    bpr = -F.logsigmoid((u * p).sum(1) - (u * n).sum(1)).mean()
    reg = 0.5 * (u.pow(2).sum() + p.pow(2).sum() + n.pow(2).sum()) / len(u)
    items, users = batch.pos + NUM_USERS, batch.user
    cl = reference_info_nce(s[items], e[items], tau) + reference_info_nce(
        s[users], e[users], tau
    )
    return bpr + reg_weight * reg + cl_loss * cl


@pytest.mark.parametrize(("layers", "item_layers"), [(3, 1), (1, 2)])
def test_matches_the_dense_published_forward(layers, item_layers):
    torch.manual_seed(0)
    data = make_data()
    model = perturbed(
        SMORE.from_data(
            data, embedding_dim=DIM, num_layers=layers, num_item_layers=item_layers
        )
    )
    e, s = dense_smore(model, data)
    user_emb, item_emb = model(data)
    assert user_emb.shape == (NUM_USERS, DIM) and item_emb.shape == (NUM_ITEMS, DIM)
    torch.testing.assert_close(torch.cat([user_emb, item_emb]), e + s)
    torch.testing.assert_close(model.embeddings(data)[1], item_emb.detach())


@pytest.mark.parametrize("p", [0.0, 0.5])
def test_loss_is_the_reference(p):
    torch.manual_seed(0)
    data = make_data()
    model = perturbed(
        SMORE.from_data(
            data, embedding_dim=DIM, lambda_align=0.1, reg_weight=1e-2, dropout=p
        )
    )
    batch = make_batch(data, size=24)
    # Repeated users and items share one dropout draw, as in the reference.
    assert batch.user.unique().numel() < batch.user.numel()
    torch.manual_seed(1)
    loss = model.loss(data, batch)
    # The model draws the dropout of the gates of the batch's distinct
    # nodes (in id order, users first): the same draw, scattered.
    index = torch.cat([batch.user, batch.pos + NUM_USERS, batch.neg + NUM_USERS])
    nodes = index.unique()
    torch.manual_seed(1)
    draw = F.dropout(torch.ones(nodes.numel(), 3, DIM), p)
    mask = torch.ones(NUM_USERS + NUM_ITEMS, 3, DIM)
    mask[nodes] = draw
    e, s = dense_smore(model, data, preference_mask=mask)
    expected = dense_loss(e, s, batch, reg_weight=1e-2, cl_loss=0.1)
    torch.testing.assert_close(loss, expected, atol=1e-5, rtol=1e-5)


def test_dropout_only_in_training():
    torch.manual_seed(0)
    data = make_data()
    model = SMORE.from_data(data, embedding_dim=DIM, dropout=0.5)
    assert not torch.equal(model(data)[0], model(data)[0])
    model.eval()
    torch.testing.assert_close(model(data)[0], model(data)[0])
    e, s = dense_smore(model, data)
    torch.testing.assert_close(torch.cat(model(data)), e + s)


@pytest.mark.parametrize(
    "modalities",
    [{"text": 6}, {"image": 16, "meta": 5, "text": 8}],
    ids=["one_modality", "three_modalities"],
)
def test_other_numbers_of_modalities(modalities):
    torch.manual_seed(0)
    data = make_data(modalities)
    model = perturbed(SMORE.from_data(data, embedding_dim=DIM))
    assert model.spectral.num_modalities == len(modalities)
    assert len(model.view_gates) == len(modalities) + 1
    e, s = dense_smore(model, data)
    torch.testing.assert_close(torch.cat(model(data)), e + s)
    if len(modalities) == 1:
        # The variant: the fused graph is the modality's own graph.
        torch.testing.assert_close(
            data[MAX_SIM].adj_t.to_dense(), data[item_sim("text")].adj_t.to_dense()
        )
    batch = make_batch(data)
    torch.testing.assert_close(
        model.loss(data, batch),
        dense_loss(e, s, batch, model.reg_weight, model.lambda_align),
        atol=1e-5,
        rtol=1e-5,
    )
    assert_training_lowers_the_loss(model, data)


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    data = make_data()
    model = SMORE.from_data(data, embedding_dim=DIM)
    model.loss(data, make_batch(data)).backward()
    for name, param in model.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_parameters_graphs_and_checks():
    data = make_data()
    assert {INTERACTS, item_sim("image"), item_sim("text"), MAX_SIM} <= set(
        data.edge_types
    )
    assert data[item_sim("image")].edge_index.size(1) == NUM_ITEMS * IMAGE_K
    assert data[item_sim("text")].edge_index.size(1) == NUM_ITEMS * TEXT_K
    model = SMORE.from_data(data, embedding_dim=DIM)
    assert set(dict(model.named_parameters())) == CONTENT_PARAMETERS | {
        "spectral.weight",
        *(f"view_gates.{k}.{p}" for k in range(3) for p in ("weight", "bias")),
        *(f"queries.{m}.{p}" for m in ("image", "text") for p in QUERY_PARAMETERS),
        "preference.weight",
        "preference.bias",
    }
    assert model.spectral.weight.shape == (3, DIM // 2 + 1, 2)
    assert model.preference.weight.shape == (3 * DIM, DIM)
    assert repr(model) == (
        "SMORE(num_users=40, num_items=30, modalities=['image', 'text'], "
        "embedding_dim=8, num_layers=3, num_item_layers=1, lambda_align=0.01, "
        "reg_weight=0.0001, dropout=0.0, tau=0.2, freeze_features=False)"
    )
    before = model.spectral.weight.detach().clone()
    model.reset_parameters()
    assert not torch.equal(before, model.spectral.weight)
    frozen = SMORE.from_data(data, embedding_dim=DIM, freeze_features=True)
    assert not any(name.startswith("x_") for name, _ in frozen.named_parameters())
    with pytest.raises(ValueError, match="dropout"):
        SMORE.from_data(data, dropout=1.0)
    with pytest.raises(ValueError, match="num_item_layers"):
        SMORE.from_data(data, num_item_layers=-1)
    without_item_graphs = AddUserItemAdjacency()(synthetic(NUM_USERS, NUM_ITEMS))
    with pytest.raises(KeyError, match="max_sim"):
        model(without_item_graphs)


def test_cold_items_from_the_content_path():
    torch.manual_seed(0)
    data = make_data()
    model = perturbed(SMORE.from_data(data, embedding_dim=DIM))
    items = torch.tensor([4, 1])
    emb = model.cold_item_embeddings(data, items)
    assert emb.shape == (2, DIM) and not emb.requires_grad
    # Dense: the forward pass with the items' ID embeddings at zero (every
    # item of the data has training pairs, so no other is unknown).
    assert model.cold_items(data).numel() == 0
    masked = model.item_embedding.weight.detach().clone()
    masked[items] = 0.0
    e, s = dense_smore(model, data, item_embedding=masked)
    torch.testing.assert_close(emb, (e + s)[NUM_USERS + items])
    # The items' own ID embeddings do not move it; their features do,
    # through the item graphs built on them.
    with torch.no_grad():
        model.item_embedding.weight[items] = torch.randn(2, DIM)
    torch.testing.assert_close(model.cold_item_embeddings(data, items), emb)
    altered = synthetic(NUM_USERS, NUM_ITEMS)
    altered[ITEM].x_text[items] = torch.randn(2, altered[ITEM].x_text.size(1))
    altered = SMORE.graph_transform(image_k=IMAGE_K, text_k=TEXT_K)(altered)
    assert not torch.allclose(model.cold_item_embeddings(altered, items), emb)
    ids, scores = model.recommend_cold(data, torch.tensor([0, 3]), items, k=2)
    expected = model(data)[0][[0, 3]] @ emb.t()
    torch.testing.assert_close(scores, expected.sort(1, descending=True).values)
    assert set(ids.flatten().tolist()) == set(items.tolist())


def test_training_lowers_the_loss():
    torch.manual_seed(0)
    data = make_data()
    model = SMORE.from_data(data, embedding_dim=DIM)
    assert_training_lowers_the_loss(model, data)


def test_config_builds_smore_with_the_reference_schedule():
    cfg = compose_config(
        [
            "model=smore",
            "model.num_layers=4",
            "model.dropout=0.1",
            "model.graphs.image_k=3",
            "model.graphs.text_k=5",
        ]
    )
    assert cfg.trainer.lr_decay == 0.96 and cfg.trainer.lr_decay_every == 50
    data = add_graphs(cfg, synthetic(60, 50))
    model = build_model(cfg, data)
    assert isinstance(model, SMORE) and model.propagation.num_layers == 4
    assert model.dropout == 0.1 and model.lambda_align == 0.01
    assert model.reg_weight == 1e-4 and model.num_item_layers == 1
    assert data[item_sim("image")].edge_index.size(1) == 50 * 3
    assert data[item_sim("text")].edge_index.size(1) == 50 * 5


def test_trains_reproducibly_on_cpu():
    assert_trains_reproducibly_on_cpu(SMORE)
