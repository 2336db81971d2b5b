r"""Uniform BPR triple sampling with exact negatives."""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import torch
from torch import Tensor


class BPRBatch(NamedTuple):
    """A batch of BPR triples: ``user`` interacted with ``pos``, not ``neg``."""

    user: Tensor
    pos: Tensor
    neg: Tensor


class BPRSampler:
    r"""Iterates over one epoch of BPR triples :math:`(u, i, j)`: every
    training pair :math:`(u, i)` exactly once, in a fresh random order, each
    with a negative item :math:`j` drawn uniformly from the items :math:`u`
    has not interacted with in training,

    .. math::
        j \sim \mathcal{U}\left(\mathcal{I} \setminus \mathcal{N}(u)\right),

    as the MMRec protocol (and LightGCN, LATTICE) prescribe.

    Negatives are exact, not approximately filtered: items are drawn uniformly
    over all of :math:`\mathcal{I}` and every draw that hits a training item
    of its user is redrawn, vectorised over the whole epoch (membership is a
    binary search of the keys :math:`u |\mathcal{I}| + j` in the sorted
    training keys), so each round only touches the still-rejected entries.

    Args:
        edge_index (torch.Tensor): ``[2, E]`` training (user, item) pairs;
            batches live on its device.
        num_users (int): Number of users.
        num_items (int): Number of items.
        batch_size (int, optional): Positive pairs per batch; the last batch
            of an epoch may be smaller. (default: :obj:`2048`)
        generator (torch.Generator, optional): Source of randomness for the
            shuffling and the negatives, for reproducible epochs.
            (default: :obj:`None`)
    """

    def __init__(
        self,
        edge_index: Tensor,
        num_users: int,
        num_items: int,
        batch_size: int = 2048,
        generator: torch.Generator | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"'batch_size' must be >= 1 (got {batch_size})")
        if edge_index.dim() != 2 or edge_index.size(0) != 2:
            raise ValueError(
                f"'edge_index' must have shape [2, E] (got {list(edge_index.shape)})"
            )
        self.user, self.item = edge_index.long()
        self.num_users = num_users
        self.num_items = num_items
        self.batch_size = batch_size
        self.generator = generator
        self.device = edge_index.device
        self.keys = torch.unique(self.user * num_items + self.item)
        # The rejection loop would never end for a user without a negative.
        num_pos = torch.bincount(self.keys // num_items, minlength=num_users)
        full = (num_pos >= num_items).nonzero().view(-1)
        if full.numel() > 0:
            raise ValueError(
                f"{full.numel()} user(s) interacted with all {num_items} items in "
                f"training and have no negative item to sample (e.g. user "
                f"{int(full[0])})"
            )

    def _rand_items(self, num: int) -> Tensor:
        device = self.generator.device if self.generator is not None else self.device
        items = torch.randint(
            self.num_items, (num,), generator=self.generator, device=device
        )
        return items.to(self.device)

    def sample_negatives(self, user: Tensor) -> Tensor:
        r"""Draws one uniform negative item per entry of ``user``, never a
        training item of that user."""
        user = user.to(self.device).long()
        neg = self._rand_items(user.numel())
        if self.keys.numel() == 0:
            return neg
        todo = torch.arange(user.numel(), device=self.device)
        while todo.numel() > 0:
            key = user[todo] * self.num_items + neg[todo]
            pos = torch.searchsorted(self.keys, key).clamp_(max=self.keys.numel() - 1)
            todo = todo[self.keys[pos] == key]
            neg[todo] = self._rand_items(todo.numel())
        return neg

    def __len__(self) -> int:
        return (self.user.numel() + self.batch_size - 1) // self.batch_size

    def __iter__(self) -> Iterator[BPRBatch]:
        device = self.generator.device if self.generator is not None else self.device
        perm = torch.randperm(
            self.user.numel(), generator=self.generator, device=device
        ).to(self.device)
        user, pos = self.user[perm], self.item[perm]
        # One vectorised draw for the whole epoch is much cheaper than one per
        # batch.
        neg = self.sample_negatives(user)
        for start in range(0, user.numel(), self.batch_size):
            end = start + self.batch_size
            yield BPRBatch(user[start:end], pos[start:end], neg[start:end])

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(num_pairs={self.user.numel()}, "
            f"num_users={self.num_users}, num_items={self.num_items}, "
            f"batch_size={self.batch_size})"
        )
