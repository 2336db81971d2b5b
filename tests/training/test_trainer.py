import json

import pytest
import torch

from mde_pyg.data import make_synthetic
from mde_pyg.models import LightGCN
from mde_pyg.training import Trainer, resolve_device, seed_everything


@pytest.fixture(scope="module")
def data():
    return LightGCN.graph_transform()(
        make_synthetic(num_users=300, num_items=150, seed=0)
    )


def train(data, seed=0, **kwargs):
    seed_everything(seed)
    model = LightGCN.from_data(data, embedding_dim=16)
    options = {"batch_size": 512, "max_epochs": 6, "patience": 3, "verbose": False}
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


def test_results_json_and_checkpoints(tmp_path, data):
    result = train(
        data,
        results_path=tmp_path / "results.json",
        checkpoint_dir=tmp_path / "ck",
        metadata={"config": {"model": "lightgcn"}},
    )
    payload = json.loads((tmp_path / "results.json").read_text())
    assert payload["seed"] == 0 and payload["config"] == {"model": "lightgcn"}
    assert payload["device"].startswith(str(resolve_device("auto")))
    assert payload["result"]["test"] == pytest.approx(result.test)
    assert (tmp_path / "ck" / "best.pt").is_file() and (
        tmp_path / "ck" / "last.pt"
    ).is_file()


def test_resume_continues_to_the_same_result(tmp_path, data):
    uninterrupted = train(data, seed=5, max_epochs=6, patience=10)
    train(data, seed=5, max_epochs=3, patience=10, checkpoint_dir=tmp_path)
    resumed = train(
        data, seed=5, max_epochs=6, patience=10, checkpoint_dir=tmp_path, resume=True
    )
    assert resumed.epochs_run == 6
    assert resumed.best_val == uninterrupted.best_val
    assert resumed.test == uninterrupted.test


def test_device_auto_is_the_default_and_printed(data, capsys):
    model = LightGCN.from_data(data, embedding_dim=8)
    trainer = Trainer(model, data, max_epochs=1)
    assert trainer.device == resolve_device("auto")
    trainer.fit()
    assert f"training LightGCN on {trainer.device}" in capsys.readouterr().out


def test_bad_arguments(data):
    model = LightGCN.from_data(data)
    with pytest.raises(ValueError, match="monitor"):
        Trainer(model, data, monitor="recall@50")
    with pytest.raises(ValueError, match="checkpoint_dir"):
        Trainer(model, data, resume=True)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            Trainer(model, data, device="cuda")


def test_progress_bar_on_a_terminal_lines_otherwise(data, capsys, monkeypatch):
    model = LightGCN.from_data(data, embedding_dim=8)
    Trainer(model, data, max_epochs=2, device="cpu").fit()
    out = capsys.readouterr()
    assert "epoch    0 | loss" in out.out and "epoch/s" not in out.err

    monkeypatch.setattr("sys.stderr.isatty", lambda: True)
    Trainer(model, data, max_epochs=2, device="cpu").fit()
    out = capsys.readouterr()
    assert "epoch    0 | loss" not in out.out
    assert "2/2" in out.err and "val=" in out.err and "best=" in out.err

    Trainer(model, data, max_epochs=2, device="cpu", verbose=False).fit()
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""


def test_training_curve_is_written_beside_the_results(tmp_path, data):
    train(data, results_path=tmp_path / "results.json", max_epochs=3)
    png = tmp_path / "training_curve.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
