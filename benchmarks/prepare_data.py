r"""Prepares the benchmark datasets as MMRec-format folders in the benchmarks'
cache folder: a thin wrapper around ``mde-pyg prepare`` (:mod:`mde_pyg.cli.prepare`;
:mod:`mde_pyg.data.prepare` documents the folders), kept for the scripts that
read ``~/.cache/mde_pyg/benchmarks``.

::

    python benchmarks/prepare_data.py                  # all four folders
    python benchmarks/prepare_data.py --quick          # placeholders only (seconds)
    python benchmarks/prepare_data.py --cache DIR --datasets ml100k baby

The shared data folder is ``$MDE_PYG_SHARED_DATA`` or ``../shared/data`` next
to the repository.
"""

from __future__ import annotations

import argparse

from mde_pyg.cli.prepare import main as prepare_main

DEFAULT_CACHE = "~/.cache/mde_pyg/benchmarks"
DATASETS = ("ml100k", "baby", "baby_placeholder", "sports_placeholder")
QUICK_DATASETS = ("baby_placeholder", "sports_placeholder")


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
    datasets = QUICK_DATASETS if args.quick else args.datasets
    model = ["--model", args.model] if args.model else []
    prepare_main([*datasets, "--root", args.cache, *model])


if __name__ == "__main__":
    main()
