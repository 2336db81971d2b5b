import pytest
import torch

from mde_pyg.training import CheckpointError, load_checkpoint, save_checkpoint


def test_round_trip(tmp_path):
    state = {"epoch": 3, "weights": torch.arange(5.0)}
    save_checkpoint(state, tmp_path / "ck" / "last.pt")
    loaded = load_checkpoint(tmp_path / "ck" / "last.pt")
    assert loaded["epoch"] == 3
    assert torch.equal(loaded["weights"], state["weights"])
    assert not list((tmp_path / "ck").glob(".*tmp"))


def test_truncated_checkpoint_is_detected(tmp_path):
    path = tmp_path / "last.pt"
    save_checkpoint({"w": torch.randn(100)}, path)
    save_checkpoint({"w": torch.ones(3)}, path)
    path.write_bytes(path.read_bytes()[:-50])
    with pytest.raises(CheckpointError, match="corrupt or truncated.*last.pt.prev"):
        load_checkpoint(path)
    # The replaced checkpoint is intact and loadable.
    assert load_checkpoint(tmp_path / "last.pt.prev")["w"].shape == (100,)


def test_foreign_and_missing_files_are_reported(tmp_path):
    foreign = tmp_path / "foreign.pt"
    torch.save({"w": 1}, foreign)
    with pytest.raises(CheckpointError, match="not an mde_pyg checkpoint"):
        load_checkpoint(foreign)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pt")


def test_failed_write_keeps_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    save_checkpoint({"epoch": 1}, path)

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("os.fsync", crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint({"epoch": 2}, path)
    monkeypatch.undo()
    assert load_checkpoint(path)["epoch"] == 1
