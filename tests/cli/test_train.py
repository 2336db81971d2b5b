"""The progress that ``mde-pyg train`` prints, through the trainer's
callbacks."""

import pytest

from mde_pyg.cli.train import ProgressPrinter, format_result
from mde_pyg.data import make_synthetic
from mde_pyg.models import LightGCN
from mde_pyg.training import Trainer


@pytest.fixture(scope="module")
def data():
    return LightGCN.graph_transform()(
        make_synthetic(num_users=120, num_items=60, seed=0)
    )


def fit(data, **kwargs):
    model = LightGCN.from_data(data, embedding_dim=8)
    return Trainer(model, data, max_epochs=2, device="cpu", **kwargs).fit()


def test_lines_when_output_is_kept_a_bar_on_a_terminal(data, capsys, monkeypatch):
    result = fit(data, callbacks=[ProgressPrinter()])
    out = capsys.readouterr()
    assert out.out.startswith("training LightGCN on cpu\n")
    assert "epoch    0 | loss" in out.out and "epoch    1 | loss" in out.out
    assert out.out.endswith(format_result(result, (10, 20)) + "\n")
    assert "epoch/s" not in out.err

    monkeypatch.setattr("sys.stderr.isatty", lambda: True)
    fit(data, callbacks=[ProgressPrinter()])
    out = capsys.readouterr()
    assert "epoch    0 | loss" not in out.out
    assert "2/2" in out.err and "val=" in out.err and "best=" in out.err


def test_without_the_printer_nothing_is_printed(data, capsys):
    fit(data)
    assert capsys.readouterr() == ("", "")


def test_result_names_the_split_and_every_cut_off(data):
    text = format_result(fit(data), (10, 20))
    first, val, test = text.splitlines()
    assert first.startswith("best epoch ") and first.endswith("(of 2)")
    assert val.startswith("val: recall@10=") and "ndcg@20=" in val
    assert test.startswith("test: recall@10=")
