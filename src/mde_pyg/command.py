"""The ``mde-pyg`` entry point: usage without importing torch, then
:func:`mde_pyg.cli.main` for every command."""

from __future__ import annotations

import sys

from mde_pyg.cli.usage import USAGE


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        sys.exit(0 if argv else 2)
    from mde_pyg.cli import main as run

    run(argv)


if __name__ == "__main__":
    main()
