"""The scripts of ``benchmarks/`` imported as ``python benchmarks/<script>.py``
runs them: with ``benchmarks/`` on :obj:`sys.path`, so that they import their
shared modules (``common``, ``runner``, ``benchmark_datasets``) by name."""

import importlib
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def bench():
    """``bench("accuracy")`` imports ``benchmarks/accuracy.py``; every
    benchmark module is forgotten again after the test module."""
    sys.path.insert(0, str(BENCHMARKS))
    yield importlib.import_module
    for name, module in list(sys.modules.items()):
        if Path(getattr(module, "__file__", None) or "/").parent == BENCHMARKS:
            del sys.modules[name]
    sys.path.remove(str(BENCHMARKS))
