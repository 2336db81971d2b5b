r"""Chunked full-ranking evaluation from user and item embeddings."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.distributed as dist
from torch import Tensor

from mde_pyg.evaluation.chunking import resolve_chunk_size
from mde_pyg.evaluation.metrics import METRICS, RankingMetrics


@torch.no_grad()
def evaluate_embeddings(
    user_emb: Tensor,
    item_emb: Tensor,
    exclude_index: Tensor,
    target_index: Tensor,
    k: int | Sequence[int] = (10, 20),
    chunk_size: int | None = None,
    score_fn: Callable[[Tensor], Tensor] | None = None,
    distributed: bool = False,
) -> dict[str, float]:
    r"""Full-ranking metrics of the scores
    :math:`\mathbf{S} = \mathbf{U} \mathbf{I}^{\top}` (or :obj:`score_fn`),
    computed in blocks of users so that memory stays bounded by one
    ``[chunk_size, num_items]`` score block, whatever the catalogue size.

    Only the users with held-out items are scored. Formulas, tie-breaking
    (lower item index first) and the other conventions are those of
    :mod:`mde_pyg.evaluation.metrics`; the result equals
    :func:`~mde_pyg.evaluation.evaluate_scores` on the full score matrix.

    Args:
        user_emb (torch.Tensor): ``[num_users, d]`` user embeddings.
        item_emb (torch.Tensor): ``[num_items, d]`` item embeddings.
        exclude_index (torch.Tensor): ``[2, E]`` (user, item) pairs masked to
            :math:`-\infty` before ranking (training items). May be empty.
        target_index (torch.Tensor): ``[2, E]`` held-out (user, item) pairs.
        k (int or Sequence[int], optional): Cut-off(s). (default: :obj:`(10, 20)`)
        chunk_size (int, optional): Users per score block. By default the
            largest block of at most ``max_bytes`` (``chunk_size * num_items
            * 4 bytes``), clamped to ``[1, num_users]``, with ``max_bytes`` 256
            MiB on GPU and 8 MiB on CPU, where a cache-sized block is ~1.4x
            faster (see :func:`~mde_pyg.evaluation.chunking.resolve_chunk_size`).
            (default: :obj:`None`)
        score_fn (Callable, optional): If given, ``score_fn(user_ids)`` returns
            the ``[len(user_ids), num_items]`` scores of those users and is used
            instead of the dot product (:obj:`user_emb` then only fixes
            ``num_users``). (default: :obj:`None`)
        distributed (bool, optional): If :obj:`True` and a
            :mod:`torch.distributed` process group is running, every process
            (each holding the same embeddings) scores every
            :math:`W`-th block of users and the block sums are combined in
            block order, so the result equals the one-process result exactly
            (same :obj:`chunk_size`). All processes must call it.
            (default: :obj:`False`)

    Returns:
        dict: ``{'recall@K', 'ndcg@K', 'precision@K', 'map@K', 'hit@K'}`` for
        every :math:`K`, as Python floats.
    """
    _check_embeddings(user_emb, item_emb, score_fn is None)
    num_users, num_items = user_emb.size(0), item_emb.size(0)
    chunk_size = resolve_chunk_size(
        chunk_size, num_users, num_items, device=item_emb.device
    )
    metric = RankingMetrics(
        num_items, exclude_index, target_index, k=k, num_users=num_users
    )
    users = metric.target_users
    if score_fn is None:
        users = users.to(user_emb.device)
    block_sums = _block_sums_of(metric, user_emb, item_emb, score_fn)
    blocks = users.split(chunk_size)
    if not (distributed and dist.is_available() and dist.is_initialized()):
        for block in blocks:
            metric.accumulate(*block_sums(block))
    else:
        _accumulate_distributed(metric, blocks, block_sums, item_emb.device)
    return metric.compute()


def _check_embeddings(user_emb: Tensor, item_emb: Tensor, dot: bool) -> None:
    r"""Refuses embeddings that are not 2-D and, when they are scored by
    their dot product (:obj:`dot`), embeddings of different sizes."""
    if not isinstance(user_emb, Tensor) or user_emb.dim() != 2:
        raise ValueError(
            "'user_emb' must be a 2-D tensor [num_users, dim] "
            f"(got shape {list(getattr(user_emb, 'shape', []))})"
        )
    if not isinstance(item_emb, Tensor) or item_emb.dim() != 2:
        raise ValueError(
            "'item_emb' must be a 2-D tensor [num_items, dim] "
            f"(got shape {list(getattr(item_emb, 'shape', []))})"
        )
    if dot and user_emb.size(1) != item_emb.size(1):
        raise ValueError(
            f"'user_emb' and 'item_emb' must have the same embedding size "
            f"(got {user_emb.size(1)} and {item_emb.size(1)})"
        )


def _block_sums_of(
    metric: RankingMetrics,
    user_emb: Tensor,
    item_emb: Tensor,
    score_fn: Callable[[Tensor], Tensor] | None,
) -> Callable[[Tensor], tuple[Tensor, int]]:
    r"""The function that scores a block of users (dot product or
    :obj:`score_fn`) and returns its :meth:`RankingMetrics.block_sums`."""
    num_items = item_emb.size(0)
    item_t = item_emb.t()

    def block_sums(block: Tensor) -> tuple[Tensor, int]:
        if score_fn is None:
            scores = user_emb[block] @ item_t
        else:
            scores = score_fn(block)
            if not isinstance(scores, Tensor) or scores.shape != (
                block.numel(),
                num_items,
            ):
                raise ValueError(
                    f"'score_fn' must return a [{block.numel()}, {num_items}] "
                    f"tensor (got shape {list(getattr(scores, 'shape', []))})"
                )
        # The block is ours (fresh matmul output), so it is masked in place;
        # a `score_fn` may return a view of its own storage, so that one is not.
        return metric.block_sums(scores, block, inplace=score_fn is None)

    return block_sums


def _accumulate_distributed(
    metric: RankingMetrics,
    blocks: Sequence[Tensor],
    block_sums: Callable[[Tensor], tuple[Tensor, int]],
    device: torch.device,
) -> None:
    r"""Scores every :math:`W`-th block in this process, all-reduces the block
    sums and accumulates them in block order, as one process would."""
    # Each block's sums land in its own row, zeros elsewhere, so the
    # all-reduce adds nothing but zeros to them and the blocks are then added
    # in the one-process order.
    rank, world_size = dist.get_rank(), dist.get_world_size()
    sums = torch.zeros(
        len(blocks), len(METRICS), len(metric.k), dtype=torch.float64, device="cpu"
    )
    counts = torch.zeros(len(blocks), dtype=torch.long, device="cpu")
    for b in range(rank, len(blocks), world_size):
        sums[b], counts[b] = block_sums(blocks[b])
    # NCCL reduces device tensors only; gloo either.
    reduce_device = device if dist.get_backend() == "nccl" else "cpu"
    sums, counts = sums.to(reduce_device), counts.to(reduce_device)
    dist.all_reduce(sums)
    dist.all_reduce(counts)
    for block_sum, count in zip(sums.cpu(), counts.tolist(), strict=True):
        metric.accumulate(block_sum, count)
