"""The shared benchmark helpers: graph description, power-law fits and CSV
rows read back from disk."""

import math

import pytest

from mde_pyg.data import make_synthetic
from mde_pyg.data.hetero import split_edge_index


@pytest.fixture(scope="module")
def common(bench):
    return bench("common")


def test_describe_graph_names_the_pairs_column(common):
    data = make_synthetic(
        num_users=60, num_items=30, modalities={"image": 12, "text": 5}
    )
    described = common.describe_graph(data, "train_interactions")
    assert described["users"] == 60
    assert described["items"] == 30
    assert described["train_interactions"] == split_edge_index(data, "train").size(1)
    assert described["modalities"] == "image:12 text:5"


def test_fit_power_law_recovers_exponent_and_prefactor(common):
    x = [1e3, 4e3, 2e4, 1e5]
    exponent, prefactor = common.fit_power_law(x, [3.0 * v**1.4 for v in x])
    assert exponent == pytest.approx(1.4)
    assert prefactor == pytest.approx(3.0)


@pytest.mark.parametrize(
    "x, y, message",
    [
        ([1.0, 2.0], [1.0], "differ in length"),
        ([1.0, -2.0], [1.0, 2.0], "positive and finite"),
        ([2.0, 2.0], [1.0, 3.0], "two distinct"),
    ],
)
def test_fit_power_law_rejects_bad_input(common, x, y, message):
    with pytest.raises(ValueError, match=message):
        common.fit_power_law(x, y)


def test_save_row_replaces_the_row_with_the_same_key(common, tmp_path):
    path, fields, key = tmp_path / "rows.csv", ["size", "epoch_s"], ["size"]
    common.save_row(path, [], {"size": 10, "epoch_s": 9.0}, fields, key)
    common.save_row(path, common.read_rows(path), {"size": 20}, fields, key)
    common.save_row(
        path, common.read_rows(path), {"size": 10, "epoch_s": 1.5}, fields, key
    )
    rows = common.read_rows(path)
    assert [common.num(r, "size") for r in rows] == [20.0, 10.0]
    assert common.fmt(rows[1], "epoch_s") == "1.50"
    assert common.fmt(rows[0], "epoch_s") == "-"
    assert math.isnan(common.num(rows[0], "epoch_s"))
