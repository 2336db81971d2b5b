import os
import pickle

import numpy as np
import pytest
import torch

from forged import forge_checkpoint, marker_payload
from mde_pyg.training import CheckpointError, load_checkpoint, save_checkpoint
from mde_pyg.training.checkpoint import (
    previous_path,
    recover_checkpoint,
    temporary_path,
)


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


def test_a_forged_pickle_is_refused_not_run(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "best.pt"
    forge_checkpoint(path, {"model": marker_payload(marker)})
    with pytest.raises(CheckpointError, match="best.pt' holds objects .* refused"):
        load_checkpoint(path)
    assert not marker.exists()
    # The payload is live: plain unpickling runs it.
    pickle.loads(pickle.dumps(marker_payload(marker)))
    assert marker.exists()


def test_the_checkpoint_path_exists_at_every_step_of_a_save(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    save_checkpoint({"epoch": 1}, path)
    seen = []
    replace = os.replace

    def watching_replace(src, dst):
        seen.append(path.is_file())
        replace(src, dst)

    monkeypatch.setattr(os, "replace", watching_replace)
    save_checkpoint({"epoch": 2}, path)
    assert seen == [True]
    assert load_checkpoint(path)["epoch"] == 2
    assert load_checkpoint(previous_path(path))["epoch"] == 1


def test_recover_checkpoint(tmp_path):
    path = tmp_path / "last.pt"
    assert recover_checkpoint(path) is None
    save_checkpoint({"epoch": 1}, path)
    save_checkpoint({"epoch": 2}, path)
    assert recover_checkpoint(path) == path
    path.rename(temporary_path(path))
    with pytest.warns(UserWarning, match="complete temporary file"):
        assert recover_checkpoint(path) == path
    assert load_checkpoint(path)["epoch"] == 2
    path.unlink()
    temporary_path(path).write_bytes(b"half a checkpoint")
    with pytest.warns(UserWarning, match="previous checkpoint"):
        assert recover_checkpoint(path) == path
    assert load_checkpoint(path)["epoch"] == 1


def test_training_state_loads_with_weights_only(tmp_path):
    from mde_pyg.training.seed import rng_state, set_rng_state

    generator = torch.Generator().manual_seed(0)
    save_checkpoint({"rng": rng_state(generator)}, tmp_path / "rng.pt")
    expected = torch.rand(3, generator=generator), np.random.rand(2)  # noqa: NPY002
    set_rng_state(load_checkpoint(tmp_path / "rng.pt")["rng"], generator)
    assert torch.equal(torch.rand(3, generator=generator), expected[0])
    assert np.array_equal(np.random.rand(2), expected[1])  # noqa: NPY002
