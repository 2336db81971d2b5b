r"""Full-ranking top-:math:`K` metrics of the MMRec evaluation protocol.

For every evaluated user :math:`u`, all items are scored, the user's training
(*exclude*) items are set to :math:`-\infty` and the top-:math:`K` items are
taken. With :math:`\mathcal{T}_u` the user's held-out (*target*) items,
:math:`\mathrm{rel}_r \in \{0, 1\}` whether the item at rank :math:`r` is in
:math:`\mathcal{T}_u` and :math:`\mathrm{hits}@K = \sum_{r \le K}
\mathrm{rel}_r`:

.. math::
    \mathrm{Recall}@K &= \mathrm{hits}@K \,/\, |\mathcal{T}_u| \\
    \mathrm{Precision}@K &= \mathrm{hits}@K \,/\, K \\
    \mathrm{NDCG}@K &= \frac{\sum_{r=1}^{K} \mathrm{rel}_r / \log_2(r+1)}
        {\sum_{r=1}^{\min(|\mathcal{T}_u|, K)} 1 / \log_2(r+1)} \\
    \mathrm{MAP}@K &= \frac{1}{\min(|\mathcal{T}_u|, K)} \sum_{r=1}^{K}
        \mathrm{Precision}@r \cdot \mathrm{rel}_r \\
    \mathrm{HitRate}@K &= \mathbb{1}[\mathrm{hits}@K > 0]

Every metric is averaged over the users with :math:`|\mathcal{T}_u| > 0`;
users without held-out items are not scored at all.

Conventions (all deterministic):

* **Ties**: among items with equal scores the *lower item index ranks first*,
  i.e. the ranking is a stable sort of the masked row by descending score.
* **Duplicates**: :math:`\mathcal{T}_u` is a set, duplicate target pairs are
  counted once; duplicate exclude pairs are harmless.
* **Masked targets**: a target item that is also an exclude item of the same
  user still counts in :math:`|\mathcal{T}_u|` but can never be a hit: masked
  items are never recommended.
* **Short lists**: if :math:`K` exceeds the number of unmasked items, the
  recommendation list is effectively shorter than :math:`K` (masked items fill
  the tail but never count); Precision@K still divides by :math:`K`.
* **NaN** scores of unmasked items raise a :class:`ValueError`.

These are the formulas of :class:`torch_geometric.metrics.LinkPredRecall`,
:class:`~torch_geometric.metrics.LinkPredNDCG`,
:class:`~torch_geometric.metrics.LinkPredPrecision`,
:class:`~torch_geometric.metrics.LinkPredMAP` and
:class:`~torch_geometric.metrics.LinkPredHitRatio` applied to the masked
top-:math:`K` lists (see :meth:`RankingMetrics.topk`); the only differences
are that PyG counts duplicate ground-truth pairs in :math:`|\mathcal{T}_u|`
and, knowing nothing about masking, counts a masked target as a hit if it is
passed inside a prediction list.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Sequence

import torch
from torch import Tensor

#: Metric names, in the order they appear in the result dictionaries.
METRICS = ("recall", "ndcg", "precision", "map", "hit")

# Budgets for one block of scores when a chunk size is chosen automatically:
# at most 256 MiB anywhere; on CPU a block that stays in the last-level cache
# between the matmul that writes it and the `topk` that reads it is ~1.4x
# faster end to end than a 256 MiB one (Amazon-Baby size, 2 cores).
DEFAULT_BLOCK_BYTES = 256 * 2**20
CPU_BLOCK_BYTES = 8 * 2**20


def _check_k(k: int | Sequence[int]) -> tuple[int, ...]:
    r"""Normalises :obj:`k` to a tuple of unique positive integers (the order
    given is kept)."""
    ks = tuple(k) if isinstance(k, Sequence) else (k,)
    if len(ks) == 0:
        raise ValueError("'k' must contain at least one cut-off (got an empty list)")
    for value in ks:
        # `bool` is an `int` subclass; `k=True` is almost certainly a mistake.
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise ValueError(f"'k' must be a positive integer (got {value!r})")
        if value <= 0:
            raise ValueError(f"'k' must be a positive integer (got {value})")
    return tuple(dict.fromkeys(int(value) for value in ks))


def _check_index(
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


def _sorted_unique(x: Tensor) -> Tensor:
    r"""Sorted unique values of a 1-D tensor (`torch.unique` is much slower on
    CPU for int64 keys)."""
    x = x.sort().values
    if x.numel() > 1:
        keep = torch.ones_like(x, dtype=torch.bool)
        torch.ne(x[1:], x[:-1], out=keep[1:])
        x = x[keep]
    return x


def _isin_sorted(x: Tensor, sorted_keys: Tensor) -> Tensor:
    r"""Whether every entry of :obj:`x` is in the sorted 1-D :obj:`sorted_keys`."""
    if sorted_keys.numel() == 0:
        return torch.zeros_like(x, dtype=torch.bool)
    pos = torch.searchsorted(sorted_keys, x).clamp_(max=sorted_keys.numel() - 1)
    return sorted_keys[pos] == x


def auto_chunk_size(
    num_users: int,
    num_items: int,
    element_size: int = 4,
    max_bytes: int = DEFAULT_BLOCK_BYTES,
) -> int:
    r"""The number of users whose ``[chunk_size, num_items]`` score block
    fits in :obj:`max_bytes`, clamped to ``[1, num_users]``.

    Args:
        num_users (int): Number of users to score.
        num_items (int): Number of items (columns of a score block).
        element_size (int, optional): Bytes per score. (default: :obj:`4`)
        max_bytes (int, optional): Memory budget of one block.
            (default: :obj:`256 MiB`)
    """
    chunk = max_bytes // max(1, num_items * element_size)
    return max(1, min(int(chunk), max(1, num_users)))


def resolve_chunk_size(
    chunk_size: int | None,
    num_users: int,
    num_items: int,
    device: torch.device | str = "cpu",
    element_size: int = 4,
) -> int:
    r"""Validates :obj:`chunk_size`, or, if it is :obj:`None`, picks
    :func:`auto_chunk_size` with a budget of :obj:`CPU_BLOCK_BYTES` (8 MiB,
    cache-sized) on CPU and :obj:`DEFAULT_BLOCK_BYTES` (256 MiB) elsewhere."""
    if chunk_size is None:
        cpu = torch.device(device).type == "cpu"
        budget = CPU_BLOCK_BYTES if cpu else DEFAULT_BLOCK_BYTES
        return auto_chunk_size(num_users, num_items, element_size, budget)
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int):
        raise ValueError(
            f"'chunk_size' must be a positive integer (got {chunk_size!r})"
        )
    if chunk_size <= 0:
        raise ValueError(f"'chunk_size' must be a positive integer (got {chunk_size})")
    block_bytes = min(chunk_size, max(1, num_users)) * num_items * element_size
    available = available_memory_bytes()
    if torch.device(device).type == "cpu" and available and block_bytes > available:
        raise ValueError(
            f"An evaluation chunk of {chunk_size} users x {num_items} items needs "
            f"{block_bytes / 2**30:.1f} GiB of scores but only "
            f"{available / 2**30:.1f} GiB of memory is available: lower "
            "'chunk_size' (trainer.eval_chunk_size) or leave it unset (null) to "
            "size chunks automatically"
        )
    return chunk_size


def available_memory_bytes() -> int | None:
    """Physical memory currently available to new allocations, or
    :obj:`None` where the platform does not report it."""
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _csr_from_keys(
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
    _check_index(exclude_index, "exclude_index", num_users, num_items)
    exclude_index = exclude_index.to(torch.long)
    key = _sorted_unique(exclude_index[0] * num_items + exclude_index[1])
    return _csr_from_keys(key, num_users, num_items)


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


class RankingMetrics:
    r"""Accumulates full-ranking top-:math:`K` metrics (Recall, NDCG,
    Precision, MAP and HitRate, see :mod:`mde_pyg.evaluation.metrics`) over
    blocks of users, in the style of a :class:`torchmetrics.Metric`.

    The state is one running sum per (metric, :math:`K`) plus a user count;
    score blocks are never stored. The index structures (exclude items of each
    user in CSR form, sorted target keys, target counts) are built once here,
    so that every :meth:`update` only slices them.

    .. code-block:: python

        metric = RankingMetrics(num_items, train_index, test_index, k=(10, 20))
        for users in metric.target_users.split(1024):
            metric.update(user_emb[users] @ item_emb.t(), users)
        out = metric.compute()  # {'recall@10': ..., 'ndcg@10': ..., ...}

    Args:
        num_items (int): Number of items (columns of every score block).
        exclude_index (torch.Tensor): ``[2, E_exclude]`` (user, item) pairs
            masked before ranking, typically the training interactions. May be
            empty.
        target_index (torch.Tensor): ``[2, E_target]`` held-out (user, item)
            pairs to retrieve.
        k (int or Sequence[int], optional): Cut-off(s) :math:`K`.
            (default: :obj:`(10, 20)`)
        num_users (int, optional): Number of users; inferred from the index
            tensors if not given. Used to validate user ids.
            (default: :obj:`None`)
    """

    def __init__(
        self,
        num_items: int,
        exclude_index: Tensor,
        target_index: Tensor,
        k: int | Sequence[int] = (10, 20),
        num_users: int | None = None,
    ) -> None:
        if isinstance(num_items, bool) or not isinstance(num_items, int):
            raise ValueError(f"'num_items' must be an integer (got {num_items!r})")
        if num_items <= 0:
            raise ValueError(f"'num_items' must be positive (got {num_items})")
        if num_users is not None and num_users <= 0:
            raise ValueError(f"'num_users' must be positive (got {num_users})")
        self.k = _check_k(k)
        self.max_k = max(self.k)
        self.num_items = num_items

        _check_index(exclude_index, "exclude_index", num_users, num_items)
        _check_index(target_index, "target_index", num_users, num_items)
        if target_index.size(1) == 0:
            raise ValueError(
                "'target_index' is empty: no users with held-out items to evaluate"
            )
        if num_users is None:
            num_users = int(target_index[0].max()) + 1
            if exclude_index.numel() > 0:
                num_users = max(num_users, int(exclude_index[0].max()) + 1)
        self.num_users = num_users
        device = target_index.device

        # Targets as flat keys `user * num_items + item`: sorted and unique so
        # that membership of a whole [B, K] block is one `searchsorted`.
        exclude_index = exclude_index.to(device=device, dtype=torch.long)
        target_index = target_index.to(dtype=torch.long)
        target_key = _sorted_unique(target_index[0] * num_items + target_index[1])
        self._target_count = torch.bincount(
            torch.div(target_key, num_items, rounding_mode="floor"),
            minlength=num_users,
        )
        self._target_users = self._target_count.nonzero().view(-1)
        # A target that is also masked still counts in |T_u| (above) but can
        # never be recommended, so it is dropped from the hit keys.
        exclude_key = _sorted_unique(exclude_index[0] * num_items + exclude_index[1])
        if exclude_key.numel() > 0:
            target_key = target_key[~_isin_sorted(target_key, exclude_key)]
        self._hit_key = target_key

        # Exclude items grouped by user (CSR): `_exclude_item[ptr[u]:ptr[u+1]]`.
        self._exclude_ptr, self._exclude_item = _csr_from_keys(
            exclude_key, num_users, num_items
        )

        # IDCG for n relevant items, n = 0..max_k (entry 0 is never used since
        # only users with targets are scored).
        discount = torch.arange(
            2, self.max_k + 2, dtype=torch.float64, device=device
        ).log2()
        self._inv_discount = 1.0 / discount
        self._idcg = torch.cat(
            [discount.new_zeros(1), torch.cumsum(self._inv_discount, dim=0)]
        )
        self.reset()

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        r"""Clears the accumulated sums."""
        # On the CPU whatever the scores' device: `compute` reads them there.
        self._sums = torch.zeros(
            len(METRICS), len(self.k), dtype=torch.float64, device="cpu"
        )
        self._count = 0

    @property
    def target_users(self) -> Tensor:
        r"""The sorted ids of the users with at least one held-out item, the
        only users that need to be scored."""
        return self._target_users

    @property
    def num_evaluated(self) -> int:
        r"""The number of users accumulated so far."""
        return self._count

    def _to(self, device: torch.device) -> None:
        # Index structures follow the scores (e.g. CUDA score blocks); they
        # are all built on one device, so one of them tells where all are.
        if self._hit_key.device != device:
            for name in (
                "_target_count",
                "_hit_key",
                "_exclude_item",
                "_exclude_ptr",
                "_inv_discount",
                "_idcg",
            ):
                setattr(self, name, getattr(self, name).to(device))

    # ---------------------------------------------------------------- ranking
    def _mask_(self, scores: Tensor, users: Tensor) -> None:
        r"""Sets the exclude items of every row to :math:`-\infty`, in place."""
        mask_exclude_(scores, users, self._exclude_ptr, self._exclude_item)

    def _topk(self, scores: Tensor) -> Tensor:
        r"""The top-:math:`\max(K)` items of every row of a masked block
        (:func:`stable_topk`)."""
        return stable_topk(scores, self.max_k)

    # ---------------------------------------------------------------- updates
    def _check_block(self, scores: Tensor, users: Tensor) -> Tensor:
        if not isinstance(scores, Tensor) or scores.dim() != 2:
            raise ValueError(
                "'scores' must be a 2-D tensor [num_users_in_block, num_items] "
                f"(got shape {list(getattr(scores, 'shape', []))})"
            )
        if scores.size(1) != self.num_items:
            raise ValueError(
                f"'scores' has {scores.size(1)} columns but num_items is "
                f"{self.num_items}"
            )
        if not scores.dtype.is_floating_point:
            raise ValueError(f"'scores' must be floating point (got {scores.dtype})")
        if not isinstance(users, Tensor) or users.dim() != 1:
            raise ValueError("'users' must be a 1-D tensor of user ids")
        if users.numel() != scores.size(0):
            raise ValueError(
                f"'users' has {users.numel()} entries but 'scores' has "
                f"{scores.size(0)} rows"
            )
        users = users.to(device=scores.device, dtype=torch.long)
        if users.numel() > 0:
            low, high = int(users.min()), int(users.max())
            if low < 0 or high >= self.num_users:
                bad = low if low < 0 else high
                raise ValueError(
                    f"'users' contains user id {bad}, out of range for "
                    f"{self.num_users} users (valid: 0..{self.num_users - 1})"
                )
        self._to(scores.device)
        return users

    def topk(self, scores: Tensor, users: Tensor, inplace: bool = False) -> Tensor:
        r"""The ranked top-:math:`\max(K)` items of a block of users: exclude
        items masked, ties broken by lower item index.

        Args:
            scores (torch.Tensor): ``[B, num_items]`` scores, row ``b`` for
                user ``users[b]``.
            users (torch.Tensor): ``[B]`` user ids.
            inplace (bool, optional): If :obj:`True`, :obj:`scores` may be
                overwritten by the masking. (default: :obj:`False`)

        Returns:
            torch.Tensor: ``[B, min(max(K), num_items)]`` item indices, best
            first. Masked items only appear when fewer than :math:`K` items
            are unmasked, after all unmasked ones.
        """
        users = self._check_block(scores, users)
        if not inplace:
            scores = scores.clone()
        self._mask_(scores, users)
        return self._topk(scores)

    def update(self, scores: Tensor, users: Tensor, inplace: bool = False) -> None:
        r"""Accumulates the metrics of a block of users.

        Users without held-out items are skipped (their rows are ignored).
        Every user should be passed only once between :meth:`reset` calls.

        Args:
            scores (torch.Tensor): ``[B, num_items]`` scores, row ``b`` for
                user ``users[b]``.
            users (torch.Tensor): ``[B]`` user ids (rows of the index tensors).
            inplace (bool, optional): If :obj:`True`, :obj:`scores` may be
                overwritten by the masking, saving a copy of the block.
                (default: :obj:`False`)
        """
        self.accumulate(*self.block_sums(scores, users, inplace))

    def block_sums(
        self, scores: Tensor, users: Tensor, inplace: bool = False
    ) -> tuple[Tensor, int]:
        r"""The metric sums of a block of users and the number of users they
        cover, without accumulating them (arguments as :meth:`update`): the
        piece of work that the processes of a distributed evaluation share
        out, see :meth:`accumulate`.

        Returns:
            (torch.Tensor, int): ``[5, len(k)]`` float64 sums on the CPU (rows:
            recall, ndcg, precision, map, hit) and the user count.
        """
        users = self._check_block(scores, users)
        empty = torch.zeros(
            len(METRICS), len(self.k), dtype=torch.float64, device="cpu"
        )
        if users.numel() == 0:
            return empty, 0
        n_target = self._target_count[users]
        keep = n_target > 0
        if not bool(keep.all()):
            # Boolean indexing copies, so the copy may be masked in place.
            users, n_target, scores = users[keep], n_target[keep], scores[keep]
            inplace = True
            if users.numel() == 0:
                return empty, 0
        if not inplace:
            scores = scores.clone()
        self._mask_(scores, users)
        index = self._topk(scores)
        del scores
        return self._block_sums(index, users, n_target), users.numel()

    def accumulate(self, sums: Tensor, count: int) -> None:
        r"""Adds the :meth:`block_sums` of a block. Adding the blocks in the
        same order gives the same floating-point result, whichever process
        computed them."""
        self._sums += sums
        self._count += count

    def _block_sums(self, index: Tensor, users: Tensor, n_target: Tensor) -> Tensor:
        width = index.size(1)
        rel = _isin_sorted(users.view(-1, 1) * self.num_items + index, self._hit_key)

        # Prefix sums over ranks give every K from one top-max(K) block.
        relf = rel.to(torch.float64)
        ranks = torch.arange(1, width + 1, device=index.device, dtype=torch.float64)
        hits = relf.cumsum(dim=1)
        dcg = (relf * self._inv_discount[:width]).cumsum(dim=1)
        ap = (hits / ranks * relf).cumsum(dim=1)
        n = n_target.to(torch.float64)

        out = []
        for k in self.k:
            col = min(k, width) - 1
            n_k = n_target.clamp(max=k)
            hit_k = hits[:, col]
            out.append(
                torch.stack(
                    [
                        (hit_k / n).sum(),
                        (dcg[:, col] / self._idcg[n_k]).sum(),
                        hit_k.sum() / k,
                        (ap[:, col] / n_k.to(torch.float64)).sum(),
                        (hit_k > 0).sum().to(torch.float64),
                    ]
                )
            )
        return torch.stack(out, dim=1).cpu()

    def compute(self) -> dict[str, float]:
        r"""Returns ``{f'{metric}@{K}': value}`` for ``metric`` in
        ``recall, ndcg, precision, map, hit``, averaged over the users
        accumulated so far."""
        if self._count == 0:
            raise ValueError(
                "no users with held-out items were evaluated: call 'update' "
                "with rows of 'target_users' first"
            )
        mean = (self._sums / self._count).tolist()
        return {
            f"{name}@{k}": mean[i][j]
            for i, name in enumerate(METRICS)
            for j, k in enumerate(self.k)
        }

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(num_items={self.num_items}, "
            f"num_target_users={self._target_users.numel()}, k={list(self.k)})"
        )


def evaluate_scores(
    scores: Tensor,
    exclude_index: Tensor,
    target_index: Tensor,
    k: int | Sequence[int] = (10, 20),
    chunk_size: int | None = None,
) -> dict[str, float]:
    r"""Full-ranking metrics of a dense ``[num_users, num_items]`` score matrix
    (see :mod:`mde_pyg.evaluation.metrics` for the formulas and conventions).

    Only the users with held-out items are ranked, in blocks of
    :obj:`chunk_size` rows copied out of :obj:`scores` (which is left
    untouched).

    Args:
        scores (torch.Tensor): ``[num_users, num_items]`` scores.
        exclude_index (torch.Tensor): ``[2, E]`` (user, item) pairs masked to
            :math:`-\infty` before ranking (training items). May be empty.
        target_index (torch.Tensor): ``[2, E]`` held-out (user, item) pairs.
        k (int or Sequence[int], optional): Cut-off(s). (default: :obj:`(10, 20)`)
        chunk_size (int, optional): Users per block; by default a block holds
            at most 8 MiB on CPU (cache-sized) and 256 MiB on other devices,
            see :func:`resolve_chunk_size`. (default: :obj:`None`)

    Returns:
        dict: ``{'recall@K', 'ndcg@K', 'precision@K', 'map@K', 'hit@K'}`` for
        every :math:`K`, as Python floats.
    """
    if not isinstance(scores, Tensor) or scores.dim() != 2:
        raise ValueError(
            "'scores' must be a 2-D tensor [num_users, num_items] "
            f"(got shape {list(getattr(scores, 'shape', []))})"
        )
    num_users, num_items = scores.shape
    metric = RankingMetrics(
        num_items, exclude_index, target_index, k=k, num_users=num_users
    )
    users = metric.target_users.to(scores.device)
    chunk_size = resolve_chunk_size(
        chunk_size, users.numel(), num_items, scores.device, scores.element_size()
    )
    for block in users.split(chunk_size):
        # Advanced indexing copies the rows, so masking in place is safe.
        metric.update(scores[block], block, inplace=True)
    return metric.compute()
