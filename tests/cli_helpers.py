"""Running the ``mde-pyg`` command in tests: in a subprocess as a user does,
or in this process to read its exit status and output."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mde_pyg.cli import main

#: A small built-in dataset, for runs that take seconds.
SMALL = ["dataset.num_users=80", "dataset.num_items=50"]


def train_command(*overrides):
    """``mde-pyg train`` of LightGCN on :data:`SMALL` data, as a subprocess
    argument list."""
    return [
        sys.executable,
        "-m",
        "mde_pyg",
        "train",
        "model=lightgcn",
        *SMALL,
        *overrides,
    ]


def run_cli(args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "mde_pyg", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def exit_status(argv, capsys):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    return exited.value.code, capsys.readouterr()
