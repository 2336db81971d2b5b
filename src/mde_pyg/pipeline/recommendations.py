"""Writing recommendations to a file a person or a program reads, or as a
table for standard output."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from torch import Tensor

from mde_pyg.data.raw import require_parquet

#: File suffixes :func:`write_recommendations` writes, and their format.
OUTPUT_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".parquet": "parquet"}


def output_format(path: str | Path) -> str:
    """The format :func:`write_recommendations` writes to :obj:`path`, from
    its suffix.

    Raises:
        ValueError: for a suffix other than ``.csv``, ``.jsonl`` or
            ``.parquet``.
        ImportError: for ``.parquet`` when pandas or pyarrow is missing.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        raise ValueError(
            f"'{path}': the output must end in {', '.join(OUTPUT_FORMATS)} "
            f"(got {suffix or 'no suffix'!r})"
        )
    if OUTPUT_FORMATS[suffix] == "parquet":
        require_parquet(
            f"'{path}': writing .parquet", "write .csv or .jsonl", ImportError
        )
    return OUTPUT_FORMATS[suffix]


def _raw(ids: Sequence[str] | None, index: np.ndarray) -> list[str] | None:
    """The raw IDs of internal IDs ``index`` (:obj:`None` without a map)."""
    return None if ids is None else [ids[i] for i in index.tolist()]


def format_recommendations(
    users: Tensor,
    items: Tensor,
    scores: Tensor,
    user_ids: Sequence[str] | None = None,
    item_ids: Sequence[str] | None = None,
) -> str:
    """Recommendations as a table a person reads (or a program splits on
    runs of spaces): a header ``user rank item score``, with
    ``raw_user`` and ``raw_item`` columns beside the internal ones when the
    maps are given, one row per recommended item, columns aligned.

    Args:
        users (torch.Tensor): ``[B]`` user ids.
        items (torch.Tensor): ``[B, K]`` item ids, ``-1`` for padding.
        scores (torch.Tensor): ``[B, K]`` scores.
        user_ids (list of str, optional): Raw ID of each internal user ID.
        item_ids (list of str, optional): Raw ID of each internal item ID.
    """
    header, rows = _rows(users, items, scores, user_ids, item_ids)
    table = [header] + [[str(v) for v in row] for row in rows]
    widths = [max(len(row[c]) for row in table) for c in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
        for row in table
    )


def _rows(
    users: Tensor,
    items: Tensor,
    scores: Tensor,
    user_ids: Sequence[str] | None,
    item_ids: Sequence[str] | None,
) -> tuple[list[str], list[list]]:
    """The header and the rows of the ``.csv`` output."""
    users = users.cpu().numpy()
    items = items.cpu().numpy()
    text = scores.float().cpu().numpy().astype(str)
    keep = items >= 0
    ranks = np.broadcast_to(np.arange(1, items.shape[1] + 1), items.shape)
    row_user = np.broadcast_to(users[:, None], items.shape)[keep]
    row_item = items[keep]
    columns = {"user": row_user.tolist()}
    if user_ids is not None:
        columns["raw_user"] = _raw(user_ids, row_user)
    columns["rank"] = ranks[keep].tolist()
    columns["item"] = row_item.tolist()
    if item_ids is not None:
        columns["raw_item"] = _raw(item_ids, row_item)
    columns["score"] = text[keep].tolist()
    return list(columns), [list(row) for row in zip(*columns.values())]


def write_recommendations(
    path: str | Path,
    users: Tensor,
    items: Tensor,
    scores: Tensor,
    user_ids: Sequence[str] | None = None,
    item_ids: Sequence[str] | None = None,
) -> int:
    r"""Writes recommendations (as returned by :func:`recommend_from_embeddings`)
    to :obj:`path`, in the format of its suffix:

    * ``.csv``: header ``user,rank,item,score``, one row per recommended
      item, ``rank`` from 1;
    * ``.jsonl``: one ``{"user": u, "items": [...], "scores": [...]}`` object
      per user, best first;
    * ``.parquet`` (needs pandas and pyarrow): the rows of the ``.csv``.

    With ID maps (:obj:`user_ids`, :obj:`item_ids`), the raw IDs are written
    beside the internal ones: columns ``raw_user`` and ``raw_item`` of the
    ``.csv`` and ``.parquet`` rows (``user,raw_user,rank,item,raw_item,score``),
    keys ``raw_user`` and ``raw_items`` of the ``.jsonl`` objects.

    Padding (item ``-1``) is not written, so a user with fewer than
    :math:`K` recommendable items has fewer rows. Scores are written with
    the shortest decimal form that reads back to the same ``float32``.

    Args:
        path (str or Path): Output file.
        users (torch.Tensor): ``[B]`` user ids.
        items (torch.Tensor): ``[B, K]`` item ids, ``-1`` for padding.
        scores (torch.Tensor): ``[B, K]`` scores.
        user_ids (list of str, optional): Raw ID of each internal user ID.
            (default: :obj:`None`)
        item_ids (list of str, optional): Raw ID of each internal item ID.
            (default: :obj:`None`)

    Returns:
        int: the number of (user, item) recommendations written.
    """
    fmt = output_format(path)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt in ("csv", "parquet"):
        header, rows = _rows(users, items, scores, user_ids, item_ids)
        if fmt == "parquet":
            import pandas as pd

            frame = pd.DataFrame(rows, columns=header)
            frame["score"] = frame["score"].astype(np.float32)
            frame.to_parquet(path, index=False)
            return len(rows)
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        path.write_text(buffer.getvalue())
        return len(rows)
    users = users.cpu().numpy()
    items = items.cpu().numpy()
    text = scores.float().cpu().numpy().astype(str)  # shortest float32 decimals
    keep = items >= 0
    with open(path, "w", newline="") as f:
        for u, row_items, row_text, row_keep in zip(
            users.tolist(), items.tolist(), text.tolist(), keep
        ):
            n = int(row_keep.sum())
            record = {"user": u}
            if user_ids is not None:
                record["raw_user"] = user_ids[u]
            record["items"] = row_items[:n]
            if item_ids is not None:
                record["raw_items"] = [item_ids[i] for i in row_items[:n]]
            record["scores"] = [float(s) for s in row_text[:n]]
            f.write(json.dumps(record) + "\n")
    return int(keep.sum())
