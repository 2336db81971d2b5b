r"""Prepares the built-in real datasets (:data:`~mde_pyg.data.registry.DATASETS`)
as MMRec-format folders (``<name>.inter`` plus ``<modality>_feat.npy``) that
the ``dataset=<name>`` configs load, from the shared data folder (see
:mod:`mde_pyg.data.registry` for where both are). ``mde-pyg prepare``
(:mod:`mde_pyg.cli.prepare`) runs :func:`prepare`.

Datasets:

* ``ml100k``: MovieLens-100K written by ``tools/ml100k.py`` of the shared data
  folder (from the ``recbole`` wheel on PyPI, so it needs the network once;
  MovieLens may not be redistributed, so it stays in the data root), with
  ``text_feat.npy`` (the titles encoded by ``all-MiniLM-L6-v2``) and
  ``meta_feat.npy`` (the tool's ``genre_feat.npy``: 19-d genre multi-hot and
  8-d release-decade one-hot).
* ``baby``: the real Amazon Baby interactions (``derived/baby.inter``) with
  ``text_feat.npy`` encoded from ``title. description`` of
  ``amazon_baby/baby_partial_text.jsonl``; items without text get the mean
  vector, and ``text_mask.npy`` marks them (see :mod:`mde_pyg.data.mmrec`;
  ``ml100k`` has one too, its titles cover every item). There is **no**
  ``image_feat.npy``: the published image features are not available, and
  random features must never stand in for them in an accuracy table.
* ``sports``: the real Amazon Sports interactions (``derived/sports.inter``)
  alone: no item features exist for them (ID-only models such as LightGCN).
* ``baby_placeholder``, ``sports_placeholder``: the Baby and Sports
  interaction graphs with **random** features of the published shapes
  (``image`` 4096-d, ``text`` 384-d), for speed and memory benchmarks only.

``ml100k`` and ``baby`` encode text with the ``all-MiniLM-L6-v2`` model
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
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

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
from mde_pyg.data.inter import read_inter
from mde_pyg.data.layout import mask_path
from mde_pyg.data.manifest import Folder
from mde_pyg.data.registry import (
    DATASETS,
    SHARED_ENV,
    TEXT_DATASETS,
    data_root,
    required_inputs,
    shared_data_dir,
)
from mde_pyg.errors import DatasetError

ML100K_SEED = 999
PLACEHOLDER_SEED = 0
#: Feature widths of the published Amazon files (CNN fc7 image, MiniLM text).
PLACEHOLDER_DIMS = {"image": 4096, "text": 384}


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
    """The text model ``ml100k`` and ``baby`` are encoded with: ``model``
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


def prepare_ml100k(folder: Folder, shared: Path, model: TextModel) -> None:
    tool = shared / "tools" / "ml100k.py"
    outputs = ["ml100k.inter", "item_text.tsv", "meta_feat.npy"]

    def build(tmp: Path) -> dict[str, Any]:
        raw = tmp / "raw"
        done = subprocess.run(
            [sys.executable, str(tool), str(raw), "--seed", str(ML100K_SEED)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            lines = [line for line in done.stderr.splitlines() if line.strip()]
            raise DatasetError(
                f"{tool}: failed with exit status {done.returncode} (it downloads "
                "the recbole wheel from PyPI, so it needs the network): "
                f"{lines[-1].strip() if lines else 'no error output'}"
            )
        os.replace(raw / "ml100k.inter", tmp / "ml100k.inter")
        os.replace(raw / "item_text.tsv", tmp / "item_text.tsv")
        # The genre + decade matrix is named by what it is to a model: one
        # categorical metadata modality.
        os.replace(raw / "genre_feat.npy", tmp / "meta_feat.npy")
        return {**inter_stats(tmp / "ml100k.inter"), "tool": done.stdout.strip()}

    stats = folder.run(
        "interactions", {"tool": file_digest(tool), "seed": ML100K_SEED}, outputs, build
    )
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


def prepare_baby(folder: Folder, shared: Path, model: TextModel) -> None:
    stats = copy_inter(folder, shared / "derived" / "baby.inter", "baby")
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


def prepare_placeholder(folder: Folder, source: Path) -> None:
    stats = copy_inter(folder, source, folder.path.name)
    num_items = stats["items"]
    outputs = [f"{m}_feat.npy" for m in PLACEHOLDER_DIMS]

    def build(tmp: Path) -> dict[str, Any]:
        rng = np.random.default_rng(PLACEHOLDER_SEED)
        # Non-negative like CNN (post-ReLU) features; unit-norm like MiniLM.
        image = rng.random((num_items, PLACEHOLDER_DIMS["image"]), dtype=np.float32)
        text = rng.standard_normal((num_items, PLACEHOLDER_DIMS["text"]), np.float32)
        text /= np.linalg.norm(text, axis=1, keepdims=True)
        np.save(tmp / "image_feat.npy", image)
        np.save(tmp / "text_feat.npy", text)
        return {"items": num_items, "dims": PLACEHOLDER_DIMS}

    inputs = {"items": num_items, "seed": PLACEHOLDER_SEED, "dims": PLACEHOLDER_DIMS}
    folder.run("placeholder_features", inputs, outputs, build)


def _check_inputs(shared_dir: Path, names: Sequence[str]) -> None:
    """Raises a :class:`DatasetError` naming the first input file of
    ``names`` that the shared data folder lacks."""
    for name in names:
        for relative in required_inputs(name):
            if not (shared_dir / relative).is_file():
                raise DatasetError(
                    f"{shared_dir / relative}: file not found (dataset '{name}' is "
                    "made from it; is this the shared data folder? pass --shared "
                    f"DIR or set {SHARED_ENV}=DIR)"
                )


def prepare_one(
    name: str, folder: Folder, shared_dir: Path, encoder: TextModel | None
) -> None:
    """Makes (or brings up to date) the files of dataset ``name`` in
    ``folder`` from the shared data folder ``shared_dir``."""
    if name == "ml100k":
        prepare_ml100k(folder, shared_dir, encoder)
    elif name == "baby":
        prepare_baby(folder, shared_dir, encoder)
    elif name == "sports":
        prepare_interactions_only(folder, shared_dir / "derived" / "sports.inter")
    else:
        source = name.removesuffix("_placeholder")
        prepare_placeholder(folder, shared_dir / "derived" / f"{source}.inter")


def prepare(
    names: Sequence[str],
    root: str | Path | None = None,
    shared: str | Path | None = None,
    model: str | None = None,
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
        shared (str or Path, optional): The shared data folder; see
            :func:`~mde_pyg.data.registry.shared_data_dir`.
            (default: :obj:`None`)
        model (str, optional): The sentence-transformers model (name or
            folder) of the text features; :obj:`None` is the bundled
            ``all-MiniLM-L6-v2``. (default: :obj:`None`)
        log (callable, optional): Receives one line per step and one per
            prepared folder. (default: :obj:`None`, silent)
        on_ready (callable, optional): Called as ``on_ready(name, folder)``
            as soon as a folder is ready, before the next one is made.
            (default: :obj:`None`)

    Returns:
        ``{name: folder}`` of the prepared datasets.

    Raises:
        DatasetError: for an unknown name, a missing shared data folder or
            input file (checked before anything is built), or a failed step.
        ImportError: when ``ml100k`` or ``baby`` is asked for without the
            ``text`` extra, naming the install command.
    """
    names = list(dict.fromkeys(names))
    unknown = [name for name in names if name not in DATASETS]
    if unknown:
        raise DatasetError(
            f"unknown dataset '{unknown[0]}': mde-pyg prepare knows "
            f"{', '.join(DATASETS)}"
        )
    shared_dir = shared_data_dir(shared)
    _check_inputs(shared_dir, names)
    encoder = text_model(model) if set(TEXT_DATASETS) & set(names) else None
    root_dir = data_root(root)
    folders = {}
    for name in names:
        start = time.perf_counter()
        folder = Folder(root_dir / name, log)
        prepare_one(name, folder, shared_dir, encoder)
        if on_ready is not None:
            on_ready(name, folder.path)
        if log is not None:
            log(f"{folder.path}: ready ({time.perf_counter() - start:.1f}s)")
        folders[name] = folder.path
    return folders
