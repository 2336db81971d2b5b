"""A run killed mid-way and resumed ends exactly like an uninterrupted one."""

import json
import signal
import subprocess
import sys

import pytest

from mde_pyg.cli import interrupts
from mde_pyg.errors import RunInterrupted
from mde_pyg.training.checkpoint import load_checkpoint

ARGS = [
    "model=lightgcn",
    "dataset.num_users=150",
    "dataset.num_items=80",
    "trainer.max_epochs=8",
    "trainer.patience=20",
    "trainer.batch_size=256",
    "seed=7",
]


def command(out, *extra):
    return [
        sys.executable,
        "-m",
        "mde_pyg",
        "train",
        *ARGS,
        f"output_dir={out}",
        f"hydra.run.dir={out}",
        *extra,
    ]


@pytest.fixture(scope="module")
def expected(tmp_path_factory):
    """The result of the uninterrupted run."""
    full = tmp_path_factory.mktemp("full") / "run"
    done = subprocess.run(command(full), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads((full / "results.json").read_text())["result"]


def resume_and_compare(out, expected):
    resumed = subprocess.run(
        command(out, "resume=true"), capture_output=True, text=True, timeout=300
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "epoch    0" not in resumed.stdout  # it did not start over
    result = json.loads((out / "results.json").read_text())["result"]
    assert result["best_epoch"] == expected["best_epoch"]
    assert result["best_val"] == expected["best_val"]
    assert result["test"] == expected["test"]


@pytest.mark.parametrize(("signum", "status"), [("SIGINT", 130), ("SIGTERM", 143)])
def test_a_signal_stops_the_run_with_how_to_resume(tmp_path, expected, signum, status):
    out = tmp_path / "run"
    proc = subprocess.Popen(
        command(out), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    for line in proc.stdout:
        if line.startswith("epoch    3"):
            proc.send_signal(getattr(signal, signum))
            break
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == status, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    last = out / "checkpoints" / "last.pt"
    assert lines[0].startswith(f"interrupted by {signum}; the last complete ")
    assert f"checkpoint {last} (after epoch " in lines[0]
    assert f"rerun the same command with resume=true output_dir={out}" in lines[0]
    assert load_checkpoint(last)["epoch"] >= 4  # intact
    assert not list(out.rglob("*.tmp")) and not (out / ".lock").exists()
    assert not (out / "results.json").exists()
    resume_and_compare(out, expected)


def test_a_second_interrupt_exits_at_once(monkeypatch):
    exits = []
    monkeypatch.setattr(interrupts.os, "_exit", exits.append)
    # Python's default, or SIG_IGN where the tests run in the background.
    before = signal.getsignal(signal.SIGINT)
    with interrupts.stop_on_signals():
        with pytest.raises(RunInterrupted) as first:
            signal.raise_signal(signal.SIGINT)
        assert first.value.signum == signal.SIGINT
        signal.raise_signal(signal.SIGINT)  # while the first one unwinds
        assert exits == [130]
    assert signal.getsignal(signal.SIGINT) is before


def test_killed_run_resumes_to_the_same_result(tmp_path, expected):

    killed = tmp_path / "killed"
    proc = subprocess.Popen(command(killed), stdout=subprocess.PIPE, text=True)
    for line in proc.stdout:
        if line.startswith("epoch    3"):
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert not (killed / "results.json").exists()
    assert (killed / "checkpoints" / "last.pt").exists()

    resume_and_compare(killed, expected)


def test_corrupt_checkpoint_is_reported_not_loaded(tmp_path):
    out = tmp_path / "run"
    first = subprocess.run(
        command(out, "trainer.max_epochs=2"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert first.returncode == 0, first.stderr
    last = out / "checkpoints" / "last.pt"
    last.write_bytes(last.read_bytes()[:-100])
    resumed = subprocess.run(
        command(out, "resume=true"), capture_output=True, text=True, timeout=300
    )
    assert resumed.returncode == 2
    assert "corrupt or truncated" in resumed.stderr and "last.pt" in resumed.stderr
