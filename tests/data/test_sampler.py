import pytest
import torch

from mde_pyg.data.sampler import BPRBatch, BPRSampler


def random_graph(num_users, num_items, p, seed):
    gen = torch.Generator().manual_seed(seed)
    mask = torch.rand(num_users, num_items, generator=gen) < p
    mask[:, 0] = False  # every user keeps at least one negative
    return mask.nonzero().t(), mask


def test_negatives_are_never_positives():
    edge_index, mask = random_graph(300, 80, 0.6, seed=0)
    # One user with a single admissible item stresses the rejection rounds.
    mask[7, 1:] = True
    edge_index = mask.nonzero().t()
    sampler = BPRSampler(
        edge_index, 300, 80, batch_size=1000, generator=torch.Generator().manual_seed(1)
    )
    for _ in range(5):
        for batch in sampler:
            assert isinstance(batch, BPRBatch)
            assert not mask[batch.user, batch.neg].any()
            assert mask[batch.user, batch.pos].all()
            assert (batch.neg[batch.user == 7] == 0).all()


def test_negatives_are_uniform():
    num_items = 50
    positives = torch.tensor([3, 10, 11, 30, 49])
    edge_index = torch.stack([torch.zeros_like(positives), positives])
    sampler = BPRSampler(
        edge_index, 1, num_items, generator=torch.Generator().manual_seed(2)
    )
    neg = sampler.sample_negatives(torch.zeros(90_000, dtype=torch.long))
    counts = torch.bincount(neg, minlength=num_items).double()
    assert (counts[positives] == 0).all()
    allowed = counts[counts > 0]
    assert allowed.numel() == num_items - positives.numel()
    expected = neg.numel() / allowed.numel()
    chi2 = ((allowed - expected) ** 2 / expected).sum()
    df = allowed.numel() - 1
    # chi2 has mean df and std sqrt(2 df) under uniformity.
    assert chi2 < df + 5 * (2 * df) ** 0.5


def test_epoch_covers_every_pair_once_in_batches():
    edge_index, _ = random_graph(40, 30, 0.3, seed=3)
    num_pairs = edge_index.size(1)
    sampler = BPRSampler(
        edge_index, 40, 30, batch_size=64, generator=torch.Generator().manual_seed(4)
    )
    assert len(sampler) == (num_pairs + 63) // 64
    orders = []
    for _ in range(2):
        batches = list(sampler)
        assert len(batches) == len(sampler)
        assert [b.user.numel() for b in batches[:-1]] == [64] * (len(batches) - 1)
        assert batches[-1].user.numel() == num_pairs - 64 * (len(batches) - 1)
        user = torch.cat([b.user for b in batches])
        pos = torch.cat([b.pos for b in batches])
        keys = user * 30 + pos
        assert torch.equal(
            keys.sort().values, (edge_index[0] * 30 + edge_index[1]).sort().values
        )
        orders.append(keys)
    assert not torch.equal(orders[0], orders[1])  # reshuffled every epoch


def test_seeded_generator_is_deterministic():
    edge_index, _ = random_graph(50, 20, 0.3, seed=5)

    def epochs(seed):
        sampler = BPRSampler(
            edge_index,
            50,
            20,
            batch_size=100,
            generator=torch.Generator().manual_seed(seed),
        )
        return [torch.cat(list(batch)) for _ in range(2) for batch in sampler]

    first, again, other = epochs(0), epochs(0), epochs(1)
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not all(torch.equal(a, b) for a, b in zip(first, other))


def test_user_with_every_item_is_rejected():
    edge_index = torch.tensor([[0, 0, 0, 1], [0, 1, 2, 0]])
    with pytest.raises(ValueError, match="all 3 items"):
        BPRSampler(edge_index, 2, 3)
    # Duplicated pairs do not make a user look complete.
    sampler = BPRSampler(torch.tensor([[0, 0, 0], [0, 1, 1]]), 1, 3)
    assert (sampler.sample_negatives(torch.zeros(20, dtype=torch.long)) == 2).all()
    assert "batch_size=2048" in repr(sampler)
    with pytest.raises(ValueError, match="batch_size"):
        BPRSampler(edge_index, 2, 4, batch_size=0)
