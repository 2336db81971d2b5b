"""The errors a user can fix: bad configuration, data files, checkpoints and
lost processes.

Every error the package raises for bad input derives from :class:`UserError`,
so a program (and the ``mde-pyg`` command, which prints it as one ``error:``
line) can tell them from bugs. This module sits below every other one: it
imports nothing of the package.
"""

from __future__ import annotations

import errno
import re
import signal
from pathlib import Path


class UserError(Exception):
    """An error in what the user handed the package (a config, a file, a
    folder), with a message that names it and says how to fix it."""


class ConfigError(UserError, ValueError):
    """A configuration key is unknown or has a value of the wrong type."""


class DatasetError(UserError, ValueError):
    """A dataset file is missing or malformed.

    The message starts with the file (or input) it is about and names the
    column or field and the offending value, *e.g.*
    ``"baby.inter: column 'userID' has negative value -3 at line 17"``, so
    that the user can find and fix the problem without a debugger.
    """


class CheckpointError(UserError, RuntimeError):
    """A checkpoint is missing, damaged, unsafe to load, or belongs to
    another run."""


class DistributedError(UserError, RuntimeError):
    """A process of a distributed run cannot start, or lost the others."""


def load_error_reason(error: BaseException) -> str:
    """A one-line reason why :func:`torch.load` failed, for messages.

    The weights-only unpickler wraps the line that matters (the refused
    global or opcode) in a paragraph of advice, part of which is to retry
    with ``weights_only=False``; other errors keep their first line.

    Args:
        error (BaseException): The exception :func:`torch.load` raised.
    """
    text = str(error)
    match = re.search(r"Unsupported [^.\n]+", text)
    if match is not None:
        return match.group()
    return text.strip().split("\n", 1)[0] or type(error).__name__


_PERMISSION = "write somewhere you may write, or fix the folder's permissions"
_PATH = "check the path"
_READ_ONLY = "write somewhere writable: set output_dir (or --out) to another folder"
_REMOUNT = "remount the file system, then rerun"
_GONE = "no such device (the file system went away)"
#: What a failed file-system call means and what to do about it, by errno.
_MACHINE_FAULTS = {
    "ENOSPC": ("no space left on device", "free space on that file system"),
    "EDQUOT": ("disk quota exceeded", "free space or ask for a larger quota"),
    "EFBIG": ("file too large", "write to a file system that takes larger files"),
    "EROFS": ("read-only file system", _READ_ONLY),
    "EACCES": ("permission denied", _PERMISSION),
    "EPERM": ("operation not permitted", _PERMISSION),
    "ENOENT": ("no such file or directory", f"{_PATH}; remake a folder removed"),
    "ENOTDIR": ("a part of the path is not a folder", _PATH),
    "EISDIR": ("is a folder, not a file", _PATH),
    "EEXIST": ("exists and is not a folder", _PATH),
    "EIO": ("input/output error", "check the disk or network file system, then rerun"),
    "ESTALE": ("stale file handle (the file system went away)", _REMOUNT),
    "ENOTCONN": ("file system disconnected", _REMOUNT),
    "ENODEV": (_GONE, _REMOUNT),
    "ENXIO": (_GONE, _REMOUNT),
}


def machine_fault(error: BaseException) -> tuple[str, str] | None:
    """``(what happened, what to do)`` for an :class:`OSError` of the
    machine (a full disk, a read-only, missing or vanished folder, a denied
    permission); :obj:`None` for any other error."""
    if not isinstance(error, OSError) or error.errno is None:
        return None
    name = errno.errorcode.get(error.errno)
    return _MACHINE_FAULTS.get(name)


class ResumableMixin:
    """An error after which a run can continue from its last complete
    checkpoint: set :attr:`checkpoint` (and :attr:`epoch`, the number of
    epochs it holds) where it is known, and :attr:`output_dir` where the run
    has one, and :meth:`resume_advice` says how."""

    checkpoint: Path | None = None
    epoch: int | None = None
    output_dir: Path | None = None

    def resume_advice(self) -> str:
        if self.checkpoint is None:
            return "no checkpoint was written, so the run starts afresh when rerun"
        done = f" (after epoch {self.epoch - 1})" if self.epoch else ""
        if self.output_dir is not None:
            how = (
                f"rerun the same command with resume=true output_dir={self.output_dir}"
            )
        else:
            how = f"resume=True with checkpoint_dir={self.checkpoint.parent}"
        return (
            f"the last complete checkpoint {self.checkpoint}{done} is intact: "
            f"{how} to continue from it"
        )


class StorageError(ResumableMixin, UserError, OSError):
    """A write or read failed for a reason of the machine (no space, a
    read-only, missing or vanished folder, a denied permission). Its message
    is ``<path>: <what> (<hint>)``, the hint saying how to resume where the
    run can be resumed."""

    def __init__(self, path: str | Path, what: str, hint: str, errno_: int | None):
        super().__init__(errno_, what)
        self.path, self.what, self.hint = Path(path), what, hint

    @classmethod
    def from_os_error(
        cls, error: OSError, path: str | Path | None = None
    ) -> StorageError:
        """The storage error of ``error`` (an ``OSError`` that
        :func:`machine_fault` knows) on ``path`` (default: its file name)."""
        what, hint = machine_fault(error) or (error.strerror or str(error), "")
        where = path if path is not None else (error.filename or "?")
        return cls(where, what, hint, error.errno)

    def __str__(self) -> str:
        hints = [self.hint]
        if self.checkpoint is not None or self.output_dir is not None:
            hints.append(self.resume_advice())
        hint = "; ".join(h for h in hints if h)
        return f"{self.path}: {self.what}" + (f" ({hint})" if hint else "")


class DivergenceError(ResumableMixin, UserError, FloatingPointError):
    """Training diverged: the loss or a parameter became NaN or infinite."""

    def __init__(self, text: str, advice: str, best: str = "") -> None:
        super().__init__(text)
        self.text, self.advice, self.best = text, advice, best

    def __str__(self) -> str:
        last = (
            f"the last good checkpoint is {self.checkpoint}"
            + (f" (after epoch {self.epoch - 1})" if self.epoch else "")
            if self.checkpoint is not None
            else "no checkpoint was written"
        )
        return f"{self.text}; {last}{self.best}; {self.advice}"


class RunInterrupted(ResumableMixin, KeyboardInterrupt):
    """The run was stopped by a signal (Ctrl-C: SIGINT, or a scheduler's
    SIGTERM); :attr:`signum` is the signal."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    def __str__(self) -> str:
        name = signal.Signals(self.signum).name
        return f"interrupted by {name}; {self.resume_advice()}"


class RunFolderInUse(UserError):
    """Another live run holds the run folder's lock."""
