from mde_pyg.nn.hetero_graph_encoder import HeteroEncoding, HeteroGraphEncoder
from mde_pyg.nn.lg_conv import BipartiteLGConv
from mde_pyg.nn.modality_discrimination_conv import ModalityDiscriminationConv
from mde_pyg.nn.preference_gate import PreferenceGate

__all__ = [
    "BipartiteLGConv",
    "HeteroEncoding",
    "HeteroGraphEncoder",
    "ModalityDiscriminationConv",
    "PreferenceGate",
]
