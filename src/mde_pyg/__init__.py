"""mde_pyg: multi-modal recommendation layers and pipelines for PyTorch Geometric."""

__version__ = "0.1.0"

from mde_pyg.nn import (  # noqa: E402 - the version must exist before imports
    BipartiteLGConv,
    Graph,
    HeteroGraphEncoder,
    ModalityDiscriminationConv,
    PreferenceGate,
    UserItemPropagation,
)

__all__ = [
    "BipartiteLGConv",
    "Graph",
    "HeteroGraphEncoder",
    "ModalityDiscriminationConv",
    "PreferenceGate",
    "UserItemPropagation",
    "__version__",
]
