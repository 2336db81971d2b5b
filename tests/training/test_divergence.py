"""A diverging run stops with the epoch, the first bad step, the last good
checkpoint and what to change; nothing non-finite is kept."""

import math

import pytest
import torch

from cli_helpers import SMALL, exit_status
from mde_pyg.data import make_synthetic
from mde_pyg.errors import DivergenceError, UserError
from mde_pyg.models import LightGCN
from mde_pyg.training import Callback, Trainer
from mde_pyg.training.checkpoint import load_checkpoint


@pytest.fixture(scope="module")
def data():
    return LightGCN.graph_transform()(make_synthetic(num_users=80, num_items=50))


def test_a_non_finite_loss_names_the_epoch_and_step(data, tmp_path):
    class Explode(Callback):
        def on_epoch_end(self, trainer, record, improved):
            if record["epoch"] == 1:  # from epoch 2 on, every loss is inf
                trainer.optimizer.param_groups[0]["lr"] = 1e30

    model = LightGCN.from_data(data, embedding_dim=8)
    trainer = Trainer(
        model,
        data,
        max_epochs=6,
        batch_size=128,
        device="cpu",
        checkpoint_dir=tmp_path,
        callbacks=[Explode()],
    )
    with pytest.raises(DivergenceError) as caught:
        trainer.fit()
    error = caught.value
    assert isinstance(error, UserError) and isinstance(error, FloatingPointError)
    text = str(error)
    assert text.startswith("training diverged at epoch ")
    assert "the loss became non-finite at step " in text
    assert f"the last good checkpoint is {tmp_path / 'last.pt'}" in text
    assert "lower the learning rate" in text
    # Every checkpoint kept is finite.
    for name in ("last.pt", "best.pt"):
        state = load_checkpoint(tmp_path / name)["model"]
        assert all(torch.isfinite(v).all() for v in state.values())


def test_a_non_finite_parameter_is_caught_with_a_finite_loss(data):
    model = LightGCN.from_data(data, embedding_dim=8)
    # Not in the loss, so the loss stays finite; the check reads parameters.
    model.register_parameter("unused", torch.nn.Parameter(torch.tensor([math.nan])))
    trainer = Trainer(model, data, max_epochs=2, device="cpu")
    with pytest.raises(DivergenceError, match="a parameter became NaN or infinite"):
        trainer.fit()


def test_a_finite_run_is_unchanged_by_the_check(data):
    # One read per epoch: the loss reported is the same mean as before.
    model = LightGCN.from_data(data, embedding_dim=8)
    result = Trainer(model, data, max_epochs=2, device="cpu").fit()
    assert all(math.isfinite(record["loss"]) for record in result.history)


def test_divergence_through_the_cli_is_one_line(tmp_path, capsys):
    out = tmp_path / "run"
    status, captured = exit_status(
        [
            "train",
            "model=lightgcn",
            *SMALL,
            "trainer.max_epochs=3",
            "trainer.lr=1e30",
            f"output_dir={out}",
        ],
        capsys,
    )
    assert status == 2
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err
    assert lines[0].startswith("error: training diverged at epoch ")
    assert "lower the learning rate (lr=1e+30)" in lines[0]
    assert not (out / "results.json").exists()
