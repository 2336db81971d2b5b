import torch
from torch_geometric.transforms import BaseTransform, Compose

from mde_pyg.data.graphs import knn_graph, user_user_graph
from mde_pyg.data.hetero import (
    CO_INTERACTS,
    ITEM,
    item_features,
    item_sim,
    split_edge_index,
)
from mde_pyg.data.synthetic import make_synthetic
from mde_pyg.data.transforms import AddModalityGraphs


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
        "chunk_size=1024)"
    )
