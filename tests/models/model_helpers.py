"""Helpers shared by the model tests."""

import torch

from mde_pyg.data.hetero import ITEM, split_edge_index
from mde_pyg.models import BPRBatch


def make_batch(data, size=24, seed=0):
    """A BPR batch of ``size`` training pairs with uniform (unchecked)
    negatives, drawn from its own seeded generator."""
    gen = torch.Generator().manual_seed(seed)
    train = split_edge_index(data, "train")
    pick = torch.randint(0, train.size(1), (size,), generator=gen)
    neg = torch.randint(0, data[ITEM].num_nodes, (size,), generator=gen)
    return BPRBatch(train[0, pick], train[1, pick], neg)
