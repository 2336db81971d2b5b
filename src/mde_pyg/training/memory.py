"""Allocator settings for training on the CPU."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

# mallopt parameters of glibc's malloc.h.
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4


def keep_freed_memory() -> bool:
    """Asks glibc's allocator to keep the memory a process frees instead of
    returning it to the operating system.

    A training step allocates and frees the same large buffers every time
    (MDE's ``[2048, 2048]`` contrastive logits, the feature gradients); by
    default glibc serves each with a fresh ``mmap`` and unmaps it when freed,
    so every step page-faults its buffers in again. Keeping them avoids that
    (see ``benchmarks/first_run.py`` for the README main job's time with it),
    at the cost of the process keeping its peak memory until it exits.
    ``mde-pyg train`` calls it; call it at the start of your own CPU training
    script. Results do not change.

    Returns:
        bool: whether the settings were applied (glibc only; elsewhere this
        does nothing).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (e.g. musl)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))
