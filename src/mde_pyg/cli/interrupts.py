"""Ctrl-C (SIGINT) and a scheduler's SIGTERM: the first stops the command
where it is, through a :class:`~mde_pyg.errors.RunInterrupted` that the
trainer and pipeline complete with how to resume; a second one exits at
once."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from mde_pyg.errors import RunInterrupted

#: The signals that stop a command.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _exit_now(signum: int, frame: FrameType | None) -> None:
    name = signal.Signals(signum).name
    os.write(2, f"interrupted again by {name}: exiting at once\n".encode())
    os._exit(128 + signum)


def _stop(signum: int, frame: FrameType | None) -> None:
    for other in STOP_SIGNALS:
        signal.signal(other, _exit_now)
    raise RunInterrupted(signum)


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM raise
    :class:`~mde_pyg.errors.RunInterrupted` (once; a second signal exits at
    once with status 128 + its number)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    for signum in STOP_SIGNALS:
        signal.signal(signum, _stop)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def exit_on_interrupt(error: KeyboardInterrupt) -> None:
    """Prints one line (how to resume, where the run can be) and exits with
    128 + the signal's number: 130 for SIGINT, 143 for SIGTERM."""
    if isinstance(error, RunInterrupted):
        signum, line = error.signum, str(error)
    else:
        signum, line = signal.SIGINT, "interrupted"
    print(line, file=sys.stderr, flush=True)
    sys.exit(128 + signum)
