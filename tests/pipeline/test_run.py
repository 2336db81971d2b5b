"""What a run folder records: the resolved config, the result, the curve."""

import json
import sys

import matplotlib
import pytest
from omegaconf import OmegaConf

from mde_pyg.errors import CheckpointError
from mde_pyg.pipeline import compose_config, load_run, train_one
from mde_pyg.pipeline import run as run_module
from mde_pyg.pipeline.curve import plot_training_curve
from mde_pyg.pipeline.renamed_keys import RenamedKeyWarning
from mde_pyg.training import load_checkpoint, save_checkpoint

OVERRIDES = [
    "model=lattice",
    "dataset.num_users=60",
    "dataset.num_items=40",
    "trainer.max_epochs=2",
    "trainer.device=cpu",
]


def interpolations(node):
    """Every string value that still holds a ``${...}`` interpolation."""
    if isinstance(node, dict):
        return [s for value in node.values() for s in interpolations(value)]
    if isinstance(node, list):
        return [s for value in node for s in interpolations(value)]
    return [node] if isinstance(node, str) and "${" in node else []


def test_run_folder_records_values_not_interpolations(tmp_path):
    cfg = compose_config([*OVERRIDES, f"output_dir={tmp_path}"])
    # The composed config does interpolate (trainer.lr_decay reads the model's).
    assert interpolations(OmegaConf.to_container(cfg, resolve=False))
    result = train_one(cfg, seed=3, output_dir=tmp_path)
    saved = OmegaConf.to_container(OmegaConf.load(tmp_path / "config.yaml"))
    results = json.loads((tmp_path / "results.json").read_text())
    for config in (saved, results["config"]):
        assert interpolations(config) == []
        assert config["seed"] == 3 and config["output_dir"] == str(tmp_path)
        assert config["trainer"]["lr_decay"] == cfg.trainer.lr_decay
    assert results["seed"] == 3 and results["device"] == "cpu"
    assert results["result"]["test"] == pytest.approx(result.test)
    assert results["result"]["best_epoch"] == result.best_epoch
    png = tmp_path / "training_curve.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


def test_without_matplotlib_the_run_has_no_curve(tmp_path, monkeypatch):
    monkeypatch.setattr(run_module, "plotting_available", lambda: False)
    train_one(compose_config(OVERRIDES), seed=0, output_dir=tmp_path)
    assert (tmp_path / "results.json").is_file()
    assert not (tmp_path / "training_curve.png").exists()


def test_the_curve_leaves_the_pyplot_backend_alone(tmp_path):
    before = matplotlib.get_backend()
    history = [
        {"epoch": e, "loss": 1.0 / (e + 1), "val": {"r": 0.1 * e}} for e in (0, 1)
    ]
    plot_training_curve(history, "r", tmp_path / "c.png", best_epoch=1)
    assert matplotlib.get_backend() == before
    assert "matplotlib.pyplot" not in sys.modules or before == matplotlib.get_backend()
    assert (tmp_path / "c.png").stat().st_size > 1000


def rename_back(config):
    """``config`` as a run written before ``cl_loss`` became ``lambda_align``
    recorded it."""
    config["model"] = {
        ("cl_loss" if key == "lambda_align" else key): value
        for key, value in config["model"].items()
    }
    return config


def test_a_run_folder_from_before_a_rename_loads_evaluates_and_resumes(tmp_path):
    overrides = [
        "model=mgcn",
        "dataset.num_users=60",
        "dataset.num_items=40",
        "trainer.device=cpu",
        f"output_dir={tmp_path}",
    ]
    first = train_one(compose_config([*overrides, "trainer.max_epochs=2"]), 0, tmp_path)
    # What an older version wrote: the old key in config.yaml and in the
    # fingerprint of the checkpoint.
    config = OmegaConf.to_container(OmegaConf.load(tmp_path / "config.yaml"))
    OmegaConf.save(OmegaConf.create(rename_back(config)), tmp_path / "config.yaml")
    last = tmp_path / "checkpoints" / "last.pt"
    state = load_checkpoint(last)
    state["fingerprint"]["config.model"] = rename_back(
        {"model": state["fingerprint"]["config.model"]}
    )["model"]
    save_checkpoint(state, last)

    with pytest.warns(RenamedKeyWarning, match="'model.cl_loss'.*'model.lambda_align'"):
        model, data, cfg = load_run(tmp_path)
    assert cfg.model.lambda_align == 1e-2 and "cl_loss" not in cfg.model
    resumed = train_one(
        compose_config([*overrides, "trainer.max_epochs=3", "resume=true"]), 0, tmp_path
    )
    assert resumed.epochs_run == 3 and resumed.history[:2] == first.history


def test_a_checkpoint_from_before_skip_missing_resumes_as_it_ran(tmp_path):
    overrides = [*OVERRIDES, f"output_dir={tmp_path}"]
    first = train_one(compose_config(overrides), 0, tmp_path)
    # What an older version wrote: no skip_missing in the fingerprint (its
    # graphs skipped the missing rows, as skip_missing=true does).
    last = tmp_path / "checkpoints" / "last.pt"
    state = load_checkpoint(last)
    model = state["fingerprint"]["config.model"]
    del model["skip_missing"], model["graphs"]["skip_missing"]
    save_checkpoint(state, last)

    more = [*overrides, "trainer.max_epochs=3", "resume=true"]
    changed = r"config\.model: .*'skip_missing': True.*now .*'skip_missing': False"
    with pytest.raises(CheckpointError, match=changed):
        train_one(compose_config([*more, "model.skip_missing=false"]), 0, tmp_path)
    resumed = train_one(compose_config(more), 0, tmp_path)
    assert resumed.epochs_run == 3 and resumed.history[:2] == first.history
