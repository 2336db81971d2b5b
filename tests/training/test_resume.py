"""Resuming continues the same run or refuses loudly: never a silent restart,
never a checkpoint of another run, never code from a checkpoint file."""

import pytest

from forged import forge_checkpoint, marker_payload
from mde_pyg.data import make_synthetic
from mde_pyg.models import LightGCN
from mde_pyg.training import CheckpointError, Trainer, seed_everything
from mde_pyg.training.checkpoint import previous_path, temporary_path


def graph_data(seed=0):
    return LightGCN.graph_transform()(
        make_synthetic(num_users=150, num_items=80, seed=seed)
    )


@pytest.fixture(scope="module")
def data():
    return graph_data()


def trainer(data, checkpoint_dir, max_epochs, embedding_dim=16, **kwargs):
    seed_everything(3)
    model = LightGCN.from_data(data, embedding_dim=embedding_dim)
    options = {"batch_size": 256, "patience": 20, "device": "cpu"}
    return Trainer(
        model,
        data,
        seed=3,
        max_epochs=max_epochs,
        checkpoint_dir=checkpoint_dir,
        **{**options, **kwargs},
    )


def same_result(a, b):
    return (
        a.best_epoch == b.best_epoch and a.best_val == b.best_val and a.test == b.test
    )


@pytest.fixture(scope="module")
def uninterrupted(data, tmp_path_factory):
    return trainer(data, tmp_path_factory.mktemp("full"), max_epochs=5).fit()


@pytest.mark.parametrize("left", ["temporary", "previous"])
def test_resume_recovers_from_a_kill_between_the_renames(
    data, tmp_path, uninterrupted, left
):
    trainer(data, tmp_path, max_epochs=3).fit()
    last = tmp_path / "last.pt"
    # The state the old writer left when killed between its two renames:
    # last.pt gone, last.pt.prev (epoch 2) and a complete temporary file.
    last.rename(temporary_path(last))
    if left == "previous":
        temporary_path(last).unlink()
    resumed = trainer(data, tmp_path, max_epochs=5, resume=True)
    with pytest.warns(UserWarning, match="recovered it from"):
        result = resumed.fit()
    assert resumed.start_epoch == (3 if left == "temporary" else 2)
    assert same_result(result, uninterrupted)
    assert last.is_file() and previous_path(last).is_file()


def test_resume_without_a_checkpoint_is_an_error_unless_auto(data, tmp_path):
    with pytest.raises(CheckpointError, match="holds no checkpoint"):
        trainer(data, tmp_path, max_epochs=2, resume=True).fit()
    fresh = trainer(data, tmp_path, max_epochs=2, resume="auto")
    fresh.fit()
    assert fresh.start_epoch == 0
    with pytest.raises(ValueError, match="'resume' must be"):
        trainer(data, tmp_path, max_epochs=2, resume="yes")


@pytest.mark.parametrize(
    ("change", "difference"),
    [
        ({"lr": 2e-3}, "trainer.lr: checkpoint 0.001, now 0.002"),
        ({"embedding_dim": 8}, "model.user_embedding.weight: checkpoint [150, 16]"),
        ({"batch_size": 128}, "trainer.batch_size"),
        ({"other_data": True}, "data.train"),
        ({"fingerprint": {"config.model": {"k": 2}}}, "config.model"),
        ({"flush_denormal": True}, "trainer.flush_denormal"),
    ],
)
def test_resume_refuses_a_checkpoint_of_another_run(data, tmp_path, change, difference):
    trainer(data, tmp_path, max_epochs=2).fit()
    change = dict(change)
    run_data = graph_data(seed=1) if change.pop("other_data", False) else data
    resumed = trainer(run_data, tmp_path, max_epochs=4, resume=True, **change)
    with pytest.raises(CheckpointError, match="different run") as error:
        resumed.fit()
    assert difference in str(error.value)


def test_a_changed_epoch_cap_and_eval_chunk_resume(data, tmp_path, uninterrupted):
    trainer(data, tmp_path, max_epochs=2, eval_chunk_size=7).fit()
    result = trainer(data, tmp_path, max_epochs=5, resume=True).fit()
    # The chunk size only changes the order in which metric sums are added.
    assert result.best_epoch == uninterrupted.best_epoch
    assert result.test == pytest.approx(uninterrupted.test, rel=1e-12)


def test_resume_refuses_a_malicious_checkpoint(data, tmp_path):
    marker = tmp_path / "pwned"
    forge_checkpoint(tmp_path / "last.pt", {"model": marker_payload(marker)})
    with pytest.raises(CheckpointError, match="refused"):
        trainer(data, tmp_path, max_epochs=2, resume=True).fit()
    assert not marker.exists()
