"""MMGCN: against an independent dense computation of the published model (one
homogeneous user-then-item graph, as MMRec's GCN), its loss, its content path
for cold items, training and the config."""

import pytest
import torch
import torch.nn.functional as F
from model_helpers import make_batch, synthetic

from mde_pyg.data import make_synthetic
from mde_pyg.data.hetero import (
    INTERACTS_AVG,
    INTERACTS_SUM,
    ITEM,
    USER,
    build_heterodata,
    item_features,
    split_edge_index,
)
from mde_pyg.models import MMGCN
from mde_pyg.pipeline import add_graphs, build_model, compose_config
from mde_pyg.training import Trainer, seed_everything

DIM = 8
NUM_USERS, NUM_ITEMS = 40, 30
LATENT = {"image": 12}


def make_data(modalities=None, seed=0, aggr="mean"):
    data = synthetic(NUM_USERS, NUM_ITEMS, modalities, seed)
    return MMGCN.graph_transform(aggr=aggr)(data)


def build(data, **kwargs):
    torch.manual_seed(0)
    kwargs = {"embedding_dim": DIM, "latent_dims": LATENT, **kwargs}
    model = MMGCN.from_data(data, **kwargs)
    with torch.no_grad():  # away from the initial point, nonzero biases
        for param in model.parameters():
            param.add_(0.1 * torch.randn_like(param))
    return model


def lrelu(x):
    return F.leaky_relu(x, 0.01)


def dense_mmgcn(model, data, id_embedding=None):
    """The published forward pass with dense matrices on the homogeneous
    graph of users then items, built from the data's raw training pairs (no
    graph of the data is read): per modality, x = normalize([P; proj(F)]),
    then per layer h = LReLU(mean_j x_j W_a), x_hat = LReLU(x W_s + b_s) + e,
    x = LReLU(W_c (h || x_hat) + b_c); the mean over modalities."""
    num_users, num_items = data[USER].num_nodes, data[ITEM].num_nodes
    user, item = split_edge_index(data, "train")
    A = torch.zeros(num_users + num_items, num_users + num_items)
    A[user, item + num_users] = 1.0
    A[item + num_users, user] = 1.0
    if model.aggr == "mean":
        A = A / A.sum(1, keepdim=True).clamp(min=1)
    if id_embedding is None:
        id_embedding = torch.cat(
            [model.user_embedding.weight, model.item_embedding.weight]
        )
    out = 0
    for m in model.modalities:
        features = model.feature(m)
        if m in model.projections:
            proj = model.projections[m]
            features = features @ proj.weight.t() + proj.bias
        x = F.normalize(torch.cat([model.preferences[m], features]))
        for conv in model.convs[m]:
            h = lrelu(A @ (x @ conv.lin_message.weight.t()))
            x_hat = lrelu(x @ conv.lin_self.weight.t() + conv.lin_self.bias)
            x_hat = x_hat + id_embedding
            W_c, b_c = conv.lin_combine.weight, conv.lin_combine.bias
            if model.combine == "concat":
                x = lrelu(torch.cat([h, x_hat], 1) @ W_c.t() + b_c)
            else:
                x = lrelu(h @ W_c.t() + b_c + x_hat)
        out = out + x
    return out / len(model.modalities)


def published_loss(model, rep, batch, reg_weight):
    """MMRec's calculate_loss: users repeated, (pos, neg) interleaved, the
    score pair times [1, -1], and the element mean of the squared ID
    embeddings of the repeated users and interleaved items, plus the mean
    square of the preferences."""
    users = batch.user.repeat_interleave(2)
    items = torch.stack([batch.pos, batch.neg]).t().reshape(-1) + NUM_USERS
    score = (rep[users] * rep[items]).sum(1).view(-1, 2)
    weight = torch.tensor([[1.0], [-1.0]])
    loss = -torch.mean(torch.log(torch.sigmoid(score @ weight)))
    ids = torch.cat([model.user_embedding.weight, model.item_embedding.weight])
    reg = (ids[users] ** 2 + ids[items] ** 2).mean()
    reg = reg + sum((p**2).mean() for p in model.preferences.values())
    return loss + reg_weight * reg


@pytest.mark.parametrize(
    ("aggr", "combine", "num_layers"),
    [("mean", "concat", 3), ("add", "concat", 2), ("mean", "add", 1)],
)
def test_matches_the_dense_published_model(aggr, combine, num_layers):
    data = make_data(aggr=aggr)
    model = build(
        data, aggr=aggr, combine=combine, num_layers=num_layers, reg_weight=1e-2
    )
    expected = dense_mmgcn(model, data)
    user_emb, item_emb = model(data)
    assert user_emb.shape == (NUM_USERS, DIM) and item_emb.shape == (NUM_ITEMS, DIM)
    assert torch.allclose(user_emb, expected[:NUM_USERS], atol=1e-5)
    assert torch.allclose(item_emb, expected[NUM_USERS:], atol=1e-5)
    batch = make_batch(data)
    assert torch.allclose(
        model.loss(data, batch),
        published_loss(model, expected, batch, 1e-2),
        atol=1e-5,
    )


def test_one_modality_and_shapes():
    data = make_data(modalities={"a": 6})
    model = build(data, latent_dims={})
    assert not model.projections and model.preferences["a"].shape == (NUM_USERS, 6)
    assert model.convs["a"][0].in_channels == 6
    assert model.convs["a"][1].in_channels == DIM
    assert torch.allclose(torch.cat(model(data)), dense_mmgcn(model, data), atol=1e-5)


def test_published_defaults_and_repr():
    data = make_data()
    model = MMGCN.from_data(data, embedding_dim=DIM)
    assert model.num_layers == 3 and model.aggr == "mean" and model.combine == "concat"
    assert model.latent_dims == {"image": 256}
    assert model.projections["image"].out_features == 256
    assert model.preferences["text"].shape == (NUM_USERS, 8)  # raw text
    assert model.convs["image"][0].lin_combine.in_features == 256 + DIM
    assert not any(name.startswith("x_") for name, _ in model.named_parameters())
    assert repr(model) == (
        "MMGCN(num_users=40, num_items=30, modalities=['image', 'text'], "
        "embedding_dim=8, num_layers=3, latent_dims={'image': 256}, aggr='mean', "
        "combine='concat', reg_weight=0.0001, freeze_embeddings=False, "
        "freeze_features=True)"
    )
    with pytest.raises(ValueError, match="Unknown aggr"):
        MMGCN.from_data(data, aggr="max")
    with pytest.raises(ValueError, match="Unknown aggr"):
        MMGCN.graph_transform(aggr="max")


def test_graphs():
    data = make_data()
    train = split_edge_index(data, "train")
    deg = torch.bincount(train[1], minlength=NUM_ITEMS).float()
    weight = data[INTERACTS_AVG].edge_weight
    assert torch.allclose(weight, 1.0 / deg[data[INTERACTS_AVG].edge_index[1]])
    summed = make_data(aggr="add")
    assert torch.equal(summed[INTERACTS_SUM].edge_weight, torch.ones(train.size(1)))


def test_gradients_and_frozen_embeddings():
    data = make_data()
    model = build(data)
    model.loss(data, make_batch(data)).backward()
    for name, param in model.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name
    frozen = build(data, freeze_embeddings=True)
    trainable = {name for name, p in frozen.named_parameters() if p.requires_grad}
    assert not {"user_embedding.weight", "item_embedding.weight"} & trainable
    assert not any(name.startswith("preferences.") for name in trainable)
    # ...still in the state dict (a checkpoint restores them).
    assert "preferences.image" in frozen.state_dict()


def cold_data():
    """Synthetic data whose last 6 items have no training interaction."""
    data = make_synthetic(num_users=NUM_USERS, num_items=NUM_ITEMS, seed=0)
    cold = torch.arange(24, NUM_ITEMS)
    train, val, test = (split_edge_index(data, s) for s in ("train", "val", "test"))
    warm = ~torch.isin(train[1], cold)
    data = build_heterodata(
        NUM_USERS,
        NUM_ITEMS,
        train[:, warm],
        val,
        torch.cat([test, train[:, ~warm]], dim=1),
        features=item_features(data),
    )
    return MMGCN.graph_transform()(data), cold


def test_cold_items_are_the_content_path():
    data, cold = cold_data()
    model = build(data)
    assert torch.equal(model.cold_items(data), cold)
    emb = model.cold_item_embeddings(data, cold)
    assert emb.shape == (cold.numel(), DIM) and not emb.requires_grad
    # forward's rows of the cold items with their ID embeddings zero
    ids = torch.cat([model.user_embedding.weight, model.item_embedding.weight])
    ids = ids.detach().clone()
    ids[NUM_USERS + cold] = 0.0
    expected = dense_mmgcn(model, data, id_embedding=ids)[NUM_USERS + cold]
    assert torch.allclose(emb, expected, atol=1e-5)
    # Independent of the cold ID embeddings and of the other items asked for.
    with torch.no_grad():
        model.item_embedding.weight[cold] = torch.randn(cold.numel(), DIM)
    torch.testing.assert_close(model.cold_item_embeddings(data, cold), emb)
    torch.testing.assert_close(
        model.cold_item_embeddings(data, cold[[3, 0]]), emb[[3, 0]]
    )
    # ...but a function of the item's features.
    model.x_image[cold] = torch.randn(cold.numel(), model.x_image.size(1))
    assert not torch.allclose(model.cold_item_embeddings(data, cold), emb)
    items, scores = model.recommend_cold(data, torch.tensor([0, 1]), cold, k=3)
    assert items.shape == (2, 3) and bool(torch.isin(items, cold).all())


def test_training_improves_and_freezing_keeps_the_embeddings():
    seed_everything(0)
    data = MMGCN.graph_transform()(make_synthetic(num_users=100, num_items=60, seed=0))
    model = MMGCN.from_data(data, embedding_dim=16, latent_dims=LATENT)
    before = model.item_embedding.weight.detach().clone()
    result = Trainer(model, data, max_epochs=8, lr=1e-2, device="cpu").fit()
    losses = [h["loss"] for h in result.history]
    assert losses[-1] < losses[0]
    assert result.best_val["recall@20"] > result.history[0]["val"]["recall@20"]
    assert not torch.equal(model.item_embedding.weight.cpu(), before)
    seed_everything(0)
    frozen = MMGCN.from_data(data, embedding_dim=16, freeze_embeddings=True)
    before = frozen.preferences["image"].detach().clone()
    Trainer(frozen, data, max_epochs=1, device="cpu").fit()
    assert torch.equal(frozen.preferences["image"].cpu(), before)


def test_config_builds_mmgcn():
    cfg = compose_config(
        ["model=mmgcn", "model.aggr=add", "model.num_layers=2", "dataset.num_items=50"]
    )
    assert cfg.model.graphs.aggr == "add"
    data = add_graphs(cfg, make_synthetic(num_users=60, num_items=50, seed=0))
    assert INTERACTS_SUM in data.edge_types
    model = build_model(cfg, data)
    assert isinstance(model, MMGCN) and model.aggr == "add" and model.num_layers == 2
    assert model.latent_dims == {"image": 256}
    user_emb, item_emb = model.embeddings(data)
    assert user_emb.shape == (60, 64) and item_emb.shape == (50, 64)
