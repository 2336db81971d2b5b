"""Fast retrieval: ``recommend(method="auto"|"dense"|"mips")``, the faiss
index path (PyG's MIPSKNNIndex) against the exact dense ranking."""

import pytest
import torch

from mde_pyg.data.hetero import build_heterodata
from mde_pyg.evaluation import retrieval
from mde_pyg.evaluation.retrieval import recommend_from_embeddings, resolve_method
from mde_pyg.models import Recommender


def test_faiss_is_installed_for_the_tests():
    # The test extra installs faiss-cpu, so the index path is always tested.
    assert retrieval.faiss_available()


class FixedEmbeddings(Recommender):
    """A model whose embeddings are given."""

    def __init__(self, user_emb, item_emb):
        super().__init__(user_emb.size(0), item_emb.size(0))
        self.user_emb = torch.nn.Parameter(user_emb)
        self.item_emb = torch.nn.Parameter(item_emb)

    def forward(self, data):
        return self.user_emb, self.item_emb


def random_problem(num_users=120, num_items=300, dim=16, seen=6, seed=0):
    generator = torch.Generator().manual_seed(seed)
    user_emb = torch.randn(num_users, dim, generator=generator)
    item_emb = torch.randn(num_items, dim, generator=generator)
    pairs = num_users * seen
    exclude = torch.stack(
        [
            torch.randint(num_users, (pairs,), generator=generator),
            torch.randint(num_items, (pairs,), generator=generator),
        ]
    )
    return user_emb, item_emb, exclude


def both(*args, **kwargs):
    dense = recommend_from_embeddings(*args, method="dense", **kwargs)
    mips = recommend_from_embeddings(*args, method="mips", **kwargs)
    return dense, mips


@pytest.mark.parametrize("k", [1, 10, 50])
@pytest.mark.parametrize("chunk_size", [None, 7])
def test_mips_equals_dense_on_random_embeddings(k, chunk_size):
    user_emb, item_emb, exclude = random_problem()
    # Duplicates and an unsorted order: rows follow the users given.
    users = torch.tensor([5, 3, 3, 119, 0, *range(40, 80)])
    (items_d, scores_d), (items_m, scores_m) = both(
        user_emb, item_emb, users, k=k, exclude_index=exclude, chunk_size=chunk_size
    )
    assert items_m.shape == (users.numel(), k) and items_m.dtype == torch.long
    assert torch.equal(items_m, items_d)
    # faiss sums the products in another order: equal up to float32 rounding.
    torch.testing.assert_close(scores_m, scores_d, rtol=1e-5, atol=1e-5)
    assert bool((scores_m[:, 1:] <= scores_m[:, :-1]).all())


def test_mips_never_returns_seen_items():
    user_emb, item_emb, exclude = random_problem(seen=40)
    users = torch.arange(user_emb.size(0))
    items, _ = recommend_from_embeddings(
        user_emb, item_emb, users, k=30, exclude_index=exclude, method="mips"
    )
    seen = set(zip(*exclude.tolist()))
    assert all((u, i) not in seen for u in range(len(users)) for i in items[u].tolist())
    # ...and the seen items are really the best ones, so that masking matters.
    unmasked, _ = recommend_from_embeddings(
        user_emb, item_emb, users, k=30, method="mips"
    )
    assert any((u, i) in seen for u, row in enumerate(unmasked.tolist()) for i in row)


def test_mips_breaks_ties_as_the_evaluation():
    # Small integers: exact float32 scores, full of ties, also at the cut-off.
    generator = torch.Generator().manual_seed(1)
    user_emb = torch.randint(-2, 3, (60, 4), generator=generator).float()
    item_emb = torch.randint(-1, 2, (80, 4), generator=generator).float()
    exclude = torch.stack(
        [
            torch.randint(60, (300,), generator=generator),
            torch.randint(80, (300,), generator=generator),
        ]
    )
    for k in (1, 5, 20):
        (items_d, scores_d), (items_m, scores_m) = both(
            user_emb, item_emb, torch.arange(60), k=k, exclude_index=exclude
        )
        assert torch.equal(items_m, items_d)
        assert torch.equal(scores_m, scores_d)


def test_mips_pads_short_lists_like_dense():
    user_emb, item_emb, _ = random_problem(num_users=3, num_items=8)
    # User 0 has seen 6 of the 8 items, user 1 none; k exceeds the catalogue.
    exclude = torch.tensor([[0] * 6, list(range(6))])
    (items_d, scores_d), (items_m, scores_m) = both(
        user_emb, item_emb, torch.tensor([0, 1]), k=10, exclude_index=exclude
    )
    assert torch.equal(items_m, items_d)
    assert items_m[0, 2:].eq(-1).all() and torch.isneginf(scores_m[0, 2:]).all()
    assert sorted(items_m[0, :2].tolist()) == [6, 7]
    assert items_m[1, :8].sort().values.tolist() == list(range(8))
    assert items_m[1, 8:].eq(-1).all()


def test_users_past_faiss_k_limit_are_ranked_densely(monkeypatch):
    # A user whose k + 1 + seen items exceed faiss' largest k goes to the
    # dense path; the results do not change.
    monkeypatch.setattr(retrieval, "FAISS_MAX_K", 12)
    user_emb, item_emb, exclude = random_problem(seen=3)
    heavy = torch.stack([torch.zeros(50, dtype=torch.long), torch.arange(50)])
    exclude = torch.cat([exclude, heavy], dim=1)
    users = torch.arange(20)
    (items_d, _), (items_m, _) = both(
        user_emb, item_emb, users, k=5, exclude_index=exclude
    )
    assert torch.equal(items_m, items_d)
    assert not set(items_m[0].tolist()) & set(range(50))


def test_mips_progress_and_devices():
    user_emb, item_emb, exclude = random_problem()
    calls = []
    items, scores = recommend_from_embeddings(
        user_emb.double(),
        item_emb.double(),
        list(range(100)),
        k=4,
        exclude_index=exclude,
        chunk_size=30,
        progress=lambda done, total: calls.append((done, total)),
        method="mips",
    )
    assert calls[-1] == (100, 100) and [c[0] for c in calls] == [30, 60, 90, 100]
    assert scores.dtype == torch.float64 and items.device == item_emb.device


def test_recommender_recommend_passes_the_method():
    user_emb, item_emb, exclude = random_problem(num_users=30, num_items=40)
    model = FixedEmbeddings(user_emb, item_emb)
    data = build_heterodata(30, 40, exclude, exclude[:, :1], exclude[:, :1])
    users = torch.arange(30)
    dense = model.recommend(data, users, k=7, method="dense")
    mips = model.recommend(data, users, k=7, method="mips")
    auto = model.recommend(data, users, k=7)  # 40 items: dense
    assert torch.equal(dense[0], mips[0]) and torch.equal(dense[0], auto[0])
    with pytest.raises(ValueError, match="Unknown retrieval method 'fast'"):
        model.recommend(data, users, method="fast")


def test_auto_threshold(monkeypatch):
    threshold, users = retrieval.MIPS_MIN_ITEMS, retrieval.MIPS_MIN_USERS
    monkeypatch.setattr(retrieval, "faiss_available", lambda: True)
    assert resolve_method("auto", threshold - 1) == "dense"
    assert resolve_method("auto", threshold) == "mips"
    assert resolve_method("auto", 10 * threshold) == "mips"
    # Few users at once: faiss' search is efficient on large query blocks.
    assert resolve_method("auto", threshold, num_queries=users) == "mips"
    assert resolve_method("auto", threshold, num_queries=users - 1) == "dense"
    assert resolve_method("mips", threshold, num_queries=1) == "mips"
    # On a GPU the dense product is fast and faiss-cpu would copy to the CPU.
    assert resolve_method("auto", 10 * threshold, "cuda") == "dense"
    # Non-finite embeddings: the dense path masks -inf and reports NaN.
    bad = torch.tensor([[0.0, float("nan")]])
    assert resolve_method("auto", threshold, item_emb=bad) == "dense"
    with pytest.raises(ValueError, match="'item_emb' holds NaN or infinite"):
        resolve_method("mips", threshold, item_emb=bad)
    assert resolve_method("dense", 10 * threshold) == "dense"
    assert resolve_method("mips", 1) == "mips"
    monkeypatch.setattr(retrieval, "faiss_available", lambda: False)
    assert resolve_method("auto", 10 * threshold) == "dense"
    with pytest.raises(ValueError, match="Unknown retrieval method"):
        resolve_method("exact", 5)


def test_mips_without_faiss_names_the_extra(monkeypatch):
    monkeypatch.setattr(retrieval, "faiss_available", lambda: False)
    user_emb, item_emb, _ = random_problem(num_users=4, num_items=5)
    with pytest.raises(ImportError, match=r"mde-pyg\[retrieval\]"):
        recommend_from_embeddings(user_emb, item_emb, [0], k=2, method="mips")
    # "auto" never needs faiss.
    items, _ = recommend_from_embeddings(user_emb, item_emb, [0], k=2)
    assert items.shape == (1, 2)


def test_auto_uses_mips_above_the_threshold(monkeypatch):
    picked = []
    real = retrieval._recommend_mips

    def spy(*args, **kwargs):
        picked.append("mips")
        return real(*args, **kwargs)

    monkeypatch.setattr(retrieval, "_recommend_mips", spy)
    monkeypatch.setattr(retrieval, "MIPS_MIN_ITEMS", 50)
    monkeypatch.setattr(retrieval, "MIPS_MIN_USERS", 2)
    user_emb, item_emb, _ = random_problem(num_users=10, num_items=49)
    recommend_from_embeddings(user_emb, item_emb, [0, 1], k=3)
    assert picked == []
    if retrieval.faiss_available():
        user_emb, item_emb, _ = random_problem(num_users=10, num_items=50)
        items_d, _ = recommend_from_embeddings(
            user_emb, item_emb, [0, 1], k=3, method="dense"
        )
        items_a, _ = recommend_from_embeddings(user_emb, item_emb, [0, 1], k=3)
        assert picked == ["mips"] and torch.equal(items_a, items_d)
        recommend_from_embeddings(user_emb, item_emb, [0], k=3)  # one user
        assert picked == ["mips"]
