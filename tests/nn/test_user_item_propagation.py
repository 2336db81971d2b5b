import pytest
import torch

from mde_pyg.data import AddUserItemAdjacency, build_heterodata
from mde_pyg.data.hetero import (
    INTERACTS,
    INTERACTS_MEAN,
    REV_INTERACTS,
    REV_INTERACTS_MEAN,
)
from mde_pyg.nn import Graph, UserItemPropagation, graphs_of

NUM_USERS, NUM_ITEMS, DIM = 4, 4, 3
# Item 3 has no interaction; user 3 a single one.
TRAIN = torch.tensor([[0, 0, 1, 2, 2, 3], [0, 1, 1, 0, 2, 2]])
LATTICE = dict(
    normalization="row",
    self_loops=True,
    out_edge_types=(INTERACTS_MEAN, REV_INTERACTS_MEAN),
)


def make_data():
    empty = TRAIN.new_empty(2, 0)
    return build_heterodata(NUM_USERS, NUM_ITEMS, TRAIN, empty, empty)


def features(seed=0):
    gen = torch.Generator().manual_seed(seed)
    return (
        torch.randn(NUM_USERS, DIM, generator=gen),
        torch.randn(NUM_ITEMS, DIM, generator=gen),
    )


def homogeneous_adjacency():
    """The 0/1 adjacency of the users-then-items graph."""
    num_nodes = NUM_USERS + NUM_ITEMS
    A = torch.zeros(num_nodes, num_nodes)
    A[TRAIN[0], TRAIN[1] + NUM_USERS] = 1.0
    A[TRAIN[1] + NUM_USERS, TRAIN[0]] = 1.0
    return A


def sym_matrix():
    """D^-1/2 A D^-1/2 (LightGCN)."""
    A = homogeneous_adjacency()
    deg = A.sum(1)
    inv_sqrt = torch.where(deg > 0, deg.pow(-0.5), torch.zeros_like(deg))
    return inv_sqrt[:, None] * A * inv_sqrt[None, :]


def row_self_loop_matrix():
    """D^-1 (A + I) with D the degrees of A + I (LATTICE)."""
    A = homogeneous_adjacency() + torch.eye(NUM_USERS + NUM_ITEMS)
    return A / A.sum(1, keepdim=True)


def dense_propagation(P, x_user, x_item, num_layers):
    """Mean of P^l E for l = 0..L, split back into users and items."""
    E = torch.cat([x_user, x_item])
    total, layer = E, E
    for _ in range(num_layers):
        layer = P @ layer
        total = total + layer
    return (total / (num_layers + 1)).split([NUM_USERS, NUM_ITEMS])


def edge_index_graphs(data, edge_types):
    """The same relations as edge_index + edge_weight (no sparse adj_t)."""
    return {
        et: Graph(
            data[et].edge_index,
            data[et].edge_weight,
            None,
            data[et].get("self_weight"),
        )
        for et in edge_types
    }


@pytest.mark.parametrize(
    "transform, edge_types, matrix",
    [
        (AddUserItemAdjacency(), (INTERACTS, REV_INTERACTS), sym_matrix),
        (
            AddUserItemAdjacency(**LATTICE),
            (INTERACTS_MEAN, REV_INTERACTS_MEAN),
            row_self_loop_matrix,
        ),
    ],
    ids=["sym", "row_self_loops"],
)
@pytest.mark.parametrize("num_layers", [0, 1, 3])
def test_matches_dense_computation(transform, edge_types, matrix, num_layers):
    data = transform(make_data())
    prop = UserItemPropagation(*edge_types, num_layers=num_layers)
    assert prop.edge_types == list(edge_types)
    x_user, x_item = features()
    P = matrix()

    expected = dense_propagation(P, x_user, x_item, num_layers)
    for graphs in (
        graphs_of(data, prop.edge_types),
        edge_index_graphs(data, edge_types),
    ):
        out = prop(x_user, x_item, graphs)
        assert out[0].shape == (NUM_USERS, DIM) and out[1].shape == (NUM_ITEMS, DIM)
        for a, b in zip(out, expected):
            assert torch.allclose(a, b, atol=1e-6)
        # layer_sum is the sum, not the mean, of the same layers.
        for a, b in zip(prop.layer_sum(x_user, x_item, graphs), out):
            assert torch.allclose(a, b * (num_layers + 1), atol=1e-6)
        # last_layer is P^L E alone.
        last = torch.linalg.matrix_power(P, num_layers) @ torch.cat([x_user, x_item])
        for a, b in zip(
            prop.last_layer(x_user, x_item, graphs), last.split([NUM_USERS, NUM_ITEMS])
        ):
            assert torch.allclose(a, b, atol=1e-6)

    # The gradient (through the stored transposes) is the dense one.
    graphs = graphs_of(data, prop.edge_types)
    x_u, x_i = x_user.clone().requires_grad_(), x_item.clone().requires_grad_()
    loss = sum(t.pow(2).sum() for t in prop(x_u, x_i, graphs))
    grads = torch.autograd.grad(loss, (x_u, x_i))
    d_u, d_i = x_user.clone().requires_grad_(), x_item.clone().requires_grad_()
    loss = sum(t.pow(2).sum() for t in dense_propagation(P, d_u, d_i, num_layers))
    for a, b in zip(grads, torch.autograd.grad(loss, (d_u, d_i))):
        assert torch.allclose(a, b, atol=1e-6)


def test_both_normalisations_live_side_by_side():
    data = AddUserItemAdjacency(**LATTICE)(AddUserItemAdjacency()(make_data()))
    x_user, x_item = features(seed=1)
    sym = UserItemPropagation(INTERACTS, REV_INTERACTS, num_layers=2)
    row = UserItemPropagation(INTERACTS_MEAN, REV_INTERACTS_MEAN, num_layers=2)
    out_sym = sym(x_user, x_item, graphs_of(data, sym.edge_types))
    out_row = row(x_user, x_item, graphs_of(data, row.edge_types))
    for a, b in zip(out_sym, dense_propagation(sym_matrix(), x_user, x_item, 2)):
        assert torch.allclose(a, b, atol=1e-6)
    for a, b in zip(
        out_row, dense_propagation(row_self_loop_matrix(), x_user, x_item, 2)
    ):
        assert torch.allclose(a, b, atol=1e-6)
    assert not torch.allclose(out_sym[0], out_row[0])
    # Only the LATTICE graph has self-loops; the isolated item keeps itself.
    assert "self_weight" not in data[INTERACTS]
    # Self-loop weight 1 / (deg + 1): items have degrees 2, 2, 2, 0.
    assert torch.allclose(
        data[INTERACTS_MEAN].self_weight, torch.tensor([1 / 3, 1 / 3, 1 / 3, 1.0])
    )
    assert torch.allclose(data[REV_INTERACTS_MEAN].self_weight[3], torch.tensor(0.5))
    assert torch.allclose(out_row[1][3], x_item[3])
    assert torch.allclose(out_sym[1][3], x_item[3] / 3)


def test_columns_propagate_independently():
    data = AddUserItemAdjacency()(make_data())
    prop = UserItemPropagation(INTERACTS, REV_INTERACTS)
    graphs = graphs_of(data, prop.edge_types)
    a_user, a_item = features(seed=2)
    b_user, b_item = features(seed=3)
    both = prop(
        torch.cat([a_user, b_user], dim=1), torch.cat([a_item, b_item], dim=1), graphs
    )
    separate = zip(prop(a_user, a_item, graphs), prop(b_user, b_item, graphs))
    for x, (a, b) in zip(both, separate):
        assert torch.allclose(x, torch.cat([a, b], dim=1), atol=1e-6)


def test_errors_and_repr():
    with pytest.raises(ValueError, match="num_layers"):
        UserItemPropagation(INTERACTS, REV_INTERACTS, num_layers=-1)
    prop = UserItemPropagation(["user", "interacts", "item"], REV_INTERACTS)
    assert prop.edge_type == INTERACTS  # lists are normalised to tuples
    assert list(prop.parameters()) == []
    assert repr(prop) == (
        "UserItemPropagation(('user', 'interacts', 'item'), "
        "('item', 'rev_interacts', 'user'), num_layers=2)"
    )
    with pytest.raises(KeyError, match="interacts"):
        graphs_of(make_data(), prop.edge_types)  # no weights yet
    data = AddUserItemAdjacency()(make_data())
    with pytest.raises(KeyError):
        prop(*features(), {INTERACTS: graphs_of(data, [INTERACTS])[INTERACTS]})
