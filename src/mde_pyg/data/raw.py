r"""From raw interaction logs to a split dataset: :math:`k`-core filtering,
re-indexing and the published random per-user split."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from mde_pyg.data.errors import DatasetError
from mde_pyg.data.hetero import build_heterodata


def k_core_filter(user: Tensor, item: Tensor, k: int = 5) -> Tensor:
    r"""Returns the mask of interactions that survive iterative :math:`k`-core
    filtering: every remaining user and item has at least ``k``
    interactions. Each round drops all users and items below ``k`` at once,
    until nothing changes.

    Args:
        user (torch.Tensor): ``[E]`` user indices (``0..num_users-1``).
        item (torch.Tensor): ``[E]`` item indices.
        k (int, optional): Minimum degree. (default: :obj:`5`)
    """
    keep = torch.ones(user.numel(), dtype=torch.bool)
    num_users = int(user.max()) + 1 if user.numel() else 0
    num_items = int(item.max()) + 1 if item.numel() else 0
    while True:
        user_deg = torch.bincount(user[keep], minlength=num_users)
        item_deg = torch.bincount(item[keep], minlength=num_items)
        new_keep = keep & (user_deg[user] >= k) & (item_deg[item] >= k)
        if torch.equal(new_keep, keep):
            return keep
        keep = new_keep


def reindex(values: np.ndarray) -> tuple[Tensor, np.ndarray]:
    """Maps arbitrary IDs (integers or strings) to ``0..n-1`` in sorted order;
    returns the new IDs and the original ID of each new one."""
    mapping, inverse = np.unique(values, return_inverse=True)
    return torch.from_numpy(inverse.astype(np.int64)), mapping


def split_per_user(
    user: Tensor, num_users: int, generator: torch.Generator | int = 0
) -> Tensor:
    r"""The published random per-user split (MMRec): returns per interaction
    ``0`` (train), ``1`` (validation) or ``2`` (test). A user with
    :math:`n < 10` interactions gets :math:`n-2`, 1 and 1; otherwise
    :math:`v = \lfloor 0.2 n \rfloor` are held out, :math:`\lfloor v/2
    \rfloor` for validation and the rest for test.

    Args:
        user (torch.Tensor): ``[E]`` user index of each interaction.
        num_users (int): Number of users.
        generator (torch.Generator or int, optional): Random stream, or a
            seed. (default: :obj:`0`)
    """
    if isinstance(generator, int):
        generator = torch.Generator().manual_seed(generator)
    count = torch.bincount(user, minlength=num_users)
    if bool(((count > 0) & (count < 3)).any()):
        bad = int(torch.nonzero((count > 0) & (count < 3))[0])
        raise DatasetError(
            f"user {bad} has {int(count[bad])} interactions: the per-user split "
            "needs at least 3 (apply k-core filtering with k >= 3)"
        )
    held_out = count // 5  # int(0.2 n), exact in integers
    num_val = torch.where(count < 10, 1, held_out // 2)
    num_test = torch.where(count < 10, 1, held_out - held_out // 2)
    # A random order within each user: shuffle, then stable sort by user.
    perm = torch.randperm(user.numel(), generator=generator)
    order = perm[user[perm].sort(stable=True).indices]
    start = torch.cumsum(count, 0) - count
    rank = torch.empty_like(user)
    rank[order] = torch.arange(user.numel()) - start[user[order]]
    label = torch.zeros_like(user)
    label[rank < num_val[user]] = 1
    label[(rank >= num_val[user]) & (rank < (num_val + num_test)[user])] = 2
    return label


def _read_columns(
    path: Path, columns: list[str], sep: str | None
) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise DatasetError(f"{path}: file not found")
    if sep is None:
        sep = "\t" if path.suffix in (".tsv", ".inter") else ","
    with open(path, newline="") as f:
        rows = list(csv.reader(f, delimiter=sep))
    if not rows:
        raise DatasetError(f"{path}: file is empty (expected a header row)")
    header, body = rows[0], [row for row in rows[1:] if row]
    missing = [c for c in columns if c not in header]
    if missing:
        raise DatasetError(
            f"{path}: missing column '{missing[0]}' (found columns: {header})"
        )
    bad = next((i for i, row in enumerate(body) if len(row) != len(header)), None)
    if bad is not None:
        raise DatasetError(
            f"{path}: line {bad + 2} has {len(body[bad])} fields, expected "
            f"{len(header)} ({header})"
        )
    table = np.array(body, dtype=str).reshape(len(body), len(header))
    return {c: table[:, header.index(c)] for c in columns}


def load_raw_interactions(
    path: str | Path,
    user_column: str = "user",
    item_column: str = "item",
    sep: str | None = None,
    k_core: int = 5,
    seed: int = 0,
) -> HeteroData:
    r"""Loads raw ``(user, item)`` interactions from a CSV/TSV file with a
    header, applies :func:`k_core_filter`, re-indexes users and items
    (any ID type) and splits with :func:`split_per_user`. Duplicate pairs
    count once.

    Args:
        path (str or Path): The file (``.tsv``/``.inter`` tab-separated,
            otherwise comma-separated, unless ``sep`` is given).
        user_column (str, optional): User ID column. (default: :obj:`"user"`)
        item_column (str, optional): Item ID column. (default: :obj:`"item"`)
        sep (str, optional): Field separator. (default: :obj:`None`)
        k_core (int, optional): Minimum interactions per user and item.
            (default: :obj:`5`)
        seed (int, optional): Seed of the split. (default: :obj:`0`)
    """
    path = Path(path)
    table = _read_columns(path, [user_column, item_column], sep)
    pairs = np.unique(np.stack([table[user_column], table[item_column]]), axis=1)
    user, _ = reindex(pairs[0])
    item, _ = reindex(pairs[1])
    keep = k_core_filter(user, item, k_core)
    if not bool(keep.any()):
        raise DatasetError(
            f"{path}: no interaction survives {k_core}-core filtering "
            f"({user.numel()} unique pairs before)"
        )
    user, _ = reindex(user[keep].numpy())
    item, _ = reindex(item[keep].numpy())
    num_users, num_items = int(user.max()) + 1, int(item.max()) + 1
    label = split_per_user(user, num_users, seed)
    index = torch.stack([user, item])
    return build_heterodata(
        num_users, num_items, *(index[:, label == s] for s in range(3))
    )
