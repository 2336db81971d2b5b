"""Every model config through the whole run pipeline: a run interrupted after
an epoch resumes to the uninterrupted run's result, and its folder loads,
evaluates, recommends and exports as any other."""

import signal

import numpy as np
import pytest
import torch

from cli_helpers import SMALL
from mde_pyg.cli import main
from mde_pyg.data.hetero import split_edge_index
from mde_pyg.errors import RunInterrupted
from mde_pyg.evaluation import evaluate_embeddings
from mde_pyg.pipeline import compose_config, config_names, load_run, train_one
from mde_pyg.training import Callback

EPOCHS = 3


class EpochsRun(Callback):
    def __init__(self) -> None:
        self.epochs = []

    def on_epoch_end(self, trainer, record, improved) -> None:
        self.epochs.append(record["epoch"])


class InterruptAfter(Callback):
    """Stops the run as Ctrl-C does, once ``epochs`` epochs are complete
    (and checkpointed)."""

    def __init__(self, epochs: int) -> None:
        self.epochs = epochs

    def on_epoch_end(self, trainer, record, improved) -> None:
        if record["epoch"] + 1 == self.epochs:
            raise RunInterrupted(signal.SIGINT)


def config(name, out, *extra):
    return compose_config(
        [
            f"model={name}",
            *SMALL,
            f"trainer.max_epochs={EPOCHS}",
            "trainer.patience=10",
            "trainer.verbose=false",
            "checkpoint=true",
            f"output_dir={out}",
            *extra,
        ]
    )


@pytest.mark.parametrize("name", config_names("model"))
def test_every_model_resumes_loads_recommends_and_exports(name, tmp_path, capsys):
    expected = train_one(config(name, tmp_path / "full"), 0, tmp_path / "full")

    run = tmp_path / "run"
    with pytest.raises(RunInterrupted) as interrupted:
        train_one(config(name, run), 0, run, callbacks=[InterruptAfter(EPOCHS - 1)])
    assert interrupted.value.epoch == EPOCHS - 1
    assert not (run / "results.json").exists()
    run_here = EpochsRun()
    resumed = train_one(config(name, run, "resume=true"), 0, run, [run_here])
    assert run_here.epochs == [EPOCHS - 1]  # it did not start over
    assert [r["epoch"] for r in resumed.history] == list(range(EPOCHS))
    # Every epoch's validation, the resumed one's too (the best may be earlier).
    assert [r["val"] for r in resumed.history] == [r["val"] for r in expected.history]
    assert resumed.best_epoch == expected.best_epoch
    assert resumed.best_val == expected.best_val
    assert resumed.test == expected.test

    model, data, _ = load_run(run)
    user_emb, item_emb = model.embeddings(data)
    train = split_edge_index(data, "train")
    test = evaluate_embeddings(
        user_emb, item_emb, train, split_edge_index(data, "test"), k=(10, 20)
    )
    assert test["recall@20"] == pytest.approx(resumed.test["recall@20"], abs=1e-6)

    users = torch.arange(data["user"].num_nodes)
    items, scores = model.recommend(data, users, k=5)
    assert items.shape == (len(users), 5)
    seen = set(zip(train[0].tolist(), train[1].tolist(), strict=True))
    listed = zip(users.repeat_interleave(5).tolist(), items.flatten().tolist())
    assert not seen & set(listed)
    assert torch.all(scores[:, :-1] >= scores[:, 1:])

    main(["export", str(run), "--out", str(tmp_path / "emb")])
    assert np.array_equal(np.load(tmp_path / "emb/user_embeddings.npy"), user_emb)
    assert np.array_equal(np.load(tmp_path / "emb/item_embeddings.npy"), item_emb)
