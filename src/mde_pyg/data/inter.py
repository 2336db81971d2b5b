"""Reading and writing MMRec ``.inter`` interaction files: tab-separated with
a header; columns ``userID``, ``itemID`` and ``x_label`` (``0`` train, ``1``
validation, ``2`` test) required, others such as ``rating`` and
``timestamp`` ignored."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from itertools import repeat
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from mde_pyg.errors import DatasetError

REQUIRED_COLUMNS = ("userID", "itemID", "x_label")
_INT64 = np.iinfo(np.int64)

#: MMRec IDs are remapped to ``0..n-1``, and every ID up to the largest
#: becomes a node, so :func:`read_inter` checks ``max ID + 1`` against the
#: number of distinct IDs of each column once it exceeds this floor (below
#: it, a few spare nodes cost nothing and hand-written toy files stay quiet).
SPARSE_ID_FLOOR = 1_000
#: ``max ID + 1`` above this many times the distinct IDs gets a warning: most
#: nodes would have no interaction, as with IDs that were never remapped, or
#: a typo in one ID.
SPARSE_ID_WARN_RATIO = 10
#: ``max ID + 1`` above this many times the distinct IDs is an error: no
#: remapped dataset is that sparse, and huge IDs would otherwise only fail in
#: the allocator.
SPARSE_ID_ERROR_RATIO = 1_000


def parse_int_column(
    source: object,
    column: str,
    values: Sequence[str],
    line_of: Callable[[int], int],
) -> np.ndarray:
    """Converts the strings of one column to ``int64``.

    Args:
        source (object): The file (or input) named in errors.
        column (str): The column named in errors.
        values (list of str): The column's values.
        line_of (callable): Maps a row index to the line number named in
            errors.

    Raises:
        DatasetError: naming the first value that is not an integer in the
            ``int64`` range, and its line.
    """
    try:
        return np.array(values, dtype=np.int64)
    except (ValueError, OverflowError):
        pass
    # Slow path, only reached for a bad file: find the value to report.
    for row, value in enumerate(values):
        try:
            in_range = _INT64.min <= int(value) <= _INT64.max
        except ValueError:
            raise DatasetError(
                f"{source}: column '{column}' has non-integer value {value!r} at "
                f"line {line_of(row)}"
            ) from None
        if not in_range:
            raise DatasetError(
                f"{source}: column '{column}' has value {value!r} at line "
                f"{line_of(row)}, outside the 64-bit integer range"
            )
    raise AssertionError("unreachable: every value converts on its own")


def check_id_range(
    source: object,
    column: str,
    ids: np.ndarray,
    line_of: Callable[[int], int],
) -> None:
    """Checks that non-negative IDs are about as dense as remapped
    (``0..n-1``) IDs, since ``max ID + 1`` nodes are allocated for them.

    Args:
        source (object): The file (or input) named in errors.
        column (str): The column named in errors.
        ids (np.ndarray): ``[E]`` non-negative IDs.
        line_of (callable): Maps a row index to the line number named in
            errors.

    Raises:
        DatasetError: if ``max ID + 1`` exceeds :data:`SPARSE_ID_FLOOR` and
            :data:`SPARSE_ID_ERROR_RATIO` times the number of distinct IDs,
            naming the largest ID and its line. Above
            :data:`SPARSE_ID_WARN_RATIO` times, a :class:`UserWarning` says
            the same.
    """
    row = int(ids.argmax())
    size = int(ids[row]) + 1
    if size <= SPARSE_ID_FLOOR:
        return
    if size <= SPARSE_ID_WARN_RATIO * ids.size:
        # Distinct IDs never outnumber the rows, so this mask costs at most a
        # few bytes per row, and it is far faster than sorting.
        seen = np.zeros(size, dtype=bool)
        seen[ids] = True
        distinct = int(np.count_nonzero(seen))
    else:  # sparse for sure: sort, not allocate
        distinct = np.unique(ids).size
    if size <= SPARSE_ID_WARN_RATIO * distinct:
        return
    where = (
        f"{source}: column '{column}' has value {size - 1} at line "
        f"{line_of(row)} but only {distinct} distinct IDs"
    )
    if size > SPARSE_ID_ERROR_RATIO * distinct:
        raise DatasetError(
            f"{where}, so {size} nodes would be allocated, over "
            f"{SPARSE_ID_ERROR_RATIO} per ID (the MMRec format requires IDs "
            "remapped to 0..n-1)"
        )
    warnings.warn(
        f"{where}, so most of the {size} nodes have no interaction: are the "
        "IDs 0-based and contiguous? (the MMRec format requires IDs remapped "
        "to 0..n-1)",
        stacklevel=3,
    )


def first_pair_mask(user: np.ndarray, item: np.ndarray) -> np.ndarray:
    """The boolean mask of the rows that are the first occurrence of their
    ``(user, item)`` pair.

    Args:
        user (np.ndarray): ``[E]`` non-negative user IDs.
        item (np.ndarray): ``[E]`` non-negative item IDs.
    """
    # Both sorts are stable, so the first row of each group of equal pairs is
    # the earliest one in the input. Sorting one combined key is several
    # times faster than lexsort, but the key overflows for huge IDs.
    span = int(item.max()) + 1
    if (int(user.max()) + 1) * span - 1 <= _INT64.max:
        order = np.argsort(user * span + item, kind="stable")
    else:
        order = np.lexsort((item, user))
    repeat = (user[order][1:] == user[order][:-1]) & (
        item[order][1:] == item[order][:-1]
    )
    mask = np.ones(user.size, dtype=bool)
    mask[order[1:][repeat]] = False
    return mask


def _read_lines(path: Path) -> list[str]:
    """The lines of a text file, errors as :class:`DatasetError`."""
    try:
        # "utf-8-sig" drops a byte order mark before the first column name.
        return path.read_text(encoding="utf-8-sig").splitlines()
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found") from None
    except UnicodeDecodeError as error:
        raise DatasetError(f"{path}: not a UTF-8 text file ({error})") from None
    except OSError as error:  # a directory, no permission, an I/O error
        raise DatasetError(f"{path}: cannot read ({error.strerror or error})") from None


def _read_header(path: Path, lines: list[str]) -> list[str]:
    """The column names of the first line, which must name every one of
    :data:`REQUIRED_COLUMNS`."""
    if not lines or not lines[0].strip():
        raise DatasetError(
            f"{path}: file is empty (expected a header with {list(REQUIRED_COLUMNS)})"
        )
    header = [name.strip() for name in lines[0].split("\t")]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise DatasetError(
            f"{path}: missing required column '{missing[0]}' (found columns: "
            f"{header}; the file must be tab-separated)"
        )
    return header


def _data_rows(
    path: Path, header: list[str], rows: list[str]
) -> tuple[list[str], Callable[[int], int]]:
    """The rows after the header without blank lines, and the map from a
    row index to its line number (for errors)."""
    # One pass finds both blank lines (skipped) and lines with the wrong
    # number of fields (an error): both have an unexpected tab count.
    num_tabs = np.fromiter(map(str.count, rows, repeat("\t")), np.int64, len(rows))
    odd = np.flatnonzero(num_tabs != len(header) - 1).tolist()
    for r in odd:
        if rows[r].strip():
            raise DatasetError(
                f"{path}: line {r + 2} has {num_tabs[r] + 1} fields, "
                f"expected {len(header)} ({header})"
            )
    line_numbers = None
    if odd:
        blank = set(odd)
        line_numbers = [r + 2 for r in range(len(rows)) if r not in blank]
        rows = [rows[n - 2] for n in line_numbers]
    if not rows:
        raise DatasetError(f"{path}: no interaction rows after the header")

    def line_of(row: int) -> int:
        return row + 2 if line_numbers is None else line_numbers[row]

    return rows, line_of


def _check_ids(
    path: Path, column: str, ids: np.ndarray, line_of: Callable[[int], int]
) -> None:
    """Refuses negative IDs: they are 0-based."""
    negative = np.flatnonzero(ids < 0)
    if negative.size:
        row = int(negative[0])
        raise DatasetError(
            f"{path}: column '{column}' has negative value "
            f"{ids[row]} at line {line_of(row)} (IDs are 0-based)"
        )


def _check_labels(path: Path, label: np.ndarray, line_of: Callable[[int], int]) -> None:
    """Refuses an ``x_label`` other than ``0``, ``1`` or ``2``."""
    invalid = np.flatnonzero((label < 0) | (label > 2))
    if invalid.size:
        row = int(invalid[0])
        raise DatasetError(
            f"{path}: column 'x_label' has value {label[row]} at line "
            f"{line_of(row)} (expected 0 = train, 1 = validation, 2 = test)"
        )


def read_inter(path: str | Path) -> tuple[Tensor, Tensor, Tensor]:
    """Reads an MMRec ``.inter`` file and returns ``(user, item, label)``
    ``int64`` tensors.

    The file is tab-separated with a header that contains ``userID``,
    ``itemID`` and ``x_label`` (other columns are ignored). Blank lines are
    skipped. Duplicate ``(userID, itemID)`` rows are dropped (the first is
    kept) with a :class:`UserWarning` that says how many.

    IDs must be remapped to ``0..n-1``, since ``max ID + 1`` nodes are
    allocated per column: once that exceeds :data:`SPARSE_ID_FLOOR` (1000),
    more than :data:`SPARSE_ID_WARN_RATIO` (10) times the number of distinct
    IDs gets a :class:`UserWarning` and more than
    :data:`SPARSE_ID_ERROR_RATIO` (1000) times an error (see
    :func:`check_id_range`).

    Args:
        path (str or Path): The ``.inter`` file.

    Raises:
        DatasetError: for a missing, unreadable or empty file, a missing
            column, a line with the wrong number of fields, a non-integer,
            negative or far too sparse ID, or an ``x_label`` other than
            ``0``, ``1`` or ``2``; the message names the file, the column and
            the offending value with its line.
    """
    path = Path(path)
    lines = _read_lines(path)
    header = _read_header(path, lines)
    rows, line_of = _data_rows(path, header, lines[1:])
    fields = "\t".join(rows).split("\t")
    columns = {
        c: parse_int_column(path, c, fields[header.index(c) :: len(header)], line_of)
        for c in REQUIRED_COLUMNS
    }
    for column in ("userID", "itemID"):
        _check_ids(path, column, columns[column], line_of)
        check_id_range(path, column, columns[column], line_of)
    _check_labels(path, columns["x_label"], line_of)

    user, item, label = columns["userID"], columns["itemID"], columns["x_label"]
    first = first_pair_mask(user, item)
    if not first.all():
        warnings.warn(
            f"{path}: dropped {int((~first).sum())} duplicate (userID, itemID) "
            "rows, keeping the first occurrence of each pair",
            stacklevel=2,
        )
        user, item, label = user[first], item[first], label[first]
    return torch.from_numpy(user), torch.from_numpy(item), torch.from_numpy(label)


def write_inter(
    path: str | Path,
    user: Tensor | np.ndarray,
    item: Tensor | np.ndarray,
    label: Tensor | np.ndarray,
) -> None:
    """Writes ``(user, item, label)`` as an MMRec ``.inter`` file with the
    header ``userID itemID x_label``, readable by :func:`read_inter`.

    Args:
        path (str or Path): The file to write.
        user (torch.Tensor or np.ndarray): ``[E]`` user IDs.
        item (torch.Tensor or np.ndarray): ``[E]`` item IDs.
        label (torch.Tensor or np.ndarray): ``[E]`` split of each row
            (``0`` train, ``1`` validation, ``2`` test).
    """
    columns = [
        torch.as_tensor(c, device="cpu").reshape(-1).tolist()
        for c in (user, item, label)
    ]
    if not len(columns[0]) == len(columns[1]) == len(columns[2]):
        raise ValueError(
            f"user, item and label must have the same length, got "
            f"{[len(c) for c in columns]}"
        )
    body = "".join(f"{u}\t{i}\t{lab}\n" for u, i, lab in zip(*columns))
    Path(path).write_text("\t".join(REQUIRED_COLUMNS) + "\n" + body)
