from mde_pyg.models.base import BPRBatch, Recommender, bpr_loss
from mde_pyg.models.lattice import LATTICE
from mde_pyg.models.lightgcn import LightGCN, UserItemPropagation
from mde_pyg.models.mde import MDE

__all__ = [
    "BPRBatch",
    "LATTICE",
    "LightGCN",
    "MDE",
    "Recommender",
    "UserItemPropagation",
    "bpr_loss",
]
