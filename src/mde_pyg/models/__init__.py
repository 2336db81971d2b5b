from mde_pyg.models.base import BPRBatch, MultiModalRecommender, Recommender, bpr_loss
from mde_pyg.models.bm3 import BM3
from mde_pyg.models.dragon import DRAGON
from mde_pyg.models.freedom import FREEDOM, freedom_modality_weights
from mde_pyg.models.lattice import LATTICE
from mde_pyg.models.lgmrec import LGMRec
from mde_pyg.models.lightgcn import LightGCN
from mde_pyg.models.mde import MDE
from mde_pyg.models.mde_options import MGCN_OPTIONS, PAPER_OPTIONS, MDELossWeights
from mde_pyg.models.mgcn import MGCN
from mde_pyg.models.mmgcn import MMGCN
from mde_pyg.models.smore import SMORE
from mde_pyg.models.vbpr import VBPR

__all__ = [
    "BM3",
    "BPRBatch",
    "DRAGON",
    "FREEDOM",
    "LATTICE",
    "LGMRec",
    "LightGCN",
    "MDE",
    "MDELossWeights",
    "PAPER_OPTIONS",
    "MGCN",
    "MGCN_OPTIONS",
    "MMGCN",
    "MultiModalRecommender",
    "Recommender",
    "SMORE",
    "VBPR",
    "bpr_loss",
    "freedom_modality_weights",
]
