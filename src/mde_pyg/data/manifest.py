r"""A folder whose files are made by named steps, each skipped when its
outputs exist and its input key (content hashes and parameters) is the one
recorded in the folder's ``manifest.json``, the machine-readable provenance
of the folder (per step: the input key and inputs, the outputs' digests and
the facts the step returned). Outputs are written to a temporary folder
first and moved in place, so an interrupted step leaves no partial file."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mde_pyg.data.files import file_digest

MANIFEST = "manifest.json"


def write_atomic(path: Path, text: str) -> None:
    """Writes ``text`` to ``path`` through a temporary file beside it, so a
    reader sees the old or the new content, never a part."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def save_array_atomic(path: Path, array: np.ndarray) -> None:
    """:func:`numpy.save` of ``array`` to ``path`` through a temporary file
    beside it, as :func:`write_atomic` writes text."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        np.save(f, array)
    os.replace(tmp, path)


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The ``manifest.json`` of folder ``path`` (``{step: record}``), or an
    empty dictionary if it has none."""
    manifest = Path(path) / MANIFEST
    return json.loads(manifest.read_text()) if manifest.is_file() else {}


class Folder:
    r"""A dataset folder whose files are made by named steps (see the
    module's description).

    Args:
        path (Path): The folder (created if missing).
        log (callable, optional): Receives one line per step (up to date,
            or done with its facts). (default: :obj:`None`, silent)
    """

    def __init__(self, path: Path, log: Callable[[str], None] | None = None) -> None:
        self.path = path
        self.log = log if log is not None else _silent
        self.path.mkdir(parents=True, exist_ok=True)
        self.manifest = read_manifest(path)
        self.built: list[str] = []

    def run(
        self,
        step: str,
        inputs: dict[str, Any],
        outputs: list[str],
        build: Callable[[Path], dict[str, Any]],
    ) -> dict[str, Any]:
        """Runs ``build(tmp_dir)`` (which writes ``outputs`` into ``tmp_dir``
        and returns facts to record) unless the step is up to date, and
        returns the recorded facts."""
        key = hashlib.sha1(json.dumps(inputs, sort_keys=True).encode()).hexdigest()
        entry = self.manifest.get(step)
        if (
            entry
            and entry["key"] == key
            and all((self.path / o).is_file() for o in outputs)
        ):
            self.log(f"{self.path.name}/{step}: up to date")
            return entry["info"]
        start = time.perf_counter()
        with tempfile.TemporaryDirectory(dir=self.path, prefix=".tmp_") as tmp:
            info = build(Path(tmp))
            for name in outputs:
                os.replace(Path(tmp) / name, self.path / name)
        info["seconds"] = round(time.perf_counter() - start, 1)
        self.manifest[step] = {
            "key": key,
            "inputs": inputs,
            "outputs": {name: file_digest(self.path / name) for name in outputs},
            "info": info,
        }
        write_atomic(self.path / MANIFEST, json.dumps(self.manifest, indent=2))
        self.built.append(step)
        self.log(f"{self.path.name}/{step}: done in {info['seconds']}s {info}")
        return info


def _silent(line: str) -> None:
    pass
