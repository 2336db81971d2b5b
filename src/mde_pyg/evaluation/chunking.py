r"""The size of the user blocks that full-ranking evaluation scores at once:
one ``[chunk_size, num_items]`` score block bounds its memory."""

from __future__ import annotations

import os

import torch

# Budgets for one block of scores when a chunk size is chosen automatically:
# at most 256 MiB anywhere; on CPU a block that stays in the last-level cache
# between the matmul that writes it and the `topk` that reads it is ~1.4x
# faster end to end than a 256 MiB one (Amazon-Baby size, 2 cores).
DEFAULT_BLOCK_BYTES = 256 * 2**20
CPU_BLOCK_BYTES = 8 * 2**20


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
