r"""Prepares the datasets the benchmarks read as MMRec-format folders under
the data root (:func:`mde_pyg.data.registry.data_root`: ``--root``, else
``$MDE_PYG_DATA``, else ``~/.cache/mde_pyg/datasets``, where ``dataset=<name>``
finds them): a thin wrapper around ``mde-pyg prepare``
(:mod:`mde_pyg.cli.prepare`; :mod:`mde_pyg.data.prepare` documents the
folders) naming the benchmarks' datasets.

::

    python benchmarks/prepare_data.py                  # every registry dataset
    python benchmarks/prepare_data.py --quick          # placeholders only (seconds)
    python benchmarks/prepare_data.py --root DIR --datasets ml100k baby

The shared data folder is ``--shared``, else ``$MDE_PYG_SHARED_DATA``, else
``../shared/data`` next to the repository (benchmarks may read it; the
package itself assumes no location).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from mde_pyg.cli.prepare import main as prepare_main
from mde_pyg.data.registry import DATASETS, SHARED_ENV

#: The folders of the speed and memory benchmarks.
QUICK_DATASETS = ("baby_placeholder", "sports_placeholder")
#: The project's shared data folder, beside the repository.
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
        "--shared",
        default=os.environ.get(SHARED_ENV) or str(SHARED),
        help=f"the shared data folder (default: ${SHARED_ENV}, else {SHARED})",
    )
    args = parser.parse_args(argv)
    datasets = QUICK_DATASETS if args.quick else args.datasets
    root = ["--root", args.root] if args.root else []
    model = ["--model", args.model] if args.model else []
    prepare_main([*datasets, *root, "--shared", args.shared, *model])


if __name__ == "__main__":
    main()
