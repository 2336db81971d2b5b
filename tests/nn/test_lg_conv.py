import pytest
import torch
import torch_geometric.typing
from torch_geometric.nn import HeteroConv, LGConv
from torch_geometric.nn.conv.gcn_conv import gcn_norm

from mde_pyg.nn import BipartiteLGConv


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
