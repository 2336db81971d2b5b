"""Tests of :mod:`mde_pyg.evaluation.metrics` against a naive per-user
reference, hand-computed values and PyG's ``LinkPred*`` metrics."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mde_pyg.evaluation import METRICS, RankingMetrics, evaluate_scores


def naive_metrics(scores, exclude_index, target_index, ks):
    """Per-user Python reference of the protocol: a stable sort by descending
    score with masked items last, ties by lower item index."""
    num_users, num_items = scores.shape
    rows = scores.tolist()
    excl = [set() for _ in range(num_users)]
    targ = [set() for _ in range(num_users)]
    for u, i in exclude_index.t().tolist():
        excl[u].add(i)
    for u, i in target_index.t().tolist():
        targ[u].add(i)
    sums = {f"{m}@{k}": 0.0 for m in METRICS for k in ks}
    count = 0
    for u in range(num_users):
        if not targ[u]:
            continue
        count += 1
        unmasked = [i for i in range(num_items) if i not in excl[u]]
        order = sorted(unmasked, key=lambda i, u=u: (-rows[u][i], i))
        for k in ks:
            # Masked items are never recommended: the list may be shorter.
            rel = [1 if i in targ[u] else 0 for i in order[:k]]
            hits = sum(rel)
            n_k = min(len(targ[u]), k)
            dcg = sum(r / math.log2(p + 2) for p, r in enumerate(rel))
            idcg = sum(1 / math.log2(p + 2) for p in range(n_k))
            ap = sum(sum(rel[: p + 1]) / (p + 1) * r for p, r in enumerate(rel))
            sums[f"recall@{k}"] += hits / len(targ[u])
            sums[f"precision@{k}"] += hits / k
            sums[f"ndcg@{k}"] += dcg / idcg
            sums[f"map@{k}"] += ap / n_k
            sums[f"hit@{k}"] += float(hits > 0)
    return {key: value / count for key, value in sums.items()}


def random_pairs(num_users, num_items, num, generator):
    users = torch.randint(0, num_users, (num,), generator=generator)
    items = torch.randint(0, num_items, (num,), generator=generator)
    return torch.stack([users, items])


def assert_close(out, ref, tol=1e-9):
    assert out.keys() == ref.keys()
    for key in ref:
        assert out[key] == pytest.approx(ref[key], abs=tol), key


def test_hand_computed_example():
    # Item 4 is masked; items 1 and 2 tie, so item 1 (lower index) ranks first:
    # ranking 1, 2, 3, 0 with targets {2, 3}.
    scores = torch.tensor([[0.1, 0.5, 0.5, 0.2, 0.9]])
    out = evaluate_scores(
        scores, torch.tensor([[0], [4]]), torch.tensor([[0, 0], [2, 3]]), k=[2, 3]
    )
    l2, l3 = 1 / math.log2(3), 1 / math.log2(4)
    expected = {
        "recall@2": 0.5,
        "recall@3": 1.0,
        "ndcg@2": l2 / (1 + l2),
        "ndcg@3": (l2 + l3) / (1 + l2),
        "precision@2": 0.5,
        "precision@3": 2 / 3,
        "map@2": 0.5 * 0.5,
        "map@3": 0.5 * (0.5 + 2 / 3),
        "hit@2": 1.0,
        "hit@3": 1.0,
    }
    assert_close(out, expected, tol=1e-12)
    # Keys are metric-major, K in the order given.
    assert list(out) == [f"{m}@{k}" for m in METRICS for k in (2, 3)]


@pytest.mark.parametrize("seed", [0, 1])
def test_random_scores_match_reference(seed):
    g = torch.Generator().manual_seed(seed)
    num_users, num_items = 40, 60
    scores = torch.randn(num_users, num_items, generator=g)
    exclude = random_pairs(num_users, num_items, 400, g)
    # Some users with many targets, some with one, some (beyond 30) with none.
    target = random_pairs(30, num_items, 150, g)
    target = torch.cat([target, torch.tensor([[31], [5]])], dim=1)
    ks = (1, 5, 10, 20)
    out = evaluate_scores(scores, exclude, target, k=ks)
    assert_close(out, naive_metrics(scores, exclude, target, ks))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_many_ties_match_reference(seed):
    # Integer scores in 0..3: almost every cut-off is tied with items outside
    # the top-K, exercising the tie-breaking fallback.
    g = torch.Generator().manual_seed(seed)
    num_users, num_items = 50, 80
    scores = torch.randint(0, 4, (num_users, num_items), generator=g).float()
    exclude = random_pairs(num_users, num_items, 600, g)
    target = random_pairs(num_users, num_items, 200, g)
    ks = (3, 10, 20)
    out = evaluate_scores(scores, exclude, target, k=ks, chunk_size=7)
    assert_close(out, naive_metrics(scores, exclude, target, ks))


def test_ties_break_towards_lower_item_index():
    num_items = 1000
    scores = torch.zeros(2, num_items)
    scores[1, -1] = 1.0
    metric = RankingMetrics(
        num_items, torch.tensor([[0], [1]]), torch.tensor([[0, 1], [0, 0]]), k=5
    )
    index = metric.topk(scores, torch.tensor([0, 1]))
    assert index.tolist() == [[0, 2, 3, 4, 5], [999, 0, 1, 2, 3]]


def test_topk_matches_stable_sort_without_fallback_rows():
    # Ties only inside the top-K (not at the cut-off): the small re-sort alone
    # must give the stable-sort order.
    scores = torch.tensor([[5.0, 7.0, 7.0, 7.0, 1.0, 0.0, 7.0, 3.0]])
    metric = RankingMetrics(
        8, torch.empty(2, 0, dtype=torch.long), torch.tensor([[0], [0]]), k=6
    )
    index = metric.topk(scores, torch.tensor([0]))
    assert index.tolist() == [[1, 2, 3, 6, 0, 7]]


def test_users_without_targets_are_ignored():
    g = torch.Generator().manual_seed(3)
    scores = torch.randn(10, 30, generator=g)
    target = torch.tensor([[2, 2, 7], [1, 5, 9]])
    exclude = random_pairs(10, 30, 50, g)
    metric = RankingMetrics(30, exclude, target, k=(5, 10), num_users=10)
    assert metric.target_users.tolist() == [2, 7]
    metric.update(scores, torch.arange(10))  # all users, most without targets
    assert metric.num_evaluated == 2
    out_all = metric.compute()
    assert_close(out_all, evaluate_scores(scores, exclude, target, k=(5, 10)))
    assert_close(out_all, naive_metrics(scores, exclude, target, (5, 10)))


def test_duplicate_targets_counted_once():
    scores = torch.tensor([[3.0, 2.0, 1.0, 0.0]])
    once = evaluate_scores(
        scores, torch.empty(2, 0, dtype=torch.long), torch.tensor([[0, 0], [0, 3]]), k=2
    )
    twice = evaluate_scores(
        scores,
        torch.empty(2, 0, dtype=torch.long),
        torch.tensor([[0, 0, 0], [0, 3, 3]]),
        k=2,
    )
    assert once == twice
    assert once["recall@2"] == pytest.approx(0.5)


def test_masked_target_counts_but_never_hits():
    # Item 0 is both a training and a test item: |T_u| = 2, but it cannot be
    # recommended, even when K exceeds the number of unmasked items.
    scores = torch.tensor([[9.0, 1.0, 0.0]])
    exclude = torch.tensor([[0], [0]])
    target = torch.tensor([[0, 0], [0, 2]])
    out = evaluate_scores(scores, exclude, target, k=(1, 3))
    assert out["recall@3"] == pytest.approx(0.5)
    assert out["recall@1"] == 0.0
    assert out["precision@3"] == pytest.approx(1 / 3)
    assert_close(out, naive_metrics(scores, exclude, target, (1, 3)))


def test_k_larger_than_catalogue():
    g = torch.Generator().manual_seed(4)
    scores = torch.randn(6, 5, generator=g)
    exclude = torch.tensor([[0, 0, 0, 1], [0, 1, 2, 4]])
    target = torch.tensor([[0, 0, 1, 2, 3], [3, 4, 0, 2, 1]])
    ks = (2, 4, 5, 8)
    out = evaluate_scores(scores, exclude, target, k=ks)
    assert_close(out, naive_metrics(scores, exclude, target, ks))
    # Precision still divides by K: one target, always retrieved at K=8.
    assert out["precision@8"] == pytest.approx(
        sum(h for h in (2 / 8, 1 / 8, 1 / 8, 1 / 8)) / 4
    )
    assert out["recall@8"] == 1.0


def test_update_in_blocks_and_reset():
    g = torch.Generator().manual_seed(5)
    scores = torch.randn(20, 25, generator=g)
    exclude = random_pairs(20, 25, 60, g)
    target = random_pairs(20, 25, 40, g)
    metric = RankingMetrics(25, exclude, target, k=(3, 7), num_users=20)
    users = metric.target_users
    perm = users[torch.randperm(users.numel(), generator=g)]  # any order
    original = scores.clone()
    for block in perm.split(4):
        metric.update(scores[block], block)
    assert torch.equal(scores, original)  # not inplace: input untouched
    assert_close(metric.compute(), naive_metrics(scores, exclude, target, (3, 7)))
    metric.reset()
    with pytest.raises(ValueError, match="no users with held-out items were"):
        metric.compute()


def test_evaluate_scores_leaves_input_untouched():
    scores = torch.randn(4, 6)
    original = scores.clone()
    evaluate_scores(
        scores,
        torch.tensor([[0, 1], [0, 1]]),
        torch.tensor([[0, 1], [2, 3]]),
        k=2,
        chunk_size=1,
    )
    assert torch.equal(scores, original)


def test_state_is_independent_of_block_size():
    metric = RankingMetrics(
        50,
        torch.empty(2, 0, dtype=torch.long),
        torch.tensor([[0], [1]]),
        k=(5, 10, 20),
        num_users=100,
    )
    before = [t.numel() for t in (metric._sums,)]
    metric.update(torch.randn(100, 50), torch.arange(100))
    assert [t.numel() for t in (metric._sums,)] == before == [len(METRICS) * 3]


# Importing PyG's metrics imports `torch_geometric.nn`, which still calls the
# deprecated `torch.jit.script`.
@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")
@pytest.mark.parametrize("seed", [0, 1])
def test_matches_pyg_link_pred_metrics(seed):
    from torch_geometric.metrics import (
        LinkPredHitRatio,
        LinkPredMAP,
        LinkPredNDCG,
        LinkPredPrecision,
        LinkPredRecall,
    )

    g = torch.Generator().manual_seed(seed)
    num_users, num_items = 30, 40
    scores = torch.randint(0, 6, (num_users, num_items), generator=g).float()
    exclude = random_pairs(num_users, num_items, 200, g)
    target = random_pairs(num_users, num_items, 90, g)
    # PyG knows nothing about masking and counts duplicate labels: give it
    # unique targets that are not training items (the normal case).
    key = torch.unique(target[0] * num_items + target[1])
    ex_key = exclude[0] * num_items + exclude[1]
    key = key[~torch.isin(key, ex_key)]
    target = torch.stack([key // num_items, key % num_items])

    ks = (1, 5, 10)
    out = evaluate_scores(scores, exclude, target, k=ks)
    metric = RankingMetrics(num_items, exclude, target, k=ks, num_users=num_users)
    users = metric.target_users
    pred_index_mat = metric.topk(scores[users], users)
    # Labels as (row in the block, item).
    row = torch.searchsorted(users, target[0])
    edge_label_index = torch.stack([row, target[1]])
    pyg = {
        "recall": LinkPredRecall,
        "ndcg": LinkPredNDCG,
        "precision": LinkPredPrecision,
        "map": LinkPredMAP,
        "hit": LinkPredHitRatio,
    }
    for name, cls in pyg.items():
        for k in ks:
            m = cls(k=k)
            m.update(pred_index_mat, edge_label_index)
            assert float(m.compute()) == pytest.approx(out[f"{name}@{k}"], abs=1e-6), (
                name,
                k,
            )


@settings(max_examples=60, deadline=None)
@given(
    num_users=st.integers(1, 7),
    num_items=st.integers(1, 12),
    num_exclude=st.integers(0, 30),
    num_target=st.integers(1, 20),
    ks=st.lists(st.integers(1, 15), min_size=1, max_size=4),
    ties=st.booleans(),
    seed=st.integers(0, 2**31 - 1),
)
def test_property_matches_reference(
    num_users, num_items, num_exclude, num_target, ks, ties, seed
):
    g = torch.Generator().manual_seed(seed)
    if ties:
        scores = torch.randint(0, 3, (num_users, num_items), generator=g).float()
    else:
        scores = torch.randn(num_users, num_items, generator=g)
    exclude = random_pairs(num_users, num_items, num_exclude, g)
    target = random_pairs(num_users, num_items, num_target, g)
    ks = tuple(dict.fromkeys(ks))
    out = evaluate_scores(scores, exclude, target, k=ks, chunk_size=1 + seed % 3)
    assert_close(out, naive_metrics(scores, exclude, target, ks))


# ---------------------------------------------------------------- validation
def _idx(*pairs):
    return torch.tensor(pairs, dtype=torch.long).t().reshape(2, -1)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"k": 0}, r"'k' must be a positive integer \(got 0\)"),
        ({"k": (10, -1)}, r"'k' must be a positive integer \(got -1\)"),
        ({"k": ()}, "at least one cut-off"),
        ({"k": 2.5}, "positive integer"),
        (
            {"target_index": torch.empty(2, 0, dtype=torch.long)},
            "no users with held-out items",
        ),
        (
            {"target_index": _idx((0, 9))},
            r"'target_index' contains item index 9, out of range for 6 items",
        ),
        (
            {"exclude_index": _idx((4, 1))},
            r"'exclude_index' contains user index 4, out of range for 3 users",
        ),
        (
            {"exclude_index": _idx((-1, 1))},
            r"'exclude_index' contains a negative user index \(-1\)",
        ),
        (
            {"target_index": torch.zeros(3, 2, dtype=torch.long)},
            r"shape \[2, num_pairs\]",
        ),
        ({"target_index": torch.zeros(2, 2)}, "must be an integer tensor"),
        ({"chunk_size": 0}, r"'chunk_size' must be a positive integer \(got 0\)"),
    ],
)
def test_evaluate_scores_validation(kwargs, match):
    args = {
        "scores": torch.randn(3, 6),
        "exclude_index": _idx((0, 1)),
        "target_index": _idx((1, 2)),
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        evaluate_scores(**args)


def test_update_validation():
    metric = RankingMetrics(6, _idx((0, 1)), _idx((1, 2)), num_users=3)
    with pytest.raises(ValueError, match="'scores' has 5 columns but num_items is 6"):
        metric.update(torch.randn(2, 5), torch.tensor([0, 1]))
    with pytest.raises(
        ValueError, match="'users' has 3 entries but 'scores' has 2 rows"
    ):
        metric.update(torch.randn(2, 6), torch.tensor([0, 1, 2]))
    with pytest.raises(
        ValueError, match="'users' contains user id 3, out of range for 3 users"
    ):
        metric.update(torch.randn(2, 6), torch.tensor([0, 3]))
    with pytest.raises(ValueError, match="must be a 2-D tensor"):
        metric.update(torch.randn(6), torch.tensor([0]))
    with pytest.raises(ValueError, match="floating point"):
        metric.update(torch.ones(1, 6, dtype=torch.long), torch.tensor([1]))
    with pytest.raises(ValueError, match="contains NaN"):
        metric.update(
            torch.tensor([[0.0, float("nan"), 1.0, 2.0, 3.0, 4.0]]), torch.tensor([1])
        )
    with pytest.raises(ValueError, match="'num_items' must be positive"):
        RankingMetrics(0, _idx((0, 1)), _idx((1, 2)))
