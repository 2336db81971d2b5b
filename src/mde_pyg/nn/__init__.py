from mde_pyg.nn.club import CLUB
from mde_pyg.nn.hetero_graph_encoder import HeteroEncoding, HeteroGraphEncoder
from mde_pyg.nn.hypergraph_propagation import HypergraphPropagation
from mde_pyg.nn.lg_conv import BipartiteLGConv, Graph, graphs_of
from mde_pyg.nn.mmgcn_conv import MMGCNConv
from mde_pyg.nn.modality_discrimination_conv import ModalityDiscriminationConv
from mde_pyg.nn.modality_pairs import modality_pairs
from mde_pyg.nn.preference_gate import PreferenceGate
from mde_pyg.nn.spectral_fusion import SpectralFusion
from mde_pyg.nn.user_item_propagation import UserItemPropagation

__all__ = [
    "BipartiteLGConv",
    "CLUB",
    "Graph",
    "HeteroEncoding",
    "HeteroGraphEncoder",
    "HypergraphPropagation",
    "MMGCNConv",
    "ModalityDiscriminationConv",
    "PreferenceGate",
    "SpectralFusion",
    "UserItemPropagation",
    "graphs_of",
    "modality_pairs",
]
