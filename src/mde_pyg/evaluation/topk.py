r"""Masked top-:math:`K` ranking, the primitives of full-ranking evaluation
and retrieval: each user's *exclude* (training) items in CSR form, masked to
:math:`-\infty` in a score block, and the top-:math:`K` items of every row
with ties broken by lower item index (a stable descending sort)."""

from __future__ import annotations

import numbers

import torch
from torch import Tensor


def check_k(k: int) -> int:
    r"""Returns the cut-off :obj:`k` as an :obj:`int` if it is a positive
    integer (:obj:`bool` is refused), else raises a :class:`ValueError`."""
    # `bool` is an `int` subclass; `k=True` is almost certainly a mistake.
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise ValueError(f"'k' must be a positive integer (got {k!r})")
    if k <= 0:
        raise ValueError(f"'k' must be a positive integer (got {k})")
    return int(k)


def check_index(
    index: Tensor,
    name: str,
    num_users: int | None,
    num_items: int,
) -> None:
    r"""Checks that :obj:`index` is a ``[2, E]`` integer tensor of (user, item)
    pairs within range, naming the first offending value otherwise."""
    if not isinstance(index, Tensor):
        raise ValueError(f"'{name}' must be a torch.Tensor (got {type(index)})")
    if index.dim() != 2 or index.size(0) != 2:
        raise ValueError(
            f"'{name}' must have shape [2, num_pairs] (got {list(index.shape)})"
        )
    if (
        index.dtype.is_floating_point
        or index.dtype.is_complex
        or index.dtype in (torch.bool,)
    ):
        raise ValueError(f"'{name}' must be an integer tensor (got {index.dtype})")
    if index.numel() == 0:
        return
    for row, what, size in ((0, "user", num_users), (1, "item", num_items)):
        values = index[row]
        low, high = int(values.min()), int(values.max())
        if low < 0:
            raise ValueError(f"'{name}' contains a negative {what} index ({low})")
        if size is not None and high >= size:
            raise ValueError(
                f"'{name}' contains {what} index {high}, out of range for "
                f"{size} {what}s (valid: 0..{size - 1})"
            )


def sorted_unique(x: Tensor) -> Tensor:
    r"""Sorted unique values of a 1-D tensor (`torch.unique` is much slower on
    CPU for int64 keys)."""
    x = x.sort().values
    if x.numel() > 1:
        keep = torch.ones_like(x, dtype=torch.bool)
        torch.ne(x[1:], x[:-1], out=keep[1:])
        x = x[keep]
    return x


def isin_sorted(x: Tensor, sorted_keys: Tensor) -> Tensor:
    r"""Whether every entry of :obj:`x` is in the sorted 1-D :obj:`sorted_keys`."""
    if sorted_keys.numel() == 0:
        return torch.zeros_like(x, dtype=torch.bool)
    pos = torch.searchsorted(sorted_keys, x).clamp_(max=sorted_keys.numel() - 1)
    return sorted_keys[pos] == x


def csr_from_keys(
    exclude_key: Tensor, num_users: int, num_items: int
) -> tuple[Tensor, Tensor]:
    r"""CSR ``(ptr, item)`` of sorted unique keys ``user * num_items + item``
    (sorted keys are grouped by user)."""
    item = exclude_key % num_items
    counts = torch.bincount(
        torch.div(exclude_key, num_items, rounding_mode="floor"),
        minlength=num_users,
    )
    ptr = torch.zeros(num_users + 1, dtype=torch.long, device=exclude_key.device)
    torch.cumsum(counts, dim=0, out=ptr[1:])
    return ptr, item


def exclude_csr(
    exclude_index: Tensor, num_users: int, num_items: int
) -> tuple[Tensor, Tensor]:
    r"""Each user's exclude items in CSR form, the structure
    :func:`mask_exclude_` reads: the distinct exclude items of user ``u`` are
    ``item[ptr[u]:ptr[u + 1]]``, ascending.

    Args:
        exclude_index (torch.Tensor): ``[2, E]`` (user, item) pairs, e.g. the
            training interactions; duplicates are harmless. The result is on
            its device.
        num_users (int): Number of users.
        num_items (int): Number of items.

    Returns:
        (torch.Tensor, torch.Tensor): ``ptr`` of shape ``[num_users + 1]`` and
        ``item`` of shape ``[E_unique]``.
    """
    check_index(exclude_index, "exclude_index", num_users, num_items)
    exclude_index = exclude_index.to(torch.long)
    key = sorted_unique(exclude_index[0] * num_items + exclude_index[1])
    return csr_from_keys(key, num_users, num_items)


def mask_exclude_(
    scores: Tensor, users: Tensor, exclude_ptr: Tensor, exclude_item: Tensor
) -> None:
    r"""Sets the exclude items of every row of a score block to
    :math:`-\infty`, in place.

    Args:
        scores (torch.Tensor): ``[B, num_items]`` scores, row ``b`` for user
            ``users[b]``.
        users (torch.Tensor): ``[B]`` user ids (long, on the scores' device).
        exclude_ptr (torch.Tensor): CSR pointers of :func:`exclude_csr`.
        exclude_item (torch.Tensor): CSR items of :func:`exclude_csr`.
    """
    if exclude_item.numel() == 0:
        return
    start = exclude_ptr[users]
    count = exclude_ptr[users + 1] - start
    total = int(count.sum())
    if total == 0:
        return
    row = torch.repeat_interleave(
        torch.arange(users.numel(), device=scores.device), count, output_size=total
    )
    # Position of every masked pair inside `exclude_item`: the user's CSR
    # start plus the pair's offset within the user's segment.
    seg_start = torch.cumsum(count, dim=0) - count
    offset = torch.arange(total, device=scores.device) - seg_start[row]
    col = exclude_item[start[row] + offset]
    scores.index_put_((row, col), scores.new_full((1,), float("-inf")))


def stable_topk(scores: Tensor, k: int) -> Tensor:
    r"""The top-:math:`K` item indices of every row of a (masked) score block,
    ties broken by lower item index, exactly as a stable descending sort.

    Args:
        scores (torch.Tensor): ``[B, num_items]`` scores.
        k (int): Number of items per row.

    Returns:
        torch.Tensor: ``[B, min(k, num_items)]`` item indices, best first.

    Raises:
        ValueError: if a NaN score could reach the top :math:`K`.
    """
    width = min(k, scores.size(1))
    # One extra candidate tells whether the K-th score is tied with an
    # item outside the top-K (then `topk` may have picked the wrong one).
    extra = min(width + 1, scores.size(1))
    # `topk` orders equal scores arbitrarily (and `sorted=False` not at
    # all): sort the small block by item ascending, then stably by score
    # descending, which is the stable-sort order of these candidates.
    value, index = torch.topk(scores, extra, dim=1, sorted=False)
    if torch.isnan(value).any():
        # NaN ranks above everything in `topk`, so one always shows here.
        raise ValueError("'scores' contains NaN values")
    index, perm = index.sort(dim=1)
    value = value.gather(1, perm)
    value, perm = value.sort(dim=1, descending=True, stable=True)
    index = index.gather(1, perm)

    boundary_tie = value[:, width] == value[:, width - 1] if extra > width else None
    index = index[:, :width]
    if boundary_tie is not None and bool(boundary_tie.any()):
        # Rare (ties at the cut-off, or fewer unmasked items than K): a
        # full stable sort of those rows only.
        rows = boundary_tie.nonzero().view(-1)
        full = scores[rows].sort(dim=1, descending=True, stable=True).indices
        index[rows] = full[:, :width]
    return index
