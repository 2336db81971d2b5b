r"""CPU threads that give way on a shared machine.

Torch starts as many intra-op threads as there are cores. When another
process keeps a core busy, every parallel region then waits for the thread
that shares that core, and the run becomes slower than it would be on one
thread (the main job's epochs on 2 cores: 1.1 s alone, 1.4 s on one thread,
2.6-3.2 s beside one busy process). :class:`ThreadBudget` therefore measures,
between epochs, how much CPU time the other processes took and uses the
cores they leave free. The main job trains to the same bits on one thread as
on two (``tests/training/test_threads.py``); a kernel whose sums are split by
thread may differ in the last bits, which a fixed ``trainer.threads`` rules
out.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from mde_pyg.errors import ConfigError
from mde_pyg.training.callback import Callback

if TYPE_CHECKING:
    from mde_pyg.training.trainer import Trainer

#: Linux's system-wide CPU time counters (``cpu`` line: user, nice, system,
#: idle, iowait, irq, softirq, steal, ...), in clock ticks.
PROC_STAT = Path("/proc/stat")
#: The shortest window over which the share of the others is measured.
MIN_WINDOW_S = 0.05
#: The shortest window :meth:`ThreadBudget.on_fit_start` decides on.
START_WINDOW_S = 0.2


def check_threads(threads: int | str | None) -> int | str | None:
    """Returns ``threads`` if it is ``None``, ``"auto"`` or a positive number,
    else raises a :class:`~mde_pyg.errors.ConfigError`."""
    if threads is None or threads == "auto":
        return threads
    if isinstance(threads, int) and not isinstance(threads, bool) and threads > 0:
        return threads
    raise ConfigError(
        f"trainer.threads={threads!r}: expected 'auto' or a positive number of "
        "CPU threads"
    )


class CpuShare:
    """Measures how many cores' worth of CPU time the *other* processes of the
    machine used between two calls of :meth:`others`: the busy time of
    ``/proc/stat`` less this process's own (:func:`os.times`). Where the
    counters cannot be read (not Linux), :meth:`others` returns ``None``.
    """

    def __init__(self, stat: Path = PROC_STAT) -> None:
        self.stat = stat
        self._last = self._read()

    def _read(self) -> tuple[float, float, float] | None:
        try:
            fields = self.stat.read_text().split("\n", 1)[0].split()
        except OSError:
            return None
        if not fields or fields[0] != "cpu" or len(fields) < 9:
            return None
        user, nice, system, idle, iowait, irq, softirq, steal = map(int, fields[1:9])
        # Steal is time a hypervisor gave to other machines: gone as well.
        busy = user + nice + system + irq + softirq + steal
        own = os.times()
        return (
            busy / os.sysconf("SC_CLK_TCK"),
            own.user + own.system,
            time.monotonic(),
        )

    def others(self, wait_for: float = 0.0) -> float | None:
        """Cores' worth of CPU time the other processes used since the last
        call (or since construction), after waiting until that window is
        ``wait_for`` seconds long; ``None`` if unknown or if the window was
        too short to say."""
        if wait_for > 0 and self._last is not None:
            time.sleep(max(0.0, wait_for - (time.monotonic() - self._last[2])))
        now = self._read()
        if now is None or self._last is None:
            self._last = now
            return None
        (busy0, own0, t0), (busy1, own1, t1) = self._last, now
        if t1 - t0 < MIN_WINDOW_S:
            return None
        self._last = now
        return max(0.0, ((busy1 - busy0) - (own1 - own0)) / (t1 - t0))


def free_threads(limit: int, others: float, cores: int) -> int:
    """The threads to run: the cores the others leave free (rounded to the
    nearest core), at least one and at most ``limit``."""
    return max(1, min(limit, round(cores - others)))


class ThreadBudget(Callback):
    r"""Sets torch's intra-op threads for a training run.

    Args:
        threads (int or str): A fixed number of threads, or ``"auto"``: at
            most as many as torch had at the start (the cores, or
            ``OMP_NUM_THREADS``), fewer while other processes keep cores
            busy, re-measured over every epoch
            (:func:`free_threads` of :meth:`CpuShare.others`).
        share (CpuShare, optional): The measurement, from construction on
            (a test's stand-in). (default: :obj:`None`, the machine's)
        cores (int, optional): The machine's cores. (default: :obj:`None`,
            :func:`os.cpu_count`)
    """

    def __init__(
        self,
        threads: int | str,
        share: CpuShare | None = None,
        cores: int | None = None,
    ) -> None:
        self.threads = check_threads(threads)
        self.limit = torch.get_num_threads()
        # Watching from here, the start of a run waits only for what is
        # left of its first window.
        self.share = share if share is not None else CpuShare()
        self.cores = cores or os.cpu_count() or 1

    def on_fit_start(self, trainer: Trainer) -> None:
        if self.threads == "auto":
            self._adapt(wait_for=START_WINDOW_S)
        else:
            torch.set_num_threads(self.threads)

    def on_epoch_end(
        self, trainer: Trainer, record: dict[str, Any], improved: bool
    ) -> None:
        if self.threads == "auto":
            self._adapt()

    def on_fit_end(self, trainer: Trainer, result: Any) -> None:
        # The caller's process goes on with the threads it started with.
        torch.set_num_threads(self.limit)

    def _adapt(self, wait_for: float = 0.0) -> None:
        others = self.share.others(wait_for)
        if others is not None:
            torch.set_num_threads(free_threads(self.limit, others, self.cores))

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(threads={self.threads!r})"
