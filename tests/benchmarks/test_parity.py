"""The parity verdict of ``benchmarks/parity.py``: means of test Recall@20
per side, capped runs compared only with capped runs of the same cap."""

import pytest


@pytest.fixture
def parity(bench, monkeypatch):
    # The script pins one thread for its subprocesses at import; keep that
    # out of the test process's environment.
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.setenv(name, "1")
    return bench("parity")


def run(impl, seed, recall, note=""):
    return {
        "dataset": "ml100k",
        "model": "smore",
        "impl": impl,
        "seed": seed,
        "note": note,
        "test": {"recall@20": recall},
    }


def test_capped_runs_get_their_own_verdict(parity):
    runs = [run("mde_pyg", s, r) for s, r in ((0, 0.30), (1, 0.32), (2, 0.31))]
    runs += [run("mmrec", s, r) for s, r in ((0, 0.31), (1, 0.31), (2, 0.30))]
    cap = "epoch cap 30"
    runs += [run("mde_pyg", s, 0.20, cap) for s in (0, 1, 2)]
    runs += [run("mmrec", s, 0.25, cap) for s in (0, 1, 2)]
    runs += [run("mde_pyg", s, 0.1, "epoch cap 5") for s in (0, 1, 2)]
    runs += [run("mmrec", s, 0.1, "epoch cap 5") for s in (0, 1)]
    rows = [line for line in parity.parity_summary(runs) if "| ml100k |" in line]
    assert rows == [
        "| ml100k | smore | 30 | 3 | 3 | 0.2000 | 0.2500 | -20.0% | OUTSIDE |",
        "| ml100k | smore | 5 | 3 | 2 | 0.1000 | 0.1000 | +0.0% | too few seeds |",
        "| ml100k | smore | none | 3 | 3 | 0.3100 | 0.3067 | +1.1% | parity |",
    ]


def test_a_side_without_runs_gets_no_row(parity):
    runs = [run("mde_pyg", s, 0.3, "epoch cap 30") for s in (0, 1, 2)]
    assert not [line for line in parity.parity_summary(runs) if "| ml100k |" in line]
