"""Helpers shared by the model tests."""

import torch
import torch.nn.functional as F

from mde_pyg.data import make_synthetic
from mde_pyg.data.hetero import ITEM, split_edge_index
from mde_pyg.models import BPRBatch
from mde_pyg.training import Trainer, seed_everything

#: The parameters of a model with ID embeddings and fine-tuned, projected
#: image and text features (LATTICE, BM3, SMORE), less its own extras.
CONTENT_PARAMETERS = {
    "user_embedding.weight",
    "item_embedding.weight",
    "x_image",
    "x_text",
    "projections.image.weight",
    "projections.image.bias",
    "projections.text.weight",
    "projections.text.bias",
}


def synthetic(num_users, num_items, modalities=None, seed=0):
    """:func:`make_synthetic` data of six interactions per user with the
    given modalities (by default a 16-dimensional image and an 8-dimensional
    text feature)."""
    return make_synthetic(
        num_users=num_users,
        num_items=num_items,
        interactions_per_user=6,
        modalities=modalities or {"image": 16, "text": 8},
        seed=seed,
    )


def model_data(model_class, num_users=40, num_items=30):
    """``make_data(modalities=None, seed=0)`` of a model test:
    :func:`synthetic` data through ``model_class.graph_transform()``."""

    def make_data(modalities=None, seed=0):
        data = synthetic(num_users, num_items, modalities, seed)
        return model_class.graph_transform()(data)

    return make_data


def dense_norm_adj(edge_index, num_users, num_items):
    """D^-1/2 A D^-1/2 of the bipartite graph of ``edge_index``, dense."""
    user, item = edge_index
    A = torch.zeros(num_users + num_items, num_users + num_items)
    A[user, item + num_users] = 1.0
    A[item + num_users, user] = 1.0
    d = A.sum(1).pow(-0.5)
    d[torch.isinf(d)] = 0.0
    return d[:, None] * A * d[None, :]


def linear(layer, x):
    """``layer`` (a :class:`torch.nn.Linear`) applied to ``x`` by hand."""
    out = x @ layer.weight.t()
    return out if layer.bias is None else out + layer.bias


def dense_knn_graph(x, k):
    """The published item graph (MMRec's build_sim +
    build_knn_normalized_graph, norm_type='sym'), dense: each item keeps its
    top-k cosine similarities as weights, D^-1/2 A D^-1/2 by row sums."""
    unit = x / x.norm(dim=1, keepdim=True)
    sim = unit @ unit.t()
    value, index = sim.topk(k, dim=1)
    adj = torch.zeros_like(sim).scatter_(1, index, value)
    d = adj.sum(1).pow(-0.5)
    return d[:, None] * adj * d[None, :]


def reference_info_nce(view1, view2, temperature):
    """The published InfoNCE (MGCN's, SMORE's): in-batch, cosine, the mean
    of -log(exp(pos / t) / sum exp(all / t))."""
    view1, view2 = F.normalize(view1, dim=1), F.normalize(view2, dim=1)
    pos = torch.exp((view1 * view2).sum(dim=-1) / temperature)
    total = torch.exp(view1 @ view2.t() / temperature).sum(dim=1)
    return torch.mean(-torch.log(pos / total))


def make_batch(data, size=24, seed=0):
    """A BPR batch of ``size`` training pairs with uniform (unchecked)
    negatives, drawn from its own seeded generator."""
    gen = torch.Generator().manual_seed(seed)
    train = split_edge_index(data, "train")
    pick = torch.randint(0, train.size(1), (size,), generator=gen)
    neg = torch.randint(0, data[ITEM].num_nodes, (size,), generator=gen)
    return BPRBatch(train[0, pick], train[1, pick], neg)


def assert_training_lowers_the_loss(model, data):
    """30 Adam steps on one batch of 64 pairs lower the loss by over 0.1."""
    batch = make_batch(data, size=64)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = model.loss(data, batch).item()
    for _ in range(30):
        optimizer.zero_grad()
        model.loss(data, batch).backward()
        optimizer.step()
    assert model.loss(data, batch).item() < first - 0.1


def assert_trains_reproducibly_on_cpu(model_class):
    """Two seeded CPU fits of ``model_class`` (two epochs) give the same
    losses and test metrics."""

    def fit():
        seed_everything(0)
        data = model_class.graph_transform()(
            make_synthetic(num_users=100, num_items=60, seed=0)
        )
        model = model_class.from_data(data, embedding_dim=16)
        return Trainer(model, data, max_epochs=2, device="cpu").fit()

    first, second = fit(), fit()
    assert len(first.history) == 2
    assert [h["loss"] for h in first.history] == [h["loss"] for h in second.history]
    assert first.test == second.test
