"""An :class:`~torch_geometric.data.InMemoryDataset` over an MMRec folder,
cached under ``processed/`` and keyed by the content of the raw files."""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch_geometric.data import HeteroData, InMemoryDataset
from torch_geometric.data.data import BaseData

from mde_pyg.data.files import file_digest
from mde_pyg.data.id_maps import ID_MAP_FILES
from mde_pyg.data.layout import feature_paths, mask_path
from mde_pyg.data.missing import check_missing_features
from mde_pyg.data.mmrec import load_mmrec
from mde_pyg.errors import DatasetError, load_error_reason


class MMRecDataset(InMemoryDataset):
    r"""An MMRec-format dataset folder ``<root>/<name>/`` (``<name>.inter``
    plus ``<modality>_feat.npy`` files, see
    :func:`~mde_pyg.data.mmrec.load_mmrec`) as a PyG dataset of one
    :class:`HeteroData` graph.

    The processed graph is stored in ``<root>/<name>/processed/`` under a file
    name that contains a hash of the raw files' content (mask files
    ``<m>_mask.npy`` and ID maps included, where present), of the modality
    list and of ``missing_features``, so editing a raw file reprocesses it
    instead of serving a stale cache. Nothing is downloaded: a missing
    folder is an error.

    Files under ``processed/`` are only ever read with
    :func:`torch.load` ``(weights_only=True)``, never by full unpickling
    (to which PyG falls back), so a file planted there cannot run code: a
    processed graph that does not load that way is rebuilt from the raw
    files with a :class:`UserWarning`. Hence ``pre_transform`` must leave
    only tensors and plain Python values in the graph.

    Args:
        root (str): Folder that contains the dataset folder.
        name (str): Dataset name (folder and ``.inter`` file name).
        modalities (list of str, optional): Modalities to load; :obj:`None`
            loads every ``*_feat.npy``. (default: :obj:`None`)
        transform (callable, optional): Applied on every access.
            (default: :obj:`None`)
        pre_transform (callable, optional): Applied once before caching
            (e.g. :class:`~mde_pyg.data.transforms.AddModalityGraphs`).
            (default: :obj:`None`)
        force_reload (bool, optional): Reprocess even if cached.
            (default: :obj:`False`)
        missing_features (str, optional): What a model sees in a missing
            feature row: ``"mean"``, ``"zeros"`` or ``"propagate"`` (see
            :func:`~mde_pyg.data.mmrec.load_mmrec`). (default: :obj:`"mean"`)
    """

    def __init__(
        self,
        root: str,
        name: str,
        modalities: Sequence[str] | None = None,
        transform: Callable | None = None,
        pre_transform: Callable | None = None,
        force_reload: bool = False,
        missing_features: str = "mean",
    ) -> None:
        self.name = name
        self.modalities = None if modalities is None else list(modalities)
        self.missing_features = check_missing_features(missing_features)
        self._digest: str | None = None
        folder = Path(root).expanduser() / name
        if not (folder / f"{name}.inter").is_file():
            raise DatasetError(
                f"{folder / f'{name}.inter'}: file not found (MMRecDataset reads an "
                "existing MMRec folder; nothing is downloaded)"
            )
        self._features = feature_paths(folder, self.modalities)
        # The mask files and ID maps are hashed with the rest when present
        # (load_mmrec reads them onto the graph).
        self._masks = [
            path.name
            for modality in self._features
            if (path := mask_path(folder, modality)).is_file()
        ]
        self._id_maps = [
            file for file, _, _ in ID_MAP_FILES.values() if (folder / file).is_file()
        ]
        drop_unsafe_repr_files(folder / "processed")
        super().__init__(root, transform, pre_transform, force_reload=force_reload)
        path = self.processed_paths[0]
        try:
            self.load(path)
        except Exception as error:  # whatever is wrong, the raw files are not
            warnings.warn(
                f"{path}: not using the processed graph "
                f"({load_error_reason(error)}) and refusing to unpickle it with "
                "weights_only=False, which could run code planted in it; "
                "rebuilding it from the raw files",
                stacklevel=2,
            )
            self.process()
            self.load(path)

    @property
    def raw_dir(self) -> str:
        return str(Path(self.root) / self.name)

    @property
    def processed_dir(self) -> str:
        return str(Path(self.root) / self.name / "processed")

    @property
    def raw_file_names(self) -> list[str]:
        return [
            f"{self.name}.inter",
            *(p.name for p in self._features.values()),
            *self._masks,
            *self._id_maps,
        ]

    @property
    def processed_file_names(self) -> list[str]:
        # PyG reads this several times per instantiation; hash the (possibly
        # large) raw files once. Only reached after the raw files were found.
        if self._digest is None:
            digest = hashlib.sha1()
            for path in self.raw_paths:
                digest.update(file_digest(path).encode())
            digest.update(",".join(self._features).encode())
            digest.update(f"missing_features={self.missing_features}".encode())
            self._digest = digest.hexdigest()[:16]
        return [f"data_{self._digest}.pt"]

    def load(self, path: str, data_cls: type[BaseData] = HeteroData) -> None:
        r"""Loads what :meth:`save` wrote to ``path``, like
        :meth:`InMemoryDataset.load` but with
        :func:`torch.load` ``(weights_only=True)`` only.

        Raises:
            pickle.UnpicklingError: if the file holds anything but tensors,
                plain Python values and PyG's allow-listed classes.
            ValueError: if it is not a saved ``data_cls`` graph.
        """
        out = torch.load(path, map_location="cpu", weights_only=True)
        if not (
            isinstance(out, tuple)
            and len(out) == 3
            and isinstance(out[0], dict)
            and out[2] is data_cls
        ):
            raise ValueError(
                f"expected the (dict, slices, {data_cls.__name__}) tuple that "
                f"InMemoryDataset.save writes, got {type(out).__name__}"
            )
        self.data, self.slices = data_cls.from_dict(out[0]), out[1]

    def download(self) -> None:
        missing = [p for p in self.raw_paths if not Path(p).is_file()]
        raise DatasetError(f"{missing[0]}: file not found (nothing is downloaded)")

    def process(self) -> None:
        data = load_mmrec(
            self.raw_dir,
            self.name,
            feature_files=self._features,
            missing_features=self.missing_features,
        )
        if self.pre_transform is not None:
            data = self.pre_transform(data)
        self.save([data], self.processed_paths[0])

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.name})"


def drop_unsafe_repr_files(processed_dir: Path) -> None:
    """Deletes ``pre_transform.pt`` and ``pre_filter.pt`` from
    ``processed_dir`` unless they load with
    :func:`torch.load` ``(weights_only=True)`` as the string PyG writes.

    PyG's :class:`~torch_geometric.data.Dataset` unpickles them with
    ``weights_only=False`` (to warn about a changed ``pre_transform``), so a
    planted one would run code on every instantiation. Without them only
    that warning is lost, until the next processing writes them anew.

    Args:
        processed_dir (Path): The dataset's ``processed/`` folder.
    """
    for path in (processed_dir / "pre_transform.pt", processed_dir / "pre_filter.pt"):
        if not path.is_file():
            continue
        try:
            content = torch.load(path, weights_only=True)
        except Exception as error:  # anything unreadable goes
            reason = load_error_reason(error)
        else:
            if isinstance(content, str):
                continue
            reason = f"holds a {type(content).__name__}, not a string"
        warnings.warn(
            f"{path}: refused to let PyG unpickle it with weights_only=False "
            f"({reason}); deleted it",
            stacklevel=3,
        )
        path.unlink()
