r"""Top-:math:`K` retrieval from final embeddings: the exact full ranking by
dot product, with the masking and tie-breaking of the evaluation
(:mod:`mde_pyg.evaluation.metrics`): a user's training items are never
recommended, and among equal scores the lower item id ranks first.

Two exact retrieval methods compute it (``method=``): ``"dense"`` scores
blocks of users against every item with a matrix product and
:func:`~mde_pyg.evaluation.topk.stable_topk`; ``"mips"`` searches a
:class:`torch_geometric.nn.pool.MIPSKNNIndex` (faiss' exact ``IndexFlatIP``,
``pip install "mde-pyg[retrieval]"``), which keeps only each user's best
candidates and never holds a block of scores. ``"auto"`` (the default) picks
``"mips"`` for catalogues of at least :data:`MIPS_MIN_ITEMS` items and
batches of at least :data:`MIPS_MIN_USERS` users on the CPU when faiss is
installed, ``"dense"`` otherwise (see :func:`resolve_method`; the threshold
is measured by ``benchmarks/retrieval.py``).

IDs are internal ids: row ``i`` of the embeddings is user or item ``i``.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import Tensor

from mde_pyg.evaluation.chunking import resolve_chunk_size
from mde_pyg.evaluation.topk import check_k, exclude_csr, mask_exclude_, stable_topk

__all__ = [
    "MIPS_MIN_ITEMS",
    "MIPS_MIN_USERS",
    "RETRIEVAL_METHODS",
    "check_items",
    "check_users",
    "faiss_available",
    "recommend_from_embeddings",
    "resolve_method",
]

#: The ``method`` values of :func:`recommend_from_embeddings`.
RETRIEVAL_METHODS = ("auto", "dense", "mips")

#: ``method="auto"`` searches a faiss index (``"mips"``) from this many items
#: on (and :data:`MIPS_MIN_USERS` users; CPU embeddings, faiss installed);
#: below it, it scores densely. Measured with ``benchmarks/retrieval.py``
#: (``benchmarks/results/retrieval.md``): from 10k items on, the index was
#: 1.2x (10k) to 4.9x (320k items) faster for 20k users, below it at par.
MIPS_MIN_ITEMS = 10_000

#: ``method="auto"`` searches a faiss index only for this many users at once
#: or more: faiss' exact search is efficient on large blocks of queries
#: (2.4x faster than dense for 2,000 users x 100k items, at par for 1,000
#: and 500, in ``benchmarks/results/retrieval.md``), and its index holds a
#: copy of the item embeddings.
MIPS_MIN_USERS = 2_000

#: faiss' largest ``k`` (:class:`~torch_geometric.nn.pool.MIPSKNNIndex` caps
#: a search there): a user whose ``k + 1`` candidates plus training items
#: exceed it is ranked by the dense path instead, so results stay exact.
FAISS_MAX_K = 2048

#: Users per :meth:`~torch_geometric.nn.pool.MIPSKNNIndex.search` call by
#: default (faiss' own block of queries for one BLAS product).
MIPS_CHUNK_SIZE = 4096

RETRIEVAL_EXTRA = 'pip install "mde-pyg[retrieval]" (or pip install faiss-cpu)'


def check_users(users: Tensor | Sequence[int], num_users: int) -> Tensor:
    r"""Validates user ids and returns them as a ``long`` tensor.

    Args:
        users (torch.Tensor or Sequence[int]): 1-D integer user ids.
        num_users (int): Number of users; valid ids are
            ``0..num_users - 1``.

    Raises:
        ValueError: if :obj:`users` is not 1-D or not integer, or holds an id
            out of range (the message names the first such id).
    """
    return _check_ids(users, num_users, "user")


def check_items(items: Tensor | Sequence[int], num_items: int) -> Tensor:
    r"""Validates item ids and returns them as a ``long`` tensor: the checks
    of :func:`check_users`, for items.

    Raises:
        ValueError: if :obj:`items` is not 1-D or not integer, or holds an id
            out of range (the message names the first such id).
    """
    return _check_ids(items, num_items, "item")


def _check_ids(ids: Tensor | Sequence[int], num: int, what: str) -> Tensor:
    name = f"'{what}s'"
    if not isinstance(ids, Tensor):
        array = np.asarray(ids)
        if array.size == 0:
            array = array.astype(np.int64)
        if array.dtype.kind not in "iu":
            raise ValueError(
                f"{name} must hold integer {what} ids (got {array.dtype} values)"
            )
        ids = torch.from_numpy(array.astype(np.int64, copy=False))
    if ids.dim() != 1:
        raise ValueError(
            f"{name} must be a 1-D tensor of {what} ids (got shape {list(ids.shape)})"
        )
    if ids.dtype.is_floating_point or ids.dtype.is_complex or ids.dtype == torch.bool:
        raise ValueError(f"{name} must be an integer tensor (got {ids.dtype})")
    bad = (ids < 0) | (ids >= num)
    if bool(bad.any()):
        value = int(ids[bad][0])
        raise ValueError(
            f"{what} id {value} is out of range for {num} {what}s (valid: 0..{num - 1})"
        )
    return ids.long()


def recommend_from_embeddings(
    user_emb: Tensor,
    item_emb: Tensor,
    users: Tensor | Sequence[int],
    k: int = 10,
    exclude_index: Tensor | None = None,
    chunk_size: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    method: str = "auto",
) -> tuple[Tensor, Tensor]:
    r"""The top-:math:`K` items of :obj:`users` by the scores
    :math:`\mathbf{S} = \mathbf{U} \mathbf{I}^{\top}`, ranked exactly over
    all items in blocks of :obj:`chunk_size` users, with the masking and
    top-:math:`K` of the evaluation
    (:func:`~mde_pyg.evaluation.metrics.mask_exclude_`,
    :func:`~mde_pyg.evaluation.topk.stable_topk`): the items of
    :obj:`exclude_index` are never recommended, and among equal scores the
    lower item id ranks first. :meth:`Recommender.recommend
    <mde_pyg.models.Recommender.recommend>` calls it on a model's
    embeddings.

    A user with fewer than :math:`K` recommendable items gets them all,
    followed by padding: item id ``-1`` with score :math:`-\infty` (an item
    whose own score is :math:`-\infty` is never recommended either).

    Both methods are exact (no approximate search). ``method="mips"``
    searches a :class:`~torch_geometric.nn.pool.MIPSKNNIndex` of the items
    (faiss' brute-force ``IndexFlatIP``) for the top-:math:`(K + 1 +
    \text{seen})` of every user, drops the seen items with the index's
    ``exclude_links``, and orders the candidates as the dense path does
    (score descending, lower item id first). A user whose :math:`K`-th and
    :math:`(K+1)`-th candidates tie, or whose search would exceed faiss'
    :data:`FAISS_MAX_K`, is ranked by the dense path, so the two methods
    return the same items in the same order; the one difference is
    floating-point: faiss and PyTorch sum the :math:`d` products in a
    different order, so scores may differ in the last bits, and two items
    whose scores differ by less than that rounding (about :math:`10^{-7}`
    relative in ``float32``) may come in the other order. The search runs
    in ``float32`` on the CPU (results are returned on :obj:`item_emb`'s
    device and dtype) and needs finite embeddings.

    Args:
        user_emb (torch.Tensor): ``[num_users, d]`` user embeddings.
        item_emb (torch.Tensor): ``[num_items, d]`` item embeddings. The
            ranking runs on its device.
        users (torch.Tensor or Sequence[int]): ``[B]`` user ids to rank for
            (duplicates allowed).
        k (int, optional): Items per user. (default: :obj:`10`)
        exclude_index (torch.Tensor, optional): ``[2, E]`` (user, item) pairs
            never recommended, e.g. the training interactions.
            (default: :obj:`None`)
        chunk_size (int, optional): Users scored at once; by default a block
            of at most 8 MiB of scores on CPU and 256 MiB elsewhere
            (:func:`~mde_pyg.evaluation.metrics.resolve_chunk_size`).
            (default: :obj:`None`)
        progress (Callable, optional): Called as ``progress(done, total)``
            after every block of users. (default: :obj:`None`)
        method (str, optional): :obj:`"dense"`, :obj:`"mips"` (needs faiss:
            ``pip install "mde-pyg[retrieval]"``) or :obj:`"auto"`, see
            :func:`resolve_method`. With ``"mips"``, :obj:`chunk_size` is the
            users per index search (default :data:`MIPS_CHUNK_SIZE`).
            (default: :obj:`"auto"`)

    Returns:
        (torch.Tensor, torch.Tensor): item ids (``long``) and their scores,
        best first, on :obj:`item_emb`'s device.

    Raises:
        ValueError: for embeddings that are not 2-D or differ in size, bad
            :obj:`users` or :obj:`k`, an unknown :obj:`method`, NaN scores,
            or non-finite embeddings with ``method="mips"``.
        ImportError: for ``method="mips"`` without faiss (the message names
            the ``retrieval`` extra).

    Shapes:
        - **input:** user embeddings :math:`(|\mathcal{U}|, d)`, item
          embeddings :math:`(|\mathcal{I}|, d)`, users :math:`(B)`
        - **output:** item ids :math:`(B, K)`, scores :math:`(B, K)`
    """
    for name, emb in (("user_emb", user_emb), ("item_emb", item_emb)):
        if not isinstance(emb, Tensor) or emb.dim() != 2:
            raise ValueError(
                f"'{name}' must be a 2-D tensor (got shape "
                f"{list(getattr(emb, 'shape', []))})"
            )
    if user_emb.size(1) != item_emb.size(1):
        raise ValueError(
            f"'user_emb' and 'item_emb' must have the same embedding size "
            f"(got {user_emb.size(1)} and {item_emb.size(1)})"
        )
    k = check_k(k)
    num_users, num_items = user_emb.size(0), item_emb.size(0)
    device = item_emb.device
    users = check_users(users, num_users).to(device)
    method = resolve_method(
        method, num_items, device, user_emb, item_emb, num_queries=users.numel()
    )
    total = users.numel()
    items = torch.full((total, k), -1, dtype=torch.long, device=device)
    scores = torch.full((total, k), float("-inf"), dtype=item_emb.dtype, device=device)
    if total == 0 or num_items == 0:
        return items, scores
    user_emb = user_emb.to(device)
    seen = None
    if exclude_index is not None:
        seen = exclude_csr(exclude_index.to(device), num_users, num_items)
    width = min(k, num_items)
    if method == "mips":
        _recommend_mips(
            user_emb, item_emb, users, width, seen, items, scores, chunk_size, progress
        )
        return items, scores
    chunk_size = resolve_chunk_size(
        chunk_size, total, num_items, device, item_emb.element_size()
    )
    for start in range(0, total, chunk_size):
        rows = torch.arange(start, min(start + chunk_size, total), device=device)
        _dense_rows(user_emb, item_emb, users, rows, width, seen, items, scores)
        if progress is not None:
            progress(start + rows.numel(), total)
    return items, scores


def _dense_rows(
    user_emb: Tensor,
    item_emb: Tensor,
    users: Tensor,
    rows: Tensor,
    width: int,
    seen: tuple[Tensor, Tensor] | None,
    items: Tensor,
    scores: Tensor,
) -> None:
    r"""Ranks the users ``users[rows]`` by dense scores and writes their
    top-``width`` into ``items[rows]`` and ``scores[rows]``."""
    block = users[rows]
    block_scores = user_emb[block] @ item_emb.t()
    if seen is not None:
        mask_exclude_(block_scores, block, *seen)
    index = stable_topk(block_scores, width)
    value = block_scores.gather(1, index)
    del block_scores
    # Masked items only reach the list when fewer than K are left; they (and
    # items scored -inf) are the padding.
    pad = torch.isneginf(value)
    items[rows, :width] = index.masked_fill_(pad, -1)
    scores[rows, :width] = value


def faiss_available() -> bool:
    """Whether faiss (needed by ``method="mips"``) can be imported."""
    if importlib.util.find_spec("faiss") is None:
        return False
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_method(
    method: str,
    num_items: int,
    device: torch.device | str = "cpu",
    user_emb: Tensor | None = None,
    item_emb: Tensor | None = None,
    num_queries: int | None = None,
) -> str:
    r"""The retrieval method :func:`recommend_from_embeddings` uses:
    ``"dense"`` or ``"mips"``.

    ``"auto"`` is ``"mips"`` when all of these hold, else ``"dense"``: faiss
    is installed, the catalogue has at least :data:`MIPS_MIN_ITEMS` items,
    at least :data:`MIPS_MIN_USERS` users are ranked at once (where
    :obj:`num_queries` is given), the embeddings are on the CPU (on a GPU
    the dense product is fast and faiss-cpu would copy them back), and,
    where given, the embeddings are finite (``"mips"`` needs them so).

    Args:
        method (str): :obj:`"auto"`, :obj:`"dense"` or :obj:`"mips"`.
        num_items (int): The catalogue size.
        device (torch.device or str, optional): Where the item embeddings
            are. (default: :obj:`"cpu"`)
        user_emb (torch.Tensor, optional): Checked for non-finite values
            (``"auto"`` then picks ``"dense"``, ``"mips"`` raises).
            (default: :obj:`None`)
        item_emb (torch.Tensor, optional): Checked as :obj:`user_emb`.
            (default: :obj:`None`)
        num_queries (int, optional): The number of users ranked.
            (default: :obj:`None`)

    Raises:
        ValueError: for an unknown :obj:`method`, or ``"mips"`` with
            non-finite embeddings.
        ImportError: for ``"mips"`` without faiss, naming the ``retrieval``
            extra.
    """
    if method not in RETRIEVAL_METHODS:
        raise ValueError(
            f"Unknown retrieval method {method!r} (expected one of "
            f"{list(RETRIEVAL_METHODS)})"
        )
    if method == "dense":
        return method
    if method == "auto":
        if (
            num_items < MIPS_MIN_ITEMS
            or (num_queries is not None and num_queries < MIPS_MIN_USERS)
            or torch.device(device).type != "cpu"
            or not faiss_available()
        ):
            return "dense"
    elif not faiss_available():
        raise ImportError(
            f"method='mips' searches a faiss index (torch_geometric's "
            f"MIPSKNNIndex), but faiss is not installed: {RETRIEVAL_EXTRA}, "
            "or use method='dense'"
        )
    for name, emb in (("user_emb", user_emb), ("item_emb", item_emb)):
        if emb is not None and not bool(torch.isfinite(emb).all()):
            if method == "auto":
                return "dense"
            raise ValueError(
                f"method='mips' needs finite embeddings, but '{name}' holds "
                "NaN or infinite values (method='dense' masks -inf scores and "
                "reports NaN ones)"
            )
    return "mips"


def _block_pairs(
    block: Tensor, exclude_ptr: Tensor, exclude_item: Tensor
) -> Tensor | None:
    r"""The exclude items of a block of users as ``[2, E]`` (row in the
    block, item) pairs, the ``exclude_links`` of
    :meth:`~torch_geometric.nn.pool.MIPSKNNIndex.search`; :obj:`None` where
    there are none."""
    start = exclude_ptr[block]
    count = exclude_ptr[block + 1] - start
    total = int(count.sum())
    if total == 0:
        return None
    row = torch.repeat_interleave(
        torch.arange(block.numel(), device=block.device), count, output_size=total
    )
    offset = torch.arange(total, device=block.device) - (count.cumsum(0) - count)[row]
    return torch.stack([row, exclude_item[start[row] + offset]])


def _recommend_mips(
    user_emb: Tensor,
    item_emb: Tensor,
    users: Tensor,
    width: int,
    seen: tuple[Tensor, Tensor] | None,
    items: Tensor,
    scores: Tensor,
    chunk_size: int | None,
    progress: Callable[[int, int], None] | None,
) -> None:
    r"""The ``"mips"`` path of :func:`recommend_from_embeddings`: fills
    ``items`` and ``scores`` (on the item embeddings' device) in place."""
    from torch_geometric.nn.pool import MIPSKNNIndex

    if chunk_size is None:
        chunk_size = MIPS_CHUNK_SIZE
    elif isinstance(chunk_size, bool) or not isinstance(chunk_size, int):
        raise ValueError(
            f"'chunk_size' must be a positive integer (got {chunk_size!r})"
        )
    elif chunk_size <= 0:
        raise ValueError(f"'chunk_size' must be a positive integer (got {chunk_size})")
    device = item_emb.device
    cpu = torch.device("cpu")
    num_items, total = item_emb.size(0), users.numel()
    knn = MIPSKNNIndex(item_emb.detach().to(cpu, torch.float32).contiguous())
    query_emb = user_emb.detach().to(cpu, torch.float32)
    users_cpu = users.to(cpu)
    # One candidate beyond K tells whether the K-th ties with an item outside
    # the list (then the dense path decides, as `stable_topk` does).
    extra = min(width + 1, num_items)
    if seen is not None:
        ptr, seen_item = seen[0].to(cpu), seen[1].to(cpu)
        degree = ptr[users_cpu + 1] - ptr[users_cpu]
    else:
        ptr = seen_item = None
        degree = torch.zeros(total, dtype=torch.long, device=cpu)
    # A search asks for K + 1 + (the block's largest seen count) candidates:
    # blocks of users with similar counts keep that small for most blocks.
    order = degree.argsort(stable=True)
    too_many = order[degree[order] + extra > FAISS_MAX_K]
    order = order[degree[order] + extra <= FAISS_MAX_K]
    dense_rows = [too_many]
    done = 0
    for start in range(0, order.numel(), chunk_size):
        rows = order[start : start + chunk_size]
        block = users_cpu[rows]
        links = None if ptr is None else _block_pairs(block, ptr, seen_item)
        value, index_ = knn.search(query_emb[block], extra, exclude_links=links)
        # faiss orders equal scores arbitrarily: order the candidates as a
        # stable descending sort of the row (lower item id first on ties).
        index_, perm = index_.sort(dim=1)
        value = value.gather(1, perm)
        value, perm = value.sort(dim=1, descending=True, stable=True)
        index_ = index_.gather(1, perm)
        if extra > width:
            # A tie at the cut-off (or fewer than K + 1 unmasked items): the
            # dense path ranks the row exactly.
            tie = value[:, width] == value[:, width - 1]
            if bool(tie.any()):
                dense_rows.append(rows[tie])
        index_, value = index_[:, :width], value[:, :width]
        index_ = index_.masked_fill(torch.isneginf(value), -1)
        rows_dev = rows.to(device)
        items[rows_dev, :width] = index_.to(device)
        scores[rows_dev, :width] = value.to(device, scores.dtype)
        done += rows.numel()
        if progress is not None:
            progress(done, total)
    dense_rows = torch.cat(dense_rows).to(device)
    if dense_rows.numel() > 0:
        # Rows ranked again exactly: ties at the cut-off, and users whose
        # search would exceed faiss' largest k.
        block_size = resolve_chunk_size(
            None, dense_rows.numel(), num_items, device, item_emb.element_size()
        )
        for rows in dense_rows.split(block_size):
            _dense_rows(user_emb, item_emb, users, rows, width, seen, items, scores)
        if too_many.numel() > 0 and progress is not None:
            progress(total, total)
