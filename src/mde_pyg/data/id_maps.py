r"""The ID maps of an MMRec folder: ``u_id_mapping.csv`` and
``i_id_mapping.csv``, in MMRec's own names and layout.

Each is tab-separated text with a header of two columns, the raw ID first
and the internal ID second (MMRec writes ``user_id\tuserID`` and
``asin\titemID``), one row per user or item. The internal IDs must be
exactly ``0..n-1`` (in any row order) and the raw IDs unique. Raw IDs are
read as text.

Loaded by :func:`~mde_pyg.data.load_mmrec` onto the data as
``data['user'].raw_id`` and ``data['item'].raw_id``: lists of strings,
entry ``i`` the raw ID of internal ID ``i``.
"""

from __future__ import annotations

import csv
from pathlib import Path

from mde_pyg.errors import DatasetError

#: ``{node type: (file name, raw ID column, internal ID column)}``, MMRec's.
ID_MAP_FILES = {
    "user": ("u_id_mapping.csv", "user_id", "userID"),
    "item": ("i_id_mapping.csv", "asin", "itemID"),
}


def id_map_text(node_type: str, raw_ids: list[str]) -> str:
    """The text of the ID map file of :obj:`node_type` (``"user"`` or
    ``"item"``) for ``raw_ids`` (entry ``i`` is the raw ID of internal ID
    ``i``), rows in internal ID order."""
    _, raw_column, internal_column = ID_MAP_FILES[node_type]
    for raw in raw_ids:
        if any(c in str(raw) for c in "\t\r\n"):
            raise DatasetError(
                f"raw {node_type} ID {str(raw)!r} contains a tab or a line break, "
                f"which the tab-separated {ID_MAP_FILES[node_type][0]} cannot hold"
            )
    rows = "".join(f"{raw}\t{i}\n" for i, raw in enumerate(raw_ids))
    return f"{raw_column}\t{internal_column}\n{rows}"


def read_id_map(
    path: str | Path, node_type: str, num_nodes: int | None = None
) -> list[str]:
    """Reads one ID map file and returns the raw IDs in internal ID order.

    Args:
        path (str or Path): The file (``u_id_mapping.csv`` or
            ``i_id_mapping.csv``).
        node_type (str): ``"user"`` or ``"item"``, named in errors.
        num_nodes (int, optional): The number of nodes of that type in the
            dataset. (default: :obj:`None`, the number of rows of the map)

    Raises:
        DatasetError: naming the file, line and value, for a header without
            two columns, a row without two fields, an empty raw ID, an
            internal ID that is not an integer in ``0..num_nodes-1``, a
            duplicate raw or internal ID, or a row count other than
            :obj:`num_nodes`.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise DatasetError(f"{path}: not readable as UTF-8 text ({error})") from None
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise DatasetError(f"{path}: file is empty (expected a header row)")
    if num_nodes is None:
        num_nodes = sum(1 for line in lines[1:] if line.strip())
    sep = "\t" if "\t" in lines[0] else ","
    reader = csv.reader(lines, delimiter=sep)
    header = next(reader)
    if len(header) != 2:
        raise DatasetError(
            f"{path}: the header must have two columns (raw ID, internal ID), "
            f"got {header}"
        )
    raw_ids: list[str | None] = [None] * num_nodes
    seen: dict[str, int] = {}
    rows = 0
    for line_no, row in enumerate(reader, start=2):
        if not row or not "".join(row).strip():
            continue
        if len(row) != 2:
            raise DatasetError(
                f"{path}: line {line_no} has {len(row)} fields, expected 2 ({header})"
            )
        raw, internal = row[0].strip(), row[1].strip()
        if not raw:
            raise DatasetError(
                f"{path}: line {line_no} has an empty raw {node_type} ID"
            )
        try:
            index = int(internal)
        except ValueError:
            index = -1
        if not 0 <= index < num_nodes:
            raise DatasetError(
                f"{path}: line {line_no}: internal {node_type} ID {internal!r} is "
                f"not an integer in 0..{num_nodes - 1} (the dataset has "
                f"{num_nodes} {node_type}s)"
            )
        if raw in seen:
            raise DatasetError(
                f"{path}: line {line_no}: raw {node_type} ID {raw!r} is mapped "
                f"twice (first at line {seen[raw]})"
            )
        if raw_ids[index] is not None:
            raise DatasetError(
                f"{path}: line {line_no}: internal {node_type} ID {index} is "
                "mapped twice"
            )
        seen[raw] = line_no
        raw_ids[index] = raw
        rows += 1
    if rows != num_nodes:
        missing = raw_ids.index(None)
        raise DatasetError(
            f"{path}: {rows} rows but the dataset has {num_nodes} {node_type}s "
            f"(no row for internal ID {missing}): the map must name every "
            f"{node_type} once"
        )
    return raw_ids  # type: ignore[return-value]
