r"""Full-ranking top-:math:`K` evaluation (Recall, NDCG, Precision, MAP and
HitRate) under the MMRec protocol, computed in bounded-memory user chunks."""

from mde_pyg.evaluation.chunking import (
    CPU_BLOCK_BYTES,
    DEFAULT_BLOCK_BYTES,
    auto_chunk_size,
    resolve_chunk_size,
)
from mde_pyg.evaluation.metrics import METRICS, RankingMetrics, evaluate_scores
from mde_pyg.evaluation.ranking import evaluate_embeddings

__all__ = [
    "CPU_BLOCK_BYTES",
    "DEFAULT_BLOCK_BYTES",
    "METRICS",
    "RankingMetrics",
    "auto_chunk_size",
    "evaluate_embeddings",
    "evaluate_scores",
    "resolve_chunk_size",
]
