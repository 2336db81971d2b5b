"""FREEDOM against an independent dense computation of the published model
(MMRec's ``models/freedom.py``), and its degree-sensitive edge pruning."""

import pytest
import torch
import torch.nn.functional as F
from model_helpers import dense_norm_adj, make_batch

from mde_pyg.data import AddUserItemAdjacency, build_heterodata, make_synthetic
from mde_pyg.data.graphs import degree_sensitive_pruning
from mde_pyg.data.hetero import (
    INTERACTS,
    ITEM,
    MM_SIM,
    USER,
    item_features,
    split_edge_index,
)
from mde_pyg.data.transforms import AddMixedItemGraph
from mde_pyg.models import FREEDOM, freedom_modality_weights
from mde_pyg.pipeline import add_graphs, build_model, compose_config
from mde_pyg.training import Trainer, seed_everything

DIM = 8
K = 4
NUM_USERS, NUM_ITEMS = 40, 30


def make_data(modalities=None, seed=0, **graph_kwargs):
    data = make_synthetic(
        num_users=NUM_USERS,
        num_items=NUM_ITEMS,
        interactions_per_user=6,
        modalities=modalities or {"image": 16, "text": 8},
        seed=seed,
    )
    return FREEDOM.graph_transform(**{"k": K, **graph_kwargs})(data)


def dense_of(store, num_nodes):
    """A stored item graph as a dense [target, source] matrix."""
    return torch.sparse_coo_tensor(
        store.edge_index.flip(0), store.edge_weight, (num_nodes, num_nodes)
    ).to_dense()


def dense_binary_knn(x, k):
    """FREEDOM's get_knn_adj_mat, dense: binary top-k cosine graph, each
    entry scaled by rowsum^-1/2 of its row and of its column's row."""
    unit = x / x.norm(dim=1, keepdim=True)
    _, index = (unit @ unit.t()).topk(k, dim=1)
    adj = torch.zeros(x.size(0), x.size(0)).scatter_(1, index, 1.0)
    d = adj.sum(1).pow(-0.5)
    return d[:, None] * adj * d[None, :]


def dense_mixed_graph(data, k=K, image_weight=0.1):
    x = item_features(data)
    return image_weight * dense_binary_knn(x["image"], k) + (
        1 - image_weight
    ) * dense_binary_knn(x["text"], k)


def dense_freedom(model, data, edge_index):
    """FREEDOM's forward(adj) with the graph of ``edge_index``, dense."""
    num_users, num_items = data[USER].num_nodes, data[ITEM].num_nodes
    h = dense_mixed_graph(data) @ model.item_embedding.weight
    adj = dense_norm_adj(edge_index, num_users, num_items)
    ego = torch.cat([model.user_embedding.weight, model.item_embedding.weight])
    out = (ego + adj @ ego + adj @ adj @ ego) / 3
    return out[:num_users], out[num_users:] + h


def bpr(u, p, n):
    return -F.logsigmoid((u * p).sum(1) - (u * n).sum(1)).mean()


def test_mixed_item_graph_is_the_reference_one():
    data = make_data()
    graph = data[MM_SIM]
    expected = dense_mixed_graph(data)
    assert torch.allclose(dense_of(graph, NUM_ITEMS), expected, atol=1e-6)
    # Coalesced edges (shared edges summed once), the sparse form agrees.
    assert graph.edge_index.size(1) == int((expected > 0).sum())
    assert torch.allclose(graph.adj_t.to_dense(), expected, atol=1e-6)
    assert torch.allclose(graph.adj.to_dense(), expected.t(), atol=1e-6)
    # Every modality's binary graph weighs 1/k per edge: rows sum to 1.
    assert torch.allclose(expected.sum(1), torch.ones(NUM_ITEMS), atol=1e-6)


def test_modality_weights():
    assert freedom_modality_weights(["image", "text"]) == pytest.approx(
        {"image": 0.1, "text": 0.9}
    )
    assert freedom_modality_weights(["meta", "text"], 0.3) == pytest.approx(
        {"meta": 0.3, "text": 0.7}
    )
    assert freedom_modality_weights(["a", "text", "b"]) == pytest.approx(
        {"a": 0.05, "text": 0.9, "b": 0.05}
    )
    assert freedom_modality_weights(["a", "b"]) == {"a": 0.5, "b": 0.5}
    assert freedom_modality_weights(["text"]) == {"text": 1.0}
    with pytest.raises(ValueError, match="mm_image_weight"):
        freedom_modality_weights(["image", "text"], 1.5)

    base = make_synthetic(num_users=NUM_USERS, num_items=NUM_ITEMS, seed=0)
    x = item_features(base)
    explicit = FREEDOM.graph_transform(
        k=K, modality_weights={"image": 0.5, "text": 0.5}
    )(base)
    expected = 0.5 * dense_binary_knn(x["image"], K) + 0.5 * dense_binary_knn(
        x["text"], K
    )
    assert torch.allclose(dense_of(explicit[MM_SIM], NUM_ITEMS), expected, atol=1e-6)
    # Equal weights by default; a weight of 0 leaves its modality out.
    equal = AddMixedItemGraph(k=K)(base.clone())
    assert torch.allclose(dense_of(equal[MM_SIM], NUM_ITEMS), expected, atol=1e-6)
    text_only = AddMixedItemGraph(k=K, weights={"image": 0.0, "text": 1.0})(
        base.clone()
    )
    assert torch.allclose(
        dense_of(text_only[MM_SIM], NUM_ITEMS), dense_binary_knn(x["text"], K)
    )
    with pytest.raises(ValueError, match="exactly the data's modalities"):
        AddMixedItemGraph(weights={"image": 1.0})(base.clone())
    with pytest.raises(ValueError, match="not all 0"):
        AddMixedItemGraph(weights={"image": 0.0, "text": 0.0})(base.clone())


def test_forward_uses_the_full_graph():
    torch.manual_seed(0)
    data = make_data()
    model = FREEDOM.from_data(data, embedding_dim=DIM)
    train = split_edge_index(data, "train")
    user_exp, item_exp = dense_freedom(model, data, train)
    model.on_epoch_start(data, 0)  # pruning never reaches the evaluation
    user_emb, item_emb = model(data)
    assert torch.allclose(user_emb, user_exp, atol=1e-6)
    assert torch.allclose(item_emb, item_exp, atol=1e-6)
    for a, b in zip(model.embeddings(data), (user_exp, item_exp)):
        assert torch.allclose(a, b, atol=1e-6)


@pytest.mark.parametrize("weight", [0.0, 1e-1])
def test_loss_is_the_reference_on_the_pruned_graph(weight):
    torch.manual_seed(0)
    data = make_data()
    model = FREEDOM.from_data(data, embedding_dim=DIM, lambda_modality_bpr=weight)
    with torch.no_grad():
        model.x_image.add_(0.1)  # fine-tuned features are the ones projected
    model.on_epoch_start(data, 0)
    kept = model.pruned_edge_index
    user_emb, item_emb = dense_freedom(model, data, kept)
    batch = make_batch(data)
    u = user_emb[batch.user]
    expected = bpr(u, item_emb[batch.pos], item_emb[batch.neg])
    for m in ("image", "text"):
        feats = model.projections[m](model.feature(m))
        expected = expected + weight * bpr(u, feats[batch.pos], feats[batch.neg])
    loss = model.loss(data, batch)
    assert torch.allclose(loss, expected, atol=1e-6)
    # The loss is on the pruned graph, not the full one.
    full_user, full_item = dense_freedom(model, data, split_edge_index(data, "train"))
    full = bpr(full_user[batch.user], full_item[batch.pos], full_item[batch.neg])
    assert not torch.allclose(loss, full, atol=1e-6)

    loss.backward()
    if weight == 0.0:  # the modality terms are off
        assert (
            model.x_image.grad is None and model.projections["text"].weight.grad is None
        )
    else:
        assert model.x_image.grad.abs().sum() > 0
        assert model.projections["text"].weight.grad.abs().sum() > 0
    assert model.item_embedding.weight.grad.abs().sum() > 0


def test_pruning_keeps_existing_edges_with_pruned_graph_weights():
    data = make_data()
    train = split_edge_index(data, "train")
    gen = torch.Generator().manual_seed(0)
    kept, weight = degree_sensitive_pruning(train, NUM_USERS, NUM_ITEMS, 0.8, gen)
    # The reference's count, floating-point rounding included.
    assert kept.size(1) == int(train.size(1) * (1.0 - 0.8))
    pairs = set(map(tuple, train.t().tolist()))
    kept_pairs = list(map(tuple, kept.t().tolist()))
    assert len(set(kept_pairs)) == len(kept_pairs)  # without replacement
    assert set(kept_pairs) <= pairs
    adj = dense_norm_adj(kept, NUM_USERS, NUM_ITEMS)
    assert torch.allclose(weight, adj[kept[0], kept[1] + NUM_USERS], atol=1e-6)
    with pytest.raises(ValueError, match="dropout"):
        degree_sensitive_pruning(train, NUM_USERS, NUM_ITEMS, 1.0)


def test_pruning_favours_low_degree_pairs():
    # User 0 interacts with every item; every other user with one item.
    num_users, num_items = 31, 10
    hub = torch.stack([torch.zeros(num_items, dtype=torch.long), torch.arange(10)])
    rest = torch.stack([torch.arange(1, num_users), torch.arange(num_users - 1) % 10])
    edge_index = torch.cat([hub, rest], dim=1)
    gen = torch.Generator().manual_seed(0)
    counts = torch.zeros(edge_index.size(1))
    draws = 300
    for _ in range(draws):
        kept, _ = degree_sensitive_pruning(edge_index, num_users, num_items, 0.5, gen)
        key = kept[0] * num_items + kept[1]
        counts += torch.isin(edge_index[0] * num_items + edge_index[1], key).float()
    freq = counts / draws
    # 1/sqrt(10 * 4) vs 1/sqrt(1 * 4): the hub's edges survive far less often.
    assert freq[:num_items].mean() < 0.5 * freq[num_items:].mean()
    assert freq.sum() == pytest.approx(int(edge_index.size(1) * 0.5))


def test_pruned_graph_is_resampled_every_epoch_and_reproducible():
    data = make_data()
    model = FREEDOM.from_data(data, embedding_dim=DIM)
    torch.manual_seed(5)
    model.on_epoch_start(data, 0)
    first = model.pruned_edge_index.clone()
    loss_first = model.loss(data, make_batch(data))
    model.on_epoch_start(data, 1)
    assert not torch.equal(model.pruned_edge_index, first)
    assert not torch.allclose(model.loss(data, make_batch(data)), loss_first)
    torch.manual_seed(5)
    model.on_epoch_start(data, 0)
    assert torch.equal(model.pruned_edge_index, first)
    assert torch.equal(model.loss(data, make_batch(data)), loss_first)

    # Without dropout the training graph is the full graph.
    full = FREEDOM.from_data(data, embedding_dim=DIM, dropout=0.0)
    full.on_epoch_start(data, 0)
    assert torch.equal(full.pruned_edge_index, split_edge_index(data, "train"))
    batch = make_batch(data)
    user_emb, item_emb = full(data)
    u = user_emb[batch.user]
    expected = bpr(u, item_emb[batch.pos], item_emb[batch.neg])
    assert full.loss(data, batch) > expected  # plus the modality terms
    full.lambda_modality_bpr = 0.0
    assert torch.allclose(full.loss(data, batch), expected)


def test_one_modality_and_checks():
    torch.manual_seed(0)
    data = make_data(modalities={"text": 6})
    model = FREEDOM.from_data(data, embedding_dim=DIM)
    x = item_features(data)["text"]
    assert torch.allclose(dense_of(data[MM_SIM], NUM_ITEMS), dense_binary_knn(x, K))
    assert torch.isfinite(model.loss(data, make_batch(data)))
    assert repr(model) == (
        "FREEDOM(num_users=40, num_items=30, modalities=['text'], embedding_dim=8, "
        "num_layers=2, num_item_layers=1, dropout=0.8, lambda_modality_bpr=0.0001, "
        "freeze_features=False)"
    )
    frozen = FREEDOM.from_data(data, embedding_dim=DIM, freeze_features=True)
    assert not any(name.startswith("x_") for name, _ in frozen.named_parameters())
    with pytest.raises(ValueError, match="dropout"):
        FREEDOM.from_data(data, dropout=1.0)
    plain = build_heterodata(
        NUM_USERS,
        NUM_ITEMS,
        *(split_edge_index(data, s) for s in ("train", "val", "test")),
    )
    with pytest.raises(ValueError, match="at least one"):
        FREEDOM.from_data(plain)
    with pytest.raises(KeyError, match="mm_sim.*graph_transform"):
        model(AddUserItemAdjacency()(plain))


def test_config_builds_freedom():
    cfg = compose_config(
        [
            "model=freedom",
            "model.dropout=0.9",
            "model.graphs.k=3",
            "+model.graphs.modality_weights={image: 0.5, text: 0.5}",
        ]
    )
    assert cfg.trainer.lr_decay == 1.0  # no schedule in the reference
    data = add_graphs(cfg, make_synthetic(num_users=60, num_items=50, seed=0))
    model = build_model(cfg, data)
    assert isinstance(model, FREEDOM) and model.dropout == 0.9
    assert "adj_t" in data[MM_SIM] and "edge_weight" in data[INTERACTS]
    x = item_features(data)
    expected = 0.5 * dense_binary_knn(x["image"], 3) + 0.5 * dense_binary_knn(
        x["text"], 3
    )
    assert torch.allclose(dense_of(data[MM_SIM], 50), expected, atol=1e-6)


def test_trains_reproducibly():
    def fit():
        seed_everything(0)
        data = FREEDOM.graph_transform()(
            make_synthetic(num_users=100, num_items=60, seed=0)
        )
        return Trainer(FREEDOM.from_data(data), data, max_epochs=2, device="cpu").fit()

    first, second = fit(), fit()
    assert len(first.history) == 2
    assert [h["loss"] for h in first.history] == [h["loss"] for h in second.history]
    assert first.test == second.test
