from mde_pyg.models.base import BPRBatch, Recommender, bpr_loss
from mde_pyg.models.lightgcn import LightGCN, UserItemPropagation

__all__ = ["BPRBatch", "LightGCN", "Recommender", "UserItemPropagation", "bpr_loss"]
