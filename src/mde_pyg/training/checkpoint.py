"""Atomic, verified, safe checkpoints.

* A crash mid-write never destroys the last good checkpoint: the new one is
  written to a temporary file and renamed over the old one, which is kept as
  ``<path>.prev`` (a hard link made *before* the rename, so the checkpoint
  path exists at every instant).
* A damaged file is reported, not half-loaded: the payload is preceded by its
  SHA-256, which detects truncation and corruption (it is a checksum, not a
  signature: it does not make a file trustworthy).
* Loading never runs code from the file: payloads are read with
  ``torch.load(weights_only=True)``, which only rebuilds tensors and plain
  Python containers and numbers; anything else (a pickled object, a function,
  a class) is refused with a :class:`CheckpointError`. Run folders are what
  users download and share.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import pickle
import shutil
import warnings
from pathlib import Path
from typing import Any

import torch

from mde_pyg.errors import (
    CheckpointError,
    StorageError,
    load_error_reason,
    machine_fault,
)

_MAGIC = b"MDEPYGCK1\n"


def previous_path(path: Path) -> Path:
    """Where :func:`save_checkpoint` keeps the checkpoint it replaced."""
    return path.with_name(path.name + ".prev")


def temporary_path(path: Path) -> Path:
    """Where :func:`save_checkpoint` writes before renaming over ``path``."""
    return path.with_name(f".{path.name}.tmp")


def _fsync_directory(folder: Path) -> None:
    directory = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def save_checkpoint(state: dict[str, Any], path: str | Path) -> None:
    """Writes ``state`` to ``path`` atomically: to a temporary file in the same
    folder, flushed and fsync'ed, then renamed over ``path``; the file it
    replaces is kept as ``<path>.prev``.

    If the write fails (no space, a read-only or vanished folder) or is
    interrupted, ``path`` keeps the last complete checkpoint and the partly
    written temporary file is removed; a failure of the machine is raised as
    a :class:`~mde_pyg.errors.StorageError` naming ``path``.

    ``state`` must hold tensors and plain Python data only (dicts, lists,
    tuples, strings, numbers, booleans, :obj:`None`), the types that
    :func:`load_checkpoint` accepts back.
    """
    path = Path(path)
    tmp = temporary_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        torch.save(state, buffer)
        payload = buffer.getvalue()
        with open(tmp, "wb") as f:
            f.write(_MAGIC)
            f.write(hashlib.sha256(payload).hexdigest().encode() + b"\n")
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        if path.exists():
            previous = previous_path(path)
            previous.unlink(missing_ok=True)
            try:
                os.link(path, previous)
            except OSError:  # a file system without hard links
                shutil.copy2(path, previous)
        os.replace(tmp, path)
        _fsync_directory(path.parent)
    except BaseException as error:
        # A full disk, a vanished folder or a signal mid-write: the
        # checkpoint at `path` is the last complete one; the partly written
        # temporary file goes.
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        if machine_fault(error) is not None:
            raise StorageError.from_os_error(error, path) from error
        raise


def _damaged(path: Path, problem: str) -> CheckpointError:
    message = f"Checkpoint '{path}' {problem}"
    previous = previous_path(path)
    if previous.is_file():
        message += (
            f". The previous checkpoint '{previous}' was kept: move it to "
            f"'{path}' to resume from one epoch earlier"
        )
    return CheckpointError(message)


def _verified_payload(path: Path) -> bytes:
    if not path.is_file():
        raise CheckpointError(f"Checkpoint '{path}' does not exist")
    raw = path.read_bytes()
    header_end = len(_MAGIC) + 65
    if not raw.startswith(_MAGIC) or len(raw) < header_end:
        raise _damaged(
            path, f"is not an mde_pyg checkpoint or is truncated ({len(raw)} bytes)"
        )
    expected = raw[len(_MAGIC) : header_end - 1].decode(errors="replace")
    payload = raw[header_end:]
    if hashlib.sha256(payload).hexdigest() != expected:
        raise _damaged(
            path,
            f"is corrupt or truncated: checksum mismatch ({len(payload)} payload "
            "bytes)",
        )
    return payload


def load_checkpoint(path: str | Path, map_location: Any = "cpu") -> dict[str, Any]:
    """Reads a checkpoint written by :func:`save_checkpoint`, safely.

    Raises:
        CheckpointError: if the file is missing, was not written by
            :func:`save_checkpoint`, its content does not match its checksum
            (truncated or corrupt), or it holds anything but tensors and
            plain Python data (which is refused, never unpickled).
    """
    path = Path(path)
    payload = _verified_payload(path)
    try:
        return torch.load(
            io.BytesIO(payload), map_location=map_location, weights_only=True
        )
    except pickle.UnpicklingError as error:
        raise CheckpointError(
            f"Checkpoint '{path}' holds objects other than tensors and plain "
            f"Python data and was refused, not loaded (loading it could run "
            f"code): {load_error_reason(error)}"
        ) from None


def recover_checkpoint(path: str | Path) -> Path | None:
    """Returns ``path`` if it exists, else restores it after a crash inside
    :func:`save_checkpoint` (or the older two-rename writer): from the
    complete temporary file when its checksum holds (the newest state), else
    from ``<path>.prev`` (one save earlier), with a warning that says which.
    Returns :obj:`None` when there is nothing to recover."""
    path = Path(path)
    if path.is_file():
        return path
    for candidate, what in (
        (temporary_path(path), "the complete temporary file"),
        (previous_path(path), "the previous checkpoint (one save earlier)"),
    ):
        try:
            _verified_payload(candidate)
        except CheckpointError:
            continue
        shutil.copy2(candidate, path)
        warnings.warn(
            f"Checkpoint '{path}' was missing (a crash while it was being "
            f"replaced): recovered it from {what} '{candidate}'",
            stacklevel=2,
        )
        return path
    return None
