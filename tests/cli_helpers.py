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


#: Raw user ids of the ``raw_id_run`` fixture: strings that sort differently as text
#: and as numbers.
RAW_USERS = [f"cust-{u}" for u in range(24)]
RAW_ITEMS = [f"SKU-{i}" for i in range(15)]


def write_raw_interactions(path):
    """A raw interaction CSV with string ids: 24 users with 7 of 15 items
    each, plus a user and an item with one interaction (dropped by the
    3-core filter)."""
    import random

    rng = random.Random(0)
    rows = ["customer,product,stars"]
    for user in RAW_USERS:
        for item in rng.sample(RAW_ITEMS, 7):
            rows.append(f"{user},{item},{rng.randint(1, 5)}")
    rows.append("lonely,SKU-99,5")
    path.write_text("\n".join(rows) + "\n")
    return path
