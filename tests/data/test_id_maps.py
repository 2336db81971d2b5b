"""The ID maps of an MMRec folder (u_id_mapping.csv, i_id_mapping.csv) and
their loading onto the data by load_mmrec."""

import numpy as np
import pytest

from mde_pyg.data.id_maps import ID_MAP_FILES, id_map_text, read_id_map
from mde_pyg.data.inter import write_inter
from mde_pyg.data.mmrec import load_mmrec
from mde_pyg.errors import DatasetError

# 3 users, 4 items; every user has train, validation and test rows.
USER = [0, 0, 0, 1, 1, 1, 2, 2, 2]
ITEM = [0, 1, 2, 1, 2, 3, 0, 3, 1]
LABEL = [0, 1, 2, 0, 1, 2, 0, 1, 2]


def make_folder(tmp_path, user_map=None, item_map=None):
    folder = tmp_path / "shop"
    folder.mkdir()
    write_inter(folder / "shop.inter", np.array(USER), np.array(ITEM), np.array(LABEL))
    if user_map is not None:
        (folder / "u_id_mapping.csv").write_text(user_map)
    if item_map is not None:
        (folder / "i_id_mapping.csv").write_text(item_map)
    return folder


def test_text_is_mmrec_layout_and_reads_back(tmp_path):
    text = id_map_text("item", ["B00X", "a,b", "ünï"])
    assert text.splitlines() == ["asin\titemID", "B00X\t0", "a,b\t1", "ünï\t2"]
    path = tmp_path / ID_MAP_FILES["item"][0]
    path.write_text(text)
    assert read_id_map(path, "item", 3) == ["B00X", "a,b", "ünï"]


def test_rows_may_come_in_any_order(tmp_path):
    path = tmp_path / "u_id_mapping.csv"
    path.write_text("user_id\tuserID\nbob\t1\nann\t0\n")
    assert read_id_map(path, "user", 2) == ["ann", "bob"]


def test_a_raw_id_with_a_tab_is_refused():
    with pytest.raises(DatasetError, match="tab or a line break"):
        id_map_text("user", ["a\tb"])


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "user_id\tuserID\nann\t0\nann\t1\nbob\t2\n",
            "line 3: raw user ID 'ann' is mapped twice \\(first at line 2\\)",
        ),
        (
            "user_id\tuserID\nann\t0\nbob\t0\ncid\t2\n",
            "line 3: internal user ID 0 is mapped twice",
        ),
        (
            "user_id\tuserID\nann\t0\nbob\t1\ncid\t3\n",
            "line 4: internal user ID '3' is not an integer in 0..2",
        ),
        ("user_id\tuserID\nann\t0\nbob\tx\ncid\t2\n", "line 3: internal user ID 'x'"),
        (
            "user_id\tuserID\nann\t0\nbob\t1\n",
            "2 rows but the dataset has 3 users \\(no row for internal ID 2\\)",
        ),
        ("user_id\tuserID\nann\t0\tz\n", "line 2 has 3 fields, expected 2"),
        ("user_id\n", "header must have two columns"),
        ("", "file is empty"),
    ],
)
def test_malformed_maps_name_file_line_and_value(tmp_path, text, message):
    folder = make_folder(tmp_path, user_map=text)
    with pytest.raises(DatasetError, match=message) as error:
        load_mmrec(folder)
    assert "u_id_mapping.csv" in str(error.value)


def test_load_mmrec_puts_the_maps_on_the_data(tmp_path):
    folder = make_folder(
        tmp_path,
        id_map_text("user", ["u-a", "u-b", "u-c"]),
        id_map_text("item", ["i1", "i2", "i3", "i4"]),
    )
    data = load_mmrec(folder)
    assert data["user"].raw_id == ["u-a", "u-b", "u-c"]
    assert data["item"].raw_id == ["i1", "i2", "i3", "i4"]


def test_an_item_map_must_match_the_catalogue(tmp_path):
    folder = make_folder(tmp_path, item_map=id_map_text("item", ["i1", "i2", "i3"]))
    with pytest.raises(
        DatasetError, match="i_id_mapping.csv: 3 rows but the dataset has 4 items"
    ):
        load_mmrec(folder)


def test_without_maps_there_is_no_raw_id(tmp_path):
    data = load_mmrec(make_folder(tmp_path))
    assert "raw_id" not in data["user"] and "raw_id" not in data["item"]


def test_mmrec_dataset_keeps_the_maps_and_rehashes_on_change(tmp_path):
    from mde_pyg.data.dataset import MMRecDataset

    folder = make_folder(
        tmp_path,
        id_map_text("user", ["u-a", "u-b", "u-c"]),
        id_map_text("item", ["i1", "i2", "i3", "i4"]),
    )
    first = MMRecDataset(str(tmp_path), "shop")
    assert first[0]["user"].raw_id == ["u-a", "u-b", "u-c"]
    assert MMRecDataset(str(tmp_path), "shop")[0]["item"].raw_id[3] == "i4"
    (folder / "u_id_mapping.csv").write_text(id_map_text("user", ["x", "y", "z"]))
    assert MMRecDataset(str(tmp_path), "shop")[0]["user"].raw_id == ["x", "y", "z"]


def test_read_id_map_without_a_count_takes_the_rows(tmp_path):
    path = tmp_path / "i_id_mapping.csv"
    path.write_text("asin\titemID\nB2\t1\n\nB1\t0\n")
    assert read_id_map(path, "item") == ["B1", "B2"]
    path.write_text("asin\titemID\nB2\t2\nB1\t0\n")
    with pytest.raises(DatasetError, match="internal item ID '2' is not an integer"):
        read_id_map(path, "item")
