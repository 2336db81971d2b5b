import inspect
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

import mde_pyg
from cli_helpers import SMALL, exit_status, run_cli
from forged import forge_checkpoint, marker_payload
from mde_pyg.cli import main
from mde_pyg.data import make_synthetic
from mde_pyg.data.inter import write_inter
from mde_pyg.errors import ConfigError
from mde_pyg.models import MDE, MGCN_OPTIONS, PAPER_OPTIONS, Recommender
from mde_pyg.pipeline import build_data, build_dataset, build_model
from mde_pyg.pipeline.run import trainer_settings
from mde_pyg.training import Trainer

CONF = Path(mde_pyg.__file__).parent.parent.parent / "conf"


def compose_cfg(overrides):
    with initialize_config_module("mde_pyg.conf", version_base="1.3"):
        return compose("config", overrides=overrides)


def group_options(group):
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


@pytest.mark.parametrize("model", group_options("model"))
def test_every_model_config_instantiates(model):
    cfg = compose_cfg([f"model={model}", *SMALL])
    data = build_data(cfg)
    instance = build_model(cfg, data)
    assert isinstance(instance, Recommender)
    user_emb, item_emb = instance.embeddings(data)
    assert user_emb.shape[0] == 80 and item_emb.shape[0] == 50


@pytest.mark.parametrize("study", group_options("study"))
def test_every_study_config_instantiates_an_mde(study):
    # A study config is MDE (model=mde or mde_paper) with a few options changed.
    cfg = compose_cfg([f"study={study}", *SMALL])
    assert cfg.model._target_ == "mde_pyg.models.MDE.from_data"
    data = build_data(cfg)
    assert isinstance(build_model(cfg, data), MDE)


@pytest.mark.parametrize("trainer", group_options("trainer"))
def test_every_trainer_config_instantiates(trainer):
    cfg = compose_cfg([f"trainer={trainer}", "model=lightgcn", *SMALL])
    data = build_data(cfg)
    trainer = Trainer(build_model(cfg, data), data, **trainer_settings(cfg))
    assert trainer.max_epochs == cfg.trainer.max_epochs


@pytest.mark.parametrize("dataset", group_options("dataset"))
def test_every_dataset_config_composes(dataset, tmp_path):
    cfg = compose_cfg([f"dataset={dataset}"])
    assert cfg.dataset._target_.startswith("mde_pyg.data.")
    if cfg.dataset._target_ == "mde_pyg.data.load_mmrec":
        # File-backed configs are instantiated on a tiny generated folder.
        data = make_synthetic(num_users=40, num_items=30, seed=0)
        name = cfg.dataset.name or "tiny"
        folder = tmp_path / name
        folder.mkdir()
        from mde_pyg.data.hetero import split_edge_index

        index = [split_edge_index(data, s) for s in ("train", "val", "test")]
        labels = [i.new_full((i.size(1),), label) for label, i in enumerate(index)]
        import torch

        pairs = torch.cat(index, dim=1)
        write_inter(folder / f"{name}.inter", pairs[0], pairs[1], torch.cat(labels))
        cfg = compose_cfg([f"dataset={dataset}", f"dataset.folder={folder}"])
    data = build_dataset(cfg)
    assert data["user"].num_nodes > 0 and data["item"].num_nodes > 0


@pytest.mark.parametrize("experiment", group_options("experiment"))
def test_every_experiment_config_composes(experiment):
    with initialize_config_module("mde_pyg.conf", version_base="1.3"):
        cfg = compose(
            "config", overrides=[f"experiment={experiment}"], return_hydra_config=True
        )
    assert cfg.hydra.sweeper.params, "an experiment defines a sweep grid"


def test_unknown_and_mistyped_keys_fail_clearly():
    with pytest.raises(ConfigError, match="Unknown key 'model.layers'"):
        cfg = compose_cfg(["model=lightgcn", "+model.layers=3", *SMALL])
        build_model(cfg, build_data(cfg))
    with pytest.raises(ConfigError, match="'dataset.num_users' must be of type int"):
        build_dataset(compose_cfg(["dataset.num_users=many"]))


def test_train_command_end_to_end(tmp_path):
    out = tmp_path / "run"
    proc = run_cli(
        [
            "train",
            "model=lightgcn",
            "trainer=quick",
            *SMALL,
            f"output_dir={out}",
            f"hydra.run.dir={out}",
        ],
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "val: recall@10=" in proc.stdout and "test: recall@10=" in proc.stdout
    assert f"run folder: {out}" in proc.stdout
    assert (out / "training_curve.png").is_file() and (out / "config.yaml").is_file()
    payload = json.loads((out / "results.json").read_text())
    assert payload["versions"]["mde_pyg"] == mde_pyg.__version__
    assert payload["config"]["model"]["num_layers"] == 2
    evaluated = run_cli(["evaluate", str(out)], tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr
    test_line = next(
        line for line in evaluated.stdout.splitlines() if line.startswith("test:")
    )
    assert f"recall@20={payload['result']['test']['recall@20']:.4f}" in test_line


def test_bad_override_and_bad_command(tmp_path, capsys):
    proc = run_cli(["train", "trainer.lrr=1"], tmp_path)
    assert proc.returncode != 0 and "lrr" in proc.stderr
    proc = run_cli(["train", "+trainer.lrr=1", "trainer=quick", *SMALL], tmp_path)
    assert proc.returncode == 2 and "Unknown key 'trainer.lrr'" in proc.stderr
    with pytest.raises(SystemExit):
        main(["frobnicate"])
    assert "unknown command" in capsys.readouterr().err


def test_info_prints_versions_and_dataset(capsys):
    main(["info", *SMALL])
    out = capsys.readouterr().out
    assert "torch_geometric" in out and "users 80  items 50" in out


def test_info_counts_the_items_without_a_modality(tmp_path, capsys):
    import numpy as np

    from mde_pyg.data.hetero import split_edge_index

    data = make_synthetic(num_users=40, num_items=30, interactions_per_user=6)
    index = [split_edge_index(data, s) for s in ("train", "val", "test")]
    pairs = torch.cat(index, dim=1)
    labels = torch.cat([i.new_full((i.size(1),), s) for s, i in enumerate(index)])
    folder = tmp_path / "shop"
    folder.mkdir()
    write_inter(folder / "shop.inter", pairs[0], pairs[1], labels)
    np.save(folder / "text_feat.npy", data["item"].x_text.numpy())
    np.save(folder / "text_mask.npy", np.arange(30) % 3 != 0)
    overrides = ["dataset=mmrec", f"dataset.folder={folder}"]
    main(["info", *overrides, "model=lightgcn", "dataset.missing_features=zeros"])
    out = capsys.readouterr().out
    assert "modality text: (30, 32), 10 items without it (filled: zeros)" in out
    main(["info", *overrides, "model=mgcn", "model.graphs.skip_missing=false"])
    out = capsys.readouterr().out
    assert "10 items without it (filled: mean; item graphs: link)" in out
    main(["info", *overrides, "model=lattice"])
    assert "(filled: mean; item graphs: skip)" in capsys.readouterr().out


def copy_run(run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    return copy


def test_evaluate_reads_a_run_folder_set_by_output_dir(finished_run, capsys):
    assert not (finished_run / ".hydra").exists()
    main(["evaluate", str(finished_run)])
    expected = json.loads((finished_run / "results.json").read_text())["result"]
    out = capsys.readouterr().out
    assert f"recall@20={expected['test']['recall@20']:.4f}" in out


def test_evaluate_takes_a_device(finished_run, capsys):
    main(["evaluate", str(finished_run), "--device", "cpu"])
    assert capsys.readouterr().out.startswith("val: recall@10=")
    status, captured = exit_status(
        ["evaluate", str(finished_run), "--device", "gpu"], capsys
    )
    assert status == 2
    assert captured.err.strip() == (
        "error: --device gpu: device='gpu' is not a device (expected auto, cpu, "
        "cuda or cuda:<index>)"
    )


def test_evaluate_refuses_a_malicious_checkpoint(finished_run, tmp_path, capsys):
    run = copy_run(finished_run, tmp_path)
    marker = tmp_path / "pwned"
    forge_checkpoint(run / "checkpoints" / "best.pt", {"model": marker_payload(marker)})
    status, captured = exit_status(["evaluate", str(run)], capsys)
    assert status == 2 and "best.pt' holds objects" in captured.err
    assert "refused" in captured.err and not marker.exists()


@pytest.mark.parametrize("key", ["dataset", "model"])
def test_evaluate_refuses_a_target_outside_the_package(
    finished_run, tmp_path, capsys, key
):
    run = copy_run(finished_run, tmp_path)
    marker = tmp_path / "pwned"
    cfg = OmegaConf.load(run / "config.yaml")
    cfg[key] = {"_target_": "builtins.exec", "source": f"open('{marker}','w')"}
    OmegaConf.save(cfg, run / "config.yaml")
    status, captured = exit_status(["evaluate", str(run)], capsys)
    assert status == 2 and not marker.exists()
    assert f"'{key}._target_' is 'builtins.exec'" in captured.err
    assert "refused" in captured.err


def test_evaluate_refuses_a_checkpoint_of_another_model(finished_run, tmp_path, capsys):
    run = copy_run(finished_run, tmp_path)
    cfg = OmegaConf.load(run / "config.yaml")
    cfg.model.embedding_dim = 8
    OmegaConf.save(cfg, run / "config.yaml")
    status, captured = exit_status(["evaluate", str(run)], capsys)
    assert status == 2 and "does not fit the model" in captured.err


def test_dataset_errors_are_one_line_for_every_subcommand(
    finished_run, tmp_path, capsys
):
    missing = tmp_path / "nowhere"
    overrides = ["dataset=mmrec", f"dataset.folder={missing}"]
    status, captured = exit_status(["info", *overrides], capsys)
    assert status == 2
    assert captured.err.strip() == f"error: {missing}: dataset folder not found"

    run = copy_run(finished_run, tmp_path)
    cfg = OmegaConf.load(run / "config.yaml")
    cfg.dataset = {"_target_": "mde_pyg.data.load_mmrec", "folder": str(missing)}
    OmegaConf.save(cfg, run / "config.yaml")
    status, captured = exit_status(["evaluate", str(run)], capsys)
    assert status == 2
    assert captured.err.strip() == f"error: {missing}: dataset folder not found"

    proc = run_cli(["train", *overrides, f"hydra.run.dir={tmp_path / 'h'}"], tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: {missing}: dataset folder not found"


def test_resume_through_the_cli_refuses_another_run(finished_run, tmp_path):
    run = copy_run(finished_run, tmp_path)
    args = ["train", "trainer=quick", *SMALL, "resume=true", f"output_dir={run}"]
    proc = run_cli(
        [*args, "model=lightgcn", "seed=5", f"hydra.run.dir={tmp_path / 'h'}"],
        tmp_path,
    )
    assert proc.returncode == 2 and "trainer.seed: checkpoint 0, now 5" in proc.stderr


def test_unknown_graph_option_fails_clearly():
    cfg = compose_cfg(["model=mde", "+model.graphs.knn=3", *SMALL])
    with pytest.raises(ConfigError, match="Unknown key 'model.graphs.knn'"):
        build_data(cfg)


def test_seeds_are_labelled(tmp_path):
    out = tmp_path / "run"
    proc = run_cli(
        [
            "train",
            "model=lightgcn",
            "trainer=quick",
            "trainer.max_epochs=1",
            *SMALL,
            "seeds=[3,4]",
            f"output_dir={out}",
            f"hydra.run.dir={out}",
        ],
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "== seed 3 (1 of 2)" in proc.stdout and "== seed 4 (2 of 2)" in proc.stdout
    assert "test over seeds [3, 4]:" in proc.stdout
    assert (out / "seed_4" / "results.json").is_file()


def test_a_sweep_ends_by_selecting_on_validation(tmp_path):
    sweep = tmp_path / "sweep"
    proc = run_cli(
        [
            "train",
            "-m",
            "model=lightgcn",
            "trainer=quick",
            "trainer.max_epochs=1",
            *SMALL,
            "model.reg_weight=1e-2,1e-4",
            f"hydra.sweep.dir={sweep}",
        ],
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "selected on validation recall@20: job" in proc.stdout
    best = json.loads((sweep / "best.json").read_text())
    assert best["selected_on"] == "validation"
    assert any(o.startswith("model.reg_weight=") for o in best["overrides"])
    again = run_cli(["select", str(sweep)], tmp_path)
    assert again.returncode == 0 and f"job {best['job']}" in again.stdout


def test_a_model_config_brings_the_trainer_settings_it_needs():
    resolved = OmegaConf.to_container(
        compose_cfg(["model=lattice"]).trainer, resolve=True
    )
    assert (resolved["lr_decay"], resolved["lr_decay_every"]) == (0.96, 50)
    override = compose_cfg(["model=lattice", "trainer.lr_decay=1.0"])
    assert OmegaConf.to_container(override.trainer, resolve=True)["lr_decay"] == 1.0
    mde = OmegaConf.to_container(compose_cfg(["model=mde"]).trainer, resolve=True)
    assert mde["lr_decay"] == 1.0


def test_mde_configs_are_the_class_defaults_and_the_named_options():
    defaults = {
        name: parameter.default
        for name, parameter in inspect.signature(MDE.__init__).parameters.items()
        if parameter.default is not inspect.Parameter.empty
    }
    mde = OmegaConf.to_container(compose_cfg(["model=mde"]).model, resolve=True)
    # Every option of the class is in model=mde, with the class's default.
    assert {name: mde[name] for name in defaults} == defaults
    paper = OmegaConf.to_container(compose_cfg(["model=mde_paper"]).model, resolve=True)
    assert {name: paper[name] for name in defaults} == {**defaults, **PAPER_OPTIONS}
    mgcn = OmegaConf.to_container(compose_cfg(["study=mgcn"]).model, resolve=True)
    assert {name: mgcn[name] for name in defaults} == {**defaults, **MGCN_OPTIONS}


def test_help_imports_neither_torch_nor_hydra():
    probe = (
        "import sys\n"
        "from mde_pyg.command import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit as done:\n"
        "    assert done.code == 0\n"
        "heavy = [m for m in ('torch', 'torch_geometric', 'hydra')\n"
        "         if m in sys.modules]\n"
        "print('heavy:', heavy)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert "usage: mde-pyg" in proc.stdout and "heavy: []" in proc.stdout


@pytest.mark.parametrize("argv", [["--help"], ["train", "--help"]])
def test_a_closed_output_pipe_ends_quietly(argv):
    # `mde-pyg ... | head`: the reader has gone before the output is written.
    process = subprocess.Popen(
        [sys.executable, "-m", "mde_pyg", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    process.stdout.close()
    stderr = process.stderr.read()
    assert process.wait(timeout=120) == 141
    assert stderr == ""
