import pytest
import torch
import torch_geometric.typing
from torch_geometric.nn.conv.gcn_conv import gcn_norm
from torch_geometric.utils import spmm

from mde_pyg.data.graphs import (
    bipartite_norm,
    knn_graph,
    to_adj,
    user_item_adjacency,
    user_user_graph,
)


def dense(edge_index, edge_weight, num_nodes):
    """[target, source] dense matrix of a graph (duplicates summed)."""
    out = torch.zeros(num_nodes, num_nodes, dtype=edge_weight.dtype)
    return out.index_put((edge_index[1], edge_index[0]), edge_weight, accumulate=True)


def random_interactions(num_users, num_items, p, seed):
    gen = torch.Generator().manual_seed(seed)
    mask = torch.rand(num_users, num_items, generator=gen) < p
    return mask.nonzero().t(), mask.float()


def test_bipartite_norm_matches_dense():
    edge_index, r = random_interactions(7, 5, 0.5, seed=0)
    weight = bipartite_norm(edge_index, 7, 5)
    assert weight.dtype == torch.float32
    du, di = r.sum(1), r.sum(0)
    expected = (du.view(-1, 1) * di.view(1, -1)).rsqrt()[edge_index[0], edge_index[1]]
    assert torch.allclose(weight, expected)


def test_user_item_sym_equals_gcn_norm():
    edge_index, _ = random_interactions(6, 4, 0.5, seed=1)
    num_nodes = 10
    index, weight = user_item_adjacency(edge_index, 6, 4, normalization="sym")
    assert weight.dtype == torch.float32
    assert index.size(1) == 2 * edge_index.size(1)
    assert not (index[0] == index[1]).any()
    homo = torch.cat(
        [
            edge_index + torch.tensor([[0], [6]]),
            edge_index.flip(0) + torch.tensor([[6], [0]]),
        ],
        1,
    )
    ref_index, ref_weight = gcn_norm(homo, None, num_nodes, add_self_loops=False)
    assert torch.allclose(
        dense(index, weight, num_nodes), dense(ref_index, ref_weight, num_nodes)
    )


def test_user_item_row_with_self_loops_is_lattice_norm():
    edge_index, r = random_interactions(5, 4, 0.5, seed=2)
    index, weight = user_item_adjacency(
        edge_index, 5, 4, normalization="row", self_loops=True
    )
    a = torch.zeros(9, 9)
    a[:5, 5:], a[5:, :5] = r, r.t()
    a = a + torch.eye(9)
    expected = a / a.sum(1, keepdim=True)  # D^-1 (A + I)
    assert torch.allclose(dense(index, weight, 9), expected)
    # Aggregating at targets: every row of D^-1 (A + I) sums to one.
    assert torch.allclose(
        spmm(to_adj(index, weight, (9, 9)), torch.ones(9, 1)), torch.ones(9, 1)
    )
    with pytest.raises(ValueError, match="normalization"):
        user_item_adjacency(edge_index, 5, 4, normalization="columns")


def dense_knn(x, k, weighted=True, normalization="sym"):
    """LATTICE's dense build_knn_neighbourhood + compute_normalized_laplacian,
    with the item itself forced into its own list."""
    norm = x.norm(dim=1, keepdim=True)
    unit = torch.where(norm > 0, x / norm.clamp_min(1e-30), torch.zeros_like(x))
    sim = unit @ unit.t()
    score = sim.detach().clone()
    score.fill_diagonal_(float("inf"))
    index = score.topk(k, dim=1).indices
    value = sim.gather(1, index) if weighted else torch.ones(index.shape)
    adj = torch.zeros_like(sim).scatter(1, index, value)
    if normalization == "none":
        return adj
    d = adj.sum(1)
    if normalization == "row":
        inv = torch.where(d > 0, 1 / d, torch.zeros_like(d))
        return inv.view(-1, 1) * adj
    inv = torch.where(d > 0, d.clamp_min(1e-30).rsqrt(), torch.zeros_like(d))
    return inv.view(-1, 1) * adj * inv.view(1, -1)


@pytest.mark.parametrize("normalization", ["sym", "row", "none"])
@pytest.mark.parametrize("weighted", [True, False])
def test_knn_graph_matches_dense(normalization, weighted):
    x = torch.randn(23, 6, generator=torch.Generator().manual_seed(3))
    index, weight = knn_graph(
        x, k=4, chunk_size=5, weighted=weighted, normalization=normalization
    )
    assert index.shape == (2, 23 * 4) and weight.shape == (23 * 4,)
    assert torch.equal(index[1], torch.arange(23).repeat_interleave(4))
    expected = dense_knn(x, 4, weighted, normalization)
    assert torch.allclose(dense(index, weight, 23), expected, atol=1e-6)


@pytest.mark.parametrize("chunk_size", [1, 3, 40])
def test_knn_graph_chunk_invariance_and_self(chunk_size):
    x = torch.rand(40, 5, generator=torch.Generator().manual_seed(4))
    ref_index, ref_weight = knn_graph(x, k=6, chunk_size=1000)
    index, weight = knn_graph(x, k=6, chunk_size=chunk_size)
    assert torch.allclose(
        dense(index, weight, 40), dense(ref_index, ref_weight, 40), atol=1e-6
    )
    # Each item is in its own list.
    lists = index[0].view(40, 6)
    assert (lists == torch.arange(40).view(-1, 1)).any(1).all()


def test_knn_graph_zero_rows_duplicates_and_large_k():
    x = torch.randn(10, 4, generator=torch.Generator().manual_seed(5))
    x[2] = 0.0
    x[7] = 0.0
    x[5] = x[4]  # exact duplicate: itself must still win its own list
    x.requires_grad_()
    index, weight = knn_graph(x, k=3)
    assert torch.isfinite(weight).all()
    lists = index[0].view(10, 3)
    assert (lists == torch.arange(10).view(-1, 1)).any(1).all()
    # A zero row has no similarity to anything: all its weights vanish.
    assert (weight.view(10, 3)[[2, 7]] == 0).all()
    weight.sum().backward()
    assert torch.isfinite(x.grad).all()
    # The no-gradient path (weights from the search itself) agrees.
    no_grad_index, no_grad_weight = knn_graph(x.detach(), k=3)
    assert torch.equal(no_grad_index, index)
    assert torch.allclose(no_grad_weight, weight, atol=1e-6)
    # k larger than the number of items keeps everything.
    index, _ = knn_graph(x.detach(), k=50)
    assert index.size(1) == 100


def test_knn_graph_gradient_matches_dense():
    x = torch.randn(15, 4, generator=torch.Generator().manual_seed(6))
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    probe = torch.randn(15, 15, generator=torch.Generator().manual_seed(7))
    index, weight = knn_graph(x1, k=5, chunk_size=4)
    (dense(index, weight, 15) * probe).sum().backward()
    (dense_knn(x2, 5) * probe).sum().backward()
    assert x1.grad.abs().sum() > 0
    assert torch.allclose(x1.grad, x2.grad, atol=1e-5)
    # With binary weights there is nothing to differentiate.
    _, weight = knn_graph(x1, k=5, weighted=False)
    assert not weight.requires_grad


def dense_masked_knn(x, mask, k, weighted=True, normalization="sym"):
    """The dense k-NN graph of the real rows of ``x`` alone, placed among all
    items, with a self-loop of weight 1 at every missing item."""
    real = mask.nonzero().view(-1)
    adj = torch.zeros(x.size(0), x.size(0), dtype=x.dtype)
    sub = dense_knn(x[real], min(k, real.numel()), weighted, "none")
    adj[real.view(-1, 1), real.view(1, -1)] = sub
    missing = (~mask).nonzero().view(-1)
    adj[missing, missing] = 1.0
    d = adj.sum(1)
    if normalization == "none":
        return adj
    if normalization == "row":
        return torch.where(d > 0, 1 / d, torch.zeros_like(d)).view(-1, 1) * adj
    inv = torch.where(d > 0, d.clamp_min(1e-30).rsqrt(), torch.zeros_like(d))
    return inv.view(-1, 1) * adj * inv.view(1, -1)


@pytest.mark.parametrize("normalization", ["sym", "row", "none"])
@pytest.mark.parametrize("weighted", [True, False])
def test_knn_graph_links_no_item_through_a_missing_row(normalization, weighted):
    x = torch.randn(25, 6, generator=torch.Generator().manual_seed(8))
    mask = torch.ones(25, dtype=torch.bool)
    mask[[1, 4, 5, 17, 24]] = False
    # Filled-in rows that are identical (the mean) or zero: without the mask
    # the identical ones would be each other's nearest neighbours.
    x[[1, 4, 5]] = x[mask].mean(0)
    x[[17, 24]] = 0.0
    index, weight = knn_graph(
        x, k=4, chunk_size=7, weighted=weighted, normalization=normalization, mask=mask
    )
    assert torch.equal(index[1], index[1].sort().values)  # sorted by target
    assert index.size(1) == 20 * 4 + 5
    assert torch.allclose(
        dense(index, weight, 25),
        dense_masked_knn(x, mask, 4, weighted, normalization),
        atol=1e-6,
    )
    # A missing item is nobody's neighbour and keeps only itself, with a
    # normalised weight of 1 (its degree is 1 whatever its filled-in row).
    touches_missing = ~mask[index[0]] | ~mask[index[1]]
    assert torch.equal(index[0, touches_missing], index[1, touches_missing])
    assert torch.equal(index[0, touches_missing], (~mask).nonzero().view(-1))
    assert torch.equal(weight[touches_missing], torch.ones(5))


def test_knn_graph_mask_edge_cases_and_gradient():
    x = torch.randn(12, 4, generator=torch.Generator().manual_seed(9))
    full = knn_graph(x, k=3)
    # A mask without a missing row is no mask.
    same = knn_graph(x, k=3, mask=torch.ones(12, dtype=torch.bool))
    assert torch.equal(full[0], same[0]) and torch.equal(full[1], same[1])
    # k is clipped to the real rows; a single real row keeps itself only.
    mask = torch.zeros(12, dtype=torch.bool)
    mask[3] = True
    index, weight = knn_graph(x, k=3, mask=mask)
    assert torch.equal(index, torch.arange(12).repeat(2, 1))
    assert torch.equal(weight, torch.ones(12))
    # Gradients reach the real rows only.
    mask = torch.arange(12) % 3 != 0
    x1 = x.clone().requires_grad_()
    probe = torch.randn(12, 12, generator=torch.Generator().manual_seed(10))
    index, weight = knn_graph(x1, k=4, mask=mask)
    (dense(index, weight, 12) * probe).sum().backward()
    x2 = x.clone().requires_grad_()
    (dense_masked_knn(x2, mask, 4) * probe).sum().backward()
    assert torch.allclose(x1.grad, x2.grad, atol=1e-5)
    assert (x1.grad[~mask] == 0).all() and x1.grad[mask].abs().sum() > 0
    with pytest.raises(ValueError, match="boolean tensor of shape \\[12\\]"):
        knn_graph(x, k=3, mask=torch.ones(11, dtype=torch.bool))


def dense_user_user(r, k):
    """Top-k of R R^T per user (self and zeros dropped, ties to the smaller
    index), softmax over the kept counts; one user at a time."""
    counts = r @ r.t()
    counts.fill_diagonal_(0)
    out = torch.zeros_like(counts)
    for u in range(r.size(0)):
        candidates = [v for v in range(r.size(0)) if counts[u, v] > 0]
        kept = sorted(candidates, key=lambda v: (-counts[u, v].item(), v))[:k]
        if kept:
            out[u, kept] = torch.softmax(counts[u, kept], dim=0)
    return out


@pytest.mark.parametrize("chunk_size", [1, 3, 1024])
def test_user_user_graph_matches_dense(chunk_size):
    edge_index, r = random_interactions(17, 9, 0.3, seed=8)
    index, weight = user_user_graph(edge_index, 17, 9, k=3, chunk_size=chunk_size)
    assert weight.dtype == torch.float32
    assert not (index[0] == index[1]).any()
    assert torch.allclose(dense(index, weight, 17), dense_user_user(r, 3), atol=1e-6)
    # Weights of each user's neighbours sum to one.
    total = torch.zeros(17).index_add(0, index[1], weight)
    assert torch.allclose(total[total > 0], torch.ones(1))


def test_user_user_graph_duplicates_and_isolated_users():
    edge_index = torch.tensor([[0, 0, 1, 1, 1, 2], [0, 1, 0, 1, 1, 3]])
    index, weight = user_user_graph(edge_index, 4, 4, k=5)
    # Users 0 and 1 share two items (the duplicated pair counts once); user 2
    # shares nothing and user 3 has no interaction: no edges for them.
    assert index.tolist() == [[1, 0], [0, 1]]
    assert torch.allclose(weight, torch.ones(2))


@pytest.fixture
def graph():
    gen = torch.Generator().manual_seed(9)
    edge_index = torch.stack(
        [
            torch.randint(0, 6, (20,), generator=gen),
            torch.randint(0, 4, (20,), generator=gen),
        ]
    )
    return edge_index, torch.rand(20, generator=gen), torch.randn(6, 3, generator=gen)


def test_to_adj_layouts_agree(graph):
    edge_index, edge_weight, x_src = graph
    expected = (
        torch.zeros(4, 6).index_put(
            (edge_index[1], edge_index[0]), edge_weight, accumulate=True
        )
        @ x_src
    )
    csr = to_adj(edge_index, edge_weight, size=(6, 4))
    coo = to_adj(edge_index, edge_weight, size=(6, 4), layout="coo")
    assert csr.layout == torch.sparse_csr and csr.shape == (4, 6)
    assert coo.layout == torch.sparse_coo and coo.is_coalesced() and coo.shape == (4, 6)
    assert torch.allclose(spmm(csr, x_src), expected, atol=1e-6)
    assert torch.allclose(coo.to_dense() @ x_src, expected, atol=1e-6)
    # Duplicates are summed into one sorted entry per (target, source).
    assert csr._nnz() == torch.unique(edge_index[1] * 6 + edge_index[0]).numel()
    if torch_geometric.typing.WITH_TORCH_SPARSE:
        adj = to_adj(edge_index, edge_weight, size=(6, 4), layout="sparse_tensor")
        assert adj.sizes() == [4, 6]
        assert torch.allclose(spmm(adj, x_src), expected, atol=1e-6)
    else:
        with pytest.raises(ImportError):
            to_adj(edge_index, edge_weight, size=(6, 4), layout="sparse_tensor")


def test_to_adj_gradient_and_defaults(graph):
    edge_index, edge_weight, x_src = graph
    edge_weight.requires_grad_()
    spmm(to_adj(edge_index, edge_weight, size=(6, 4)), x_src).sum().backward()
    assert torch.allclose(edge_weight.grad, x_src.sum(1)[edge_index[0]])
    adj = to_adj(edge_index)  # sizes inferred, unit weights
    assert adj.shape == (int(edge_index[1].max()) + 1, int(edge_index[0].max()) + 1)
    assert adj.values().sum() == edge_index.size(1)
    with pytest.raises(ValueError, match="layout"):
        to_adj(edge_index, layout="dense")
