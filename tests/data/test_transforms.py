import re

import pytest
import torch
from torch_geometric.data import HeteroData
from torch_geometric.transforms import BaseTransform, Compose

from mde_pyg.data import bipartite_norm, user_item_adjacency
from mde_pyg.data.graphs import knn_graph, user_user_graph
from mde_pyg.data.hetero import (
    CO_INTERACTS,
    INTERACTS,
    INTERACTS_MEAN,
    ITEM,
    MAX_SIM,
    MM_SIM,
    REV_INTERACTS,
    REV_INTERACTS_MEAN,
    item_features,
    item_sim,
    mask_key,
    split_edge_index,
)
from mde_pyg.data.synthetic import make_synthetic
from mde_pyg.data.transforms import (
    AddMaxPooledItemGraph,
    AddMixedItemGraph,
    AddModalityGraphs,
    AddUserItemAdjacency,
    AddUserUserGraph,
)
from mde_pyg.models import LATTICE, BPRBatch, LightGCN


def test_adds_item_and_user_graphs():
    data = make_synthetic(120, 60, seed=0)
    transform = AddModalityGraphs(k=5, user_k=7, chunk_size=16)
    assert isinstance(transform, BaseTransform)
    out = transform(data)
    for modality, x in item_features(data).items():
        store = out[item_sim(modality)]
        index, weight = knn_graph(x, k=5, normalization="sym")
        assert torch.equal(store.edge_index, index)
        assert torch.allclose(store.edge_weight, weight, atol=1e-6)
        assert not store.edge_weight.requires_grad
    index, weight = user_user_graph(split_edge_index(data, "train"), 120, 60, k=7)
    assert torch.equal(out[CO_INTERACTS].edge_index, index)
    assert torch.allclose(out[CO_INTERACTS].edge_weight, weight)
    # The input is left untouched (PyG transforms work on a shallow copy).
    assert set(data.edge_types) < set(out.edge_types)
    assert item_sim("image") not in data.edge_types
    out.validate()


def test_user_user_graph_alone():
    data = make_synthetic(60, 40, interactions_per_user=6, seed=2)
    out = AddUserUserGraph(k=3, chunk_size=16)(data)
    # Only the user graph: no item graph is built.
    assert set(out.edge_types) - set(data.edge_types) == {CO_INTERACTS}
    index, weight = user_user_graph(split_edge_index(data, "train"), 60, 40, k=3)
    assert torch.equal(out[CO_INTERACTS].edge_index, index)
    assert torch.allclose(out[CO_INTERACTS].edge_weight, weight)
    assert_sparse_graph(out, CO_INTERACTS)
    assert repr(AddUserUserGraph()) == "AddUserUserGraph(k=40, chunk_size=1024)"
    # The same graph as AddModalityGraphs adds.
    both = AddModalityGraphs(k=3, user_k=3)(data)
    assert torch.equal(both[CO_INTERACTS].edge_index, index)
    # On foreign type names.
    buys = ("customer", "buys", "product")
    foreign = HeteroData()
    foreign["customer"].num_nodes = 60
    foreign["product"].num_nodes = 40
    foreign[buys].edge_index = split_edge_index(data, "train")
    co = ("customer", "co_interacts", "customer")
    out = AddUserUserGraph(
        k=3, item_type="product", user_type="customer", edge_type=buys
    )(foreign)
    assert torch.equal(out[co].edge_index, index)


def test_options_and_repr():
    data = make_synthetic(80, 40, modalities={"text": 6}, seed=1)
    out = Compose([AddModalityGraphs(k=3, weighted=False, user_graph=False)])(data)
    assert CO_INTERACTS not in out.edge_types
    assert out[ITEM, "sim_text", ITEM].edge_index.size(1) == 40 * 3
    # Binary weights, symmetrically normalised by the (constant) row sums k.
    assert torch.allclose(
        out[ITEM, "sim_text", ITEM].edge_weight, torch.full((120,), 1 / 3)
    )
    assert repr(AddModalityGraphs()) == (
        "AddModalityGraphs(k=10, user_k=40, weighted=True, user_graph=True, "
        "chunk_size=1024, skip_missing=True)"
    )


def dense(edge_index, edge_weight, num_src, num_dst):
    """The [num_dst, num_src] matrix of a weighted edge list, duplicates
    summed, built without mde_pyg."""
    out = torch.zeros(num_dst, num_src)
    return out.index_put_((edge_index[1], edge_index[0]), edge_weight, accumulate=True)


def assert_sparse_graph(data, edge_type):
    """``adj_t`` is the CSR [num_dst, num_src] of the relation's weighted
    edges and ``adj`` its CSR transpose."""
    src, _, dst = edge_type
    store = data[edge_type]
    num_src, num_dst = data[src].num_nodes, data[dst].num_nodes
    assert store.adj_t.layout == torch.sparse_csr
    assert store.adj.layout == torch.sparse_csr
    assert store.adj_t.shape == (num_dst, num_src)
    assert store.adj.shape == (num_src, num_dst)
    expected = dense(store.edge_index, store.edge_weight, num_src, num_dst)
    assert torch.allclose(store.adj_t.to_dense(), expected, atol=1e-6)
    assert torch.equal(store.adj.to_dense(), store.adj_t.to_dense().t())


def test_user_item_adjacency_sym():
    data = make_synthetic(50, 30, interactions_per_user=6, seed=2)
    train = split_edge_index(data, "train")
    out = AddUserItemAdjacency()(data)
    weight = bipartite_norm(train, 50, 30)
    assert torch.equal(out[INTERACTS].edge_index, train)
    assert torch.equal(out[REV_INTERACTS].edge_index, train.flip(0))
    for edge_type in (INTERACTS, REV_INTERACTS):
        assert torch.allclose(out[edge_type].edge_weight, weight)
        assert "self_weight" not in out[edge_type]
        assert_sparse_graph(out, edge_type)
    # The input is left untouched.
    assert "edge_weight" not in data[INTERACTS]


def test_user_item_adjacency_row_with_self_loops():
    data = make_synthetic(50, 30, interactions_per_user=6, seed=3)
    train = split_edge_index(data, "train")
    rev = data[REV_INTERACTS].edge_index.clone()
    transform = AddUserItemAdjacency(
        normalization="row",
        self_loops=True,
        out_edge_types=(INTERACTS_MEAN, REV_INTERACTS_MEAN),
    )
    out = transform(data)
    for edge_type in (INTERACTS_MEAN, REV_INTERACTS_MEAN):
        assert_sparse_graph(out, edge_type)
    # The original relations keep their edges and get no weights.
    assert torch.equal(out[INTERACTS].edge_index, train)
    assert torch.equal(out[REV_INTERACTS].edge_index, rev)
    assert "edge_weight" not in out[INTERACTS] and "adj_t" not in out[REV_INTERACTS]

    # Both relations plus the self-loop weights are D^-1 (A + I) on the
    # homogeneous graph (users first, then items).
    to_item, to_user = out[INTERACTS_MEAN], out[REV_INTERACTS_MEAN]
    assert to_user.self_weight.shape == (50,) and to_item.self_weight.shape == (30,)
    got = torch.zeros(80, 80)
    got[50:, :50] = to_item.adj_t.to_dense()
    got[:50, 50:] = to_user.adj_t.to_dense()
    got += torch.diag(torch.cat([to_user.self_weight, to_item.self_weight]))
    index, weight = user_item_adjacency(train, 50, 30, "row", self_loops=True)
    assert torch.allclose(got, dense(index, weight, 80, 80), atol=1e-6)
    # ... which is, by hand, the row-normalised A + I.
    a = torch.eye(80)
    a[train[0], train[1] + 50] = 1.0
    a[train[1] + 50, train[0]] = 1.0
    assert torch.allclose(got, a / a.sum(1, keepdim=True), atol=1e-6)


def test_user_item_adjacency_rejects_unknown_normalization():
    with pytest.raises(ValueError, match="normalization 'columns'"):
        AddUserItemAdjacency(normalization="columns")


def test_modality_graphs_store_sparse_adjacencies():
    data = make_synthetic(60, 40, interactions_per_user=6, seed=4)
    out = AddModalityGraphs(k=4, user_k=5)(data)
    added = [item_sim("image"), item_sim("text"), CO_INTERACTS]
    assert set(added) <= set(out.edge_types)
    for edge_type in added:
        assert_sparse_graph(out, edge_type)


def test_modality_graphs_with_foreign_type_names():
    data = make_synthetic(60, 40, interactions_per_user=6, seed=5)
    buys = ("customer", "buys", "product")
    foreign = HeteroData()
    foreign["customer"].num_nodes = 60
    foreign["product"].num_nodes = 40
    foreign["product"].x_image = data[ITEM].x_image
    foreign[buys].edge_index = split_edge_index(data, "train")
    out = AddModalityGraphs(
        k=4, user_k=5, item_type="product", user_type="customer", edge_type=buys
    )(foreign)
    assert set(out.node_types) == {"customer", "product"}
    sim = ("product", "sim_image", "product")
    co = ("customer", "co_interacts", "customer")
    assert set(out.edge_types) == {buys, sim, co}
    index, weight = knn_graph(data[ITEM].x_image, k=4, normalization="sym")
    assert torch.equal(out[sim].edge_index, index)
    assert torch.allclose(out[sim].edge_weight, weight, atol=1e-6)
    index, weight = user_user_graph(split_edge_index(data, "train"), 60, 40, k=5)
    assert torch.equal(out[co].edge_index, index)
    assert torch.allclose(out[co].edge_weight, weight)
    for edge_type in (sim, co):
        assert_sparse_graph(out, edge_type)


def test_modality_graphs_cache(tmp_path):
    data = make_synthetic(60, 40, interactions_per_user=6, seed=6)
    transform = AddModalityGraphs(k=4, user_graph=False, cache_dir=tmp_path)
    first = transform(data)
    assert (transform.cache.hits, transform.cache.misses) == (0, 2)
    assert len(list(tmp_path.glob("graph-*.pt"))) == 2
    # Same features (a copy, not the same tensors): answered from the cache.
    second = transform(data.clone())
    assert (transform.cache.hits, transform.cache.misses) == (2, 2)
    assert len(list(tmp_path.glob("graph-*.pt"))) == 2
    for modality in ("image", "text"):
        got, want = second[item_sim(modality)], first[item_sim(modality)]
        assert torch.equal(got.edge_index, want.edge_index)
        assert torch.equal(got.edge_weight, want.edge_weight)
        assert torch.equal(got.adj_t.to_dense(), want.adj_t.to_dense())
        assert torch.equal(got.adj.to_dense(), want.adj.to_dense())
    # Another k is another graph.
    other = AddModalityGraphs(k=3, user_graph=False, cache_dir=tmp_path)
    other(data)
    assert (other.cache.hits, other.cache.misses) == (0, 2)
    assert len(list(tmp_path.glob("graph-*.pt"))) == 4


def test_modality_graphs_with_a_k_per_modality():
    data = make_synthetic(60, 40, interactions_per_user=6, seed=7)
    transform = AddModalityGraphs(
        k=3, user_graph=False, modality_k={"text": 6, "audio": 2}
    )
    out = transform(data)
    for modality, k in (("image", 3), ("text", 6)):
        index, weight = knn_graph(data[ITEM][f"x_{modality}"], k=k)
        assert torch.equal(out[item_sim(modality)].edge_index, index)
        assert torch.allclose(out[item_sim(modality)].edge_weight, weight, atol=1e-6)
    assert repr(transform).endswith("modality_k={'text': 6, 'audio': 2})")


def test_max_pooled_item_graph_is_the_elementwise_maximum():
    data = make_synthetic(60, 40, interactions_per_user=6, seed=8)
    graphs = AddModalityGraphs(k=4, user_graph=False, modality_k={"text": 6})(data)
    out = AddMaxPooledItemGraph()(graphs)
    # Dense: on the union of the two graphs' edges, the larger weight; an
    # edge of one graph keeps that graph's weight.
    dense_graphs = [
        dense(graphs[item_sim(m)].edge_index, graphs[item_sim(m)].edge_weight, 40, 40)
        for m in ("image", "text")
    ]
    support = [torch.zeros(40, 40, dtype=torch.bool) for _ in dense_graphs]
    for mask, m in zip(support, ("image", "text")):
        src, dst = graphs[item_sim(m)].edge_index
        mask[dst, src] = True
    stacked = torch.stack(
        [torch.where(mask, g, float("-inf")) for mask, g in zip(support, dense_graphs)]
    )
    union = support[0] | support[1]
    expected = torch.where(union, stacked.max(0).values, torch.zeros(()))
    store = out[MAX_SIM]
    assert store.edge_index.size(1) == int(union.sum())
    assert torch.allclose(dense(store.edge_index, store.edge_weight, 40, 40), expected)
    assert_sparse_graph(out, MAX_SIM)
    assert repr(AddMaxPooledItemGraph()) == "AddMaxPooledItemGraph(relation='max_sim')"
    # One modality: its own graph.
    text_only = make_synthetic(60, 40, modalities={"text": 5}, seed=8)
    one = AddMaxPooledItemGraph()(AddModalityGraphs(k=4, user_graph=False)(text_only))
    torch.testing.assert_close(
        one[MAX_SIM].adj_t.to_dense(), one[item_sim("text")].adj_t.to_dense()
    )


def test_max_pooled_item_graph_needs_the_modality_graphs():
    data = make_synthetic(60, 40, interactions_per_user=6, seed=8)
    with pytest.raises(ValueError, match="sim_image.*run AddModalityGraphs first"):
        AddMaxPooledItemGraph()(data)
    assert item_sim("image") not in data.edge_types  # nothing added on the way
    bare = make_synthetic(60, 40, modalities={}, seed=8)
    with pytest.raises(ValueError, match="needs item features"):
        AddMaxPooledItemGraph()(bare)


def with_missing_rows(data):
    """``data`` with the image rows of the items 0, 2, 4, ... and the text
    rows of the items 1, 4, 7, ... marked missing (filled with the mean)."""
    data = data.clone()
    num_items = data[ITEM].num_nodes
    items = torch.arange(num_items)
    for modality, missing in (("image", items % 2 == 0), ("text", items % 3 == 1)):
        x = data[ITEM][f"x_{modality}"]
        x[missing] = x[~missing].mean(0)
        data[ITEM][mask_key(modality)] = ~missing
    return data


def assert_no_link_through_missing_rows(edge_index, mask):
    """Every edge that touches an item with a missing row is its self-loop."""
    touches = ~mask[edge_index[0]] | ~mask[edge_index[1]]
    assert torch.equal(edge_index[0, touches], edge_index[1, touches])
    assert set(edge_index[1, touches].tolist()) == set(
        (~mask).nonzero().view(-1).tolist()
    )


def test_item_graphs_link_no_item_through_a_missing_row(tmp_path):
    data = with_missing_rows(make_synthetic(60, 40, interactions_per_user=6, seed=7))
    masks = {m: data[ITEM][mask_key(m)] for m in ("image", "text")}
    out = AddModalityGraphs(k=4, user_graph=False)(data)
    for modality, mask in masks.items():
        store = out[item_sim(modality)]
        index, weight = knn_graph(
            data[ITEM][f"x_{modality}"], k=4, normalization="sym", mask=mask
        )
        assert torch.equal(store.edge_index, index)
        assert torch.allclose(store.edge_weight, weight)
        assert_no_link_through_missing_rows(store.edge_index, mask)
    # FREEDOM's mix: an item missing in one modality is linked through the
    # other one only (plus its self-loop).
    mixed = AddMixedItemGraph(k=4)(data)[MM_SIM].edge_index
    for modality, mask in masks.items():
        other = masks["text" if modality == "image" else "image"]
        alone = ~mask & ~other
        touches = alone[mixed[0]] | alone[mixed[1]]
        assert torch.equal(mixed[0, touches], mixed[1, touches])
        only_here = ~mask & other
        neighbours = mixed[0, only_here[mixed[1]]]
        assert other[neighbours].all()
    # The cache keeps the graphs of the same features with another mask
    # apart: the same text rows, all real now, are a miss; the image a hit.
    cached = AddModalityGraphs(k=4, user_graph=False, cache_dir=tmp_path)
    cached(data)
    all_text = data.clone()
    all_text[ITEM][mask_key("text")] = torch.ones(40, dtype=torch.bool)
    again = cached(all_text)
    assert (cached.cache.hits, cached.cache.misses) == (1, 3)
    assert again[item_sim("text")].edge_index.size(1) == 40 * 4


def test_skip_missing_false_searches_the_filled_in_rows(tmp_path):
    data = with_missing_rows(make_synthetic(60, 40, interactions_per_user=6, seed=7))
    unmasked = data.clone()
    for modality in ("image", "text"):
        del unmasked[ITEM][mask_key(modality)]
    linked = AddModalityGraphs(k=4, user_graph=False, skip_missing=False)
    assert "skip_missing=False" in repr(linked)
    out, expected = (
        linked(data.clone()),
        AddModalityGraphs(k=4, user_graph=False)(unmasked.clone()),
    )
    for modality in ("image", "text"):
        mask = data[ITEM][mask_key(modality)]
        index = out[item_sim(modality)].edge_index
        assert torch.equal(index, expected[item_sim(modality)].edge_index)
        # A missing item has its k neighbours, not only itself.
        assert torch.equal(
            torch.bincount(index[1], minlength=40)[~mask],
            torch.full((int((~mask).sum()),), 4),
        )
    mixed = AddMixedItemGraph(k=4, skip_missing=False)(data.clone())[MM_SIM]
    expected_mix = AddMixedItemGraph(k=4)(unmasked.clone())[MM_SIM]
    assert torch.equal(mixed.edge_index, expected_mix.edge_index)
    assert torch.equal(mixed.edge_weight, expected_mix.edge_weight)
    # The model's learned graphs follow its own choice.
    kwargs = {"embedding_dim": 8, "feat_embed_dim": 6, "k": 4}
    model = LATTICE.from_data(data, skip_missing=False, **kwargs)
    learned = model.learned_graph(data)[:2]
    for tensor, reference in zip(learned, model.learned_graph(unmasked)[:2]):
        assert torch.equal(tensor, reference)
    model.skip_missing = True
    assert not torch.equal(model.learned_graph(data)[1], learned[1])


def strip_graphs(data, raw):
    """``data`` without what the graph transforms added to ``raw``."""
    bare = data.clone()
    for edge_type in bare.edge_types:
        if edge_type not in raw.edge_types:
            del bare[edge_type]
    for store in bare.edge_stores:
        for key in ("edge_weight", "adj_t", "adj", "self_weight"):
            if key in store:
                del store[key]
    return bare


MODELS = {
    "lightgcn": (LightGCN, {}, {"embedding_dim": 8}),
    "lattice": (
        LATTICE,
        {"k": 4},
        {"embedding_dim": 8, "feat_embed_dim": 6, "k": 4},
    ),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_trained_model_runs_on_another_heterodata(name):
    cls, graph_options, model_options = MODELS[name]
    transform = cls.graph_transform(**graph_options)
    raw = make_synthetic(40, 30, interactions_per_user=6, seed=7)
    data = transform(raw)
    # Another HeteroData with the same node counts and edge types: the same
    # training graph with another validation split.
    raw2 = raw.clone()
    raw2[INTERACTS].val_edge_label_index = raw[INTERACTS].test_edge_label_index
    data2 = transform(raw2)
    assert data2 is not data and data2.edge_types == data.edge_types
    assert not torch.equal(
        data2[INTERACTS].val_edge_label_index, data[INTERACTS].val_edge_label_index
    )

    torch.manual_seed(0)
    model = cls.from_data(data, **model_options)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    train = split_edge_index(data, "train")
    batch = BPRBatch(train[0, :16], train[1, :16], torch.arange(16) % 30)
    model.on_epoch_start(data, 0)
    before = model.user_embedding.weight.detach().clone()
    model.loss(data, batch).backward()
    optimizer.step()
    assert not torch.equal(before, model.user_embedding.weight)

    # (Not model(data) against model(data2): LATTICE's forward reuses the item
    # graph of the last refresh on the same data, as its reference does, and
    # refreshes it for other data.)
    user, item = model.embeddings(data)
    user2, item2 = model.embeddings(data2)
    assert user2.shape == (40, 8) and item2.shape == (30, 8)
    assert torch.allclose(user2, user, atol=1e-6)
    assert torch.allclose(item2, item, atol=1e-6)

    # The graphs are read from the data given: another training graph gives
    # other embeddings.
    raw3 = raw.clone()
    raw3[INTERACTS].edge_index = train[:, ::2]
    raw3[REV_INTERACTS].edge_index = train[:, ::2].flip(0)
    with torch.no_grad():
        user3, _ = model(transform(raw3))
    assert not torch.allclose(user3, user, atol=1e-4)

    # Without its graphs, the data is refused with a KeyError naming the
    # missing relation and the transform that makes it.
    bare = strip_graphs(data, raw)
    edge_types = list(bare.edge_types)
    needed = "|".join(
        re.escape(str(et)) for et in set(data.edge_types) - set(raw.edge_types)
    ) or re.escape(str(INTERACTS))
    with pytest.raises(KeyError, match=f"({needed}).*graph_transform"):
        model(bare)
    with pytest.raises(KeyError, match=f"({needed}).*graph_transform"):
        cls.from_data(data, **model_options)(bare)
    assert list(bare.edge_types) == edge_types
    with pytest.raises(KeyError, match=f"({needed}).*graph_transform"):
        model.embeddings(bare)
    # ... and left as it was.
    assert list(bare.edge_types) == edge_types
