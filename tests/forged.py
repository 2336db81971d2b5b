"""What an attacker would put in a run folder or a cache: files that run code
when unpickled, with every checksum our loaders verify recomputed."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import torch

from mde_pyg.training.checkpoint import _MAGIC


class MarkerPayload:
    """Unpickling it creates ``path`` (standing in for any code)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (exec, (f"open({str(self.path)!r}, 'w').close()",))


def marker_payload(path: Path) -> MarkerPayload:
    return MarkerPayload(path)


def forge_checkpoint(path: Path, state: Any) -> None:
    """Writes ``state`` in the checkpoint format, checksum included."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getvalue()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        _MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload
    )
