"""The ``mde-pyg`` command line: it parses arguments, calls the run pipeline
(:mod:`mde_pyg.pipeline`) and the library, and prints. One module per
command; :func:`main` dispatches."""

from mde_pyg.cli.dispatch import main

__all__ = ["main"]
