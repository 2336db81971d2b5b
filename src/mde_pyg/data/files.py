"""Content digests of files, the keys that tell whether a cached or
prepared output is still the one its inputs make."""

from __future__ import annotations

import hashlib
from pathlib import Path

from mde_pyg.errors import DatasetError


def file_digest(path: str | Path, algorithm: str = "sha1") -> str:
    """Returns the hex digest of a file's content, streamed in 1 MiB blocks
    so that large feature files are never held in memory at once.

    Args:
        path (str or Path): The file.
        algorithm (str, optional): A :mod:`hashlib` algorithm.
            (default: :obj:`"sha1"`)

    Raises:
        DatasetError: if the file cannot be read.
    """
    digest = hashlib.new(algorithm)
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except OSError as error:  # missing, a directory, no permission
        raise DatasetError(f"{path}: cannot read ({error.strerror or error})") from None
    return digest.hexdigest()
