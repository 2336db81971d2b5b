"""Dispatching ``mde-pyg COMMAND ...``."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable

from mde_pyg.cli.interrupts import exit_on_interrupt, stop_on_signals
from mde_pyg.cli.usage import USAGE
from mde_pyg.cli.user_errors import exit_on_user_error


def _command(name: str) -> Callable[[list[str]], None] | None:
    """The ``main(argv)`` of command ``name`` (imported on demand, so that a
    command loads only what it uses)."""
    if name == "train":
        from mde_pyg.cli import train as module
    elif name == "evaluate":
        from mde_pyg.cli import evaluate as module
    elif name == "select":
        from mde_pyg.cli import select as module
    elif name == "recommend":
        from mde_pyg.cli import recommend as module
    elif name == "export":
        from mde_pyg.cli import export as module
    elif name == "prepare":
        from mde_pyg.cli import prepare as module
    elif name == "info":
        from mde_pyg.cli import info as module
    elif name == "import":
        from mde_pyg.cli import import_raw as module
    elif name == "encode-text":
        from mde_pyg.cli import encode_text as module
    elif name == "encode-images":
        from mde_pyg.cli import encode_images as module
    else:
        return None
    return module.main


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        sys.exit(0 if argv else 2)
    name, rest = argv[0], argv[1:]
    command = _command(name)
    if command is None:
        print(f"error: unknown command '{name}'\n{USAGE}", file=sys.stderr)
        sys.exit(2)
    # torch flags every CSR adjacency as a beta feature; a user can do nothing
    # about it, so the command line does not show it.
    warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
    with stop_on_signals():
        try:
            command(rest)
        except KeyboardInterrupt as interrupt:
            exit_on_interrupt(interrupt)
        except Exception as error:
            exit_on_user_error(error)
