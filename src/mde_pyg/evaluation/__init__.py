r"""Full-ranking top-:math:`K` evaluation (Recall, NDCG, Precision, MAP and
HitRate) under the MMRec protocol, computed in bounded-memory user chunks,
and the exact top-:math:`K` retrieval that recommendations use."""

from mde_pyg.evaluation.chunking import (
    CPU_BLOCK_BYTES,
    DEFAULT_BLOCK_BYTES,
    auto_chunk_size,
    resolve_chunk_size,
)
from mde_pyg.evaluation.metrics import METRICS, RankingMetrics, evaluate_scores
from mde_pyg.evaluation.ranking import evaluate_embeddings
from mde_pyg.evaluation.retrieval import (
    check_items,
    check_users,
    recommend_from_embeddings,
)

__all__ = [
    "CPU_BLOCK_BYTES",
    "DEFAULT_BLOCK_BYTES",
    "METRICS",
    "RankingMetrics",
    "auto_chunk_size",
    "check_items",
    "check_users",
    "evaluate_embeddings",
    "evaluate_scores",
    "recommend_from_embeddings",
    "resolve_chunk_size",
]
