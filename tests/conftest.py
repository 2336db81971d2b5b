import pytest

from cli_helpers import SMALL, run_cli, write_raw_interactions


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory):
    """A finished LightGCN run whose output_dir is not Hydra's run folder."""
    root = tmp_path_factory.mktemp("runs")
    out = root / "run"
    proc = run_cli(
        [
            "train",
            "model=lightgcn",
            "trainer=quick",
            *SMALL,
            f"output_dir={out}",
            f"hydra.run.dir={root / 'hydra'}",
        ],
        root,
    )
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture(scope="session")
def raw_id_run(tmp_path_factory):
    """``mde-pyg import`` of :func:`write_raw_interactions` and a 2-epoch
    LightGCN run on it: ``(dataset folder, run folder)``."""
    root = tmp_path_factory.mktemp("raw_ids")
    raw = write_raw_interactions(root / "interactions.csv")
    proc = run_cli(
        [
            "import",
            str(raw),
            "--out",
            str(root / "shop"),
            "--user-column",
            "customer",
            "--item-column",
            "product",
            "--k-core",
            "3",
        ],
        root,
    )
    assert proc.returncode == 0, proc.stderr
    out = root / "run"
    proc = run_cli(
        [
            "train",
            "model=lightgcn",
            "dataset=mmrec",
            f"dataset.folder={root / 'shop'}",
            "trainer.max_epochs=2",
            f"output_dir={out}",
            f"hydra.run.dir={root / 'hydra'}",
        ],
        root,
    )
    assert proc.returncode == 0, proc.stderr
    return root / "shop", out


@pytest.fixture(scope="session")
def tiny_image_model(tmp_path_factory):
    """A folder holding a toy CLIP checkpoint with random weights
    (:func:`image_helpers.write_tiny_clip`), for the image encoder."""
    from image_helpers import write_tiny_clip

    return write_tiny_clip(tmp_path_factory.mktemp("tiny_clip"))
