r"""The published MMRec folders of Amazon Baby, Sports and Clothing (Amazon
product data 2014, 5-core), as the MMRec authors distribute them: the
interactions with their split (``<name>.inter``), the 4096-d CNN image
features (``image_feat.npy``) and the 384-d sentence-transformers text
features (``text_feat.npy``), often with MMRec's ID maps
(``u_id_mapping.csv``, ``i_id_mapping.csv``).

They are not on PyPI: the user downloads them (:data:`DOWNLOAD_URL`) and
``mde-pyg prepare baby --from DIR`` checks a folder against the published
counts (:data:`PUBLISHED`, :func:`check_published`) before installing it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mde_pyg.data.id_maps import ID_MAP_FILES, read_id_map
from mde_pyg.data.inter import read_inter
from mde_pyg.errors import DatasetError

#: Where MMRec's README sends its users for the folders.
DOWNLOAD_URL = (
    "https://drive.google.com/drive/folders/13cBy1EA_saTUuXxVllKgtfci2A09jyaG"
)


@dataclass(frozen=True)
class PublishedCounts:
    """The size of a published folder, as the papers that use it report it.

    Attributes:
        title (str): The dataset's name in the papers.
        users (int): Users (``userID`` values ``0..users-1``).
        items (int): Items (``itemID`` values ``0..items-1``, and rows of
            every feature file).
        interactions (int): Rows of ``<name>.inter``.
    """

    title: str
    users: int
    items: int
    interactions: int


#: The published counts: Baby and Sports from MMRec's own evaluation table,
#: Clothing from the papers that report results on it (BM3, FREEDOM, MGCN).
PUBLISHED = {
    "baby": PublishedCounts("Baby", 19_445, 7_050, 160_792),
    "sports": PublishedCounts("Sports", 35_598, 18_357, 296_337),
    "clothing": PublishedCounts("Clothing", 39_387, 23_033, 278_677),
}
#: The width of each published feature file (modality -> columns): CNN fc7
#: image features and ``all-MiniLM-L6-v2`` text features.
FEATURE_DIMS = {"image": 4096, "text": 384}


def find_published(name: str, source: str | Path) -> Path:
    """The folder of the published dataset ``name`` in ``source``: ``source``
    itself when it holds ``<name>.inter``, else ``source/<name>`` (MMRec's
    ``data/`` folder holds one folder per dataset).

    Raises:
        DatasetError: if neither holds ``<name>.inter``, naming both.
    """
    source = Path(source).expanduser()
    for folder in (source, source / name):
        if (folder / f"{name}.inter").is_file():
            return folder
    file_name = f"{name}.inter"
    raise DatasetError(
        f"{source / file_name}: file not found (nor {source / name / file_name}): "
        f"--from must be the folder of MMRec's published {PUBLISHED[name].title} "
        f"download ({name}.inter, image_feat.npy, text_feat.npy), from "
        f"{DOWNLOAD_URL}"
    )


def check_published(name: str, folder: str | Path) -> list[Path]:
    """Checks the folder of the published dataset ``name`` against
    :data:`PUBLISHED` and :data:`FEATURE_DIMS`, and returns the files to
    install: ``<name>.inter``, the feature files and the ID maps present.

    Args:
        name (str): ``"baby"``, ``"sports"`` or ``"clothing"``.
        folder (str or Path): The downloaded folder.

    Raises:
        DatasetError: naming the file, the count or shape, its value and the
            published one, for a missing file, a malformed ``.inter`` file,
            feature file or ID map, or counts other than the published.
    """
    folder = Path(folder)
    expected = PUBLISHED[name]
    inter = folder / f"{name}.inter"
    user, item, _ = read_inter(inter)
    # ``itemID`` values must all be used: the feature rows are the items.
    for column, ids, count in (
        ("userID", user, expected.users),
        ("itemID", item, expected.items),
    ):
        _check_count(
            inter,
            f"distinct {column} values",
            torch.unique(ids).numel(),
            count,
            expected,
        )
        _check_count(
            inter, f"largest {column} + 1", int(ids.max()) + 1, count, expected
        )
    _check_count(
        inter, "interactions (rows)", user.numel(), expected.interactions, expected
    )
    files = [inter]
    for modality, dim in FEATURE_DIMS.items():
        path = folder / f"{modality}_feat.npy"
        shape = _feature_shape(path, expected)
        if shape != (expected.items, dim):
            raise DatasetError(
                f"{path}: shape {shape}, but MMRec's published {expected.title} "
                f"has ({expected.items}, {dim}) ({expected.items} items x {dim}-d "
                f"{modality} features)"
            )
        files.append(path)
    for node_type, (file_name, _, _) in ID_MAP_FILES.items():
        path = folder / file_name
        if path.is_file():
            read_id_map(path, node_type, getattr(expected, f"{node_type}s"))
            files.append(path)
    return files


def _check_count(
    path: Path, field: str, value: int, published: int, expected: PublishedCounts
) -> None:
    if value != published:
        raise DatasetError(
            f"{path}: {field} is {value:,}, but MMRec's published {expected.title} "
            f"has {published:,}: is this the published {expected.title} folder?"
        )


def _feature_shape(path: Path, expected: PublishedCounts) -> tuple[int, ...]:
    """The shape of a ``.npy`` file, read from its header."""
    if not path.is_file():
        raise DatasetError(
            f"{path}: file not found (MMRec's published {expected.title} folder "
            "has image_feat.npy and text_feat.npy)"
        )
    try:
        return tuple(np.load(path, mmap_mode="r", allow_pickle=False).shape)
    except (ValueError, OSError) as error:
        raise DatasetError(f"{path}: not a readable .npy array ({error})") from None
