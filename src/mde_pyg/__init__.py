"""mde_pyg: multi-modal recommendation layers and pipelines for PyTorch Geometric."""

__version__ = "0.1.0"
