"""Data-parallel training with 2 gloo processes (``torchrun``) against one
process: sharded evaluation, training steps, a killed process and resume."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from distributed_cases import MODELS, PAIR_MEAN_LOSS, eval_case, train_case

from cli_helpers import SMALL, train_command
from mde_pyg.data.sampler import BPRBatch
from mde_pyg.evaluation import evaluate_embeddings
from mde_pyg.training.distributed import (
    DistributedError,
    shard_batch,
    wants_distributed,
)

HERE = Path(__file__).parent
TIMEOUT = 600


def _env(**extra: str) -> dict[str, str]:
    # The helpers of tests/ import as top-level modules in the workers too.
    path = os.pathsep.join([str(HERE), str(HERE.parent)])
    env = {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1", **extra}
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    return {**env, **extra}


def _run_ok(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """Runs ``args`` to completion and checks that it succeeded."""
    proc = subprocess.run(
        args, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=TIMEOUT
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc


@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory):
    """What each of the 2 processes of distributed_worker.py got."""
    out = tmp_path_factory.mktemp("ddp")
    _run_ok(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc-per-node=2",
            str(HERE / "distributed_worker.py"),
            str(out),
        ],
        out,
    )
    return [torch.load(out / f"rank{rank}.pt") for rank in (0, 1)]


def test_sharded_evaluation_equals_one_process_exactly(two_process_run):
    user_emb, item_emb, exclude, target, chunk_size = eval_case()
    expected = evaluate_embeddings(
        user_emb, item_emb, exclude, target, chunk_size=chunk_size
    )
    for rank in two_process_run:
        assert rank["world_size"] == 2
        assert rank["eval"] == expected  # bit for bit, every metric


@pytest.mark.parametrize("name", list(MODELS))
def test_two_processes_train_as_one_on_the_same_global_batch(two_process_run, name):
    ranks = [rank["models"][name] for rank in two_process_run]
    # The replicas stay identical: the gradients are all-reduced.
    for key, value in ranks[0]["state"].items():
        assert torch.equal(value, ranks[1]["state"][key]), key
    # A loss that is a mean over pairs: the plain 1-process run. Any other:
    # 1 process training on the pair-weighted mean of the two shard losses.
    model, result = train_case(
        name, distributed=False, shard_mean=None if name in PAIR_MEAN_LOSS else 2
    )
    # Float tolerance: the all-reduce adds the two halves of every gradient
    # in another order than one process's backward; measured differences
    # are below 1e-6 after 12 Adam steps, except for MDE's attention bias:
    # its gradient (~1e-7, a cancelling sum of ~1e-5 terms) is at the scale
    # of Adam's eps, whose normalised step turns those rounding differences
    # into ~1e-5 (measured 1.3e-6 and 1.0e-5 with two InfoNCE kernels).
    for key, value in model.state_dict().items():
        tol = 1e-4 if key == "conv.att_lin.bias" else 1e-5
        torch.testing.assert_close(
            ranks[0]["state"][key], value, rtol=tol, atol=tol, msg=key
        )
    losses = [record["loss"] for record in result.history]
    assert ranks[0]["losses"] == pytest.approx(losses, rel=1e-5)
    assert ranks[0]["val"] == pytest.approx(result.best_val, abs=1e-6)
    assert ranks[0]["test"] == pytest.approx(result.test, abs=1e-6)


def test_shard_batch_splits_a_batch_and_weighs_the_shards():
    batch = BPRBatch(torch.arange(5), torch.arange(5) + 10, torch.arange(5) + 20)
    parts = [shard_batch(batch, shard, 2) for shard in range(2)]
    assert parts[0][0].user.tolist() == [0, 1, 2]
    assert parts[1][0].neg.tolist() == [23, 24]
    assert [weight for _, weight in parts] == [2 * 3 / 5, 2 * 2 / 5]
    # A batch with fewer pairs than processes: the empty shard still runs a
    # pair (the gradient all-reduce needs every process) but weighs nothing.
    tiny = BPRBatch(*(field[:1] for field in batch))
    assert shard_batch(tiny, 0, 2)[1] == 2.0
    empty, weight = shard_batch(tiny, 1, 2)
    assert empty.user.tolist() == [0] and weight == 0.0


def test_distributed_true_outside_torchrun_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with pytest.raises(DistributedError, match="torchrun"):
        wants_distributed(True)
    assert wants_distributed("auto") is False
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert wants_distributed("auto") is True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _train_args(out: Path, *extra: str) -> list[str]:
    return train_command(
        "trainer.max_epochs=40",
        "trainer.patience=40",
        "trainer.batch_size=256",
        "trainer.verbose=false",
        f"output_dir={out}",
        f"hydra.run.dir={out.parent / 'hydra'}",
        *extra,
    )


def _test_metrics(run_dir: Path) -> dict[str, float]:
    return json.loads((run_dir / "results.json").read_text())["result"]["test"]


def test_a_killed_process_fails_the_run_cleanly_and_resume_continues(tmp_path):
    out = tmp_path / "run"
    port = str(_free_port())
    # The two processes torchrun would start, started by hand so that one of
    # them can be killed and the other watched.
    procs = [
        subprocess.Popen(
            _train_args(out, "trainer.distributed=true"),
            cwd=tmp_path,
            env=_env(
                RANK=str(rank),
                LOCAL_RANK=str(rank),
                WORLD_SIZE="2",
                MASTER_ADDR="127.0.0.1",
                MASTER_PORT=port,
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in (0, 1)
    ]
    last = out / "checkpoints" / "last.pt"
    deadline = time.monotonic() + TIMEOUT
    while not last.exists() and time.monotonic() < deadline:
        assert procs[0].poll() is None, procs[0].communicate()[1][-3000:]
        time.sleep(0.02)
    assert last.exists(), "the run wrote no checkpoint"
    procs[1].send_signal(signal.SIGKILL)
    _, stderr = procs[0].communicate(timeout=120)
    procs[1].wait(timeout=60)
    assert procs[0].returncode == 2, stderr[-3000:]
    assert "error: process 0 of 2 lost contact with the others" in stderr
    assert "resume=true" in stderr
    assert "Traceback" not in stderr
    assert not (out / "results.json").exists()

    # Resumed with one process: the run ends as one uninterrupted process.
    _run_ok(_train_args(out, "resume=true", "trainer.distributed=false"), tmp_path)
    assert json.loads((out / "results.json").read_text())["world_size"] == 1
    reference = tmp_path / "reference"
    _run_ok(_train_args(reference), tmp_path)
    assert _test_metrics(out) == pytest.approx(_test_metrics(reference), abs=1e-3)


def test_torchrun_train_writes_one_run_folder_with_the_world_size(tmp_path):
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    train = ["-m", "mde_pyg", "train", "model=lightgcn", "trainer=quick", *SMALL]
    proc = _run_ok([*torchrun, "--nproc-per-node=2", *train], tmp_path)
    # Rank 1's Hydra made no folder of its own (its clock may be a second
    # off rank 0's); rank 0 printed the one line.
    (run,) = (tmp_path / "outputs" / "lightgcn" / "synthetic").iterdir()
    assert proc.stdout.count("run folder:") == 1
    results = json.loads((run / "results.json").read_text())
    assert results["world_size"] == 2
    _run_ok([sys.executable, *train, f"output_dir={tmp_path / 'single'}"], tmp_path)
    assert results["result"]["test"] == pytest.approx(
        _test_metrics(tmp_path / "single"), abs=1e-3
    )
