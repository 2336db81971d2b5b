"""Every user error of ``mde-pyg`` is one ``error:`` line with exit status
2: unknown names and keys, a dataset without features, a folder that is not
a sweep; one run writes one folder, a failed start leaves none."""

import json

import numpy as np
import pytest
import torch

from cli_helpers import SMALL, exit_status
from mde_pyg.cli import main
from mde_pyg.data import make_synthetic
from mde_pyg.data.hetero import split_edge_index
from mde_pyg.data.inter import write_inter


def one_line(captured):
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("error: "), captured.err
    return lines[0]


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("model=lightgnc", "error: unknown model 'lightgnc' (did you mean 'lightgcn'?"),
        ("dataset=synthetc", "unknown dataset 'synthetc' (did you mean 'synthetic'?"),
        (
            "experiment=nope",
            "unknown experiment 'nope' (valid: bm3_grid, bm3_suite, dragon_grid, ",
        ),
        (
            "trainer.max_epoch=2",
            "error: unknown key 'trainer.max_epoch' (did you mean "
            "'trainer.max_epochs'?)",
        ),
        ("trainer.zzz=2", "unknown key 'trainer.zzz' (valid keys of 'trainer': "),
    ],
)
def test_unknown_names_and_keys_are_one_line(override, expected, tmp_path, capsys):
    status, captured = exit_status(["train", override], capsys)
    assert status == 2
    assert expected in one_line(captured)
    if override.startswith("model"):
        assert "valid: bm3, dragon, freedom, lattice, lgmrec, lightgcn" in captured.err
    # info composes the same way
    status, captured = exit_status(["info", override], capsys)
    assert status == 2 and expected in one_line(captured)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            ["model=mmgcn", "model.combine=sum"],
            "error: model: Unknown combine 'sum' (expected one of ('concat', 'add'))",
        ),
        (
            ["model=bm3", "model.dropout=1.5"],
            "error: model: 'dropout' must be in [0, 1) (got 1.5)",
        ),
        (
            ["model=lgmrec", "model.keep_rate=2"],
            "error: model: 'keep_rate' must be in (0, 1] (got 2)",
        ),
        (["model=smore", "model.tau=0"], "error: model: 'tau' must be > 0 (got 0)"),
        (["model=mgcn", "model.tau=-1"], "error: model: 'tau' must be > 0 (got -1)"),
        (
            ["model=vbpr", "model.embedding_dim=0"],
            "error: model: 'embedding_dim' must be > 0 (got 0)",
        ),
        (
            ["model=lightgcn", "model.embedding_dim=0"],
            "error: model: 'embedding_dim' must be > 0 (got 0)",
        ),
        (
            ["model=dragon", "model.graphs.k=0"],
            "error: model.graphs: 'k' must be >= 1 (got 0)",
        ),
        (
            ["dataset.interactions_per_user=4"],
            "error: dataset: 'interactions_per_user' must be >= 5 (got 4)",
        ),
        (["trainer.batch_size=0"], "error: trainer: 'batch_size' must be >= 1 (got 0)"),
        (["trainer.lr=-1"], "error: trainer: Invalid learning rate: -1"),
        (["trainer.max_epochs=0"], "error: trainer: 'max_epochs' must be >= 1 (got 0)"),
        (
            ["trainer.device=gpu"],
            "error: trainer: device='gpu' is not a device (expected auto, cpu, cuda "
            "or cuda:<index>)",
        ),
        (
            ["trainer.distributed=maybe"],
            "error: trainer: 'distributed' must be true, false or 'auto' (got 'maybe')",
        ),
        (["model=lattice", "model.k=0"], "error: model: 'k' must be >= 1 (got 0)"),
        (
            ["model=smore", "model.graphs.text_k=0"],
            "error: model.graphs: 'text_k' must be >= 1 (got 0)",
        ),
        (["dataset.num_users=0"], "error: dataset: 'num_users' must be >= 1 (got 0)"),
        (
            ["seeds=[]"],
            "error: seeds=[] lists no seed (list one or more, e.g. seeds=[0,1,2], "
            "or leave seeds unset and set seed)",
        ),
    ],
)
def test_a_value_the_code_rejects_is_one_line_naming_section_field_and_value(
    overrides, expected, tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    status, captured = exit_status(["train", *SMALL, *overrides], capsys)
    assert status == 2
    assert one_line(captured) == expected
    # The run failed before training: it leaves no folder.
    assert not (tmp_path / "outputs").exists()


def test_a_key_another_model_has_lists_this_models_keys(capsys):
    # LightGCN builds no item graphs: the valid keys are LightGCN's own.
    status, captured = exit_status(
        ["info", "model=lightgcn", "model.graphs.skip_missing=false"], capsys
    )
    assert status == 2
    assert one_line(captured) == (
        "error: unknown key 'model.graphs' (valid keys of 'model': "
        "embedding_dim, num_layers, reg_weight)"
    )


def test_unknown_key_in_a_sweep_is_one_line(capsys):
    status, captured = exit_status(
        ["train", "-m", "trainer.lr=1e-3,1e-2", "trainer.max_epoch=2"], capsys
    )
    assert status == 2 and "did you mean 'trainer.max_epochs'" in one_line(captured)


@pytest.fixture
def featureless(tmp_path):
    """A dataset folder whose feature file is misnamed (image.npy)."""
    data = make_synthetic(num_users=40, num_items=30, seed=0)
    folder = tmp_path / "shop"
    folder.mkdir()
    index = [split_edge_index(data, s) for s in ("train", "val", "test")]
    labels = [i.new_full((i.size(1),), label) for label, i in enumerate(index)]
    pairs = torch.cat(index, dim=1)
    write_inter(folder / "shop.inter", pairs[0], pairs[1], torch.cat(labels))
    np.save(folder / "image.npy", np.zeros((30, 4), dtype=np.float32))
    return folder


def test_a_dataset_without_features_is_one_line_and_leaves_no_folder(
    featureless, tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "runs" / "mde"
    status, captured = exit_status(
        [
            "train",
            "dataset=mmrec",
            f"dataset.folder={featureless}",
            f"output_dir={out}",
        ],
        capsys,
    )
    assert status == 2
    line = one_line(captured)
    assert line.startswith(f"error: {featureless}: MDE needs at least one item ")
    assert "found image.npy" in line and "Error in call to target" not in line
    # The run failed before training: the folders it created are gone.
    assert not (tmp_path / "runs").exists() and not (tmp_path / "outputs").exists()

    # A default run folder goes too.
    status, captured = exit_status(
        ["train", "dataset=mmrec", f"dataset.folder={featureless}"], capsys
    )
    assert status == 2 and not (tmp_path / "outputs").exists()


@pytest.mark.parametrize("model", ["freedom", "dragon"])
def test_no_modality_is_said_before_the_feature_graphs_are_built(
    model, featureless, tmp_path, capsys
):
    # Their graph transforms mix the features' k-NN graphs: the missing
    # modality is reported before any is built, as for the other models.
    status, captured = exit_status(
        [
            "train",
            f"model={model}",
            "dataset=mmrec",
            f"dataset.folder={featureless}",
            f"output_dir={tmp_path / 'run'}",
        ],
        capsys,
    )
    assert status == 2
    line = one_line(captured)
    assert f"{model.upper()} needs at least one item feature modality" in line


def test_a_failed_start_leaves_an_existing_folder_alone(featureless, tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep")
    status, _ = exit_status(
        [
            "train",
            "dataset=mmrec",
            f"dataset.folder={featureless}",
            f"output_dir={out}",
        ],
        capsys,
    )
    assert status == 2 and (out / "notes.txt").read_text() == "keep"


def test_info_says_when_a_dataset_has_no_modality(featureless, capsys):
    main(["info", "dataset=mmrec", f"dataset.folder={featureless}"])
    out = capsys.readouterr().out
    assert "no item feature modality (no <modality>_feat.npy file)" in out


def test_select_refuses_a_folder_that_is_not_a_sweep(tmp_path, capsys):
    for name in ("a", "b"):
        run = tmp_path / name
        run.mkdir()
        result = {"best_val": {"recall@20": 0.1}, "test": {"recall@20": 0.1}}
        result["best_epoch"] = 0
        (run / "results.json").write_text(json.dumps({"result": result}))
    status, captured = exit_status(["select", str(tmp_path)], capsys)
    assert status == 2
    assert one_line(captured).startswith(f"error: {tmp_path}: not a sweep folder")
    assert not (tmp_path / "best.json").exists()


def test_output_dir_holds_the_whole_run(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "run"
    main(
        [
            "train",
            "model=lightgcn",
            *SMALL,
            "trainer.max_epochs=1",
            f"output_dir={out}",
        ]
    )
    assert (out / ".hydra" / "config.yaml").is_file()
    assert (out / "results.json").is_file() and list(out.glob("*.log"))
    assert not (tmp_path / "outputs").exists()
    assert not (out / ".lock").exists()  # released
