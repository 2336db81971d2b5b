import re
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mde_pyg.data import load_mmrec
from mde_pyg.data.errors import DatasetError
from mde_pyg.data.hetero import item_features, split_edge_index
from mde_pyg.data.mmrec import read_inter, write_inter

HEADER = "userID\titemID\tx_label\n"


def make_folder(tmp_path, rows, name="toy", header=HEADER, features=None):
    folder = tmp_path / name
    folder.mkdir()
    body = "".join("\t".join(map(str, row)) + "\n" for row in rows)
    (folder / f"{name}.inter").write_text(header + body)
    for modality, x in (features or {}).items():
        np.save(folder / f"{modality}_feat.npy", x)
    return folder


ROWS = [
    (0, 0, 0),
    (0, 1, 0),
    (0, 2, 1),
    (1, 1, 0),
    (1, 3, 2),
    (2, 0, 0),
    (2, 3, 1),
    (0, 3, 2),
]


def test_load_mmrec_layout_and_modalities(tmp_path):
    feats = {"text": np.random.rand(4, 3), "image": np.random.rand(4, 5)}
    folder = make_folder(tmp_path, ROWS, features=feats)
    data = load_mmrec(folder)
    assert data["user"].num_nodes == 3 and data["item"].num_nodes == 4
    assert list(item_features(data)) == ["image", "text"]  # sorted file names
    assert data["item"].x_text.dtype == torch.float32
    assert split_edge_index(data, "train").tolist() == [[0, 0, 1, 2], [0, 1, 1, 0]]
    assert split_edge_index(data, "val").tolist() == [[0, 2], [2, 3]]
    assert torch.equal(
        data["item", "rev_interacts", "user"].edge_index,
        split_edge_index(data, "train").flip(0),
    )
    only_text = load_mmrec(folder, modalities=["text"])
    assert list(item_features(only_text)) == ["text"]
    explicit = load_mmrec(folder, feature_files={"v": folder / "image_feat.npy"})
    assert explicit["item"].x_v.shape == (4, 5)
    assert list(item_features(load_mmrec(folder, modalities=[]))) == []


def test_optional_columns_are_ignored_and_round_trip(tmp_path):
    folder = make_folder(
        tmp_path,
        [(u, i, lab, 5, 123) for u, i, lab in ROWS],
        header="userID\titemID\tx_label\trating\ttimestamp\n",
    )
    user, item, label = read_inter(folder / "toy.inter")
    write_inter(tmp_path / "copy.inter", user, item, label)
    again = read_inter(tmp_path / "copy.inter")
    assert all(torch.equal(a, b) for a, b in zip((user, item, label), again))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "file is empty"),
        ("userID\titemID\n0\t1\n", "missing required column 'x_label'"),
        ("userID,itemID,x_label\n0,1,0\n", "missing required column 'userID'.*tab"),
        (HEADER, "no interaction rows"),
        (
            HEADER + "0\t1\t0\n1\tx7\t0\n",
            "column 'itemID' has non-integer value 'x7' at line 3",
        ),
        (
            HEADER + "0\t1\t0\n-3\t1\t0\n",
            "column 'userID' has negative value -3 at line 3",
        ),
        (HEADER + "0\t1\t0\n1\t1\t5\n", "column 'x_label' has value 5 at line 3"),
        (HEADER + "0\t1\t0\n1\t1\n", "line 3 has 2 fields, expected 3"),
        (HEADER + "0\t1.5\t0\n", "column 'itemID' has non-integer value '1.5'"),
    ],
)
def test_malformed_inter_files(tmp_path, content, message):
    path = tmp_path / "bad.inter"
    path.write_text(content)
    with pytest.raises(DatasetError, match=f"bad.inter: .*{message}"):
        read_inter(path)


def test_missing_folder_file_and_modality(tmp_path):
    with pytest.raises(DatasetError, match="dataset folder not found"):
        load_mmrec(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match=re.escape("empty.inter: file not found")):
        load_mmrec(tmp_path / "empty")
    folder = make_folder(tmp_path, ROWS)
    with pytest.raises(
        DatasetError, match="audio_feat.npy: feature file of modality 'audio'"
    ):
        load_mmrec(folder, modalities=["audio"])


def test_duplicates_are_dropped_with_a_count(tmp_path):
    folder = make_folder(tmp_path, [*ROWS, (0, 0, 0), (0, 0, 1)])
    with pytest.warns(UserWarning, match="dropped 2 duplicate"):
        data = load_mmrec(folder)
    assert split_edge_index(data, "train").size(1) == 4


def test_users_without_training_rows_are_dropped_with_a_count(tmp_path):
    folder = make_folder(tmp_path, [*ROWS, (3, 0, 1), (3, 1, 2)])
    with pytest.warns(UserWarning, match="dropped 2 validation/test rows of 1 users"):
        data = load_mmrec(folder)
    assert 3 not in split_edge_index(data, "val")[0].tolist()


def test_empty_split_is_an_error(tmp_path):
    folder = make_folder(tmp_path, [r for r in ROWS if r[2] != 2])
    with pytest.raises(DatasetError, match="the test split is empty"):
        load_mmrec(folder)


@pytest.mark.parametrize(
    ("x", "message"),
    [
        (np.random.rand(3, 2), "have 3 rows but the dataset has 4 items"),
        (np.random.rand(4), "must be 2-D"),
        (
            np.array([[0.0, 1], [1, 1], [np.nan, 0], [np.inf, 1]]),
            "modality 'image' contain NaN/Inf, first in row 2",
        ),
    ],
)
def test_bad_features(tmp_path, x, message):
    folder = make_folder(tmp_path, ROWS, features={"image": x})
    with pytest.raises(DatasetError, match=f"image_feat.npy: .*{re.escape(message)}"):
        load_mmrec(folder)


def test_unreadable_feature_file(tmp_path):
    folder = make_folder(tmp_path, ROWS)
    (folder / "image_feat.npy").write_bytes(b"not numpy")
    with pytest.raises(DatasetError, match="not a readable .npy"):
        load_mmrec(folder)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 30), st.integers(0, 30), st.integers(0, 2)),
        min_size=1,
        max_size=60,
    )
)
def test_read_inter_keeps_first_of_each_pair(tmp_path_factory, rows):
    path = tmp_path_factory.mktemp("prop") / "p.inter"
    path.write_text(HEADER + "".join(f"{u}\t{i}\t{lab}\n" for u, i, lab in rows))
    first = {}
    for u, i, lab in rows:
        first.setdefault((u, i), lab)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        user, item, label = read_inter(path)
    assert (len(caught) == 1) == (len(first) < len(rows))
    got = list(zip(user.tolist(), item.tolist(), label.tolist()))
    assert got == [(u, i, lab) for (u, i), lab in first.items()]
