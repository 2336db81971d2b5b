"""Loading MMRec-format dataset folders into :class:`HeteroData`.

A folder holds ``<name>.inter`` (read by :func:`~mde_pyg.data.inter.read_inter`)
and one ``<modality>_feat.npy`` matrix per modality, row ``i`` for item ``i``
(named as :mod:`mde_pyg.data.layout` says).

**Missing rows.** A modality whose features some items lack may come with a
mask file ``<modality>_mask.npy`` beside its features: a 1-D NumPy array of
``dtype=bool`` and length ``num_items``, entry ``i`` ``True`` where row ``i``
of ``<modality>_feat.npy`` is a real feature of item ``i`` and ``False``
where the item has none (its row may hold anything, NaN included: it is
replaced). Without the file every row is real. ``mde-pyg prepare`` and
``mde-pyg encode-text`` write it for the items without text. The mask
travels on the graph as ``data['item'].x_<modality>_mask``; what a model
sees in a missing row is the dataset's ``missing_features`` rule (see
:mod:`mde_pyg.data.missing`), and no item-item :math:`k`-NN graph links
items through such a row. Write one with::

    np.save("my_shop/text_mask.npy", has_text)  # bool, one entry per item
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from mde_pyg.data.hetero import build_heterodata
from mde_pyg.data.id_maps import ID_MAP_FILES, read_id_map
from mde_pyg.data.inter import read_inter
from mde_pyg.data.layout import MASK_SUFFIX, feature_paths, mask_path
from mde_pyg.data.missing import check_missing_features, fill_missing_features
from mde_pyg.data.registry import DATA_ENV, DATASETS, prepare_command
from mde_pyg.errors import DatasetError

SPLIT_NAMES = ("train", "validation", "test")


def _read_npy(path: Path) -> np.ndarray:
    """The single array of the ``.npy`` file ``path``, or a
    :class:`DatasetError` naming it."""
    try:
        x = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as error:
        raise DatasetError(f"{path}: not a readable .npy array ({error})") from None
    if not isinstance(x, np.ndarray):  # an .npz archive
        raise DatasetError(f"{path}: expected a single .npy array, got {type(x)}")
    return x


def load_features(
    path: str | Path, modality: str, num_items: int, mask: Tensor | None = None
) -> Tensor:
    """Loads and validates one ``[num_items, d]`` feature matrix and returns
    it as ``float32``.

    Args:
        path (str or Path): The ``.npy`` file.
        modality (str): The modality named in errors.
        num_items (int): The expected number of rows.
        mask (torch.Tensor, optional): ``[num_items]`` boolean, ``True`` for
            the real rows; the others may hold anything finite or not, and
            are returned as zeros. :obj:`None`: every row is real.
            (default: :obj:`None`)

    Raises:
        DatasetError: for a missing or unreadable file, a shape other than
            ``[num_items, d]`` with ``d >= 1``, a non-numeric dtype, or values
            of a real row that are NaN/Inf or overflow ``float32`` (naming
            the first bad row).
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: feature file of modality '{modality}' not found")
    x = _read_npy(path)
    _check_feature_shape(path, modality, x, num_items)
    real = None if mask is None else mask.numpy()
    return torch.from_numpy(_finite_float32(path, modality, x, real))


def read_feature_mask(folder: str | Path, modality: str, num_items: int) -> Tensor:
    """The ``[num_items]`` boolean mask of the real rows of ``modality``,
    read from its mask file ``<folder>/<modality>_mask.npy`` (see the
    module's description), or all ``True`` without that file.

    Args:
        folder (str or Path): The dataset folder.
        modality (str): The modality.
        num_items (int): The number of items of the catalogue.

    Raises:
        DatasetError: naming the file, for an unreadable file, a dtype
            other than ``bool``, a shape other than ``[num_items]``, or a
            mask without any real row.
    """
    path = mask_path(folder, modality)
    if not path.is_file():
        return torch.ones(num_items, dtype=torch.bool, device="cpu")
    mask = _read_npy(path)
    what = f"{path}: the mask of modality '{modality}' ({MASK_SUFFIX} file)"
    if mask.dtype != np.bool_:
        raise DatasetError(
            f"{what} has dtype {mask.dtype}, expected bool (True where the item "
            "has a real feature row)"
        )
    if mask.shape != (num_items,):
        raise DatasetError(
            f"{what} has shape {mask.shape}, expected ({num_items},): one entry "
            "per item of the catalogue"
        )
    if not mask.any():
        raise DatasetError(
            f"{what} marks no row real: no item has this modality (remove "
            f"{modality}_feat.npy instead)"
        )
    return torch.from_numpy(np.ascontiguousarray(mask))


def _check_feature_shape(
    path: Path, modality: str, x: np.ndarray, num_items: int
) -> None:
    """Refuses anything but a real ``[num_items, d]`` matrix, ``d >= 1``."""
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


def _finite_float32(
    path: Path, modality: str, x: np.ndarray, real: np.ndarray | None = None
) -> np.ndarray:
    """``x`` as a contiguous ``float32`` array, refusing NaN/Inf and values
    that overflow ``float32`` (naming the first bad row) in the ``real``
    rows (all by default); the other rows become zeros."""
    # Checked after the cast: finite values beyond the float32 range only
    # become Inf there.
    with np.errstate(over="ignore"):
        x32 = np.ascontiguousarray(x, dtype=np.float32)
    if real is not None and not real.all():
        x32[~real] = 0.0  # x is the caller's fresh array: no copy needed
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
    return x32


def _missing_folder_message(folder: Path) -> str:
    """The error message for a dataset folder that does not exist, with
    the fix: set ``dataset.folder`` when it was never set (Hydra's ``???``,
    made absolute), run the command that prepares a named dataset's folder
    (:func:`~mde_pyg.data.registry.prepare_command`).

    Args:
        folder (Path): The folder that does not exist.
    """
    if folder.name == "???":
        return (
            "dataset.folder is not set: set dataset.folder=/path/to/folder (a "
            "folder with <name>.inter and <modality>_feat.npy files)"
        )
    message = f"{folder}: dataset folder not found"
    if folder.name in DATASETS:
        message += (
            f": run '{prepare_command(folder.name)}' first (or set "
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


def _inter_file(folder: Path, name: str | None) -> Path:
    """The ``.inter`` file :func:`load_mmrec` reads: ``<name>.inter``, by
    default the folder's name, with a warning that names the folder's other
    ``.inter`` files if there are any."""
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
            stacklevel=3,
        )
    return inter_path


def _split_pairs(
    inter_path: Path, num_users: int, user: Tensor, item: Tensor, label: Tensor
) -> list[Tensor]:
    """The ``[2, E_s]`` (user, item) pairs of each of :data:`SPLIT_NAMES`,
    without the validation and test rows of users with no training
    interaction (with a warning); no split may be empty."""
    has_train = torch.zeros(num_users, dtype=torch.bool, device=user.device)
    has_train[user[label == 0]] = True
    orphan = (label > 0) & ~has_train[user]
    if bool(orphan.any()):
        warnings.warn(
            f"{inter_path}: dropped {int(orphan.sum())} validation/test rows of "
            f"{int(torch.unique(user[orphan]).numel())} users with no training "
            "interaction",
            stacklevel=3,
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
    return splits


def load_mmrec(
    folder: str | Path,
    name: str | None = None,
    modalities: Sequence[str] | None = None,
    feature_files: Mapping[str, str | Path] | None = None,
    num_items: int | None = None,
    missing_features: str = "mean",
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

    **ID maps**: when the folder holds ``u_id_mapping.csv`` /
    ``i_id_mapping.csv`` (MMRec's names and layout, see
    :mod:`mde_pyg.data.id_maps`; ``mde-pyg import`` writes them), the raw IDs
    are stored as ``data['user'].raw_id`` / ``data['item'].raw_id`` (lists of
    strings, entry ``i`` the raw ID of internal ID ``i``).

    **Missing rows**: each modality's mask file ``<folder>/<m>_mask.npy``
    (see the module's description; also for features named by
    :obj:`feature_files`) is stored as ``data['item'].x_<m>_mask`` (all
    ``True`` without the file), and the rows it marks missing are filled by
    the rule :obj:`missing_features` (see
    :func:`~mde_pyg.data.missing.fill_missing_features`; ``"propagate"``
    reads the training pairs only).

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
        missing_features (str, optional): What a model sees in the rows of
            items without a feature of a modality (those its mask file marks
            ``False``): ``"mean"`` (the mean of the real rows, as the
            package's feature builders fill them), ``"zeros"`` (zeros: the
            mask tells the models) or ``"propagate"`` (the mean of the real
            rows of the items co-interacted with it in training; the mean
            where there are none). Whether the item-item k-NN graphs link
            items through such a row is the graph transform's
            ``skip_missing``. (default: :obj:`"mean"`)

    Raises:
        ConfigError: for an unknown :obj:`missing_features`, listing the
            choices.
        DatasetError: for a missing folder (for a named dataset's folder,
            the message says how to prepare it) or file, a
            malformed ``.inter`` (see :func:`read_inter`), feature rows that
            do not match the item count (or each other), a
            :obj:`num_items` below ``max(itemID) + 1``, NaN/Inf features in
            a real row, a malformed mask file (see
            :func:`read_feature_mask`), or an empty split; for an ID map
            with a malformed row, a duplicate raw or internal ID, or a row
            count other than the number of users or items (see
            :func:`~mde_pyg.data.id_maps.read_id_map`).
    """
    check_missing_features(missing_features)
    folder = Path(folder).expanduser()
    inter_path = _inter_file(folder, name)
    user, item, label = read_inter(inter_path)
    paths = feature_paths(folder, modalities, feature_files)
    num_users = int(user.max()) + 1
    num_items = _catalogue_size(inter_path, int(item.max()) + 1, paths, num_items)
    splits = _split_pairs(inter_path, num_users, user, item, label)
    masks = {m: read_feature_mask(folder, m, num_items) for m in paths}
    features = {
        modality: fill_missing_features(
            load_features(path, modality, num_items, masks[modality]),
            masks[modality],
            missing_features,
            edge_index=splits[0],
            num_users=num_users,
        )
        for modality, path in paths.items()
    }
    data = build_heterodata(
        num_users, num_items, *splits, features=features, masks=masks
    )
    for node_type, count in (("user", num_users), ("item", num_items)):
        path = folder / ID_MAP_FILES[node_type][0]
        if path.is_file():
            data[node_type].raw_id = read_id_map(path, node_type, count)
    return data
