"""Tests of :func:`mde_pyg.evaluation.evaluate_embeddings` (chunked scoring)."""

from __future__ import annotations

import pytest
import torch

from mde_pyg.evaluation import (
    auto_chunk_size,
    evaluate_embeddings,
    evaluate_scores,
    resolve_chunk_size,
)


def make_problem(seed, num_users=37, num_items=29, dim=4):
    g = torch.Generator().manual_seed(seed)
    # Small integer embeddings: dot products are exact in float32 whatever the
    # BLAS blocking of a chunk, and produce many ties.
    user_emb = torch.randint(-2, 3, (num_users, dim), generator=g).float()
    item_emb = torch.randint(-2, 3, (num_items, dim), generator=g).float()
    exclude = torch.stack(
        [
            torch.randint(0, num_users, (150,), generator=g),
            torch.randint(0, num_items, (150,), generator=g),
        ]
    )
    # Users >= num_users - 5 have no targets.
    target = torch.stack(
        [
            torch.randint(0, num_users - 5, (60,), generator=g),
            torch.randint(0, num_items, (60,), generator=g),
        ]
    )
    return user_emb, item_emb, exclude, target


def assert_same(out, ref):
    assert out.keys() == ref.keys()
    for key, value in ref.items():
        assert out[key] == pytest.approx(value, rel=1e-12, abs=1e-15), key


@pytest.mark.parametrize("chunk_size", [None, 1, 3, 8, 1000])
def test_chunked_equals_full_matrix(chunk_size):
    user_emb, item_emb, exclude, target = make_problem(0)
    ks = (1, 5, 10, 20)
    full = evaluate_scores(user_emb @ item_emb.t(), exclude, target, k=ks)
    out = evaluate_embeddings(
        user_emb, item_emb, exclude, target, k=ks, chunk_size=chunk_size
    )
    # Same code path and exact scores: only the float64 summation order of
    # the per-user values differs between chunkings.
    assert_same(out, full)


def test_score_fn_only_target_users_in_bounded_blocks():
    user_emb, item_emb, exclude, target = make_problem(1)
    scores = user_emb @ item_emb.t() + 0.5 * torch.randn(user_emb.size(0), 29)
    original = scores.clone()
    seen = []

    # A slice is a view of `scores`, which must not be masked in place.
    def view_score_fn(users):
        seen.append(users.clone())
        return scores[int(users[0]) : int(users[0]) + 1]

    out = evaluate_embeddings(
        user_emb,
        item_emb,
        exclude,
        target,
        k=(3, 10),
        chunk_size=1,
        score_fn=view_score_fn,
    )
    assert torch.equal(scores, original)
    assert_same(out, evaluate_scores(scores, exclude, target, k=(3, 10)))
    assert all(block.numel() == 1 for block in seen)
    assert torch.equal(torch.cat(seen), torch.unique(target[0]))

    seen.clear()
    out = evaluate_embeddings(
        user_emb,
        item_emb,
        exclude,
        target,
        k=(3, 10),
        chunk_size=4,
        score_fn=lambda users: seen.append(users) or scores[users],
    )
    assert_same(out, evaluate_scores(scores, exclude, target, k=(3, 10)))
    assert max(block.numel() for block in seen) <= 4
    assert torch.equal(torch.cat(seen), torch.unique(target[0]))


def test_auto_chunk_size():
    # 256 MiB of float32 scores per block.
    assert auto_chunk_size(19445, 7050) == (256 * 2**20) // (7050 * 4)
    assert auto_chunk_size(100, 7050) == 100  # clamped to the number of users
    assert auto_chunk_size(10, 10**12) == 1  # at least one user
    assert auto_chunk_size(10**6, 1000, element_size=8) == (256 * 2**20) // 8000
    # Default budget: cache-sized on CPU, 256 MiB elsewhere; explicit wins.
    assert resolve_chunk_size(None, 19445, 7050) == (8 * 2**20) // (7050 * 4)
    assert resolve_chunk_size(None, 19445, 7050, "cuda") == (256 * 2**20) // 28200
    assert resolve_chunk_size(5, 19445, 7050) == 5


def test_default_chunk_bounds_block_memory():
    # With a tiny catalogue the default puts all users in one block, with a
    # huge one a block has a single user: check via the recorded block sizes.
    user_emb, item_emb, exclude, target = make_problem(2)
    sizes = []
    scores = user_emb @ item_emb.t()

    def score_fn(users):
        sizes.append(users.numel())
        return scores[users]

    evaluate_embeddings(user_emb, item_emb, exclude, target, score_fn=score_fn)
    assert sizes == [torch.unique(target[0]).numel()]


def test_evaluate_embeddings_validation():
    user_emb, item_emb, exclude, target = make_problem(3)
    with pytest.raises(ValueError, match="same embedding size"):
        evaluate_embeddings(user_emb, item_emb[:, :3], exclude, target)
    with pytest.raises(ValueError, match="'user_emb' must be a 2-D tensor"):
        evaluate_embeddings(user_emb[0], item_emb, exclude, target)
    with pytest.raises(ValueError, match="'item_emb' must be a 2-D tensor"):
        evaluate_embeddings(user_emb, item_emb[0], exclude, target)
    with pytest.raises(
        ValueError, match=r"'chunk_size' must be a positive integer \(got -2\)"
    ):
        evaluate_embeddings(user_emb, item_emb, exclude, target, chunk_size=-2)
    with pytest.raises(ValueError, match="out of range for 10 users"):
        evaluate_embeddings(user_emb[:10], item_emb, exclude, target)
    with pytest.raises(ValueError, match="no users with held-out items"):
        evaluate_embeddings(user_emb, item_emb, exclude, target[:, :0])
    with pytest.raises(ValueError, match=r"'score_fn' must return a \[2, 29\] tensor"):
        evaluate_embeddings(
            user_emb,
            item_emb,
            exclude,
            target,
            chunk_size=2,
            score_fn=lambda users: torch.zeros(users.numel(), 28),
        )


def test_chunk_that_cannot_fit_in_memory_names_the_setting(monkeypatch):
    from mde_pyg.evaluation import metrics

    monkeypatch.setattr(metrics, "available_memory_bytes", lambda: 1 << 20)
    g = torch.Generator().manual_seed(0)
    user_emb = torch.randn(600, 4, generator=g)
    item_emb = torch.randn(1000, 4, generator=g)
    index = torch.tensor([[0, 1], [2, 3]])
    with pytest.raises(
        ValueError, match=r"lower 'chunk_size' \(trainer.eval_chunk_size\)"
    ):
        evaluate_embeddings(user_emb, item_emb, index, index, chunk_size=600)
    # Unset, the chunk size adapts to a bounded block instead, and ranks
    # right: each of 600 users holds out its second best item, its best one
    # excluded, so every held-out item comes first.
    best_two = (user_emb @ item_emb.t()).topk(2).indices
    users = torch.arange(600)
    exclude = torch.stack([users, best_two[:, 0]])
    target = torch.stack([users, best_two[:, 1]])
    got = evaluate_embeddings(user_emb, item_emb, exclude, target)
    expected = {
        f"{m}@{k}": 1.0 for m in ("recall", "ndcg", "map", "hit") for k in (10, 20)
    }
    expected |= {"precision@10": 0.1, "precision@20": 0.05}
    assert got == pytest.approx(expected)
