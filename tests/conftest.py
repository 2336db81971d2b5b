import pytest

from cli_helpers import SMALL, run_cli


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
