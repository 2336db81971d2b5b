"""Every fault of the machine is one ``error: <path>: <what> (<hint>)`` line
with exit status 2: failing writes are injected at each place a
run writes (CI runs as root, so no chmod); the last complete checkpoint
stays loadable and no partly written temporary file is left."""

import errno
import os
from pathlib import Path

import pytest

from cli_helpers import SMALL, exit_status
from mde_pyg.cli import main
from mde_pyg.training import checkpoint as checkpoint_module
from mde_pyg.training.checkpoint import load_checkpoint

FAULTS = {
    errno.ENOSPC: "no space left on device (free space on that file system",
    errno.EROFS: "read-only file system (write somewhere writable",
    errno.EACCES: "permission denied (write somewhere you may write",
}
ARGS = ["train", "model=lightgcn", *SMALL, "trainer.max_epochs=3"]


def fault(code, path="x"):
    return OSError(code, os.strerror(code), str(path))


def failed_run(out, capsys):
    """Trains into ``out``, expecting exit status 2 and one ``error:`` line,
    which it returns."""
    status, captured = exit_status([*ARGS, f"output_dir={out}"], capsys)
    assert status == 2
    return one_line(captured)


def one_line(captured):
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert "Traceback" not in captured.err
    return lines[0]


def after_calls(n, code):
    """A replacement that fails from its ``n``-th call on, else runs ``real``."""
    calls = {"n": 0}

    def wrap(real):
        def fake(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] >= n:
                raise fault(code, args[0] if args else "x")
            return real(*args, **kwargs)

        return fake

    return wrap


def no_temporary_files(out):
    return [p for p in Path(out).rglob("*") if p.name.endswith(".tmp")] == []


def assert_resumable(line, out):
    last = out / "checkpoints" / "last.pt"
    assert f"the last complete checkpoint {last} (after epoch " in line
    assert f"rerun the same command with resume=true output_dir={out}" in line
    assert load_checkpoint(last)["epoch"] >= 1  # intact
    assert no_temporary_files(out)


@pytest.mark.parametrize("code", list(FAULTS))
def test_a_checkpoint_write_that_fails_keeps_the_last_one(
    code, tmp_path, capsys, monkeypatch
):
    out = tmp_path / "run"
    # Epoch 0 writes best.pt and last.pt; epoch 1 fails while writing.
    monkeypatch.setattr(
        checkpoint_module, "open", after_calls(3, code)(open), raising=False
    )
    line = failed_run(out, capsys)
    assert line.startswith(f"error: {out / 'checkpoints'}")
    assert FAULTS[code] in line
    assert_resumable(line, out)


def test_a_half_written_checkpoint_is_removed(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    real_open = open
    calls = {"n": 0}

    class FullDisk:
        def __init__(self, f):
            self.f = f

        def write(self, data):
            self.f.write(data[:10])
            raise fault(errno.ENOSPC, self.f.name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

    def fake(path, mode="r", *args, **kwargs):
        calls["n"] += 1
        f = real_open(path, mode, *args, **kwargs)
        return FullDisk(f) if calls["n"] >= 4 else f

    monkeypatch.setattr(checkpoint_module, "open", fake, raising=False)
    line = failed_run(out, capsys)
    assert "last.pt: no space left on device" in line
    assert_resumable(line, out)


@pytest.mark.parametrize("target", ["os.replace", "torch.save"])
def test_replace_and_serialise_failures(target, tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    module, name = target.split(".")
    owner = {"os": checkpoint_module.os, "torch": checkpoint_module.torch}[module]
    real = getattr(owner, name)
    calls = {"n": 0}

    def fake(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] >= 3:
            raise fault(errno.EROFS, args[-1] if module == "os" else "buffer")
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, fake)
    line = failed_run(out, capsys)
    assert "read-only file system" in line
    monkeypatch.setattr(owner, name, real)
    assert_resumable(line, out)


@pytest.mark.parametrize("code", list(FAULTS))
def test_results_json_that_cannot_be_written(code, tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    real = Path.write_text

    def fake(self, *args, **kwargs):
        if self.name == "results.tmp":
            real(self, "{partial")  # half a file, then the disk is full
            raise fault(code, self)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", fake)
    line = failed_run(out, capsys)
    assert line.startswith(f"error: {out / 'results.json'}: {FAULTS[code]}")
    assert not (out / "results.json").exists()
    assert_resumable(line, out)
    # Resuming finishes the run: it only writes what was missing.
    monkeypatch.setattr(Path, "write_text", real)
    main([*ARGS, f"output_dir={out}", "resume=true"])
    assert (out / "results.json").is_file()


def test_the_curve_that_cannot_be_written(tmp_path, capsys, monkeypatch):
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    out = tmp_path / "run"

    def fake(self, path, *args, **kwargs):
        Path(path).write_bytes(b"\x89PNG half")
        raise fault(errno.ENOSPC, path)

    monkeypatch.setattr(Figure, "savefig", fake)
    line = failed_run(out, capsys)
    assert line.startswith(f"error: {out / 'training_curve.png'}: no space left")
    assert not (out / "training_curve.png").exists()
    assert_resumable(line, out)


def test_config_that_cannot_be_written_leaves_no_folder(tmp_path, capsys, monkeypatch):
    from omegaconf import OmegaConf

    out = tmp_path / "new" / "run"

    def fake(config, path, *args, **kwargs):
        raise fault(errno.EROFS, path)

    monkeypatch.setattr(OmegaConf, "save", fake)
    line = failed_run(out, capsys)
    assert line.startswith(f"error: {out / 'config.yaml'}: read-only file system")
    assert "no checkpoint was written" in line
    assert not (tmp_path / "new").exists()


def test_an_output_location_that_cannot_be_made(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    line = failed_run(blocker / "run", capsys)
    assert str(blocker) in line and "not a folder" in line


@pytest.mark.parametrize(
    "command",
    [
        "evaluate",
        "recommend",
        "export",
        "prepare",
        "select",
        "encode-text",
        "encode-images",
        "info",
    ],
)
@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EIO])
def test_every_subcommand_prints_a_machine_fault_as_one_line(
    command, code, capsys, monkeypatch
):
    module = command.replace("-", "_")

    def fails(argv):
        raise fault(code, "/data/file")

    monkeypatch.setattr(f"mde_pyg.cli.{module}.main", fails)
    status, captured = exit_status([command], capsys)
    assert status == 2
    assert one_line(captured).startswith("error: /data/file: ")


def test_export_into_a_location_that_cannot_be_made(finished_run, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    status, captured = exit_status(
        ["export", str(finished_run), "--out", str(blocker / "emb")], capsys
    )
    assert status == 2
    assert str(blocker) in one_line(captured)


def test_export_into_a_file_that_exists(finished_run, tmp_path, capsys):
    # --out names a folder: a file already there is in its way.
    existing = tmp_path / "embeddings.npy"
    existing.write_text("")
    status, captured = exit_status(
        ["export", str(finished_run), "--out", str(existing)], capsys
    )
    assert status == 2
    assert one_line(captured) == (
        f"error: {existing}: exists and is not a folder (check the path)"
    )


def test_select_that_cannot_write_best_json(tmp_path, capsys, monkeypatch):
    import json

    job = tmp_path / "0"
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text("- x=1\n")
    result = {"best_val": {"recall@20": 0.1}, "test": {"recall@20": 0.1}}
    (job / "results.json").write_text(
        json.dumps({"result": {**result, "best_epoch": 0}})
    )
    real = Path.write_text

    def fake(self, *args, **kwargs):
        if self.name == "best.json":
            raise fault(errno.ENOSPC, self)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", fake)
    status, captured = exit_status(["select", str(tmp_path)], capsys)
    assert status == 2
    assert one_line(captured).startswith(f"error: {tmp_path / 'best.json'}: no space")


def test_a_vanished_file_system_is_one_line(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    monkeypatch.setattr(
        checkpoint_module, "open", after_calls(3, errno.ESTALE)(open), raising=False
    )
    assert "stale file handle" in failed_run(out, capsys)
