"""Loading MMRec-format dataset folders into :class:`HeteroData`.

A folder holds ``<name>.inter`` (tab-separated with a header; columns
``userID``, ``itemID`` and ``x_label`` required, others such as ``rating``
and ``timestamp`` ignored) and one ``<modality>_feat.npy`` matrix per
modality, row ``i`` for item ``i``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
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


def _first_bad_row(path: Path, column: str, values: np.ndarray) -> DatasetError:
    """The error for the first value of ``column`` that is not an integer
    (only reached once the fast conversion has failed)."""
    for row, value in enumerate(values):
        try:
            int(value)
        except ValueError:
            return DatasetError(
                f"{path}: column '{column}' has non-integer value {value!r} at "
                f"line {row + 2}"
            )
    raise AssertionError("unreachable: conversion failed on valid integers")


def read_inter(path: str | Path) -> tuple[Tensor, Tensor, Tensor]:
    """Reads an MMRec ``.inter`` file and returns ``(user, item, label)``
    ``int64`` tensors, validated: IDs non-negative integers, labels in
    ``{0, 1, 2}``. Duplicate ``(userID, itemID)`` rows are dropped (the first
    is kept) with a warning that says how many.

    Raises:
        DatasetError: naming the file, the column and the offending value.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: file not found")
    text = path.read_text()
    header_end = text.find("\n")
    header_line = text if header_end < 0 else text[:header_end]
    header = header_line.rstrip("\r").split("\t")
    if not header_line.strip():
        raise DatasetError(
            f"{path}: file is empty (expected a header with {list(REQUIRED_COLUMNS)})"
        )
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise DatasetError(
            f"{path}: missing required column '{missing[0]}' (found columns: "
            f"{header}; the file must be tab-separated)"
        )
    lines = text[header_end + 1 :].splitlines() if header_end >= 0 else []
    lines = [line for line in lines if line.strip()]
    if not lines:
        raise DatasetError(f"{path}: no interaction rows after the header")
    fields = "\t".join(lines).split("\t")
    if len(fields) != len(lines) * len(header):
        # Slow path only to name the offending line.
        for row, line in enumerate(lines):
            if line.count("\t") + 1 != len(header):
                raise DatasetError(
                    f"{path}: line {row + 2} has {line.count(chr(9)) + 1} fields, "
                    f"expected {len(header)} ({header})"
                )
    table = np.array(fields, dtype=object).reshape(len(lines), len(header))

    columns = {}
    for column in REQUIRED_COLUMNS:
        raw = table[:, header.index(column)]
        try:
            values = raw.astype(np.int64)
        except (ValueError, OverflowError):
            raise _first_bad_row(path, column, raw) from None
        negative = np.flatnonzero(values < 0)
        if negative.size:
            row = int(negative[0])
            raise DatasetError(
                f"{path}: column '{column}' has negative value {values[row]} at "
                f"line {row + 2} (IDs are 0-based)"
            )
        columns[column] = values
    invalid = np.flatnonzero(columns["x_label"] > 2)
    if invalid.size:
        row = int(invalid[0])
        raise DatasetError(
            f"{path}: column 'x_label' has value {columns['x_label'][row]} at line "
            f"{row + 2} (expected 0 = train, 1 = validation, 2 = test)"
        )

    user, item = columns["userID"], columns["itemID"]
    key = user * (int(item.max()) + 1) + item
    _, first = np.unique(key, return_index=True)
    if first.size < key.size:
        warnings.warn(
            f"{path}: dropped {key.size - first.size} duplicate (userID, itemID) "
            "rows, keeping the first occurrence of each pair",
            stacklevel=2,
        )
        first.sort()
        user, item = user[first], item[first]
        columns["x_label"] = columns["x_label"][first]
    return (
        torch.from_numpy(user),
        torch.from_numpy(item),
        torch.from_numpy(columns["x_label"]),
    )


def write_inter(path: str | Path, user: Tensor, item: Tensor, label: Tensor) -> None:
    """Writes ``(user, item, label)`` as an MMRec ``.inter`` file."""
    table = torch.stack([user, item, label], dim=1).numpy()
    np.savetxt(
        path,
        table,
        fmt="%d",
        delimiter="\t",
        header="\t".join(REQUIRED_COLUMNS),
        comments="",
    )


def load_features(path: Path, modality: str, num_items: int) -> Tensor:
    """Loads and validates one ``[num_items, d]`` feature matrix."""
    if not path.is_file():
        raise DatasetError(f"{path}: feature file of modality '{modality}' not found")
    try:
        x = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as error:
        raise DatasetError(f"{path}: not a readable .npy array ({error})") from None
    if x.ndim != 2:
        raise DatasetError(
            f"{path}: features of modality '{modality}' must be 2-D [items, dim], "
            f"got shape {x.shape}"
        )
    if x.shape[0] != num_items:
        raise DatasetError(
            f"{path}: features of modality '{modality}' have {x.shape[0]} rows but "
            f"the dataset has {num_items} items (max itemID + 1)"
        )
    if not np.issubdtype(x.dtype, np.number):
        raise DatasetError(f"{path}: features have non-numeric dtype {x.dtype}")
    finite = np.isfinite(x).all(axis=1)
    if not finite.all():
        row = int(np.flatnonzero(~finite)[0])
        raise DatasetError(
            f"{path}: features of modality '{modality}' contain NaN/Inf, first in "
            f"row {row} (item {row})"
        )
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))


def feature_paths(
    folder: Path,
    modalities: Sequence[str] | None = None,
    feature_files: Mapping[str, str | Path] | None = None,
) -> dict[str, Path]:
    """``{modality: path}``: ``feature_files`` if given, else
    ``<folder>/<m>_feat.npy`` for each of ``modalities``, else every
    ``*_feat.npy`` in the folder (sorted by name)."""
    if feature_files is not None:
        return {m: Path(p) for m, p in feature_files.items()}
    if modalities is None:
        found = sorted(folder.glob(f"*{FEATURE_SUFFIX}"))
        return {p.name[: -len(FEATURE_SUFFIX)]: p for p in found}
    return {m: folder / f"{m}{FEATURE_SUFFIX}" for m in modalities}


def load_mmrec(
    folder: str | Path,
    name: str | None = None,
    modalities: Sequence[str] | None = None,
    feature_files: Mapping[str, str | Path] | None = None,
) -> HeteroData:
    r"""Loads an MMRec-format dataset folder into a :class:`HeteroData` with
    the layout of :mod:`mde_pyg.data.hetero`.

    ``num_users = max(userID) + 1`` and ``num_items = max(itemID) + 1`` over
    all splits. Validation and test rows of users without any training
    interaction are dropped, with a warning giving the count (they cannot be
    ranked against a training history).

    Args:
        folder (str or Path): The dataset folder.
        name (str, optional): Reads ``<folder>/<name>.inter``; defaults to
            the folder's name. (default: :obj:`None`)
        modalities (list of str, optional): Modalities to load from
            ``<m>_feat.npy``; :obj:`None` loads every ``*_feat.npy`` found,
            ``[]`` none. (default: :obj:`None`)
        feature_files (dict, optional): Explicit ``{modality: path}``
            mapping, overriding ``modalities``. (default: :obj:`None`)

    Raises:
        DatasetError: for a missing folder or file, a malformed ``.inter``,
            feature rows that do not match the item count, NaN/Inf features,
            or an empty split.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: dataset folder not found")
    name = name or folder.name
    inter_path = folder / f"{name}.inter"
    user, item, label = read_inter(inter_path)
    num_users, num_items = int(user.max()) + 1, int(item.max()) + 1

    has_train = torch.zeros(num_users, dtype=torch.bool)
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
    splits = [index[:, label == s] for s in range(3)]
    for split, split_index in zip(SPLIT_NAMES, splits):
        if split_index.size(1) == 0:
            raise DatasetError(
                f"{inter_path}: the {split} split is empty (column 'x_label' has "
                f"no rows with value {SPLIT_NAMES.index(split)})"
            )
    features = {
        modality: load_features(path, modality, num_items)
        for modality, path in feature_paths(folder, modalities, feature_files).items()
    }
    return build_heterodata(num_users, num_items, *splits, features=features)
