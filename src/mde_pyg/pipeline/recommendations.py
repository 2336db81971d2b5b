"""Writing recommendations to a file a person or a program reads."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
from torch import Tensor

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
        missing = [m for m in ("pandas", "pyarrow") if not importlib.util.find_spec(m)]
        if missing:
            raise ImportError(
                f"'{path}': writing .parquet needs pandas and pyarrow "
                f"({' and '.join(missing)} not installed: pip install pandas "
                "pyarrow), or write .csv or .jsonl"
            )
    return OUTPUT_FORMATS[suffix]


def write_recommendations(
    path: str | Path, users: Tensor, items: Tensor, scores: Tensor
) -> int:
    r"""Writes recommendations (as returned by :func:`recommend_from_embeddings`)
    to :obj:`path`, in the format of its suffix:

    * ``.csv``: header ``user,rank,item,score``, one row per recommended
      item, ``rank`` from 1;
    * ``.jsonl``: one ``{"user": u, "items": [...], "scores": [...]}`` object
      per user, best first;
    * ``.parquet`` (needs pandas and pyarrow): the rows of the ``.csv``.

    Padding (item ``-1``) is not written, so a user with fewer than
    :math:`K` recommendable items has fewer rows. Scores are written with
    the shortest decimal form that reads back to the same ``float32``.

    Args:
        path (str or Path): Output file.
        users (torch.Tensor): ``[B]`` user ids.
        items (torch.Tensor): ``[B, K]`` item ids, ``-1`` for padding.
        scores (torch.Tensor): ``[B, K]`` scores.

    Returns:
        int: the number of (user, item) recommendations written.
    """
    fmt = output_format(path)
    path = Path(path)
    users = users.cpu().numpy()
    items = items.cpu().numpy()
    scores = scores.float().cpu().numpy()
    keep = items >= 0
    ranks = np.broadcast_to(np.arange(1, items.shape[1] + 1), items.shape)
    row_user = np.broadcast_to(users[:, None], items.shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        import pandas as pd

        pd.DataFrame(
            {
                "user": row_user[keep],
                "rank": ranks[keep],
                "item": items[keep],
                "score": scores[keep],
            }
        ).to_parquet(path, index=False)
        return int(keep.sum())
    text = scores.astype(str)  # shortest round-trip float32 decimals
    with open(path, "w", newline="") as f:
        if fmt == "csv":
            f.write("user,rank,item,score\n")
            f.writelines(
                f"{u},{r},{i},{s}\n"
                for u, r, i, s in zip(
                    row_user[keep].tolist(),
                    ranks[keep].tolist(),
                    items[keep].tolist(),
                    text[keep].tolist(),
                )
            )
        else:
            for u, row_items, row_text, row_keep in zip(
                users.tolist(), items.tolist(), text.tolist(), keep
            ):
                n = int(row_keep.sum())
                record = {
                    "user": u,
                    "items": row_items[:n],
                    "scores": [float(s) for s in row_text[:n]],
                }
                f.write(json.dumps(record) + "\n")
    return int(keep.sum())
