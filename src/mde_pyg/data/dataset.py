"""An :class:`~torch_geometric.data.InMemoryDataset` over an MMRec folder,
cached under ``processed/`` and keyed by the content of the raw files."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path

from torch_geometric.data import HeteroData, InMemoryDataset

from mde_pyg.data.errors import DatasetError
from mde_pyg.data.mmrec import feature_paths, load_mmrec


def file_digest(path: str | Path, algorithm: str = "sha1") -> str:
    """Returns the hex digest of a file's content, streamed in 1 MiB blocks
    so that large feature files are never held in memory at once.

    Args:
        path (str or Path): The file.
        algorithm (str, optional): A :mod:`hashlib` algorithm.
            (default: :obj:`"sha1"`)
    """
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class MMRecDataset(InMemoryDataset):
    r"""An MMRec-format dataset folder ``<root>/<name>/`` (``<name>.inter``
    plus ``<modality>_feat.npy`` files, see
    :func:`~mde_pyg.data.mmrec.load_mmrec`) as a PyG dataset of one
    :class:`HeteroData` graph.

    The processed graph is stored in ``<root>/<name>/processed/`` under a file
    name that contains a hash of the raw files' content and of the modality
    list, so editing a raw file reprocesses it instead of serving a stale
    cache. Nothing is downloaded: a missing folder is an error.

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
    """

    def __init__(
        self,
        root: str,
        name: str,
        modalities: Sequence[str] | None = None,
        transform: Callable | None = None,
        pre_transform: Callable | None = None,
        force_reload: bool = False,
    ) -> None:
        self.name = name
        self.modalities = None if modalities is None else list(modalities)
        self._digest: str | None = None
        folder = Path(root).expanduser() / name
        if not (folder / f"{name}.inter").is_file():
            raise DatasetError(
                f"{folder / f'{name}.inter'}: file not found (MMRecDataset reads an "
                "existing MMRec folder; nothing is downloaded)"
            )
        self._features = feature_paths(folder, self.modalities)
        super().__init__(root, transform, pre_transform, force_reload=force_reload)
        self.load(self.processed_paths[0], data_cls=HeteroData)

    @property
    def raw_dir(self) -> str:
        return str(Path(self.root) / self.name)

    @property
    def processed_dir(self) -> str:
        return str(Path(self.root) / self.name / "processed")

    @property
    def raw_file_names(self) -> list[str]:
        return [f"{self.name}.inter", *(p.name for p in self._features.values())]

    @property
    def processed_file_names(self) -> list[str]:
        # PyG reads this several times per instantiation; hash the (possibly
        # large) raw files once. Only reached after the raw files were found.
        if self._digest is None:
            digest = hashlib.sha1()
            for path in self.raw_paths:
                digest.update(file_digest(path).encode())
            digest.update(",".join(self._features).encode())
            self._digest = digest.hexdigest()[:16]
        return [f"data_{self._digest}.pt"]

    def download(self) -> None:
        missing = [p for p in self.raw_paths if not Path(p).is_file()]
        raise DatasetError(f"{missing[0]}: file not found (nothing is downloaded)")

    def process(self) -> None:
        data = load_mmrec(self.raw_dir, self.name, feature_files=self._features)
        if self.pre_transform is not None:
            data = self.pre_transform(data)
        self.save([data], self.processed_paths[0])

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.name})"
