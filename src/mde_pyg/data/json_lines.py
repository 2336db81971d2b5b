"""Reading JSON-lines files: one JSON object per line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mde_pyg.errors import DatasetError


def read_json_lines(path: str | Path) -> list[tuple[int, dict[str, Any]]]:
    """The objects of a JSON-lines file with their line numbers (from 1;
    blank lines are skipped, a leading byte-order mark is ignored).

    Raises:
        DatasetError: naming the file and line, for text that is not UTF-8,
            a line that is not valid JSON or not a JSON object.
    """
    rows = []
    try:
        with open(path, encoding="utf-8-sig") as f:
            for line, content in enumerate(f, start=1):
                if not content.strip():
                    continue
                try:
                    row = json.loads(content)
                except json.JSONDecodeError as error:
                    raise DatasetError(
                        f"'{path}' line {line}: invalid JSON ({error})"
                    ) from error
                if not isinstance(row, dict):
                    raise DatasetError(f"'{path}' line {line}: expected a JSON object")
                rows.append((line, row))
    except UnicodeDecodeError as error:
        raise DatasetError(f"'{path}': not readable as UTF-8 text ({error})") from None
    return rows
