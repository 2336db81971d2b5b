"""Atomic, verified checkpoints: a crash mid-write never destroys the last
good checkpoint, and a damaged file is reported, not half-loaded."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from typing import Any

import torch

_MAGIC = b"MDEPYGCK1\n"


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, truncated or corrupt."""


def save_checkpoint(state: dict[str, Any], path: str | Path) -> None:
    """Writes ``state`` to ``path`` atomically: to a temporary file in the same
    folder, flushed and fsync'ed, then renamed over ``path``; the file it
    replaces is kept as ``<path>.prev``. The payload is preceded by its
    SHA-256 so that :func:`load_checkpoint` detects truncation and
    corruption."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getvalue()
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(_MAGIC)
        f.write(hashlib.sha256(payload).hexdigest().encode() + b"\n")
        f.write(payload)
        f.flush()
        os.fsync(f.fileno())
    if path.exists():
        os.replace(path, previous_path(path))
    os.replace(tmp, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def previous_path(path: Path) -> Path:
    """Where :func:`save_checkpoint` keeps the checkpoint it replaced."""
    return path.with_name(path.name + ".prev")


def _damaged(path: Path, problem: str) -> CheckpointError:
    message = f"Checkpoint '{path}' {problem}"
    previous = previous_path(path)
    if previous.is_file():
        message += (
            f". The previous checkpoint '{previous}' was kept: move it to "
            f"'{path}' to resume from one epoch earlier"
        )
    return CheckpointError(message)


def load_checkpoint(path: str | Path, map_location: Any = "cpu") -> dict[str, Any]:
    """Reads a checkpoint written by :func:`save_checkpoint`.

    Raises:
        CheckpointError: if the file is missing, was not written by
            :func:`save_checkpoint`, or its content does not match its
            checksum (truncated or corrupt).
    """
    path = Path(path)
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
    return torch.load(
        io.BytesIO(payload), map_location=map_location, weights_only=False
    )
