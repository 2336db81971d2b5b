import pytest
import torch

from mde_pyg.data import (
    DatasetError,
    k_core_filter,
    load_raw_interactions,
    reindex,
    split_per_user,
)
from mde_pyg.data.hetero import split_edge_index


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


def test_k_core_matches_reference():
    gen = torch.Generator().manual_seed(0)
    pairs = torch.unique(torch.randint(0, 40, (2, 600), generator=gen), dim=1)
    for k in (1, 3, 5, 8):
        mask = k_core_filter(pairs[0], pairs[1], k)
        kept = set(map(tuple, pairs[:, mask].t().tolist()))
        assert kept == reference_k_core(map(tuple, pairs.t().tolist()), k)


@pytest.mark.parametrize(
    ("n", "train", "val", "test"),
    [
        (3, 1, 1, 1),
        (5, 3, 1, 1),
        (9, 7, 1, 1),
        (10, 8, 1, 1),
        (11, 9, 1, 1),
        (25, 20, 2, 3),
        (49, 40, 4, 5),
    ],
)
def test_split_rule_per_user(n, train, val, test):
    user = torch.cat([torch.full((n,), 0), torch.full((4,), 1)])
    label = split_per_user(user, 2, seed := 0)
    counts = torch.bincount(label[user == 0], minlength=3).tolist()
    assert counts == [train, val, test], seed


def test_split_is_seeded_and_random_within_user():
    user = torch.arange(50).repeat_interleave(12)
    a, b = split_per_user(user, 50, 1), split_per_user(user, 50, 1)
    assert torch.equal(a, b)
    assert not torch.equal(a, split_per_user(user, 50, 2))
    with pytest.raises(DatasetError, match="user 0 has 2 interactions"):
        split_per_user(torch.tensor([0, 0, 1, 1, 1]), 2)


def test_reindex_strings():
    ids, mapping = reindex(__import__("numpy").array(["b", "a", "b", "c"]))
    assert ids.tolist() == [1, 0, 1, 2] and mapping.tolist() == ["a", "b", "c"]


def test_load_raw_interactions(tmp_path):
    gen = torch.Generator().manual_seed(0)
    pairs = torch.randint(0, 30, (2, 700), generator=gen)
    lines = ["user,item"] + [f"u{u},i{i}" for u, i in pairs.t().tolist()]
    (tmp_path / "log.csv").write_text("\n".join(lines) + "\n")
    data = load_raw_interactions(tmp_path / "log.csv", k_core=5, seed=3)
    index = torch.cat([split_edge_index(data, s) for s in ("train", "val", "test")], 1)
    assert torch.bincount(index[0]).min() >= 5 and torch.bincount(index[1]).min() >= 5
    assert index.size(1) == torch.unique(index, dim=1).size(1)  # deduplicated
    again = load_raw_interactions(tmp_path / "log.csv", k_core=5, seed=3)
    assert torch.equal(split_edge_index(again, "test"), split_edge_index(data, "test"))


def test_load_raw_errors(tmp_path):
    with pytest.raises(DatasetError, match="nope.csv: file not found"):
        load_raw_interactions(tmp_path / "nope.csv")
    (tmp_path / "cols.csv").write_text("uid,item\n1,2\n")
    with pytest.raises(DatasetError, match="cols.csv: missing column 'user'"):
        load_raw_interactions(tmp_path / "cols.csv")
    (tmp_path / "ragged.csv").write_text("user,item\n1,2\n3\n")
    with pytest.raises(DatasetError, match="line 3 has 1 fields, expected 2"):
        load_raw_interactions(tmp_path / "ragged.csv")
    (tmp_path / "sparse.csv").write_text("user,item\n1,2\n3,4\n")
    with pytest.raises(DatasetError, match="no interaction survives 5-core"):
        load_raw_interactions(tmp_path / "sparse.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DatasetError, match="empty.csv: file is empty"):
        load_raw_interactions(tmp_path / "empty.csv")
