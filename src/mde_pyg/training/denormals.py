r"""Subnormal floats flushed to zero on the CPU.

A float32 below :math:`2^{-126} \approx 1.2 \cdot 10^{-38}` in magnitude is
subnormal, and x86 CPUs compute with it in microcode, many times slower than
with a normal number. Sentence encoders leave such values within reach: two
of the 384 dimensions of all-MiniLM-L6-v2 are about :math:`10^{-37}` for
every text, so their products with small weights are subnormal. On
Baby-text, flushing them speeds the CPU step of DRAGON up 1.19x, VBPR's
1.14x and MMGCN's 1.12x, and no other model's by more than 2 %
(``benchmarks/results/flush_denormal.md``). Flushing them changes a result
only where a value below :math:`10^{-38}` would have mattered, but it is a
change of the arithmetic, so it is asked for (``trainer.flush_denormal``),
never assumed.

The setting belongs to a CPU thread, and torch can set it only on the
thread that asks: its other intra-op threads keep the one they started
with. With more than one torch thread the flushing covers the calling
thread's share of each operation only, so its full effect (and the figures
above) needs one thread (``trainer.threads=1``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


def flushing_denormals() -> bool:
    """Whether this thread flushes subnormal float32 values to zero now
    (torch has no getter for :func:`torch.set_flush_denormal`)."""
    # Read as zero when the CPU treats subnormal inputs as zero.
    subnormal = torch.tensor([1e-39], dtype=torch.float32, device="cpu")
    return bool((subnormal * 1.0).item() == 0.0)


@contextmanager
def flush_denormals(enabled: bool = True) -> Iterator[bool]:
    """Flushes subnormal floats to zero on this CPU thread inside the block
    (where ``enabled`` and the CPU supports it) and restores the setting it
    found, whatever ends the block. Torch's other intra-op threads keep
    theirs (see the module's note).

    Args:
        enabled (bool, optional): :obj:`False` leaves the setting alone.
            (default: :obj:`True`)

    Yields:
        bool: Whether subnormals are flushed inside the block.
    """
    before = flushing_denormals()
    if not enabled:
        yield before
        return
    supported = torch.set_flush_denormal(True)
    try:
        yield supported or before
    finally:
        torch.set_flush_denormal(before)
