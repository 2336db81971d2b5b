import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mde_pyg.data.hetero import item_features, split_edge_index
from mde_pyg.data.inter import first_pair_mask, read_inter, write_inter
from mde_pyg.data.mmrec import load_mmrec
from mde_pyg.errors import ConfigError, DatasetError

HEADER = "userID\titemID\tx_label\n"
RNG = np.random.default_rng(0)


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
    feats = {"text": RNG.random((4, 3)), "image": RNG.random((4, 5))}
    folder = make_folder(tmp_path, ROWS, features=feats)
    data = load_mmrec(folder)
    assert data["user"].num_nodes == 3 and data["item"].num_nodes == 4
    assert list(item_features(data)) == ["image", "text"]  # sorted file names
    assert data["item"].x_text.dtype == torch.float32
    assert torch.allclose(data["item"].x_text, torch.from_numpy(feats["text"]).float())
    train = split_edge_index(data, "train")
    assert train.dtype == torch.int64 and train.tolist() == [[0, 0, 1, 2], [0, 1, 1, 0]]
    assert split_edge_index(data, "val").tolist() == [[0, 2], [2, 3]]
    assert split_edge_index(data, "test").tolist() == [[1, 0], [3, 3]]
    assert torch.equal(data["item", "rev_interacts", "user"].edge_index, train.flip(0))
    only_text = load_mmrec(folder, modalities=["text"])
    assert list(item_features(only_text)) == ["text"]
    explicit = load_mmrec(folder, feature_files={"v": folder / "image_feat.npy"})
    assert explicit["item"].x_v.shape == (4, 5)
    assert list(item_features(load_mmrec(folder, modalities=[]))) == []


def test_counts_span_all_splits_and_name_argument(tmp_path):
    # Item 9 and user 5 occur only in held-out rows, yet count.
    rows = [*ROWS, (5, 0, 0), (5, 9, 2)]
    folder = make_folder(tmp_path, rows, name="other")
    data = load_mmrec(folder.rename(tmp_path / "renamed"), name="other")
    assert data["user"].num_nodes == 6 and data["item"].num_nodes == 10


def test_optional_columns_are_ignored_and_round_trip(tmp_path):
    # Any column order; float ratings are never parsed.
    folder = make_folder(
        tmp_path,
        [(123, u, 4.5, i, lab) for u, i, lab in ROWS],
        header="timestamp\tuserID\trating\titemID\tx_label\n",
    )
    user, item, label = read_inter(folder / "toy.inter")
    assert list(zip(user.tolist(), item.tolist(), label.tolist())) == ROWS
    write_inter(tmp_path / "copy.inter", user, item, label)
    again = read_inter(tmp_path / "copy.inter")
    assert all(torch.equal(a, b) for a, b in zip((user, item, label), again))


def test_load_mmrec_round_trip_with_write_inter(tmp_path):
    gen = torch.Generator().manual_seed(0)
    user = torch.arange(20).repeat_interleave(6)
    item = torch.stack([torch.randperm(15, generator=gen)[:6] for _ in range(20)])
    label = torch.tensor([0, 0, 0, 0, 1, 2]).repeat(20)
    folder = tmp_path / "rt"
    folder.mkdir()
    write_inter(folder / "rt.inter", user, item.view(-1), label)
    np.save(folder / "image_feat.npy", np.ones((int(item.max()) + 1, 2)))
    data = load_mmrec(folder)
    for value, split in enumerate(("train", "val", "test")):
        expected = torch.stack([user, item.view(-1)])[:, label == value]
        assert torch.equal(split_edge_index(data, split), expected)


def test_crlf_blank_lines_and_spaces(tmp_path):
    path = tmp_path / "win.inter"
    path.write_bytes(b"userID\titemID\tx_label\r\n0\t1\t0\r\n\r\n 2\t3\t1\r\n\r\n")
    user, item, label = read_inter(path)
    assert user.tolist() == [0, 2] and item.tolist() == [1, 3]
    assert label.tolist() == [0, 1]
    path.write_bytes(b"\xef\xbb\xbf" + HEADER.encode() + b"0\t1\t0\n0\t2\t1\n")
    assert read_inter(path)[1].tolist() == [1, 2]  # byte order mark skipped
    # Line numbers in errors count the skipped blank lines.
    path.write_text(HEADER + "0\t1\t0\n\n\n-4\t1\t0\n")
    with pytest.raises(DatasetError, match="negative value -4 at line 5"):
        read_inter(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "file is empty"),
        ("\n0\t1\t0\n", "file is empty"),
        ("userID\titemID\n0\t1\n", "missing required column 'x_label'"),
        (
            "userID,itemID,x_label\n0,1,0\n",
            re.escape(
                "missing required column 'userID' (found columns: "
                "['userID,itemID,x_label']; the file must be tab-separated)"
            ),
        ),
        (HEADER, "no interaction rows"),
        (HEADER + "\n\n", "no interaction rows"),
        (
            HEADER + "0\t1\t0\n1\tx7\t0\n",
            "column 'itemID' has non-integer value 'x7' at line 3",
        ),
        (
            HEADER + "0\t1.5\t0\n",
            "column 'itemID' has non-integer value '1.5' at line 2",
        ),
        (HEADER + "0\t\t0\n", "column 'itemID' has non-integer value '' at line 2"),
        (
            HEADER + "0\t1\t0\n99999999999999999999\t1\t0\n",
            "column 'userID' has value '99999999999999999999' at line 3, outside",
        ),
        (
            HEADER + "0\t1\t0\n-3\t1\t0\n",
            "column 'userID' has negative value -3 at line 3",
        ),
        (HEADER + "0\t-1\t0\n", "column 'itemID' has negative value -1 at line 2"),
        (HEADER + "0\t1\t0\n1\t1\t5\n", "column 'x_label' has value 5 at line 3"),
        (HEADER + "0\t1\t-1\n", "column 'x_label' has value -1 at line 2"),
        (HEADER + "0\t1\tx\n", "column 'x_label' has non-integer value 'x' at line 2"),
        (HEADER + "0\t1\t0\n1\t1\n", re.escape("line 3 has 2 fields, expected 3")),
        # A short and a long line that together have the right field count.
        (HEADER + "0\t1\n2\t3\t0\t0\n", "line 2 has 2 fields, expected 3"),
    ],
)
def test_malformed_inter_files(tmp_path, content, message):
    path = tmp_path / "bad.inter"
    path.write_text(content)
    with pytest.raises(DatasetError, match=f"bad.inter: {message}"):
        read_inter(path)


def test_not_utf8_and_missing_file(tmp_path):
    with pytest.raises(DatasetError, match="nope.inter: file not found"):
        read_inter(tmp_path / "nope.inter")
    (tmp_path / "bin.inter").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(DatasetError, match="bin.inter: not a UTF-8 text file"):
        read_inter(tmp_path / "bin.inter")


def test_unreadable_inter_file(tmp_path, monkeypatch):
    (tmp_path / "dir.inter").mkdir()
    with pytest.raises(DatasetError, match=r"dir.inter: cannot read \(Is a direc"):
        read_inter(tmp_path / "dir.inter")
    folder = make_folder(tmp_path, ROWS)

    def deny(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(Path, "read_text", deny)
    with pytest.raises(DatasetError, match=r"toy.inter: cannot read \(Permission"):
        load_mmrec(folder)


def test_missing_folder_file_and_modality(tmp_path):
    with pytest.raises(DatasetError, match="nope: dataset folder not found"):
        load_mmrec(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match=re.escape("empty.inter: file not found")):
        load_mmrec(tmp_path / "empty")
    folder = make_folder(tmp_path, ROWS)
    with pytest.raises(
        DatasetError, match="audio_feat.npy: feature file of modality 'audio' not"
    ):
        load_mmrec(folder, modalities=["audio"])


def test_duplicates_are_dropped_with_a_count(tmp_path):
    folder = make_folder(tmp_path, [*ROWS, (0, 0, 0), (0, 0, 1)])
    with pytest.warns(UserWarning, match="toy.inter: dropped 2 duplicate"):
        data = load_mmrec(folder)
    assert split_edge_index(data, "train").size(1) == 4
    assert split_edge_index(data, "val").size(1) == 2  # (0, 0, 1) dropped


def test_first_pair_mask_with_huge_ids():
    # (max user + 1) * (max item + 1) overflows int64: the lexsort path.
    big = 2**62
    user = np.array([big, 0, big, 0, big])
    item = np.array([big, 1, big, 2, 7])
    assert first_pair_mask(user, item).tolist() == [True, True, False, True, True]
    small = first_pair_mask(np.array([3, 1, 3, 1]), np.array([2, 2, 2, 0]))
    assert small.tolist() == [True, True, False, True]


def test_users_without_training_rows_are_dropped_with_a_count(tmp_path):
    folder = make_folder(tmp_path, [*ROWS, (3, 0, 1), (3, 1, 2), (4, 2, 2)])
    with pytest.warns(
        UserWarning, match="toy.inter: dropped 3 validation/test rows of 2 users"
    ):
        data = load_mmrec(folder)
    assert data["user"].num_nodes == 5  # still max(userID) + 1
    assert split_edge_index(data, "val")[0].tolist() == [0, 2]
    assert split_edge_index(data, "test")[0].tolist() == [1, 0]


@pytest.mark.parametrize(
    ("rows", "split", "value"),
    [
        ([r for r in ROWS if r[2] != 2], "test", 2),
        ([r for r in ROWS if r[2] != 1], "validation", 1),
        ([(0, 0, 1), (1, 1, 2)], "train", 0),
    ],
)
def test_empty_split_is_an_error(tmp_path, rows, split, value):
    folder = make_folder(tmp_path, rows)
    with (
        warnings.catch_warnings(),
        pytest.raises(
            DatasetError,
            match=f"toy.inter: the {split} split is empty .*'x_label'.* value {value}",
        ),
    ):
        warnings.simplefilter("ignore")
        load_mmrec(folder)


def test_split_empty_after_dropping_users(tmp_path):
    rows = [(0, 0, 0), (0, 1, 1), (1, 2, 2)]  # the only test row is an orphan
    folder = make_folder(tmp_path, rows)
    with (
        pytest.warns(UserWarning, match="dropped 1 validation/test rows of 1 users"),
        pytest.raises(DatasetError, match="the test split is empty"),
    ):
        load_mmrec(folder)


@pytest.mark.parametrize(
    ("x", "message"),
    [
        (
            RNG.random((3, 2)),
            "features of modality 'image' have 3 rows but the dataset has 4 items",
        ),
        (RNG.random(4), "must be 2-D [items, dim], got shape (4,)"),
        (np.ones((4, 2), dtype=bool), "have dtype bool, expected real numbers"),
        (
            np.array([[0.0, 1], [1, 1], [np.nan, 0], [np.inf, 1]]),
            "modality 'image' contain NaN/Inf, first in row 2",
        ),
        (
            np.array([[0.0, 1], [1, -np.inf], [1, 0], [0, 1]]),
            "contain NaN/Inf, first in row 1",
        ),
        # Finite in float64, Inf in float32.
        (
            np.array([[0.0, 1], [1, 1], [1, -1e39], [np.nan, 1e39]]),
            "have value -1e+39 in row 2 (item 2), column 1, which overflows float32",
        ),
        (
            np.array([[0.0, 1], [1, 1], [np.nan, 1e39], [1, 1e39]]),
            "contain NaN/Inf, first in row 2",
        ),
        (np.ones((4, 0)), "modality 'image' have no columns (shape (4, 0))"),
    ],
)
def test_bad_features(tmp_path, x, message):
    folder = make_folder(tmp_path, ROWS, features={"image": x})
    with pytest.raises(DatasetError, match=f"image_feat.npy: .*{re.escape(message)}"):
        load_mmrec(folder)


def test_integer_features_are_cast(tmp_path):
    x = np.arange(8, dtype=np.int16).reshape(4, 2)
    data = load_mmrec(make_folder(tmp_path, ROWS, features={"image": x}))
    assert data["item"].x_image.dtype == torch.float32
    assert data["item"].x_image.tolist() == x.tolist()


def test_unreadable_feature_files(tmp_path):
    folder = make_folder(tmp_path, ROWS)
    (folder / "image_feat.npy").write_bytes(b"not numpy")
    with pytest.raises(DatasetError, match="image_feat.npy: not a readable .npy"):
        load_mmrec(folder)
    np.savez(folder / "pair.npz", a=np.ones((4, 2)))
    with pytest.raises(DatasetError, match="pair.npz: expected a single .npy array"):
        load_mmrec(folder, feature_files={"v": folder / "pair.npz"})


def test_the_mask_file_marks_the_real_rows(tmp_path):
    x = RNG.random((4, 3))
    x[[1, 3]] = np.nan  # a missing row may hold anything
    folder = make_folder(
        tmp_path, ROWS, features={"text": x, "image": RNG.random((4, 2))}
    )
    np.save(folder / "text_mask.npy", np.array([True, False, True, False]))
    mean = x[[0, 2]].mean(0)
    for rule, expected in (
        ("mean", [mean, mean]),
        ("zeros", np.zeros((2, 3))),
        # In training, item 1 shares user 0 with item 0 (and user 1 with
        # nobody); item 3 has no training pair at all: the mean.
        ("propagate", [x[0], mean]),
    ):
        data = load_mmrec(folder, missing_features=rule)
        assert data["item"].x_text_mask.tolist() == [True, False, True, False]
        # A modality without a mask file has every row real.
        assert data["item"].x_image_mask.all()
        assert list(item_features(data)) == ["image", "text"]
        text = data["item"].x_text.double().numpy()
        np.testing.assert_allclose(text[[0, 2]], x[[0, 2]], rtol=1e-6)
        np.testing.assert_allclose(text[[1, 3]], expected, rtol=1e-6)
    # NaN in a real row is still an error.
    np.save(folder / "text_mask.npy", np.array([True, True, True, False]))
    with pytest.raises(DatasetError, match="contain NaN/Inf, first in row 1"):
        load_mmrec(folder)


def test_propagation_reads_the_training_pairs_only(tmp_path):
    # Item 3 is missing; in training only user 3 has it, with item 2; its
    # held-out pairs with users 0 and 2 would add items 0 and 1.
    x = RNG.random((4, 2))
    rows = [*ROWS, (3, 3, 0), (3, 2, 0)]
    folder = make_folder(tmp_path, rows, features={"text": x})
    np.save(folder / "text_mask.npy", np.array([True, True, True, False]))
    data = load_mmrec(folder, missing_features="propagate")
    np.testing.assert_allclose(data["item"].x_text[3].numpy(), x[2], rtol=1e-6)


@pytest.mark.parametrize(
    ("mask", "message"),
    [
        (np.array([1, 0, 1, 1], dtype=np.uint8), "has dtype uint8, expected bool"),
        (np.ones(3, dtype=bool), "has shape (3,), expected (4,): one entry per item"),
        (np.ones((4, 1), dtype=bool), "has shape (4, 1), expected (4,)"),
        (np.zeros(4, dtype=bool), "marks no row real"),
    ],
)
def test_bad_mask_files(tmp_path, mask, message):
    folder = make_folder(tmp_path, ROWS, features={"text": RNG.random((4, 2))})
    np.save(folder / "text_mask.npy", mask)
    pattern = f"text_mask.npy: the mask of modality 'text' .*{re.escape(message)}"
    with pytest.raises(DatasetError, match=pattern):
        load_mmrec(folder)
    (folder / "text_mask.npy").write_bytes(b"not numpy")
    with pytest.raises(DatasetError, match="text_mask.npy: not a readable .npy"):
        load_mmrec(folder)


def test_an_unknown_rule_is_a_config_error(tmp_path):
    folder = make_folder(tmp_path, ROWS, features={"text": RNG.random((4, 2))})
    with pytest.raises(ConfigError, match="'zero' .*'mean', 'zeros', 'propagate'"):
        load_mmrec(folder, missing_features="zero")


def test_a_modality_named_like_a_mask_is_refused(tmp_path):
    folder = make_folder(tmp_path, ROWS, features={"text_mask": RNG.random((4, 2))})
    with pytest.raises(DatasetError, match="'text_mask'.*must not end in '_mask'"):
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
    assert len(caught) == (len(first) < len(rows))
    if caught:
        assert f"dropped {len(rows) - len(first)} duplicate" in str(caught[0].message)
    got = list(zip(user.tolist(), item.tolist(), label.tolist()))
    assert got == [(u, i, lab) for (u, i), lab in first.items()]


def dense_rows(num_users, extra):
    """One training row per user ``0..num_users-1``, then the ``extra`` rows."""
    return [(u, u % 7, 0) for u in range(num_users)] + list(extra)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (
            [(0, 0, 0), (10**12, 1, 0)],
            "column 'userID' has value 1000000000000 at line 3 but only 2 "
            "distinct IDs, so 1000000000001 nodes would be allocated",
        ),
        (
            [(0, 0, 0), (0, 10**12, 0), (1, 1, 0)],
            "column 'itemID' has value 1000000000000 at line 3 but only 3 distinct IDs",
        ),
        # Just over 1000 nodes per distinct ID.
        (
            [(0, 0, 0), (2000, 1, 0)],
            "column 'userID' has value 2000 at line 3 but only 2 distinct IDs",
        ),
    ],
)
def test_far_too_sparse_ids_are_an_error(tmp_path, rows, message):
    folder = make_folder(tmp_path, rows)
    with pytest.raises(DatasetError, match=f"toy.inter: {message}"):
        load_mmrec(folder)


def test_sparse_ids_warn(tmp_path):
    # A typo in one of 2500 user IDs.
    path = tmp_path / "typo.inter"
    write_inter(path, *zip(*dense_rows(2500, [(2_000_000, 3, 0)])))
    with pytest.warns(
        UserWarning,
        match="typo.inter: column 'userID' has value 2000000 at line 2502 but only "
        "2501 distinct IDs, so most of the 2000001 nodes have no interaction: are "
        "the IDs 0-based and contiguous",
    ):
        user, _, _ = read_inter(path)
    assert user.numel() == 2501


@pytest.mark.parametrize(
    ("rows", "sparse"),
    [
        # 2000 nodes for 200 distinct IDs: 10 per ID pass, one node more not.
        (dense_rows(199, [(1999, 0, 0)]), False),
        (dense_rows(199, [(2000, 0, 0)]), True),
        # Up to 1000 nodes pass however few the IDs.
        ([(0, 0, 0), (999, 999, 0)], False),
        ([(0, 0, 0), (1000, 0, 0)], True),
        # 1000 nodes per ID: still only a warning.
        ([(0, 0, 0), (1999, 0, 0)], True),
    ],
)
def test_sparse_id_warning_thresholds(tmp_path, rows, sparse):
    path = tmp_path / "ids.inter"
    write_inter(path, *zip(*rows))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        read_inter(path)
    assert [str(w.message).split(" has value")[0] for w in caught] == sparse * [
        f"{path}: column 'userID'"
    ]


def test_other_inter_files_are_named(tmp_path):
    folder = make_folder(tmp_path, ROWS)
    write_inter(folder / "toy_old.inter", [0], [0], [0])
    with pytest.warns(
        UserWarning,
        match=re.escape(
            "toy.inter: read, and the folder's other .inter files ['toy_old.inter'] "
            "ignored (choose one with name=, e.g. name='toy_old')"
        ),
    ):
        load_mmrec(folder)
    # Naming the file is a choice, not an oversight.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_mmrec(folder, name="toy")
    (folder / "toy.inter").unlink()
    with pytest.raises(
        DatasetError,
        match=re.escape(
            "toy.inter: file not found (the folder has ['toy_old.inter']; choose "
            "one with name=)"
        ),
    ):
        load_mmrec(folder)
