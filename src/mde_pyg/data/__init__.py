from mde_pyg.data.dataset import MMRecDataset
from mde_pyg.data.files import file_digest
from mde_pyg.data.graphs import (
    bipartite_norm,
    degree_sensitive_pruning,
    knn_graph,
    to_adj,
    user_item_adjacency,
    user_user_graph,
)
from mde_pyg.data.hetero import (
    build_heterodata,
    feature_masks,
    item_features,
    split_edge_index,
)
from mde_pyg.data.inter import read_inter, write_inter
from mde_pyg.data.mmrec import load_mmrec
from mde_pyg.data.raw import (
    RawImport,
    import_interactions,
    k_core_filter,
    load_raw_interactions,
    reindex,
    split_per_user,
)
from mde_pyg.data.sampler import BPRBatch, BPRSampler
from mde_pyg.data.synthetic import make_synthetic
from mde_pyg.data.transforms import (
    AddMaxPooledItemGraph,
    AddMixedItemGraph,
    AddModalityGraphs,
    AddUserItemAdjacency,
    AddUserUserGraph,
)
from mde_pyg.errors import DatasetError

__all__ = [
    "AddMaxPooledItemGraph",
    "AddMixedItemGraph",
    "AddModalityGraphs",
    "AddUserItemAdjacency",
    "AddUserUserGraph",
    "BPRBatch",
    "BPRSampler",
    "DatasetError",
    "MMRecDataset",
    "RawImport",
    "bipartite_norm",
    "build_heterodata",
    "degree_sensitive_pruning",
    "feature_masks",
    "file_digest",
    "import_interactions",
    "item_features",
    "k_core_filter",
    "knn_graph",
    "load_mmrec",
    "load_raw_interactions",
    "make_synthetic",
    "read_inter",
    "reindex",
    "split_edge_index",
    "split_per_user",
    "to_adj",
    "user_item_adjacency",
    "user_user_graph",
    "write_inter",
]
