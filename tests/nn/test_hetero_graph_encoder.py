import pytest
import torch
import torch.nn.functional as F
import torch_geometric.typing

from mde_pyg.data import AddModalityGraphs, bipartite_norm, make_synthetic, to_adj
from mde_pyg.data.hetero import (
    CO_INTERACTS,
    INTERACTS,
    REV_INTERACTS,
    item_features,
    item_sim,
    split_edge_index,
)
from mde_pyg.nn.hetero_graph_encoder import HeteroGraphEncoder

NUM_USERS, NUM_ITEMS, DIM = 30, 20, 8


def make_data(modalities=None, seed=0):
    data = make_synthetic(
        num_users=NUM_USERS,
        num_items=NUM_ITEMS,
        interactions_per_user=6,
        modalities=modalities or {"image": 12, "text": 6},
        seed=seed,
    )
    return AddModalityGraphs(k=4, user_k=5)(data)


def make_encoder(data, **kwargs):
    in_channels = {m: x.size(1) for m, x in item_features(data).items()}
    return HeteroGraphEncoder(in_channels, DIM, num_users=NUM_USERS, **kwargs)


def id_embeddings(seed=1):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(NUM_USERS, DIM, generator=gen), torch.randn(
        NUM_ITEMS, DIM, generator=gen
    )


def dense(edge_index, edge_weight, num_src, num_dst):
    """[num_dst, num_src] matrix M with M[t, s] = w(s -> t)."""
    return torch.sparse_coo_tensor(
        edge_index.flip(0), edge_weight, (num_dst, num_src)
    ).to_dense()


def edge_dicts(data, encoder):
    """(edge_index, edge_weight) dictionaries with the LightGCN weights."""
    train = split_edge_index(data, "train")
    weight = bipartite_norm(train, NUM_USERS, NUM_ITEMS)
    edge_index = {et: data[et].edge_index for et in encoder.edge_types}
    edge_weight = {INTERACTS: weight, REV_INTERACTS: weight}
    for et in encoder.edge_types[2:]:
        edge_weight[et] = data[et].edge_weight
    # The reverse relation must list its edges in the same order as `weight`.
    edge_index[REV_INTERACTS] = train.flip(0)
    return edge_index, edge_weight


def dense_graphs(data):
    """A_hat, R_hat (user x item block) and the item and user graphs, built
    from scratch as dense matrices."""
    user, item = split_edge_index(data, "train")
    R = torch.zeros(NUM_USERS, NUM_ITEMS)
    R[user, item] = 1.0
    deg_u, deg_i = R.sum(1, keepdim=True), R.sum(0, keepdim=True)
    R_hat = R / deg_u.clamp(min=1).sqrt() / deg_i.clamp(min=1).sqrt()
    A_hat = torch.zeros(NUM_USERS + NUM_ITEMS, NUM_USERS + NUM_ITEMS)
    A_hat[:NUM_USERS, NUM_USERS:] = R_hat
    A_hat[NUM_USERS:, :NUM_USERS] = R_hat.t()
    S = {
        m: dense(
            data[item_sim(m)].edge_index,
            data[item_sim(m)].edge_weight,
            NUM_ITEMS,
            NUM_ITEMS,
        )
        for m in item_features(data)
    }
    C = dense(
        data[CO_INTERACTS].edge_index,
        data[CO_INTERACTS].edge_weight,
        NUM_USERS,
        NUM_USERS,
    )
    return A_hat, R_hat, S, C


def lin(module, x):
    return x @ module.weight.t() + module.bias


def test_id_purify_matches_dense_computation():
    torch.manual_seed(0)
    data = make_data()
    encoder = make_encoder(data)
    x_user, x_item = id_embeddings()
    out = encoder(x_user, x_item, item_features(data), *edge_dicts(data, encoder))

    A_hat, R_hat, S, C = dense_graphs(data)
    E0 = torch.cat([x_user, x_item])
    e = (E0 + A_hat @ E0 + A_hat @ A_hat @ E0) / 3
    assert torch.allclose(out.user, e[:NUM_USERS], atol=1e-5)
    assert torch.allclose(out.item, e[NUM_USERS:], atol=1e-5)
    assert out.user_views.shape == (2, NUM_USERS, DIM)
    assert out.item_views.shape == (2, NUM_ITEMS, DIM)
    for k, (m, x) in enumerate(item_features(data).items()):
        W, W_g = encoder.item_input[m]
        z_item = S[m] @ (x_item * torch.sigmoid(lin(W_g, lin(W, x))))
        z_user = R_hat @ z_item
        z_user = z_user + C @ z_user
        assert torch.allclose(out.item_views[k], z_item, atol=1e-5)
        assert torch.allclose(out.user_views[k], z_user, atol=1e-5)

    # Without the user-user layer, users are only lifted through R_hat.
    no_user = make_encoder(data, user_graph=False)
    no_user.load_state_dict(encoder.state_dict())
    edge_index, edge_weight = edge_dicts(data, no_user)
    assert CO_INTERACTS not in edge_index
    out2 = no_user(x_user, x_item, item_features(data), edge_index, edge_weight)
    assert torch.allclose(out2.user_views, R_hat @ out.item_views, atol=1e-5)


def test_feature_mlp_matches_dense_computation():
    torch.manual_seed(0)
    data = make_data()
    encoder = make_encoder(data, mode="feature_mlp")
    x_user, x_item = id_embeddings()
    out = encoder(x_user, x_item, item_features(data), *edge_dicts(data, encoder))

    A_hat, _, S, C = dense_graphs(data)
    E0 = torch.cat([x_user, x_item])
    e = (E0 + A_hat @ E0 + A_hat @ A_hat @ E0) / 3
    assert torch.allclose(out.user, e[:NUM_USERS], atol=1e-5)
    assert torch.allclose(out.item, e[NUM_USERS:], atol=1e-5)
    for k, (m, x) in enumerate(item_features(data).items()):
        W1, _, W2 = encoder.item_input[m]
        h = F.normalize(lin(W2, F.leaky_relu(lin(W1, x))), dim=-1)
        p = F.normalize(encoder.user_preference[:, k], dim=-1)
        Z0 = torch.cat([p, h])
        Z = Z0 + A_hat @ Z0 + A_hat @ A_hat @ Z0  # summed, not averaged (DRAGON)
        z_user, z_item = Z[:NUM_USERS], Z[NUM_USERS:]
        assert torch.allclose(out.item_views[k], z_item + S[m] @ z_item, atol=1e-5)
        assert torch.allclose(out.user_views[k], z_user + C @ z_user, atol=1e-5)


@pytest.mark.parametrize("mode", ["id_purify", "feature_mlp"])
def test_adjacency_formats_give_identical_results(mode):
    torch.manual_seed(0)
    data = make_data()
    encoder = make_encoder(data, mode=mode)
    x_user, x_item = id_embeddings()
    features = item_features(data)
    edge_index, edge_weight = edge_dicts(data, encoder)
    expected = encoder(x_user, x_item, features, edge_index, edge_weight)
    sizes = {
        INTERACTS: (NUM_USERS, NUM_ITEMS),
        REV_INTERACTS: (NUM_ITEMS, NUM_USERS),
        CO_INTERACTS: (NUM_USERS, NUM_USERS),
    }

    def adjacencies(layout):
        return {
            et: to_adj(
                ei,
                edge_weight[et],
                size=sizes.get(et, (NUM_ITEMS, NUM_ITEMS)),
                layout=layout,
            )
            for et, ei in edge_index.items()
        }

    layouts = ["csr", "coo"]
    if torch_geometric.typing.WITH_TORCH_SPARSE:
        layouts.append("sparse_tensor")
    for layout in layouts:
        out = encoder(x_user, x_item, features, adjacencies(layout))
        for a, b in zip(out, expected):
            assert torch.allclose(a, b, atol=1e-5), layout

    # Stored transposes serve the backward pass only: same gradients.
    adj_t, adj = adjacencies("csr"), {}
    for et, ei in edge_index.items():
        num_src, num_dst = sizes.get(et, (NUM_ITEMS, NUM_ITEMS))
        adj[et] = to_adj(ei.flip(0), edge_weight[et], size=(num_dst, num_src))
    grads = []
    for kwargs in ({}, {"adj_dict": adj}):
        x = x_user.clone().requires_grad_()
        out = encoder(x, x_item, features, adj_t, **kwargs)
        grads.append(torch.autograd.grad(sum(t.pow(2).sum() for t in out), x)[0])
    assert torch.allclose(grads[0], grads[1], atol=1e-5)

    # A HeteroData without user-item weights gets the LightGCN ones.
    assert "edge_weight" not in data[INTERACTS]
    out = encoder.forward_hetero(data, x_user, x_item)
    for a, b in zip(out, expected):
        assert torch.allclose(a, b, atol=1e-5)


def test_one_modality_order_and_gradients():
    torch.manual_seed(0)
    data = make_data(modalities={"text": 6})
    encoder = make_encoder(data)
    x_user, x_item = id_embeddings()
    x_user.requires_grad_()
    out = encoder.forward_hetero(data, x_user, x_item)
    assert out.user_views.shape == (1, NUM_USERS, DIM)
    (
        out.user.sum() + out.user_views.pow(2).sum() + out.item_views.pow(2).sum()
    ).backward()
    assert all(p.grad is not None for p in encoder.parameters())
    assert x_user.grad is not None

    # Modalities are stacked in the order of `in_channels`, whatever the
    # order of the feature dictionary.
    data = make_data()
    forward = make_encoder(data)
    backward = HeteroGraphEncoder({"text": 6, "image": 12}, DIM)
    backward.load_state_dict(forward.state_dict())
    x_user, x_item = id_embeddings()
    a = forward.forward_hetero(data, x_user, x_item)
    features = dict(reversed(list(item_features(data).items())))
    b = backward.forward_hetero(data, x_user, x_item, features)
    assert torch.allclose(a.user_views.flip(0), b.user_views, atol=1e-6)
    assert torch.allclose(a.item_views.flip(0), b.item_views, atol=1e-6)


def test_errors_repr_and_reset():
    data = make_data()
    encoder = make_encoder(data)
    x_user, x_item = id_embeddings()
    edge_index, edge_weight = edge_dicts(data, encoder)
    del edge_index[CO_INTERACTS]
    with pytest.raises(KeyError, match="co_interacts"):
        encoder(x_user, x_item, item_features(data), edge_index, edge_weight)
    with pytest.raises(KeyError, match="image"):
        encoder(
            x_user,
            x_item,
            {"text": item_features(data)["text"]},
            *edge_dicts(data, encoder),
        )
    del data[CO_INTERACTS]
    with pytest.raises(KeyError, match="AddModalityGraphs"):
        encoder.forward_hetero(data, x_user, x_item)
    with pytest.raises(ValueError, match="num_users"):
        HeteroGraphEncoder({"image": 4}, mode="feature_mlp")
    with pytest.raises(ValueError, match="mode"):
        HeteroGraphEncoder({"image": 4}, mode="bogus")
    with pytest.raises(ValueError, match="at least one"):
        HeteroGraphEncoder({})
    assert repr(encoder) == (
        "HeteroGraphEncoder({'image': 12, 'text': 6}, 8, num_layers=2, "
        "mode='id_purify', user_graph=True)"
    )
    mlp = make_encoder(data, mode="feature_mlp")
    before = [p.clone() for p in mlp.parameters()]
    mlp.reset_parameters()
    assert all(not torch.equal(a, b) for a, b in zip(before, mlp.parameters()))
