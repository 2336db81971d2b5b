"""MMGCNConv against an independent dense computation of MMGCN's layer."""

import pytest
import torch
import torch.nn.functional as F

from mde_pyg.nn import Graph, MMGCNConv

NUM_SRC, NUM_DST, IN, OUT = 5, 4, 6, 3


@pytest.fixture
def bipartite():
    torch.manual_seed(0)
    # Target 3 has no neighbour.
    edge_index = torch.tensor([[0, 1, 1, 2, 4, 4], [0, 0, 1, 2, 1, 2]])
    return edge_index, torch.randn(NUM_SRC, IN), torch.randn(NUM_DST, IN)


def dense_adjacency(edge_index):
    adj = torch.zeros(NUM_DST, NUM_SRC)
    adj[edge_index[1], edge_index[0]] = 1.0
    return adj


def dense_layer(conv, adj, x_src, x_dst, id_embedding, aggr):
    """The published layer: h = LeakyReLU(aggr_j x_j W) with W the message
    weight, x_hat = LeakyReLU(x W_s + b_s) + e, out = LeakyReLU(W_c (h || x_hat)
    + b_c) or LeakyReLU(W_c h + b_c + x_hat)."""
    messages = x_src @ conv.lin_message.weight.t()
    h = adj @ messages
    if aggr == "mean":
        h = h / adj.sum(1, keepdim=True).clamp(min=1)
    h = F.leaky_relu(h)
    x_hat = F.leaky_relu(x_dst @ conv.lin_self.weight.t() + conv.lin_self.bias)
    if id_embedding is not None:
        x_hat = x_hat + id_embedding
    W_c, b_c = conv.lin_combine.weight, conv.lin_combine.bias
    if conv.combine == "concat":
        return F.leaky_relu(torch.cat([h, x_hat], 1) @ W_c.t() + b_c)
    return F.leaky_relu(h @ W_c.t() + b_c + x_hat)


def graph_of(edge_index, weight):
    adj_t = torch.sparse_coo_tensor(edge_index.flip(0), weight, (NUM_DST, NUM_SRC))
    return Graph(adj_t.coalesce().to_sparse_csr())


@pytest.mark.parametrize("combine", ["concat", "add"])
@pytest.mark.parametrize("aggr", ["mean", "add"])
@pytest.mark.parametrize("with_id", [True, False])
def test_matches_dense_layer(bipartite, combine, aggr, with_id):
    edge_index, x_src, x_dst = bipartite
    conv = MMGCNConv(IN, OUT, combine=combine)
    with torch.no_grad():  # nonzero biases
        for param in conv.parameters():
            param.add_(0.1 * torch.randn_like(param))
    adj = dense_adjacency(edge_index)
    deg = adj.sum(1)
    weight = 1.0 / deg[edge_index[1]] if aggr == "mean" else torch.ones(6)
    id_embedding = torch.randn(NUM_DST, OUT) if with_id else None
    expected = dense_layer(conv, adj, x_src, x_dst, id_embedding, aggr)
    out = conv((x_src, x_dst), graph_of(edge_index, weight), id_embedding)
    assert out.shape == (NUM_DST, OUT)
    assert torch.allclose(out, expected, atol=1e-6)
    # The edge path (edge_index + edge_weight) agrees with the sparse one.
    edge_graph = Graph(edge_index, weight)
    assert torch.allclose(
        conv((x_src, x_dst), edge_graph, id_embedding), expected, atol=1e-6
    )


def test_no_graph_is_a_node_without_neighbours(bipartite):
    edge_index, x_src, x_dst = bipartite
    conv = MMGCNConv(IN, OUT)
    full = conv((x_src, x_dst), Graph(edge_index, torch.ones(6)))
    alone = conv(x_dst, None)
    assert alone.shape == (NUM_DST, OUT)
    assert torch.allclose(alone[3], full[3])  # target 3 has no neighbour
    assert not torch.allclose(alone[0], full[0])


def test_gradients_reset_and_repr(bipartite):
    edge_index, x_src, x_dst = bipartite
    conv = MMGCNConv(IN, OUT, combine="add", negative_slope=0.2)
    conv((x_src, x_dst), Graph(edge_index, torch.ones(6))).sum().backward()
    for name, param in conv.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name
    assert conv.lin_combine.in_features == IN
    assert MMGCNConv(IN, OUT).lin_combine.in_features == IN + OUT
    before = conv.lin_message.weight.clone()
    conv.reset_parameters()
    assert not torch.equal(before, conv.lin_message.weight)
    assert repr(conv) == "MMGCNConv(6, 3, combine='add')"
    with pytest.raises(ValueError, match="Unknown combine"):
        MMGCNConv(IN, OUT, combine="linear")
