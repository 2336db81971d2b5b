"""A run killed mid-way and resumed ends exactly like an uninterrupted one."""

import json
import signal
import subprocess
import sys

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


def test_killed_run_resumes_to_the_same_result(tmp_path):
    full = tmp_path / "full"
    done = subprocess.run(command(full), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    expected = json.loads((full / "results.json").read_text())["result"]

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

    resumed = subprocess.run(
        command(killed, "resume=true"), capture_output=True, text=True, timeout=300
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "epoch    0" not in resumed.stdout  # it did not start over
    result = json.loads((killed / "results.json").read_text())["result"]
    assert result["best_epoch"] == expected["best_epoch"]
    assert result["best_val"] == expected["best_val"]
    assert result["test"] == expected["test"]


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
