"""The file names of an MMRec-format dataset folder: ``<name>.inter`` (see
:mod:`mde_pyg.data.inter`), one ``<modality>_feat.npy`` matrix per
modality, row ``i`` for item ``i``, and optionally, per modality, a
``<modality>_mask.npy`` vector saying which of those rows are real (see
:func:`~mde_pyg.data.mmrec.load_feature_mask`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

#: The file name of modality ``m``'s features is ``f"{m}{FEATURE_SUFFIX}"``.
FEATURE_SUFFIX = "_feat.npy"
#: The file name of modality ``m``'s row mask is ``f"{m}{MASK_SUFFIX}"``.
MASK_SUFFIX = "_mask.npy"


def mask_path(folder: str | Path, modality: str) -> Path:
    """The mask file of ``modality`` in ``folder``:
    ``<folder>/<modality>_mask.npy``, beside its ``<modality>_feat.npy``."""
    return Path(folder) / f"{modality}{MASK_SUFFIX}"


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
