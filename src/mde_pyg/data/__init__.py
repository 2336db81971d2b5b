from mde_pyg.data.graphs import (
    bipartite_norm,
    knn_graph,
    to_adj,
    user_item_adjacency,
    user_user_graph,
)
from mde_pyg.data.hetero import build_heterodata, item_features, split_edge_index
from mde_pyg.data.sampler import BPRBatch, BPRSampler
from mde_pyg.data.synthetic import make_synthetic
from mde_pyg.data.transforms import AddModalityGraphs

__all__ = [
    "AddModalityGraphs",
    "BPRBatch",
    "BPRSampler",
    "bipartite_norm",
    "build_heterodata",
    "item_features",
    "knn_graph",
    "make_synthetic",
    "split_edge_index",
    "to_adj",
    "user_item_adjacency",
    "user_user_graph",
]
