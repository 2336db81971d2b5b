import copy

import pytest
import torch
import torch.nn.functional as F
import torch_geometric.typing
from torch_geometric.data import HeteroData
from torch_geometric.transforms import Compose

from mde_pyg.data import (
    AddModalityGraphs,
    AddUserItemAdjacency,
    bipartite_norm,
    make_synthetic,
    to_adj,
)
from mde_pyg.data.hetero import (
    CO_INTERACTS,
    INTERACTS,
    REV_INTERACTS,
    item_features,
    item_sim,
    split_edge_index,
)
from mde_pyg.nn import Graph
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
    return Compose([AddUserItemAdjacency(), AddModalityGraphs(k=4, user_k=5)])(data)


def make_encoder(data, user_graph=True, **kwargs):
    """The encoder on the relations of :mod:`mde_pyg.data.hetero`."""
    in_channels = {m: x.size(1) for m, x in item_features(data).items()}
    return HeteroGraphEncoder(
        in_channels,
        DIM,
        num_users=NUM_USERS,
        edge_type=INTERACTS,
        rev_edge_type=REV_INTERACTS,
        item_edge_types={m: item_sim(m) for m in in_channels},
        user_edge_type=CO_INTERACTS if user_graph else None,
        **kwargs,
    )


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


def edge_graphs(data, encoder):
    """``{edge_type: Graph(edge_index, edge_weight)}`` with the LightGCN
    weights computed here (not read from the transform)."""
    train = split_edge_index(data, "train")
    weight = bipartite_norm(train, NUM_USERS, NUM_ITEMS)
    graphs = {
        et: Graph(data[et].edge_index, data[et].edge_weight)
        for et in encoder.edge_types[2:]
    }
    graphs[INTERACTS] = Graph(train, weight)
    # The reverse relation must list its edges in the same order as `weight`.
    graphs[REV_INTERACTS] = Graph(train.flip(0), weight)
    return graphs


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
    out = encoder(x_user, x_item, item_features(data), edge_graphs(data, encoder))

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
    assert not no_user.user_graph and CO_INTERACTS not in no_user.edge_types
    graphs = edge_graphs(data, no_user)
    assert CO_INTERACTS not in graphs
    out2 = no_user(x_user, x_item, item_features(data), graphs)
    assert torch.allclose(out2.user_views, R_hat @ out.item_views, atol=1e-5)


def test_feature_mlp_matches_dense_computation():
    torch.manual_seed(0)
    data = make_data()
    encoder = make_encoder(data, mode="feature_mlp")
    x_user, x_item = id_embeddings()
    out = encoder(x_user, x_item, item_features(data), edge_graphs(data, encoder))

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
    graphs = edge_graphs(data, encoder)
    expected = encoder(x_user, x_item, features, graphs)
    sizes = {
        INTERACTS: (NUM_USERS, NUM_ITEMS),
        REV_INTERACTS: (NUM_ITEMS, NUM_USERS),
        CO_INTERACTS: (NUM_USERS, NUM_USERS),
    }

    def adjacencies(layout):
        return {
            et: Graph(
                to_adj(
                    g.adj_t,
                    g.edge_weight,
                    size=sizes.get(et, (NUM_ITEMS, NUM_ITEMS)),
                    layout=layout,
                )
            )
            for et, g in graphs.items()
        }

    layouts = ["csr", "coo"]
    if torch_geometric.typing.WITH_TORCH_SPARSE:
        layouts.append("sparse_tensor")
    for layout in layouts:
        out = encoder(x_user, x_item, features, adjacencies(layout))
        for a, b in zip(out, expected):
            assert torch.allclose(a, b, atol=1e-5), layout

    # Stored transposes serve the backward pass only: same gradients.
    adj_t, with_adj = adjacencies("csr"), {}
    for et, g in graphs.items():
        num_src, num_dst = sizes.get(et, (NUM_ITEMS, NUM_ITEMS))
        adj = to_adj(g.adj_t.flip(0), g.edge_weight, size=(num_dst, num_src))
        with_adj[et] = Graph(adj_t[et].adj_t, None, adj)
    grads = []
    for graph_dict in (adj_t, with_adj):
        x = x_user.clone().requires_grad_()
        out = encoder(x, x_item, features, graph_dict)
        grads.append(torch.autograd.grad(sum(t.pow(2).sum() for t in out), x)[0])
    assert torch.allclose(grads[0], grads[1], atol=1e-5)

    # The HeteroData path reads the LightGCN weights precomputed by
    # AddUserItemAdjacency (CSR adj_t with its transpose adj) ...
    assert "adj_t" in data[INTERACTS] and "adj" in data[INTERACTS]
    out = encoder.forward_hetero(data, x_user, x_item, features)
    for a, b in zip(out, expected):
        assert torch.allclose(a, b, atol=1e-5)
    # ... or edge_index and edge_weight where a store has no adj_t ...
    edges_only = copy.copy(data)
    for et in encoder.edge_types:
        del edges_only[et].adj_t, edges_only[et].adj
    out = encoder.forward_hetero(edges_only, x_user, x_item, features)
    for a, b in zip(out, expected):
        assert torch.allclose(a, b, atol=1e-5)
    # ... and refuses a HeteroData without user-item weights (it no longer
    # computes them on every call).
    bare = AddModalityGraphs(k=4, user_k=5)(
        make_synthetic(
            num_users=NUM_USERS,
            num_items=NUM_ITEMS,
            interactions_per_user=6,
            modalities={"image": 12, "text": 6},
            seed=0,
        )
    )
    assert "edge_weight" not in bare[INTERACTS]
    with pytest.raises(KeyError, match=r"'user', 'interacts', 'item'.*graph_transform"):
        encoder.forward_hetero(bare, x_user, x_item, features)


def test_one_modality_order_and_gradients():
    torch.manual_seed(0)
    data = make_data(modalities={"text": 6})
    encoder = make_encoder(data)
    x_user, x_item = id_embeddings()
    x_user.requires_grad_()
    out = encoder.forward_hetero(data, x_user, x_item, item_features(data))
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
    backward = HeteroGraphEncoder(
        {"text": 6, "image": 12},
        DIM,
        edge_type=INTERACTS,
        rev_edge_type=REV_INTERACTS,
        item_edge_types={m: item_sim(m) for m in ("image", "text")},
        user_edge_type=CO_INTERACTS,
    )
    backward.load_state_dict(forward.state_dict())
    x_user, x_item = id_embeddings()
    a = forward.forward_hetero(data, x_user, x_item, item_features(data))
    features = dict(reversed(list(item_features(data).items())))
    b = backward.forward_hetero(data, x_user, x_item, features)
    assert torch.allclose(a.user_views.flip(0), b.user_views, atol=1e-6)
    assert torch.allclose(a.item_views.flip(0), b.item_views, atol=1e-6)


CUSTOMER, PRODUCT = "customer", "product"
BUYS = (CUSTOMER, "buys", PRODUCT)
BOUGHT_BY = (PRODUCT, "bought_by", CUSTOMER)
LOOKS_LIKE = (PRODUCT, "looks_like", PRODUCT)
CO_BUYS = (CUSTOMER, "co_buys", CUSTOMER)


def foreign_data(data):
    """The graph of ``data`` under other node and edge type names, its
    weights built by the transforms with their type options, the image graph
    and the user graph stored by hand as edge_index and edge_weight."""
    train = split_edge_index(data, "train")
    foreign = HeteroData()
    foreign[CUSTOMER].num_nodes = NUM_USERS
    foreign[PRODUCT].num_nodes = NUM_ITEMS
    for m, x in item_features(data).items():
        foreign[PRODUCT][f"x_{m}"] = x
    foreign[BUYS].edge_index = train
    foreign[BOUGHT_BY].edge_index = train.flip(0)
    foreign = Compose(
        [
            AddUserItemAdjacency(edge_type=BUYS, rev_edge_type=BOUGHT_BY),
            AddModalityGraphs(
                k=4,
                user_k=5,
                item_type=PRODUCT,
                user_type=CUSTOMER,
                edge_type=BUYS,
            ),
        ]
    )(foreign)
    for ours, theirs in ((item_sim("image"), LOOKS_LIKE), (CO_INTERACTS, CO_BUYS)):
        foreign[theirs].edge_index = data[ours].edge_index
        foreign[theirs].edge_weight = data[ours].edge_weight
    return foreign


@pytest.mark.parametrize("mode", ["id_purify", "feature_mlp"])
def test_foreign_node_and_edge_types(mode):
    torch.manual_seed(0)
    data = make_data()
    ours = make_encoder(data, mode=mode)
    theirs = HeteroGraphEncoder(
        {"image": 12, "text": 6},
        DIM,
        mode=mode,
        edge_type=BUYS,
        rev_edge_type=BOUGHT_BY,
        item_edge_types={"image": LOOKS_LIKE, "text": (PRODUCT, "sim_text", PRODUCT)},
        user_edge_type=CO_BUYS,
        num_users=NUM_USERS,
    )
    theirs.load_state_dict(ours.state_dict())
    assert theirs.edge_types == [
        BUYS,
        BOUGHT_BY,
        LOOKS_LIKE,
        (PRODUCT, "sim_text", PRODUCT),
        CO_BUYS,
    ]
    foreign = foreign_data(data)
    # The transforms wrote the relations they were named, with our weights.
    assert sorted(foreign.node_types) == [CUSTOMER, PRODUCT]
    built = {
        BUYS: INTERACTS,
        BOUGHT_BY: REV_INTERACTS,
        (PRODUCT, "sim_text", PRODUCT): item_sim("text"),
        (CUSTOMER, "co_interacts", CUSTOMER): CO_INTERACTS,
    }
    for theirs_type, ours_type in built.items():
        for key in ("edge_index", "edge_weight"):
            assert torch.equal(foreign[theirs_type][key], data[ours_type][key])
    assert "adj_t" not in foreign[LOOKS_LIKE]  # read as edge_index + edge_weight
    x_user, x_item = id_embeddings()
    features = item_features(data)
    expected = ours.forward_hetero(data, x_user, x_item, features)
    out = theirs.forward_hetero(foreign, x_user, x_item, features)
    for a, b in zip(out, expected):
        assert torch.allclose(a, b, atol=1e-5)
    # Each encoder reads only its own relations.
    with pytest.raises(KeyError, match="buys"):
        theirs.forward_hetero(data, x_user, x_item, features)
    with pytest.raises(KeyError, match="interacts"):
        ours.forward_hetero(foreign, x_user, x_item, features)


def test_errors_repr_and_reset():
    data = make_data()
    encoder = make_encoder(data)
    x_user, x_item = id_embeddings()
    graphs = edge_graphs(data, encoder)
    del graphs[CO_INTERACTS]
    with pytest.raises(KeyError, match="co_interacts"):
        encoder(x_user, x_item, item_features(data), graphs)
    with pytest.raises(KeyError, match="image"):
        encoder(
            x_user,
            x_item,
            {"text": item_features(data)["text"]},
            edge_graphs(data, encoder),
        )
    del data[CO_INTERACTS]
    # The message names the missing relation and how to build it.
    with pytest.raises(KeyError, match=r"co_interacts.*graph_transform"):
        encoder.forward_hetero(data, x_user, x_item, item_features(data))
    with pytest.raises(ValueError, match="num_users"):
        HeteroGraphEncoder({"image": 4}, mode="feature_mlp")
    with pytest.raises(ValueError, match="mode"):
        HeteroGraphEncoder({"image": 4}, mode="bogus")
    with pytest.raises(ValueError, match="at least one"):
        HeteroGraphEncoder({})
    # The relations are required: the layer knows no default type names.
    with pytest.raises(ValueError, match="required"):
        HeteroGraphEncoder({"image": 4})
    with pytest.raises(ValueError, match="item_edge_types"):
        HeteroGraphEncoder(
            {"image": 4, "text": 2},
            edge_type=INTERACTS,
            rev_edge_type=REV_INTERACTS,
            item_edge_types={"image": item_sim("image")},
        )
    with pytest.raises(ValueError, match="num_layers"):
        make_encoder(data, num_layers=-1)
    assert encoder.user_graph and encoder.num_layers == 2
    assert encoder.propagation.edge_types == [INTERACTS, REV_INTERACTS]
    assert repr(encoder) == (
        "HeteroGraphEncoder({'image': 12, 'text': 6}, 8, num_layers=2, "
        "mode='id_purify', edge_types=[('user', 'interacts', 'item'), "
        "('item', 'rev_interacts', 'user'), ('item', 'sim_image', 'item'), "
        "('item', 'sim_text', 'item'), ('user', 'co_interacts', 'user')])"
    )
    mlp = make_encoder(data, mode="feature_mlp")
    before = [p.clone() for p in mlp.parameters()]
    mlp.reset_parameters()
    assert all(not torch.equal(a, b) for a, b in zip(before, mlp.parameters()))
