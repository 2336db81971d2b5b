"""The ``mde-pyg`` entry point: usage without importing torch, then
:func:`mde_pyg.cli.main` for every command."""

from __future__ import annotations

import os
import sys

from mde_pyg.cli.usage import USAGE

#: The exit status of a command whose output pipe closed (128 + SIGPIPE).
EXIT_BROKEN_PIPE = 141


def main(argv: list[str] | None = None) -> None:
    try:
        _dispatch(sys.argv[1:] if argv is None else argv)
    except BrokenPipeError:
        # The reader of standard output left (``mde-pyg ... | head``): stop
        # as a shell tool does, quietly, and keep Python's final flush from
        # failing again on the closed pipe.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(EXIT_BROKEN_PIPE)


def _dispatch(argv: list[str]) -> None:
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        sys.exit(0 if argv else 2)
    from mde_pyg.cli import main as run

    run(argv)


if __name__ == "__main__":
    main()
