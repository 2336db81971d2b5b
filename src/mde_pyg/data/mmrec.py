"""Loading MMRec-format dataset folders into :class:`HeteroData`.

A folder holds ``<name>.inter`` (tab-separated with a header; columns
``userID``, ``itemID`` and ``x_label`` required, others such as ``rating``
and ``timestamp`` ignored) and one ``<modality>_feat.npy`` matrix per
modality, row ``i`` for item ``i``.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Callable, Mapping, Sequence
from itertools import repeat
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from mde_pyg.data.errors import DatasetError
from mde_pyg.data.hetero import build_heterodata

REQUIRED_COLUMNS = ("userID", "itemID", "x_label")
SPLIT_NAMES = ("train", "validation", "test")
FEATURE_SUFFIX = "_feat.npy"
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
    try:
        # "utf-8-sig" drops a byte order mark before the first column name.
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found") from None
    except UnicodeDecodeError as error:
        raise DatasetError(f"{path}: not a UTF-8 text file ({error})") from None
    except OSError as error:  # a directory, no permission, an I/O error
        raise DatasetError(f"{path}: cannot read ({error.strerror or error})") from None
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

    # One pass finds both blank lines (skipped) and lines with the wrong
    # number of fields (an error): both have an unexpected tab count.
    rows = lines[1:]
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

    fields = "\t".join(rows).split("\t")
    columns = {
        c: parse_int_column(path, c, fields[header.index(c) :: len(header)], line_of)
        for c in REQUIRED_COLUMNS
    }
    for column in ("userID", "itemID"):
        negative = np.flatnonzero(columns[column] < 0)
        if negative.size:
            row = int(negative[0])
            raise DatasetError(
                f"{path}: column '{column}' has negative value "
                f"{columns[column][row]} at line {line_of(row)} (IDs are 0-based)"
            )
        check_id_range(path, column, columns[column], line_of)
    label = columns["x_label"]
    invalid = np.flatnonzero((label < 0) | (label > 2))
    if invalid.size:
        row = int(invalid[0])
        raise DatasetError(
            f"{path}: column 'x_label' has value {label[row]} at line "
            f"{line_of(row)} (expected 0 = train, 1 = validation, 2 = test)"
        )

    user, item = columns["userID"], columns["itemID"]
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


def load_features(path: str | Path, modality: str, num_items: int) -> Tensor:
    """Loads and validates one ``[num_items, d]`` feature matrix and returns
    it as ``float32``.

    Args:
        path (str or Path): The ``.npy`` file.
        modality (str): The modality named in errors.
        num_items (int): The expected number of rows.

    Raises:
        DatasetError: for a missing or unreadable file, a shape other than
            ``[num_items, d]`` with ``d >= 1``, a non-numeric dtype, or values
            that are NaN/Inf or overflow ``float32`` (naming the first bad
            row).
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: feature file of modality '{modality}' not found")
    try:
        x = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as error:
        raise DatasetError(f"{path}: not a readable .npy array ({error})") from None
    if not isinstance(x, np.ndarray):  # an .npz archive
        raise DatasetError(f"{path}: expected a single .npy array, got {type(x)}")
    if x.ndim != 2:
        raise DatasetError(
            f"{path}: features of modality '{modality}' must be 2-D [items, dim], "
            f"got shape {x.shape}"
        )
    if x.shape[1] == 0:
        raise DatasetError(
            f"{path}: features of modality '{modality}' have no columns (shape "
            f"{x.shape}), expected at least one feature per item"
        )
    if x.shape[0] != num_items:
        raise DatasetError(
            f"{path}: features of modality '{modality}' have {x.shape[0]} rows but "
            f"the dataset has {num_items} items (max itemID + 1)"
        )
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise DatasetError(
            f"{path}: features of modality '{modality}' have dtype {x.dtype}, "
            "expected real numbers"
        )
    # Checked after the cast: finite values beyond the float32 range only
    # become Inf there.
    with np.errstate(over="ignore"):
        x32 = np.ascontiguousarray(x, dtype=np.float32)
    finite = np.isfinite(x32).all(axis=1)
    if not finite.all():
        row = int(np.flatnonzero(~finite)[0])
        if np.isfinite(x[row]).all():
            col = int(np.flatnonzero(~np.isfinite(x32[row]))[0])
            raise DatasetError(
                f"{path}: features of modality '{modality}' have value "
                f"{x[row, col]} in row {row} (item {row}), column {col}, which "
                "overflows float32"
            )
        raise DatasetError(
            f"{path}: features of modality '{modality}' contain NaN/Inf, first in "
            f"row {row} (item {row})"
        )
    return torch.from_numpy(x32)


def feature_paths(
    folder: str | Path,
    modalities: Sequence[str] | None = None,
    feature_files: Mapping[str, str | Path] | None = None,
) -> dict[str, Path]:
    """Returns ``{modality: path}``: ``feature_files`` if given, else
    ``<folder>/<m>_feat.npy`` for each of ``modalities``, else every
    ``*_feat.npy`` in the folder (sorted by name, so that the order does not
    depend on the file system).

    Args:
        folder (str or Path): The dataset folder.
        modalities (list of str, optional): Modality names.
            (default: :obj:`None`)
        feature_files (dict, optional): Explicit ``{modality: path}``.
            (default: :obj:`None`)
    """
    folder = Path(folder)
    if feature_files is not None:
        return {m: Path(p) for m, p in feature_files.items()}
    if modalities is None:
        found = sorted(folder.glob(f"*{FEATURE_SUFFIX}"))
        return {p.name[: -len(FEATURE_SUFFIX)]: p for p in found}
    return {m: folder / f"{m}{FEATURE_SUFFIX}" for m in modalities}


def _missing_folder_message(folder: Path) -> str:
    """The error message for a dataset folder that does not exist, with
    the fix: set ``dataset.folder`` when it was never set (Hydra's ``???``,
    made absolute), run ``mde-pyg prepare`` for a built-in dataset's folder.

    Args:
        folder (Path): The folder that does not exist.
    """
    if folder.name == "???":
        return (
            "dataset.folder is not set: set dataset.folder=/path/to/folder (a "
            "folder with <name>.inter and <modality>_feat.npy files)"
        )
    # Imported here: prepare.py reads .inter files with this module.
    from mde_pyg.data.prepare import DATA_ENV, DATASETS

    message = f"{folder}: dataset folder not found"
    if folder.name in DATASETS:
        message += (
            f": run 'mde-pyg prepare {folder.name}' first (or set "
            f"data_root=... / {DATA_ENV})"
        )
    return message


def _feature_rows(path: Path) -> int | None:
    """The number of rows of a 2-D ``.npy`` file, read from its header (the
    data is not loaded); :obj:`None` where that fails (then
    :func:`load_features` reports the problem)."""
    try:
        x = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError):
        return None
    if not isinstance(x, np.ndarray):
        if hasattr(x, "close"):
            x.close()
        return None
    return int(x.shape[0]) if x.ndim == 2 else None


def _catalogue_size(
    inter_path: Path,
    inter_items: int,
    paths: Mapping[str, Path],
    num_items: int | None,
) -> int:
    """The number of items of :func:`load_mmrec`: :obj:`num_items` when
    given, else the feature files' rows when they all agree on more than
    ``max itemID + 1`` (with a warning), else ``max itemID + 1``."""
    rows = {m: _feature_rows(path) for m, path in paths.items()}
    if num_items is not None:
        if (
            isinstance(num_items, bool)
            or not isinstance(num_items, numbers.Integral)
            or num_items < inter_items
        ):
            raise DatasetError(
                f"{inter_path}: num_items={num_items!r} must be an integer of at "
                f"least max itemID + 1 = {inter_items} (the interactions name "
                f"item {inter_items - 1})"
            )
        num_items = int(num_items)
        for modality, count in rows.items():
            if count is not None and count != num_items:
                raise DatasetError(
                    f"{paths[modality]}: features of modality '{modality}' have "
                    f"{count} rows but num_items={num_items}: every feature file "
                    "needs one row per item of the catalogue"
                )
        return num_items
    known = {m: count for m, count in rows.items() if count is not None}
    if not known or max(known.values()) <= inter_items:
        return inter_items  # load_features names any file with too few rows
    if len(set(known.values())) > 1:
        listed = ", ".join(f"'{m}': {count}" for m, count in known.items())
        raise DatasetError(
            f"{inter_path}: the feature files disagree on the number of items "
            f"({listed} rows; the interactions name {inter_items} items, max "
            "itemID + 1): items without interactions need a row in every "
            "feature file"
        )
    count = next(iter(known.values()))
    warnings.warn(
        f"{inter_path}: the interactions name {inter_items} items (max itemID + "
        f"1) but the feature files have {count} rows: items {inter_items}.."
        f"{count - 1} have no interaction (cold-start items) and join the "
        f"catalogue; pass num_items={count} to say so and silence this warning",
        stacklevel=3,
    )
    return count


def load_mmrec(
    folder: str | Path,
    name: str | None = None,
    modalities: Sequence[str] | None = None,
    feature_files: Mapping[str, str | Path] | None = None,
    num_items: int | None = None,
) -> HeteroData:
    r"""Loads an MMRec-format dataset folder into a :class:`HeteroData` with
    the layout of :mod:`mde_pyg.data.hetero`.

    ``num_users = max(userID) + 1`` and ``num_items = max(itemID) + 1`` over
    all splits, so IDs must be remapped to ``0..n-1``: IDs far sparser than
    that get a warning or an error (see :func:`read_inter`). Validation and
    test rows of users without any training interaction are dropped (they
    have no history to rank from, and the reference protocol drops them
    too), with a :class:`UserWarning` that gives the number of rows and
    users.

    **Cold-start items** (items with features but no interaction) extend
    the catalogue past ``max(itemID) + 1``: they take the ids
    ``max(itemID) + 1 .. num_items - 1``, i.e. the last rows of every
    feature file (an id below ``max(itemID)`` that no row names is a node
    without interactions already). Pass :obj:`num_items` to say so; without
    it, feature files that all have the same number of rows, more than
    ``max(itemID) + 1``, set the catalogue size, with a :class:`UserWarning`
    (a file cut short or a stray row is more often a mistake than a
    cold-start item). Models with a content path embed such items with
    :meth:`~mde_pyg.models.Recommender.cold_item_embeddings`.

    Args:
        folder (str or Path): The dataset folder (``~`` is expanded).
        name (str, optional): Reads ``<folder>/<name>.inter``; defaults to
            the folder's name, with a :class:`UserWarning` that names the
            folder's other ``.inter`` files if there are any.
            (default: :obj:`None`)
        modalities (list of str, optional): Modalities to load from
            ``<folder>/<m>_feat.npy``; :obj:`None` loads every
            ``*_feat.npy`` found (sorted by name), ``[]`` none.
            (default: :obj:`None`)
        feature_files (dict, optional): Explicit ``{modality: path}``
            mapping, overriding ``modalities``. (default: :obj:`None`)
        num_items (int, optional): The catalogue size, at least
            ``max(itemID) + 1``; every feature file must have this many rows.
            :obj:`None` infers it (see above). (default: :obj:`None`)

    Raises:
        DatasetError: for a missing folder (for a built-in dataset's folder,
            the message says to run ``mde-pyg prepare <name>``) or file, a
            malformed ``.inter`` (see :func:`read_inter`), feature rows that
            do not match the item count (or each other), a
            :obj:`num_items` below ``max(itemID) + 1``, NaN/Inf features, or
            an empty split.
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise DatasetError(_missing_folder_message(folder))
    inter_path = folder / f"{name or folder.name}.inter"
    others = sorted(p.name for p in folder.glob("*.inter") if p != inter_path)
    if others and not inter_path.exists():
        raise DatasetError(
            f"{inter_path}: file not found (the folder has {others}; choose one "
            "with name=)"
        )
    if others and name is None:
        # With an explicit name the choice is the caller's; by default it is
        # easy to miss that the folder's name picked one of several.
        warnings.warn(
            f"{inter_path}: read, and the folder's other .inter files {others} "
            f"ignored (choose one with name=, e.g. name={Path(others[0]).stem!r})",
            stacklevel=2,
        )
    user, item, label = read_inter(inter_path)
    paths = feature_paths(folder, modalities, feature_files)
    num_users = int(user.max()) + 1
    num_items = _catalogue_size(inter_path, int(item.max()) + 1, paths, num_items)

    has_train = torch.zeros(num_users, dtype=torch.bool, device=user.device)
    has_train[user[label == 0]] = True
    orphan = (label > 0) & ~has_train[user]
    if bool(orphan.any()):
        warnings.warn(
            f"{inter_path}: dropped {int(orphan.sum())} validation/test rows of "
            f"{int(torch.unique(user[orphan]).numel())} users with no training "
            "interaction",
            stacklevel=2,
        )
        user, item, label = user[~orphan], item[~orphan], label[~orphan]

    index = torch.stack([user, item])
    splits = [index[:, label == s] for s in range(len(SPLIT_NAMES))]
    for value, (split, split_index) in enumerate(zip(SPLIT_NAMES, splits)):
        if split_index.size(1) == 0:
            raise DatasetError(
                f"{inter_path}: the {split} split is empty (column 'x_label' has "
                f"no usable rows with value {value})"
            )
    features = {
        modality: load_features(path, modality, num_items)
        for modality, path in paths.items()
    }
    return build_heterodata(num_users, num_items, *splits, features=features)
