"""The file names of an MMRec-format dataset folder: ``<name>.inter`` (see
:mod:`mde_pyg.data.inter`) and one ``<modality>_feat.npy`` matrix per
modality, row ``i`` for item ``i``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

#: The file name of modality ``m``'s features is ``f"{m}{FEATURE_SUFFIX}"``.
FEATURE_SUFFIX = "_feat.npy"


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
