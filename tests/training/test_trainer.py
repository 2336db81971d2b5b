import pytest
import torch

from mde_pyg.data import make_synthetic
from mde_pyg.models import LightGCN
from mde_pyg.training import Callback, Trainer, resolve_device, seed_everything


@pytest.fixture(scope="module")
def data():
    return LightGCN.graph_transform()(
        make_synthetic(num_users=300, num_items=150, seed=0)
    )


def train(data, seed=0, **kwargs):
    seed_everything(seed)
    model = LightGCN.from_data(data, embedding_dim=16)
    options = {"batch_size": 512, "max_epochs": 6, "patience": 3}
    return Trainer(model, data, seed=seed, **{**options, **kwargs}).fit()


def test_training_improves_over_first_epoch_and_reports_best(data):
    result = train(data, lr=1e-2)
    recalls = [h["val"]["recall@20"] for h in result.history]
    assert max(recalls) > recalls[0]
    assert result.best_val["recall@20"] == max(recalls)
    assert result.best_epoch == recalls.index(max(recalls))
    assert set(result.test) >= {
        "recall@10",
        "ndcg@20",
        "precision@10",
        "map@20",
        "hit@20",
    }


def test_same_seed_same_metrics_other_seed_differs(data):
    first, second = train(data, seed=3), train(data, seed=3)
    assert first.best_val == second.best_val and first.test == second.test
    assert train(data, seed=4).best_val != first.best_val


def test_early_stopping_stops_and_never_uses_test(data, monkeypatch):
    result = train(data, lr=0.0, max_epochs=50, patience=2)
    # lr=0: the first epoch is the best, then 3 epochs without improvement.
    assert result.stopped_early and result.epochs_run == 4 and result.best_epoch == 0


def test_writes_only_its_checkpoints_and_prints_nothing(tmp_path, data, capsys):
    train(data, checkpoint_dir=tmp_path / "ck")
    assert sorted(path.name for path in tmp_path.rglob("*")) == [
        "best.pt",
        "best.pt.prev",
        "ck",
        "last.pt",
        "last.pt.prev",
    ]
    assert capsys.readouterr() == ("", "")


def test_callbacks_see_the_start_every_epoch_and_the_result(data):
    calls = []

    class Recorder(Callback):
        def on_fit_start(self, trainer):
            calls.append(("start", trainer.start_epoch))

        def on_epoch_end(self, trainer, record, improved):
            calls.append(("epoch", record["epoch"], improved, record["val"]))

        def on_fit_end(self, trainer, result):
            calls.append(("end", result))

    result = train(data, max_epochs=3, patience=10, callbacks=[Recorder()])
    assert calls[0] == ("start", 0) and calls[-1] == ("end", result)
    epochs = calls[1:-1]
    assert [call[1] for call in epochs] == [0, 1, 2]
    assert [call[3] for call in epochs] == [record["val"] for record in result.history]
    # Improved exactly at the epochs where the monitored metric rose.
    best = -1.0
    for _, _, improved, val in epochs:
        assert improved == (val["recall@20"] > best)
        best = max(best, val["recall@20"])


def test_resume_continues_to_the_same_result(tmp_path, data):
    uninterrupted = train(data, seed=5, max_epochs=6, patience=10)
    train(data, seed=5, max_epochs=3, patience=10, checkpoint_dir=tmp_path)
    resumed = train(
        data, seed=5, max_epochs=6, patience=10, checkpoint_dir=tmp_path, resume=True
    )
    assert resumed.epochs_run == 6
    assert resumed.best_val == uninterrupted.best_val
    assert resumed.test == uninterrupted.test


def test_device_auto_is_the_default(data):
    model = LightGCN.from_data(data, embedding_dim=8)
    assert Trainer(model, data, max_epochs=1).device == resolve_device("auto")


def test_bad_arguments(data):
    model = LightGCN.from_data(data)
    with pytest.raises(ValueError, match="monitor"):
        Trainer(model, data, monitor="recall@50")
    with pytest.raises(ValueError, match="checkpoint_dir"):
        Trainer(model, data, resume=True)
    for max_epochs in (0, -1):
        with pytest.raises(
            ValueError, match=rf"'max_epochs' must be >= 1 \(got {max_epochs}\)"
        ):
            Trainer(model, data, max_epochs=max_epochs)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            Trainer(model, data, device="cuda")
    with pytest.raises(ValueError, match="device='gpu' is not a device"):
        Trainer(model, data, device="gpu")
