r"""From raw interaction logs to a split dataset: :math:`k`-core filtering,
re-indexing and the published random per-user split."""

from __future__ import annotations

import csv
import importlib.util
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from mde_pyg.data.hetero import build_heterodata
from mde_pyg.data.inter import first_pair_mask
from mde_pyg.data.json_lines import read_json_lines
from mde_pyg.errors import DatasetError

_TAB_SUFFIXES = (".tsv", ".tab", ".inter")


def k_core_filter(user: Tensor, item: Tensor, k: int = 5) -> Tensor:
    r"""Returns the mask of interactions that survive iterative :math:`k`-core
    filtering: every remaining user and item has at least ``k``
    interactions. Each round drops all users and items below ``k`` at once,
    until nothing changes (removing an item can push a user below ``k`` and
    vice versa). Duplicate pairs count as often as they occur.

    Args:
        user (torch.Tensor): ``[E]`` user indices (``0..num_users-1``).
        item (torch.Tensor): ``[E]`` item indices.
        k (int, optional): Minimum degree. (default: :obj:`5`)
    """
    keep = torch.ones(user.numel(), dtype=torch.bool, device=user.device)
    num_users = int(user.max()) + 1 if user.numel() else 0
    num_items = int(item.max()) + 1 if item.numel() else 0
    while True:
        user_deg = torch.bincount(user[keep], minlength=num_users)
        item_deg = torch.bincount(item[keep], minlength=num_items)
        new_keep = keep & (user_deg[user] >= k) & (item_deg[item] >= k)
        if torch.equal(new_keep, keep):
            return keep
        keep = new_keep


def reindex(values: np.ndarray | Tensor | Sequence) -> tuple[Tensor, np.ndarray]:
    """Maps arbitrary IDs (integers or strings) to ``0..n-1`` in sorted order.

    Args:
        values (np.ndarray, torch.Tensor or list): ``[E]`` IDs.

    Returns:
        ``(new_ids, mapping)``: the ``[E]`` ``int64`` new IDs, and the
        ``[n]`` array of original IDs with ``mapping[new_ids] == values``.
    """
    mapping, inverse = np.unique(np.asarray(values), return_inverse=True)
    return torch.from_numpy(inverse.reshape(-1).astype(np.int64)), mapping


def split_per_user(
    user: Tensor,
    num_users: int,
    seed: int | torch.Generator = 0,
    timestamp: Tensor | None = None,
) -> Tensor:
    r"""The published per-user split (MMRec): returns per interaction ``0``
    (train), ``1`` (validation) or ``2`` (test).

    A user with :math:`n < 10` interactions gets :math:`n-2`, 1 and 1;
    otherwise :math:`v = \lfloor 0.2 n \rfloor` are held out, :math:`\lfloor
    v/2 \rfloor` for validation and the rest for test. Which interactions
    are held out is random (the published rule), or, with ``timestamp``, the
    latest ones: test the very latest, validation those just before (ties in
    time are broken at random).

    Vectorised: a random permutation, stably sorted by user, gives every
    interaction a random rank within its user.

    Args:
        user (torch.Tensor): ``[E]`` user index of each interaction.
        num_users (int): Number of users.
        seed (int or torch.Generator, optional): Seed of the random
            assignment, or a generator to draw it from. (default: :obj:`0`)
        timestamp (torch.Tensor, optional): ``[E]`` time of each
            interaction, for a chronological split. (default: :obj:`None`)

    Raises:
        DatasetError: if a user has 1 or 2 interactions, too few to give one
            to each split.
    """
    generator = seed
    if not isinstance(generator, torch.Generator):
        generator = torch.Generator().manual_seed(int(seed))
    count = torch.bincount(user, minlength=num_users)
    too_few = torch.nonzero((count > 0) & (count < 3)).view(-1)
    if too_few.numel():
        bad = int(too_few[0])
        raise DatasetError(
            f"user {bad} has {int(count[bad])} interactions (and {too_few.numel()} "
            "users have fewer than 3): the per-user split needs at least 3 "
            "(apply k-core filtering with k >= 3)"
        )
    order = torch.randperm(user.numel(), generator=generator, device=generator.device)
    if timestamp is not None:
        # Latest first; the stable sort keeps the random order among ties.
        time = torch.as_tensor(timestamp, device=order.device)[order]
        order = order[time.sort(stable=True, descending=True).indices]
    order = order[user[order].sort(stable=True).indices]
    start = torch.cumsum(count, 0) - count
    rank = torch.empty_like(user)
    rank[order] = torch.arange(user.numel(), device=user.device) - start[user[order]]
    return label_by_rank(user, rank, count, test_first=timestamp is not None)


def label_by_rank(
    user: Tensor, rank: Tensor, count: Tensor, test_first: bool = False
) -> Tensor:
    r"""The labels of the published per-user split (see
    :func:`split_per_user`), given the rank of every interaction within its
    user: ``0`` (train), ``1`` (validation) or ``2`` (test).

    A user with :math:`n < 10` interactions holds out 1 for validation and 1
    for test; otherwise :math:`v = \lfloor 0.2 n \rfloor`, :math:`\lfloor
    v/2 \rfloor` for validation and the rest for test. The lowest ranks are
    held out: validation then test, or with :obj:`test_first` test then
    validation.

    Args:
        user (torch.Tensor): ``[E]`` user index of each interaction.
        rank (torch.Tensor): ``[E]`` rank of each interaction within its
            user, ``0..n-1``.
        count (torch.Tensor): ``[num_users]`` interactions per user.
        test_first (bool, optional): Hold out test before validation.
            (default: :obj:`False`)
    """
    held_out = count // 5  # int(0.2 n), exact in integers
    num_val = torch.where(count < 10, 1, held_out // 2)
    num_test = torch.where(count < 10, 1, held_out - held_out // 2)
    blocks = ((1, num_val), (2, num_test))
    if test_first:
        blocks = blocks[::-1]
    label = torch.zeros_like(user)
    end = torch.zeros_like(count)
    for value, size in blocks:
        begin, end = end, end + size
        label[(rank >= begin[user]) & (rank < end[user])] = value
    return label


def _detect_sep(path: Path, header: str) -> str:
    """Tab for ``.tsv``/``.tab``/``.inter``, comma for ``.csv``, otherwise
    tab if the header has one, else comma."""
    if path.suffix.lower() in _TAB_SUFFIXES:
        return "\t"
    if path.suffix.lower() == ".csv":
        return ","
    return "\t" if "\t" in header else ","


def _read_columns(
    path: Path, columns: list[str], sep: str | None
) -> tuple[dict[str, list[str]], list[int]]:
    """Reads ``columns`` of a delimited text file with a header; returns
    their values and the line number of every row (for errors)."""
    if not path.is_file():
        raise DatasetError(f"{path}: file not found")
    try:
        return _read_rows(path, columns, sep)
    except (UnicodeDecodeError, csv.Error) as error:
        raise DatasetError(
            f"{path}: not readable as delimited text ({error})"
        ) from None
    except OSError as error:  # no permission, an I/O error
        raise DatasetError(f"{path}: cannot read ({error.strerror or error})") from None


def _read_rows(
    path: Path, columns: list[str], sep: str | None
) -> tuple[dict[str, list[str]], list[int]]:
    # "utf-8-sig" drops the byte order mark that spreadsheet exports start
    # with, which would otherwise be glued to the first column name.
    with open(path, newline="", encoding="utf-8-sig") as f:
        first_line = f.readline()
        f.seek(0)
        reader = csv.reader(f, delimiter=sep or _detect_sep(path, first_line))
        header = [name.strip() for name in next(reader, [])]
        if not any(header):
            raise DatasetError(f"{path}: file is empty (expected a header row)")
        missing = [c for c in columns if c not in header]
        if missing:
            raise DatasetError(
                f"{path}: missing column '{missing[0]}' (found columns: {header})"
            )
        positions = [header.index(c) for c in columns]
        values: list[list[str]] = [[] for _ in columns]
        lines = []
        for row in reader:
            if not row:  # a blank line
                continue
            if len(row) != len(header):
                raise DatasetError(
                    f"{path}: line {reader.line_num} has {len(row)} fields, "
                    f"expected {len(header)} ({header})"
                )
            for column, position, column_values in zip(columns, positions, values):
                value = row[position].strip()
                if not value:
                    raise DatasetError(
                        f"{path}: column '{column}' has an empty value at line "
                        f"{reader.line_num}"
                    )
                column_values.append(value)
            lines.append(reader.line_num)
    if not lines:
        raise DatasetError(f"{path}: no interaction rows after the header")
    return dict(zip(columns, values)), lines


def _check_arrays(
    source: str,
    arrays: Mapping[str, Sequence],
    user_column: str,
    item_column: str,
    timestamp_column: str | None,
) -> dict[str, np.ndarray]:
    """Picks the columns out of in-memory arrays, checking that they exist,
    are 1-D, non-empty and of equal length."""
    columns = [user_column, item_column]
    if timestamp_column is not None:
        columns.append(timestamp_column)
    missing = [c for c in columns if c not in arrays]
    if missing:
        raise DatasetError(
            f"{source}: missing column '{missing[0]}' (found columns: {list(arrays)})"
        )
    table = {c: np.asarray(arrays[c]) for c in columns}
    shapes = {c: values.shape for c, values in table.items()}
    if any(len(shape) != 1 for shape in shapes.values()) or (
        len(set(shapes.values())) > 1
    ):
        raise DatasetError(
            f"{source}: columns {columns} must be 1-D of equal length, got "
            f"shapes {shapes}"
        )
    if not table[user_column].size:
        raise DatasetError(f"{source}: no interactions")
    return table


def parse_numbers(
    source: object, column: str, values: Sequence, lines: list[int] | None
) -> np.ndarray:
    """Converts the values of a column (timestamps, ratings) to ``float64``.

    Args:
        source (object): The file or input they come from, named in errors.
        column (str): The column's name, named in errors.
        values (Sequence): The values.
        lines (list of int, optional): The line of each value, named in
            errors; :obj:`None` names the index.

    Raises:
        DatasetError: naming the first value that is not a finite number.
    """
    try:
        time = np.asarray(values, dtype=np.float64)
    except (ValueError, TypeError):
        time = None
    if time is not None and bool(np.isfinite(time).all()):
        return time
    # tolist() so that the message shows 'x', not np.str_('x').
    for row, value in enumerate(np.asarray(values).tolist()):
        try:
            ok = np.isfinite(float(value))
        except (ValueError, TypeError):
            ok = False
        if not ok:
            where = f"line {lines[row]}" if lines else f"index {row}"
            raise DatasetError(
                f"{source}: column '{column}' has value {value!r} at {where}, "
                "not a finite number"
            )
    raise AssertionError("unreachable: every value converts on its own")


def load_raw_interactions(
    path_or_arrays: str | Path | Mapping[str, Sequence] | Sequence[Sequence],
    user_column: str = "user",
    item_column: str = "item",
    timestamp_column: str | None = None,
    sep: str | None = None,
    k_core: int = 5,
    seed: int = 0,
) -> HeteroData:
    r"""Builds a split dataset from raw ``(user, item)`` interactions:
    duplicate pairs are merged (keeping the earliest when timestamps are
    given), :func:`k_core_filter` is applied, users and items are re-indexed
    to ``0..n-1`` (:func:`reindex`, any ID type) and the interactions are
    split with :func:`split_per_user`.

    The original IDs are kept as ``data['user'].raw_id`` and
    ``data['item'].raw_id`` (arrays; entry ``i`` is the original ID of node
    ``i``), which is what aligns item feature rows with the new item IDs.
    To convert raw data once into an MMRec folder, write the splits with
    :func:`~mde_pyg.data.inter.write_inter`.

    Args:
        path_or_arrays (str, Path, dict or tuple): A CSV/TSV file with a
            header; or a ``{column: values}`` mapping of arrays, read with
            the column arguments; or a ``(user, item)`` or ``(user, item,
            timestamp)`` tuple of arrays.
        user_column (str, optional): User ID column. (default: :obj:`"user"`)
        item_column (str, optional): Item ID column. (default: :obj:`"item"`)
        timestamp_column (str, optional): If set (or if a tuple of three
            arrays is given), the split is chronological per user (the
            latest interactions are held out) instead of random.
            (default: :obj:`None`)
        sep (str, optional): Field separator of the file; by default tab for
            ``.tsv``/``.tab``/``.inter``, comma for ``.csv``, otherwise
            detected from the header. (default: :obj:`None`)
        k_core (int, optional): Minimum interactions per user and item. Must
            be at least 3 unless every user already has 3 interactions,
            since each user needs one train, one validation and one test
            interaction. (default: :obj:`5`)
        seed (int, optional): Seed of the split. (default: :obj:`0`)

    Raises:
        DatasetError: for a missing or malformed file (missing column, wrong
            number of fields, empty ID, non-numeric timestamp), inputs of
            different lengths, no interaction left after filtering, or a
            user left with fewer than 3 interactions.
    """
    source, table, lines, timestamp_column = _interaction_table(
        path_or_arrays, user_column, item_column, timestamp_column, sep
    )
    user, user_ids = reindex(table[user_column])
    item, item_ids = reindex(table[item_column])
    time = None
    if timestamp_column is not None:
        time = parse_numbers(source, timestamp_column, table[timestamp_column], lines)
    user, item, time = _first_pairs(user.numpy(), item.numpy(), time)

    keep = _k_core(source, user, item, k_core)
    user, kept_users = reindex(user[keep])
    item, kept_items = reindex(item[keep])
    num_users, num_items = kept_users.size, kept_items.size
    raw_user_ids, raw_item_ids = user_ids[kept_users], item_ids[kept_items]
    _check_split_sizes(source, user, num_users, raw_user_ids, k_core)
    label = split_per_user(user, num_users, seed, None if time is None else time[keep])
    index = torch.stack([user, item])
    data = build_heterodata(
        num_users, num_items, *(index[:, label == s] for s in range(3))
    )
    data["user"].raw_id = raw_user_ids
    data["item"].raw_id = raw_item_ids
    return data


def _k_core(source: object, user: Tensor, item: Tensor, k_core: int) -> Tensor:
    """:func:`k_core_filter`, refusing to filter out everything."""
    keep = k_core_filter(user, item, k_core)
    if not bool(keep.any()):
        raise DatasetError(
            f"{source}: no interaction survives {k_core}-core filtering "
            f"({user.numel()} unique pairs before)"
        )
    return keep


def _check_split_sizes(
    source: object, user: Tensor, num_users: int, raw_ids: np.ndarray, k_core: int
) -> None:
    """Refuses a user (``raw_ids`` are the original IDs) with fewer than 3
    interactions, too few for the per-user split."""
    count = torch.bincount(user, minlength=num_users)
    if bool((count < 3).any()):
        bad = int(torch.nonzero(count < 3)[0])
        raise DatasetError(
            f"{source}: user '{raw_ids[bad]}' has {int(count[bad])} "
            f"interactions after {k_core}-core filtering, too few to split into "
            "train/validation/test (use k_core >= 3)"
        )


def _interaction_table(
    path_or_arrays: str | Path | Mapping[str, Sequence] | Sequence[Sequence],
    user_column: str,
    item_column: str,
    timestamp_column: str | None,
    sep: str | None,
) -> tuple[object, dict[str, Sequence], list[int] | None, str | None]:
    """The input of :func:`load_raw_interactions` as ``(source, {column:
    values}, line numbers of a file's rows or None, timestamp column)``; a
    tuple of three arrays has the timestamp column ``"timestamp"`` unless
    named."""
    if isinstance(path_or_arrays, str | Path):
        source = Path(path_or_arrays)
        columns = [user_column, item_column]
        if timestamp_column is not None:
            columns.append(timestamp_column)
        table, lines = _read_columns(source, columns, sep)
        return source, table, lines, timestamp_column
    source = "input arrays"
    if not isinstance(path_or_arrays, Mapping):
        if len(path_or_arrays) not in (2, 3):
            raise DatasetError(
                f"{source}: expected (user, item) or (user, item, timestamp) "
                f"arrays, got {len(path_or_arrays)} arrays"
            )
        if len(path_or_arrays) == 3:
            timestamp_column = timestamp_column or "timestamp"
        names = [user_column, item_column, timestamp_column]
        path_or_arrays = dict(zip(names, path_or_arrays))
    table = _check_arrays(
        source, path_or_arrays, user_column, item_column, timestamp_column
    )
    return source, table, None, timestamp_column


def _first_pairs(
    user: np.ndarray, item: np.ndarray, time: np.ndarray | None
) -> tuple[Tensor, Tensor, Tensor | None]:
    """The first occurrence of every ``(user, item)`` pair: the first row,
    or with ``time`` the earliest (the first row among equal times)."""
    if time is None:
        first = first_pair_mask(user, item)
    else:
        # Sorting by time first makes the first occurrence the earliest.
        by_time = np.argsort(time, kind="stable")
        first = np.zeros(user.size, dtype=bool)
        first[by_time[first_pair_mask(user[by_time], item[by_time])]] = True
        time = torch.from_numpy(time[first])
    return torch.from_numpy(user[first]), torch.from_numpy(item[first]), time


#: File suffixes read as JSON lines (one object per line) and as Parquet.
JSON_LINES_SUFFIXES = (".jsonl", ".ndjson", ".json")
PARQUET_SUFFIXES = (".parquet", ".pq")

#: The rule for the order of internal IDs, as :func:`import_interactions`
#: assigns them (and as its manifest states).
ID_ORDER = (
    "internal IDs are 0..n-1 in the order of the raw IDs sorted as text "
    "(Python string order), over the users and items left after filtering"
)


@dataclass
class RawImport:
    """What :func:`import_interactions` made of raw interactions.

    Attributes:
        user (torch.Tensor): ``[E]`` internal user ID of each interaction.
        item (torch.Tensor): ``[E]`` internal item ID.
        label (torch.Tensor): ``[E]`` split (``0`` train, ``1`` validation,
            ``2`` test).
        user_ids (list of str): Entry ``i`` is the raw ID of user ``i``.
        item_ids (list of str): Entry ``i`` is the raw ID of item ``i``.
        counts (dict): What each step kept and dropped (see
            :func:`import_interactions`).
    """

    user: Tensor
    item: Tensor
    label: Tensor
    user_ids: list[str]
    item_ids: list[str]
    counts: dict[str, int] = field(default_factory=dict)


def read_raw_table(
    path: str | Path, columns: list[str], sep: str | None = None
) -> tuple[dict[str, list], list[int] | None]:
    """Reads ``columns`` of an interaction file: delimited text with a header
    (CSV, TSV), JSON lines (``.jsonl``/``.ndjson``/``.json``: one object per
    line) or Parquet (``.parquet``, needs pandas and pyarrow).

    Returns:
        ``({column: values}, lines)``: the values, and the line of each row
        for delimited text and JSON lines (:obj:`None` for Parquet).

    Raises:
        DatasetError: for a missing or malformed file, a missing column or
            value, or Parquet without pandas and pyarrow.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in PARQUET_SUFFIXES:
        return _read_parquet(path, columns), None
    if suffix in JSON_LINES_SUFFIXES:
        return _read_json_lines(path, columns)
    return _read_columns(path, columns, sep)


def require_parquet(what: str, instead: str, error: type[Exception]) -> None:
    """Raises ``error`` (``"<what> needs pandas and pyarrow (...), or
    <instead>"``) unless pandas and pyarrow are installed."""
    missing = [m for m in ("pandas", "pyarrow") if not importlib.util.find_spec(m)]
    if missing:
        raise error(
            f"{what} needs pandas and pyarrow "
            f"({' and '.join(missing)} not installed: pip install pandas "
            f"pyarrow), or {instead}"
        )


def _read_parquet(path: Path, columns: list[str]) -> dict[str, list]:
    if not path.is_file():
        raise DatasetError(f"{path}: file not found")
    require_parquet(f"{path}: reading Parquet", "convert it to CSV", DatasetError)
    import pandas as pd

    try:
        frame = pd.read_parquet(path)
    except Exception as error:  # pyarrow raises its own error types
        raise DatasetError(f"{path}: not a readable Parquet file ({error})") from None
    absent = [c for c in columns if c not in frame.columns]
    if absent:
        raise DatasetError(
            f"{path}: missing column '{absent[0]}' (found columns: "
            f"{list(frame.columns)})"
        )
    if not len(frame):
        raise DatasetError(f"{path}: no interaction rows")
    table = {}
    for column in columns:
        values = frame[column]
        if bool(values.isna().any()):
            row = int(values.isna().to_numpy().nonzero()[0][0])
            raise DatasetError(
                f"{path}: column '{column}' has an empty value at row {row}"
            )
        table[column] = values.tolist()
    return table


def _read_json_lines(path: Path, columns: list[str]) -> tuple[dict[str, list], list]:
    if not path.is_file():
        raise DatasetError(f"{path}: file not found")
    table: dict[str, list] = {c: [] for c in columns}
    lines = []
    for line_no, record in read_json_lines(path):
        for column in columns:
            value = record.get(column)
            if value is None or isinstance(value, (dict, list)) or value == "":
                what = "no" if value is None else f"an unusable ({value!r})"
                raise DatasetError(
                    f"{path}: line {line_no} has {what} value for '{column}' "
                    f"(found keys: {list(record)})"
                )
            table[column].append(value)
        lines.append(line_no)
    if not lines:
        raise DatasetError(f"{path}: no interaction rows")
    return table, lines


def import_interactions(
    path: str | Path,
    user_column: str = "user",
    item_column: str = "item",
    rating_column: str | None = None,
    min_rating: float | None = None,
    timestamp_column: str | None = None,
    sep: str | None = None,
    k_core: int = 5,
    seed: int = 0,
) -> RawImport:
    r"""Turns a file of raw interactions into the rows of an MMRec folder
    and its ID maps (``mde-pyg import`` writes them).

    The steps, each counted in :attr:`RawImport.counts`: read the rows
    (:func:`read_raw_table`; ``rows``); keep those with rating at least
    :obj:`min_rating` (``dropped_rating``); merge duplicate ``(user, item)``
    pairs, keeping the earliest with timestamps (``dropped_duplicates``);
    :func:`k_core_filter` (``dropped_k_core``, and the users and items
    before and after); re-index (:data:`ID_ORDER`: the raw IDs, read as
    text, sorted); :func:`split_per_user` with :obj:`seed`, chronological
    with a timestamp column (``train``, ``validation``, ``test``).

    Args:
        path (str or Path): CSV/TSV, JSON lines or Parquet file.
        user_column (str, optional): Raw user ID column. (default: ``"user"``)
        item_column (str, optional): Raw item ID column. (default: ``"item"``)
        rating_column (str, optional): Rating column, read with
            :obj:`min_rating`. (default: :obj:`None`)
        min_rating (float, optional): Keep rows rated at least this.
            (default: :obj:`None`)
        timestamp_column (str, optional): Time column: the split holds out
            each user's latest interactions. (default: :obj:`None`)
        sep (str, optional): Field separator of delimited text (see
            :func:`load_raw_interactions`). (default: :obj:`None`)
        k_core (int, optional): Minimum interactions per user and item.
            (default: :obj:`5`)
        seed (int, optional): Seed of the split. (default: :obj:`0`)

    Raises:
        DatasetError: for a malformed file, a non-numeric rating or
            timestamp, :obj:`min_rating` without :obj:`rating_column`, or
            too little data left after a step.
    """
    path = Path(path)
    if min_rating is not None and rating_column is None:
        raise DatasetError("a minimum rating needs the rating column to be named")
    columns = [user_column, item_column]
    extra = [c for c in (rating_column, timestamp_column) if c is not None]
    columns += [c for c in extra if c not in columns]
    table, lines = read_raw_table(path, columns, sep)
    counts = {"rows": len(table[user_column])}
    keep = np.ones(counts["rows"], dtype=bool)
    if min_rating is not None:
        rating = parse_numbers(path, rating_column, table[rating_column], lines)
        keep = rating >= float(min_rating)
        if not keep.any():
            raise DatasetError(
                f"{path}: no row has {rating_column} >= {min_rating} "
                f"({counts['rows']} rows)"
            )
    counts["dropped_rating"] = int((~keep).sum())
    raw_users = np.asarray([str(v) for v in table[user_column]])[keep]
    raw_items = np.asarray([str(v) for v in table[item_column]])[keep]
    time = None
    if timestamp_column is not None:
        time = parse_numbers(path, timestamp_column, table[timestamp_column], lines)
        time = time[keep]
    user, user_ids = reindex(raw_users)
    item, item_ids = reindex(raw_items)
    user, item, time = _first_pairs(user.numpy(), item.numpy(), time)
    counts["dropped_duplicates"] = int(keep.sum()) - user.numel()
    counts["users_before_k_core"] = int(torch.unique(user).numel())
    counts["items_before_k_core"] = int(torch.unique(item).numel())

    core = _k_core(path, user, item, k_core)
    counts["dropped_k_core"] = int((~core).sum())
    user, kept_users = reindex(user[core])
    item, kept_items = reindex(item[core])
    raw_user_ids, raw_item_ids = user_ids[kept_users], item_ids[kept_items]
    counts["users"], counts["items"] = kept_users.size, kept_items.size
    counts["interactions"] = user.numel()
    _check_split_sizes(path, user, kept_users.size, raw_user_ids, k_core)
    label = split_per_user(
        user, kept_users.size, seed, None if time is None else time[core]
    )
    for value, name in enumerate(("train", "validation", "test")):
        counts[name] = int((label == value).sum())
    return RawImport(
        user=user,
        item=item,
        label=label,
        user_ids=[str(v) for v in raw_user_ids.tolist()],
        item_ids=[str(v) for v in raw_item_ids.tolist()],
        counts=counts,
    )
