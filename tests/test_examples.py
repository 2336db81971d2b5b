"""Every script of examples/ runs, in its quick mode, as a user would run it."""

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run(args, cwd):
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize("model", ["mde", "lightgcn", "lattice"])
def test_train_python(model, tmp_path):
    done = run(
        [str(EXAMPLES / "train_python.py"), "--quick", "--model", model], tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert "test: recall@10=" in done.stdout


def test_own_model_on_foreign_names(tmp_path):
    done = run([str(EXAMPLES / "own_model.py"), "--quick"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "epoch 1: loss" in done.stdout and "val recall@20" in done.stdout


def test_explain_alpha_plot(tmp_path):
    done = run(
        [str(EXAMPLES / "explain_alpha.py"), "--quick", "--out", "a.png"], tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "a.png").stat().st_size > 5000
    assert "items: alpha mean" in done.stdout


def test_hydra_app(tmp_path):
    done = run(
        [
            str(EXAMPLES / "train.py"),
            "model=lightgcn",
            "trainer=quick",
            "dataset.num_users=80",
            "dataset.num_items=50",
            f"hydra.run.dir={tmp_path / 'run'}",
        ],
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "run" / "results.json").is_file()
