"""The ``mde-pyg`` entry point: usage without importing torch, then
:func:`mde_pyg.cli.main` for every command."""

from __future__ import annotations

import sys

USAGE = """usage: mde-pyg {train,evaluate,select,recommend,export,info,encode-text} ...

  mde-pyg train [KEY=VALUE ...] [-m]   train a model (Hydra overrides, e.g.
                                       model=lightgcn dataset=baby seed=1;
                                       `train --help` lists every key)
  mde-pyg evaluate RUN_DIR             metrics of a finished run's best checkpoint
  mde-pyg select SWEEP_DIR             the best setting of a `train -m` sweep,
                                       chosen on validation (--monitor METRIC)
  mde-pyg recommend RUN_DIR --users 0,5,7 --out recs.csv
                                       top-k items per user (-h for options)
  mde-pyg export RUN_DIR --out DIR     final user and item embeddings (.npy)
  mde-pyg prepare NAME ... [--root D]  build a real dataset by name (ml100k, baby,
                                       sports, ...) into ~/.cache/mde_pyg/datasets
  mde-pyg info [KEY=VALUE ...]         versions and dataset statistics
  mde-pyg encode-text ITEMS --out F    encode item text into F (-h for options)
"""


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        sys.exit(0 if argv else 2)
    from mde_pyg.cli import main as run

    run(argv)


if __name__ == "__main__":
    main()
