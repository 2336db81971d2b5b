"""mde_pyg: multi-modal recommendation layers and pipelines for PyTorch Geometric."""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# The public names and the module each comes from. They are imported on first
# use (PEP 562), so that `mde-pyg --help` does not pay for torch and PyG.
_EXPORTS = {
    "BipartiteLGConv": "mde_pyg.nn",
    "Graph": "mde_pyg.nn",
    "HeteroGraphEncoder": "mde_pyg.nn",
    "ModalityDiscriminationConv": "mde_pyg.nn",
    "PreferenceGate": "mde_pyg.nn",
    "UserItemPropagation": "mde_pyg.nn",
    "load_run": "mde_pyg.pipeline",
}

__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'mde_pyg' has no attribute '{name}'")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
