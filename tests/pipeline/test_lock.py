"""One live run per run folder: the lock, its stale cases, two
concurrent runs, and default folder names that do not collide."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from cli_helpers import train_command
from mde_pyg.errors import RunFolderInUse
from mde_pyg.pipeline.lock import LOCK_NAME, RunLock, hold_run_folder, is_stale


def write_lock(folder, **holder):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / LOCK_NAME).write_text(json.dumps(holder))


def test_a_second_holder_is_refused_with_the_first_named(tmp_path):
    with RunLock(tmp_path / "run") as first:
        assert json.loads(first.path.read_text())["pid"] == os.getpid()
        with pytest.raises(RunFolderInUse) as caught:
            RunLock(tmp_path / "run").acquire()
        text = str(caught.value)
        assert text.startswith(f"{tmp_path / 'run'}: in use by process {os.getpid()}")
        assert f"on {socket.gethostname()} since " in text
    assert not (tmp_path / "run" / LOCK_NAME).exists()  # released
    RunLock(tmp_path / "run").acquire().release()


def test_a_lock_of_a_dead_process_on_this_host_is_stale(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    now = time.time()
    write_lock(
        tmp_path, host=socket.gethostname(), pid=dead.pid, started=now, heartbeat=now
    )
    with RunLock(tmp_path) as lock:
        assert lock.holder["pid"] == os.getpid()


def test_another_hosts_lock_is_stale_only_after_its_heartbeat_times_out(
    tmp_path, monkeypatch
):
    now = time.time()
    fresh = {"host": "elsewhere", "pid": 1, "started": now - 5000, "heartbeat": now}
    assert not is_stale(fresh)
    write_lock(tmp_path, **fresh)
    with pytest.raises(RunFolderInUse, match="in use by process 1 on elsewhere"):
        RunLock(tmp_path).acquire()
    old = {**fresh, "heartbeat": now - 3600}
    assert is_stale(old)
    write_lock(tmp_path, **old)
    RunLock(tmp_path).acquire().release()
    monkeypatch.setenv("MDE_PYG_LOCK_STALE_SECONDS", "7200")
    assert not is_stale(old)


def test_a_lock_left_by_kill_9_is_taken_over(tmp_path):
    folder = tmp_path / "run"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from mde_pyg.pipeline.lock import RunLock\n"
            f"RunLock({str(folder)!r}).acquire()\n"
            "print('held', flush=True)\n"
            "time.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(RunFolderInUse, match=f"process {holder.pid} "):
        RunLock(folder).acquire()
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    assert (folder / LOCK_NAME).exists()  # left behind
    RunLock(folder).acquire().release()


def test_a_failed_start_removes_only_what_it_created(tmp_path):
    made = tmp_path / "a" / "b"
    with pytest.raises(ValueError), hold_run_folder(made / "run", created=made):
        raise ValueError("before training")
    assert not made.exists() and (tmp_path / "a").exists()
    kept = tmp_path / "kept"
    kept.mkdir()
    with pytest.raises(ValueError), hold_run_folder(kept, created=None):
        raise ValueError("before training")
    assert kept.exists()
    ran = tmp_path / "ran"
    with pytest.raises(ValueError), hold_run_folder(ran, created=ran):
        (ran / "checkpoints").mkdir()
        raise ValueError("after an epoch")
    assert (ran / "checkpoints").exists()


def run_command(out, *extra):
    return train_command(
        "trainer.batch_size=64", *extra, *([f"output_dir={out}"] if out else [])
    )


def test_two_runs_into_one_folder(tmp_path):
    out = tmp_path / "run"
    first = subprocess.Popen(
        run_command(out, "trainer.max_epochs=1000", "trainer.patience=1000"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        for line in first.stdout:
            if line.startswith("epoch    0"):
                break
        second = subprocess.run(
            run_command(out, "trainer.max_epochs=1"),
            capture_output=True,
            text=True,
            timeout=300,
            cwd=tmp_path,
        )
        assert second.returncode == 2
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1, second.stderr
        assert lines[0].startswith(f"error: {out}: in use by process {first.pid} on ")
        assert "epoch" not in second.stdout  # it stopped at once
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=60)
    assert not (out / LOCK_NAME).exists()


def test_default_folders_of_runs_started_together_differ(tmp_path):
    runs = [
        subprocess.Popen(
            run_command(None, "trainer.max_epochs=1"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_path,
        )
        for _ in range(2)
    ]
    for run in runs:
        _, err = run.communicate(timeout=300)
        assert run.returncode == 0, err
    folders = sorted((tmp_path / "outputs" / "lightgcn" / "synthetic").iterdir())
    assert len(folders) == 2
    assert {f.name.rsplit("-", 1)[1] for f in folders} == {str(r.pid) for r in runs}
