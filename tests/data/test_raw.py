import numpy as np
import pytest
import torch

from mde_pyg.data import raw
from mde_pyg.data.hetero import split_edge_index
from mde_pyg.data.inter import write_inter
from mde_pyg.data.mmrec import load_mmrec
from mde_pyg.data.raw import (
    k_core_filter,
    load_raw_interactions,
    reindex,
    split_per_user,
)
from mde_pyg.errors import DatasetError

SPLITS = ("train", "val", "test")


def reference_k_core(pairs, k):
    pairs = set(pairs)
    while True:
        users, items = {}, {}
        for u, i in pairs:
            users[u] = users.get(u, 0) + 1
            items[i] = items.get(i, 0) + 1
        kept = {(u, i) for u, i in pairs if users[u] >= k and items[i] >= k}
        if kept == pairs:
            return kept
        pairs = kept


def all_pairs(data):
    return torch.cat([split_edge_index(data, s) for s in SPLITS], dim=1)


def test_k_core_matches_reference():
    gen = torch.Generator().manual_seed(0)
    pairs = torch.unique(torch.randint(0, 40, (2, 600), generator=gen), dim=1)
    for k in (1, 3, 5, 8, 100):
        mask = k_core_filter(pairs[0], pairs[1], k)
        kept = set(map(tuple, pairs[:, mask].t().tolist()))
        assert kept == reference_k_core(map(tuple, pairs.t().tolist()), k)


def test_k_core_needs_several_rounds():
    # Dropping items 2 and 3 (degree 1) leaves users 1 and 2 with degree 1;
    # dropping them leaves items 0 and 1 with degree 1: nothing survives.
    user = torch.tensor([0, 0, 1, 1, 2, 2])
    item = torch.tensor([0, 1, 1, 2, 0, 3])
    assert k_core_filter(user, item, 2).tolist() == [False] * 6
    user, item = torch.tensor([0, 0, 1, 1, 2]), torch.tensor([0, 1, 0, 1, 2])
    assert k_core_filter(user, item, 2).tolist() == [True] * 4 + [False]


RULE = {3: (1, 1, 1), 5: (3, 1, 1), 9: (7, 1, 1), 10: (8, 1, 1), 11: (9, 1, 1)}
RULE |= {25: (20, 2, 3), 49: (40, 4, 5), 50: (40, 5, 5)}


@pytest.mark.parametrize("seed", [0, 1])
def test_split_rule_per_user(seed):
    sizes = torch.tensor(list(RULE))
    # Interleave the users' rows so that no test relies on grouped input.
    user = torch.arange(len(RULE)).repeat_interleave(sizes)
    user = user[torch.randperm(user.numel(), generator=torch.Generator())]
    label = split_per_user(user, len(RULE), seed)
    for u, (train, val, test) in enumerate(RULE.values()):
        counts = torch.bincount(label[user == u], minlength=3).tolist()
        assert counts == [train, val, test], (u, seed)


def test_split_is_seeded_and_random_within_user():
    user = torch.arange(50).repeat_interleave(12)
    a, b = split_per_user(user, 50, 1), split_per_user(user, 50, 1)
    assert torch.equal(a, b)
    assert not torch.equal(a, split_per_user(user, 50, 2))
    gen = torch.Generator().manual_seed(1)
    assert torch.equal(a, split_per_user(user, 50, gen))
    # Every position within a user is held out for some user.
    position = torch.arange(12).repeat(50)
    assert set(position[a > 0].tolist()) == set(range(12))


def test_split_too_few_interactions():
    with pytest.raises(DatasetError, match="user 0 has 2 interactions .*k >= 3"):
        split_per_user(torch.tensor([0, 0, 1, 1, 1]), 2)


def test_chronological_split():
    user = torch.tensor([0] * 12 + [1] * 4)
    time = torch.tensor([*range(12, 0, -1), 5, 7, 6, 1])
    label = split_per_user(user, 2, 0, timestamp=time)
    # n = 12: vt = 2; the latest (index 0) is test, the one before validation.
    assert label[:12].tolist() == [2, 1] + [0] * 10
    assert label[12:].tolist() == [0, 2, 1, 0]


def test_reindex():
    ids, mapping = reindex(np.array(["b", "a", "b", "c"]))
    assert ids.tolist() == [1, 0, 1, 2] and mapping.tolist() == ["a", "b", "c"]
    ids, mapping = reindex(torch.tensor([30, 10, 30]))
    assert ids.dtype == torch.int64 and ids.tolist() == [1, 0, 1]
    assert mapping[ids.numpy()].tolist() == [30, 10, 30]


def random_log(num_users=30, num_items=30, size=700, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, num_users, (size,), generator=gen), torch.randint(
        0, num_items, (size,), generator=gen
    )


def test_load_raw_interactions_from_csv(tmp_path):
    user, item = random_log()
    lines = ["item,user,rating"] + [
        f"i{i},u{u},5" for u, i in zip(user.tolist(), item.tolist())
    ]
    (tmp_path / "log.csv").write_text("\n".join(lines) + "\n")
    data = load_raw_interactions(tmp_path / "log.csv", k_core=5, seed=3)
    index = all_pairs(data)
    assert torch.bincount(index[0]).min() >= 5 and torch.bincount(index[1]).min() >= 5
    assert index.size(1) == torch.unique(index, dim=1).size(1)  # deduplicated
    # raw_id maps the new IDs back to the original pairs, which are the
    # 5-core of the input.
    original = {
        (data["user"].raw_id[u], data["item"].raw_id[i]) for u, i in index.t().tolist()
    }
    expected = reference_k_core(
        ((f"u{u}", f"i{i}") for u, i in zip(user.tolist(), item.tolist())), 5
    )
    assert original == expected
    again = load_raw_interactions(tmp_path / "log.csv", k_core=5, seed=3)
    assert torch.equal(split_edge_index(again, "test"), split_edge_index(data, "test"))
    other = load_raw_interactions(tmp_path / "log.csv", k_core=5, seed=4)
    assert not torch.equal(split_edge_index(other, "test"), index[:, :0])
    assert not torch.equal(
        split_edge_index(other, "test"), split_edge_index(data, "test")
    )


def test_load_raw_from_arrays_and_tsv_agree(tmp_path):
    user, item = random_log(seed=1)
    from_tuple = load_raw_interactions((user.numpy(), item.numpy()), seed=0)
    from_dict = load_raw_interactions({"u": user, "i": item}, "u", "i", seed=0)
    lines = ["u\ti"] + [f"{u}\t{i}" for u, i in zip(user.tolist(), item.tolist())]
    for name in ("log.tsv", "log.txt"):  # by extension, and sniffed
        (tmp_path / name).write_text("\n".join(lines) + "\n")
        from_file = load_raw_interactions(tmp_path / name, "u", "i", seed=0)
        # File IDs are strings: "10" < "9", so only the pair sets agree.
        pairs = {
            (int(from_file["user"].raw_id[u]), int(from_file["item"].raw_id[i]))
            for u, i in all_pairs(from_file).t().tolist()
        }
        assert pairs == {
            (int(from_tuple["user"].raw_id[u]), int(from_tuple["item"].raw_id[i]))
            for u, i in all_pairs(from_tuple).t().tolist()
        }
    for split in SPLITS:
        assert torch.equal(
            split_edge_index(from_tuple, split), split_edge_index(from_dict, split)
        )


def test_timestamps_split_chronologically_and_keep_earliest_duplicate():
    # One user with 10 items at times 0..9, and a duplicate of item 9 at
    # time -1 (so its earliest time is -1: a training interaction).
    user = np.zeros(11, dtype=np.int64)
    item = np.array([*range(10), 9])
    time = np.array([*range(10), -1])
    data = load_raw_interactions((user, item, time), k_core=1)
    raw = data["item"].raw_id
    assert raw[split_edge_index(data, "test")[1].numpy()].tolist() == [8]
    assert raw[split_edge_index(data, "val")[1].numpy()].tolist() == [7]
    assert sorted(raw[split_edge_index(data, "train")[1].numpy()].tolist()) == [
        0, 1, 2, 3, 4, 5, 6, 9,
    ]  # fmt: skip


def test_round_trip_to_mmrec_folder(tmp_path):
    data = load_raw_interactions(random_log(seed=2), seed=0)
    index = [split_edge_index(data, s) for s in SPLITS]
    pairs = torch.cat(index, dim=1)
    label = torch.cat([i.new_full((i.size(1),), s) for s, i in enumerate(index)])
    folder = tmp_path / "conv"
    folder.mkdir()
    write_inter(folder / "conv.inter", pairs[0], pairs[1], label)
    loaded = load_mmrec(folder)
    assert loaded["user"].num_nodes == data["user"].num_nodes
    assert loaded["item"].num_nodes == data["item"].num_nodes
    for s, split_index in zip(SPLITS, index):
        assert torch.equal(split_edge_index(loaded, s), split_index)


@pytest.mark.parametrize(
    ("content", "kwargs", "message"),
    [
        (None, {}, "nope.csv: file not found"),
        ("", {}, "bad.csv: file is empty"),
        ("user,item\n", {}, "bad.csv: no interaction rows"),
        ("uid,item\n1,2\n", {}, r"bad.csv: missing column 'user' \(found columns"),
        ("user,item\n1,2\n3\n", {}, "bad.csv: line 3 has 1 fields, expected 2"),
        ("user;item\n1;2\n", {}, "bad.csv: missing column 'user'"),
        (
            "user,item\n1,2\n ,4\n",
            {},
            "bad.csv: column 'user' has an empty value at line 3",
        ),
        (
            "user,item,t\n1,2,5\n1,3,x\n",
            {"timestamp_column": "t"},
            "bad.csv: column 't' has value 'x' at line 3, not a finite number",
        ),
        (
            "user,item,t\n1,2,5\n1,3,nan\n",
            {"timestamp_column": "t"},
            "bad.csv: column 't' has value 'nan' at line 3, not a finite",
        ),
        ("user,item\n1,2\n3,4\n", {}, "bad.csv: no interaction survives 5-core"),
        (
            "user,item\na,x\na,y\na,z\nb,x\nb,y\nc,x\nc,y\nc,z\n",
            {"k_core": 2},
            "bad.csv: user 'b' has 2 interactions after 2-core filtering",
        ),
    ],
)
def test_load_raw_file_errors(tmp_path, content, kwargs, message):
    path = tmp_path / ("nope.csv" if content is None else "bad.csv")
    if content is not None:
        path.write_text(content)
    with pytest.raises(DatasetError, match=message):
        load_raw_interactions(path, **kwargs)


def test_encoding(tmp_path):
    rows = "".join(f"{u},{i}\n" for u in range(3) for i in range(3))
    (tmp_path / "bom.csv").write_bytes(b"\xef\xbb\xbfuser,item\n" + rows.encode())
    data = load_raw_interactions(tmp_path / "bom.csv", k_core=3)
    assert all_pairs(data).size(1) == 9
    (tmp_path / "latin.csv").write_bytes(b"user,item\n\xe9,1\n")
    with pytest.raises(DatasetError, match="latin.csv: not readable as delimited"):
        load_raw_interactions(tmp_path / "latin.csv")


def test_unreadable_file(tmp_path, monkeypatch):
    def deny(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    (tmp_path / "locked.csv").write_text("user,item\n1,2\n")
    monkeypatch.setattr(raw, "open", deny, raising=False)
    with pytest.raises(DatasetError, match=r"locked.csv: cannot read \(Permission"):
        load_raw_interactions(tmp_path / "locked.csv")


def test_explicit_separator(tmp_path):
    rows = [f"{u};{i}" for u in range(5) for i in range(5)]
    (tmp_path / "log.csv").write_text("user;item\n" + "\n".join(rows))
    data = load_raw_interactions(tmp_path / "log.csv", sep=";")
    assert all_pairs(data).size(1) == 25


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        (([1, 2], [1]), r"input arrays: columns \['user', 'item'\] must be 1-D"),
        (([[1, 2]], [[1, 2]]), "must be 1-D of equal length"),
        (([1],), "expected .* got 1 arrays"),
        (([], []), "input arrays: no interactions"),
        ({"user": [1]}, r"input arrays: missing column 'item' \(found columns"),
        (
            ([0, 0, 0], [0, 1, 2], [1, "x", 3]),
            "column 'timestamp' has value 'x' at index 1, not a finite number",
        ),
    ],
)
def test_load_raw_array_errors(arrays, message):
    with pytest.raises(DatasetError, match=message):
        load_raw_interactions(arrays, k_core=1)


# ----------------------------------------------------- import_interactions


def _write_raw(path, rows, header="user,item,rating,time"):
    path.write_text(header + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))
    return path


def _dense_rows(users, items, rating=5):
    return [
        (u, i, rating, t)
        for t, (u, i) in enumerate((u, i) for u in users for i in items)
    ]


def test_import_orders_internal_ids_by_raw_id_as_text(tmp_path):
    from mde_pyg.data.raw import import_interactions

    users = ["u10", "u9", "u1", "b"]
    items = ["x", "10", "9", "A"]
    path = _write_raw(tmp_path / "r.csv", _dense_rows(users, items))
    result = import_interactions(path, k_core=3)
    assert result.user_ids == sorted(users) == ["b", "u1", "u10", "u9"]
    assert result.item_ids == sorted(items) == ["10", "9", "A", "x"]
    pairs = {
        (result.user_ids[u], result.item_ids[i])
        for u, i in zip(result.user.tolist(), result.item.tolist())
    }
    assert pairs == {(u, i) for u in users for i in items}


def test_import_counts_every_step(tmp_path):
    from mde_pyg.data.raw import import_interactions

    rows = _dense_rows(["a", "b", "c"], ["p", "q", "r", "s"])
    rows += [("a", "p", 5, 99)]  # a duplicate
    rows += [("a", "z", 1, 7)]  # below the rating
    rows += [("d", "p", 5, 3)]  # fails the 3-core
    path = _write_raw(tmp_path / "r.csv", rows)
    result = import_interactions(
        path, rating_column="rating", min_rating=2, timestamp_column="time", k_core=3
    )
    c = result.counts
    assert c["rows"] == 15 and c["dropped_rating"] == 1
    assert c["dropped_duplicates"] == 1 and c["dropped_k_core"] == 1
    assert c["users_before_k_core"] == 4 and c["users"] == 3 and c["items"] == 4
    assert c["interactions"] == 12 == c["train"] + c["validation"] + c["test"]
    # chronological: each user's latest interaction is the test one
    test = result.label == 2
    assert sorted(result.item_ids[i] for i in result.item[test].tolist()) == ["s"] * 3


def test_import_reads_json_lines_and_tsv(tmp_path):
    import json

    from mde_pyg.data.raw import import_interactions

    rows = _dense_rows([1, 2, 3], ["p", "q", "r"])
    jsonl = tmp_path / "r.jsonl"
    jsonl.write_text("".join(json.dumps({"u": u, "i": i}) + "\n" for u, i, *_ in rows))
    tsv = tmp_path / "r.tsv"
    tsv.write_text("u\ti\n" + "".join(f"{u}\t{i}\n" for u, i, *_ in rows))
    a = import_interactions(jsonl, "u", "i", k_core=3, seed=1)
    b = import_interactions(tsv, "u", "i", k_core=3, seed=1)
    assert a.user_ids == b.user_ids == ["1", "2", "3"]
    assert a.label.tolist() == b.label.tolist()


def test_import_errors(tmp_path, monkeypatch):
    import importlib.util

    from mde_pyg.data.raw import import_interactions

    bad = tmp_path / "r.jsonl"
    bad.write_text('{"user": "a", "item": "p"}\n{"user": "a"}\n')
    with pytest.raises(DatasetError, match="line 2 has no value for 'item'"):
        import_interactions(bad)
    path = _write_raw(tmp_path / "r.csv", [("a", "p", "high", 1)])
    with pytest.raises(DatasetError, match="column 'rating' has value 'high'"):
        import_interactions(path, rating_column="rating", min_rating=3)
    with pytest.raises(DatasetError, match="no row has rating >= 9"):
        import_interactions(
            _write_raw(tmp_path / "s.csv", [("a", "p", 1, 1)]),
            rating_column="rating",
            min_rating=9,
        )
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name: None if name == "pyarrow" else real(name),
    )
    parquet = tmp_path / "r.parquet"
    parquet.write_bytes(b"PAR1")
    with pytest.raises(DatasetError, match="reading Parquet needs pandas and pyarrow"):
        import_interactions(parquet)
