import pytest
import torch
import torch_geometric.typing
from torch_geometric.data import HeteroData
from torch_geometric.nn import HeteroConv, LGConv
from torch_geometric.nn.conv.gcn_conv import gcn_norm

from mde_pyg.nn import BipartiteLGConv, Graph, graphs_of


@pytest.fixture
def bipartite():
    torch.manual_seed(0)
    edge_index = torch.tensor([[0, 0, 1, 2, 3, 3], [0, 1, 1, 2, 0, 2]])
    edge_weight = torch.rand(edge_index.size(1))
    return edge_index, edge_weight, torch.randn(4, 8), torch.randn(3, 8)


def dense_reference(edge_index, edge_weight, x_src, num_dst):
    dense = torch.zeros(num_dst, x_src.size(0))
    dense[edge_index[1], edge_index[0]] = edge_weight
    return dense @ x_src


def test_bipartite_conv_matches_dense(bipartite):
    edge_index, edge_weight, x_src, x_dst = bipartite
    conv = BipartiteLGConv()
    out = conv((x_src, x_dst), edge_index, edge_weight)
    assert out.shape == (3, 8)
    expected = dense_reference(edge_index, edge_weight, x_src, 3)
    assert torch.allclose(out, expected, atol=1e-6)
    assert str(conv) == "BipartiteLGConv()"


def test_bipartite_conv_sparse_inputs_agree(bipartite):
    edge_index, edge_weight, x_src, x_dst = bipartite
    conv = BipartiteLGConv()
    expected = conv((x_src, x_dst), edge_index, edge_weight)
    adj_t = torch.sparse_coo_tensor(edge_index.flip(0), edge_weight, (3, 4))
    assert torch.allclose(
        conv((x_src, x_dst), adj_t.to_sparse_csr()), expected, atol=1e-6
    )
    if torch_geometric.typing.WITH_TORCH_SPARSE:
        from torch_sparse import SparseTensor

        adj = SparseTensor(
            row=edge_index[1], col=edge_index[0], value=edge_weight, sparse_sizes=(3, 4)
        )
        assert torch.allclose(conv((x_src, x_dst), adj), expected, atol=1e-6)


def test_bipartite_conv_inside_hetero_conv(bipartite):
    edge_index, edge_weight, x_src, x_dst = bipartite
    edge_type = ("user", "interacts", "item")
    hetero = HeteroConv({edge_type: BipartiteLGConv()})
    out = hetero(
        {"user": x_src, "item": x_dst},
        {edge_type: edge_index},
        edge_weight_dict={edge_type: edge_weight},
    )
    expected = BipartiteLGConv()((x_src, x_dst), edge_index, edge_weight)
    assert torch.allclose(out["item"], expected)


def test_matches_pyg_lgconv_on_homogeneous_graph():
    torch.manual_seed(1)
    edge_index = torch.randint(0, 10, (2, 30))
    edge_index = torch.cat([edge_index, edge_index.flip(0)], dim=1)
    x = torch.randn(10, 4)
    norm_index, norm_weight = gcn_norm(edge_index, None, 10, add_self_loops=False)
    out = BipartiteLGConv()(x, norm_index, norm_weight)
    assert torch.allclose(out, LGConv()(x, edge_index), atol=1e-6)


def test_gradient_reaches_source_features(bipartite):
    edge_index, edge_weight, x_src, x_dst = bipartite
    x_src.requires_grad_(True)
    BipartiteLGConv()((x_src, x_dst), edge_index, edge_weight).sum().backward()
    # Source node 0 sends along two edges: its gradient is their total weight.
    assert torch.allclose(x_src.grad[0], edge_weight[:2].sum().expand(8))


def sparse_inputs(edge_index, edge_weight, num_src, num_dst):
    """The sparse adjacencies ``[num_dst, num_src]`` the conv accepts."""
    adj_t = torch.sparse_coo_tensor(
        edge_index.flip(0), edge_weight, (num_dst, num_src)
    ).coalesce()
    inputs = {"coo": adj_t, "csr": adj_t.to_sparse_csr()}
    if torch_geometric.typing.WITH_TORCH_SPARSE:
        from torch_sparse import SparseTensor

        inputs["sparse_tensor"] = SparseTensor(
            row=edge_index[1],
            col=edge_index[0],
            value=edge_weight,
            sparse_sizes=(num_dst, num_src),
        )
    return inputs


@pytest.mark.parametrize("aggr", ["add", "mean"])
def test_sparse_path_honours_aggr(bipartite, aggr):
    edge_index, edge_weight, x_src, _ = bipartite
    # Targets 0..2 have two incoming edges each, target 3 none.
    x_dst = torch.randn(4, 8)
    conv = BipartiteLGConv(aggr=aggr)
    expected = conv((x_src, x_dst), edge_index, edge_weight)
    dense = torch.zeros(4, 4)
    dense[edge_index[1], edge_index[0]] = edge_weight
    reference = dense @ x_src
    if aggr == "mean":
        reference = reference / dense.ne(0).sum(1, keepdim=True).clamp(min=1)
    assert torch.allclose(expected, reference, atol=1e-6)
    for layout, adj_t in sparse_inputs(edge_index, edge_weight, 4, 4).items():
        x = x_src.clone().requires_grad_()
        out = conv((x, x_dst), adj_t)
        assert torch.allclose(out, expected, atol=1e-6), layout
        # Same gradient as the edge_index path.
        (grad,) = torch.autograd.grad(out.pow(2).sum(), x)
        x_ref = x_src.clone().requires_grad_()
        ref = conv((x_ref, x_dst), edge_index, edge_weight)
        (grad_ref,) = torch.autograd.grad(ref.pow(2).sum(), x_ref)
        assert torch.allclose(grad, grad_ref, atol=1e-6), layout
    # "mean" and "add" differ on this graph: the test can tell them apart.
    other = BipartiteLGConv(aggr="add" if aggr == "mean" else "mean")
    assert not torch.allclose(other((x_src, x_dst), edge_index, edge_weight), expected)


def test_forward_graph_adds_the_self_loop_term(bipartite):
    edge_index, edge_weight, x_src, x_dst = bipartite
    conv = BipartiteLGConv()
    self_weight = torch.tensor([0.5, 2.0, -1.0])
    out = conv.forward_graph(
        (x_src, x_dst), Graph(edge_index, edge_weight, None, self_weight)
    )
    expected = conv((x_src, x_dst), edge_index, edge_weight)
    assert torch.allclose(out, expected + self_weight[:, None] * x_dst, atol=1e-6)
    # On a sparse adjacency (with its transpose) the same.
    adj_t = sparse_inputs(edge_index, edge_weight, 4, 3)["csr"]
    adj = torch.sparse_coo_tensor(edge_index, edge_weight, (4, 3)).to_sparse_csr()
    sparse = conv.forward_graph((x_src, x_dst), Graph(adj_t, None, adj, self_weight))
    assert torch.allclose(sparse, out, atol=1e-6)
    # Without self-loops it is forward; on a homogeneous graph x is the target.
    plain = conv.forward_graph((x_src, x_dst), Graph(edge_index, edge_weight))
    assert torch.equal(plain, expected)
    x = torch.randn(4, 8)
    loops = torch.tensor([1.0, 0.0, 3.0, 0.25])
    homogeneous = conv.forward_graph(x, Graph(edge_index, edge_weight, None, loops))
    expected = conv(x, edge_index, edge_weight) + loops[:, None] * x
    assert torch.allclose(homogeneous, expected, atol=1e-6)


def test_graph_from_store_and_graphs_of(bipartite):
    edge_index, edge_weight, _, _ = bipartite
    data = HeteroData()
    data["a"].num_nodes, data["b"].num_nodes = 4, 3
    edge_type = ("a", "to", "b")
    data[edge_type].edge_index = edge_index
    # An unweighted relation would be read with weight 1: refused.
    with pytest.raises(KeyError, match="graph_transform"):
        graphs_of(data, [edge_type])
    data[edge_type].edge_weight = edge_weight
    graph = graphs_of(data, [edge_type])[edge_type]
    assert graph.adj_t is edge_index and graph.edge_weight is edge_weight
    assert graph.adj is None and graph.self_weight is None
    with pytest.raises(KeyError, match="'b', 'from', 'a'"):
        graphs_of(data, [edge_type, ("b", "from", "a")])

    # A sparse adj_t (with its transpose and self-loops) takes precedence.
    adj_t = sparse_inputs(edge_index, edge_weight, 4, 3)["csr"]
    data[edge_type].adj_t = adj_t
    adj = torch.sparse_coo_tensor(edge_index, edge_weight, (4, 3)).to_sparse_csr()
    data[edge_type].adj = adj
    data[edge_type].self_weight = torch.ones(3)
    graph = Graph.from_store(data[edge_type])
    assert graph.adj_t is adj_t and graph.edge_weight is None
    assert graph.adj is adj and torch.equal(graph.self_weight, torch.ones(3))
