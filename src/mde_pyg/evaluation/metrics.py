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

from collections.abc import Sequence

import torch
from torch import Tensor

from mde_pyg.evaluation.chunking import resolve_chunk_size
from mde_pyg.evaluation.topk import (
    check_index,
    check_k,
    csr_from_keys,
    isin_sorted,
    mask_exclude_,
    sorted_unique,
    stable_topk,
)

__all__ = [
    "METRICS",
    "RankingMetrics",
    "check_cutoffs",
    "evaluate_scores",
]

#: Metric names, in the order they appear in the result dictionaries.
METRICS = ("recall", "ndcg", "precision", "map", "hit")


def check_cutoffs(k: int | Sequence[int]) -> tuple[int, ...]:
    r"""Normalises :obj:`k` to a tuple of unique positive integers (the order
    given is kept), each checked by :func:`~mde_pyg.evaluation.topk.check_k`."""
    ks = tuple(k) if isinstance(k, Sequence) else (k,)
    if len(ks) == 0:
        raise ValueError("'k' must contain at least one cut-off (got an empty list)")
    return tuple(dict.fromkeys(check_k(value) for value in ks))


def _check_sizes(num_items: int, num_users: int | None) -> None:
    r"""Refuses a :obj:`num_items` that is not a positive integer and a
    non-positive :obj:`num_users`."""
    if isinstance(num_items, bool) or not isinstance(num_items, int):
        raise ValueError(f"'num_items' must be an integer (got {num_items!r})")
    if num_items <= 0:
        raise ValueError(f"'num_items' must be positive (got {num_items})")
    if num_users is not None and num_users <= 0:
        raise ValueError(f"'num_users' must be positive (got {num_users})")


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
        _check_sizes(num_items, num_users)
        self.k = check_cutoffs(k)
        self.max_k = max(self.k)
        self.num_items = num_items

        check_index(exclude_index, "exclude_index", num_users, num_items)
        check_index(target_index, "target_index", num_users, num_items)
        if target_index.size(1) == 0:
            raise ValueError(
                "'target_index' is empty: no users with held-out items to evaluate"
            )
        if num_users is None:
            num_users = int(target_index[0].max()) + 1
            if exclude_index.numel() > 0:
                num_users = max(num_users, int(exclude_index[0].max()) + 1)
        self.num_users = num_users
        self._index_pairs(exclude_index, target_index)
        self._discounts(target_index.device)
        self.reset()

    def _index_pairs(self, exclude_index: Tensor, target_index: Tensor) -> None:
        r"""Builds the target counts, target users, hit keys and exclude CSR
        of the (checked) index tensors, on the device of the targets."""
        num_users, num_items = self.num_users, self.num_items
        # Targets as flat keys `user * num_items + item`: sorted and unique so
        # that membership of a whole [B, K] block is one `searchsorted`.
        exclude_index = exclude_index.to(device=target_index.device, dtype=torch.long)
        target_index = target_index.to(dtype=torch.long)
        target_key = sorted_unique(target_index[0] * num_items + target_index[1])
        self._target_count = torch.bincount(
            torch.div(target_key, num_items, rounding_mode="floor"),
            minlength=num_users,
        )
        self._target_users = self._target_count.nonzero().view(-1)
        # A target that is also masked still counts in |T_u| (above) but can
        # never be recommended, so it is dropped from the hit keys.
        exclude_key = sorted_unique(exclude_index[0] * num_items + exclude_index[1])
        if exclude_key.numel() > 0:
            target_key = target_key[~isin_sorted(target_key, exclude_key)]
        self._hit_key = target_key

        # Exclude items grouped by user (CSR): `_exclude_item[ptr[u]:ptr[u+1]]`.
        self._exclude_ptr, self._exclude_item = csr_from_keys(
            exclude_key, num_users, num_items
        )

    def _discounts(self, device: torch.device) -> None:
        r"""The rank discounts :math:`1 / \log_2(r + 1)`, ``r = 1..max_k``,
        and their prefix sums, the IDCG of ``n = 0..max_k`` relevant items
        (entry 0 is never used since only users with targets are scored)."""
        discount = torch.arange(
            2, self.max_k + 2, dtype=torch.float64, device=device
        ).log2()
        self._inv_discount = 1.0 / discount
        self._idcg = torch.cat(
            [discount.new_zeros(1), torch.cumsum(self._inv_discount, dim=0)]
        )

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
        rel = isin_sorted(users.view(-1, 1) * self.num_items + index, self._hit_key)

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
