from mde_pyg.models.base import BPRBatch, Recommender, bpr_loss
from mde_pyg.models.lattice import LATTICE
from mde_pyg.models.lightgcn import LightGCN
from mde_pyg.models.mde import MDE, MDELossWeights

__all__ = [
    "BPRBatch",
    "LATTICE",
    "LightGCN",
    "MDE",
    "MDELossWeights",
    "Recommender",
    "bpr_loss",
]
