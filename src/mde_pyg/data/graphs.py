r"""Sparse graph builders: the normalised user-item graph, the per-modality
item-item :math:`k`-NN graphs and the co-interaction user-user graph.

Every builder returns ``(edge_index, edge_weight)`` in PyG's convention
(``edge_index[0]`` = source, ``edge_index[1]`` = target, messages flow from
source to target), and :func:`to_adj` turns such a pair into the sparse
``adj_t`` of shape ``[num_targets, num_sources]`` that
:func:`torch_geometric.utils.spmm` and the layers of :mod:`mde_pyg.nn`
consume. No builder ever materialises a dense ``N x N`` matrix: the
similarity graphs are computed in chunks of rows.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor
from torch_geometric.typing import WITH_TORCH_SPARSE, SparseTensor
from torch_geometric.utils import softmax

Normalization = Literal["sym", "row", "none"]
Layout = Literal["csr", "coo", "sparse_tensor"]


def _inv_pow(deg: Tensor, exponent: float) -> Tensor:
    r"""Returns :math:`d^{\,\text{exponent}}` where :math:`d > 0` and :math:`0`
    elsewhere, with finite gradients everywhere (isolated or zero-weight
    nodes must neither produce ``inf`` nor poison the backward pass)."""
    positive = deg > 0
    safe = torch.where(positive, deg, torch.ones_like(deg))
    return torch.where(positive, safe.pow(exponent), torch.zeros_like(deg))


def _normalize(
    src: Tensor,
    dst: Tensor,
    weight: Tensor,
    num_nodes: int,
    normalization: str,
    deg_index: Tensor,
) -> Tensor:
    r"""Applies the symmetric or row normalisation to ``weight``, with the
    degrees summed over ``deg_index`` (the node whose row the edge is in)."""
    if normalization == "none":
        return weight
    deg = torch.zeros(num_nodes, dtype=weight.dtype, device=weight.device)
    deg = deg.index_add(0, deg_index, weight)
    if normalization == "sym":
        inv_sqrt = _inv_pow(deg, -0.5)
        return inv_sqrt[src] * weight * inv_sqrt[dst]
    if normalization == "row":
        return _inv_pow(deg, -1.0)[dst] * weight
    raise ValueError(
        f"Unknown normalization '{normalization}' (expected 'sym', 'row' or 'none')"
    )


def bipartite_norm(edge_index: Tensor, num_users: int, num_items: int) -> Tensor:
    r"""The LightGCN weights of the training (user, item) edges,

    .. math::
        w_{u,i} = \frac{1}{\sqrt{\deg(u)} \sqrt{\deg(i)}},

    i.e. the user-item block of :math:`\mathbf{D}^{-1/2} \mathbf{A}
    \mathbf{D}^{-1/2}`; the same weight serves both directions.

    Args:
        edge_index (torch.Tensor): ``[2, E]`` (user, item) pairs without
            duplicates.
        num_users (int): Number of users.
        num_items (int): Number of items.

    :rtype: :class:`torch.Tensor` of shape ``[E]``, :obj:`float32`.
    """
    user, item = edge_index
    ones = torch.ones(user.numel(), dtype=torch.float32, device=user.device)
    deg_user = ones.new_zeros(num_users).index_add(0, user, ones)
    deg_item = ones.new_zeros(num_items).index_add(0, item, ones)
    return deg_user[user].rsqrt() * deg_item[item].rsqrt()


def user_item_adjacency(
    edge_index: Tensor,
    num_users: int,
    num_items: int,
    normalization: Literal["sym", "row", "none"] = "sym",
    self_loops: bool = False,
) -> tuple[Tensor, Tensor]:
    r"""The normalised user-item graph on the homogeneous node set of
    :math:`N = |\mathcal{U}| + |\mathcal{I}|` nodes (item :math:`i` is node
    ``num_users + i``), with

    .. math::
        \mathbf{A} = \begin{bmatrix} \mathbf{0} & \mathbf{R} \\
        \mathbf{R}^{\top} & \mathbf{0} \end{bmatrix}
        \, (+ \mathbf{I} \text{ if } \texttt{self\_loops}),
        \qquad
        \hat{\mathbf{A}} = \begin{cases}
        \mathbf{D}^{-1/2} \mathbf{A} \mathbf{D}^{-1/2} & \texttt{"sym"}
        \text{ (LightGCN)} \\
        \mathbf{D}^{-1} \mathbf{A} & \texttt{"row"} \\
        \mathbf{A} & \texttt{"none"}
        \end{cases}

    where :math:`\mathbf{D}` is the degree matrix of :math:`\mathbf{A}`
    (self-loops, if any, are added before the degrees are taken). LATTICE's
    user-item graph :math:`\mathbf{D}^{-1}(\mathbf{A} + \mathbf{I})` is
    ``normalization="row", self_loops=True``.

    Args:
        edge_index (torch.Tensor): ``[2, E]`` training (user, item) pairs
            without duplicates.
        num_users (int): Number of users.
        num_items (int): Number of items.
        normalization (str, optional): :obj:`"sym"`, :obj:`"row"` or
            :obj:`"none"`. (default: :obj:`"sym"`)
        self_loops (bool, optional): Add :math:`\mathbf{I}` to
            :math:`\mathbf{A}`. (default: :obj:`False`)

    :rtype: (:class:`torch.Tensor`, :class:`torch.Tensor`): ``[2, 2E (+N)]``
        edges in both directions and their :obj:`float32` weights.
    """
    if normalization not in ("sym", "row", "none"):
        raise ValueError(
            f"Unknown normalization '{normalization}' (expected 'sym', 'row' or 'none')"
        )
    num_nodes = num_users + num_items
    user, item = edge_index[0], edge_index[1] + num_users
    src, dst = torch.cat([user, item]), torch.cat([item, user])
    if self_loops:
        loop = torch.arange(num_nodes, device=src.device)
        src, dst = torch.cat([src, loop]), torch.cat([dst, loop])
    weight = torch.ones(src.numel(), dtype=torch.float32, device=src.device)
    # A is symmetric, so the row sums (target side) are the degrees.
    weight = _normalize(src, dst, weight, num_nodes, normalization, dst)
    return torch.stack([src, dst]), weight


def _unit_rows(x: Tensor) -> Tensor:
    r"""L2-normalises the rows of ``x``; all-zero rows stay zero and get a
    zero (not ``1 / eps``) gradient."""
    norm = torch.linalg.vector_norm(x, dim=1, keepdim=True)
    positive = norm > 0
    safe = torch.where(positive, norm, torch.ones_like(norm))
    return torch.where(positive, x / safe, torch.zeros_like(x))


def _topk_cosine(x_unit: Tensor, k: int, chunk_size: int) -> tuple[Tensor, Tensor]:
    r"""Returns the ``[N, k]`` values and indices of the largest entries of
    each row of :math:`\mathbf{X}\mathbf{X}^{\top}`, where the diagonal
    counts as :math:`+\infty` so that every row keeps its own index.

    The product is symmetric, so only the blocks on and above the diagonal
    are computed (about half the FLOPs of the full product); each block
    updates a running top-:math:`k` of its row chunk and, transposed, of its
    column chunk. Memory: :math:`O(\texttt{chunk\_size}^2 + N k)`.
    """
    num_nodes = x_unit.size(0)
    device = x_unit.device
    best_value = x_unit.new_full((num_nodes, k), float("-inf"))
    best_index = torch.zeros((num_nodes, k), dtype=torch.long, device=device)

    def merge(start: int, block: Tensor, col_start: int) -> None:
        rows = slice(start, start + block.size(0))
        cols = torch.arange(col_start, col_start + block.size(1), device=device)
        value = torch.cat([best_value[rows], block], dim=1)
        index = torch.cat([best_index[rows], cols.expand_as(block)], dim=1)
        top = value.topk(k, dim=1)
        best_value[rows] = top.values
        best_index[rows] = index.gather(1, top.indices)

    starts = range(0, num_nodes, chunk_size)
    with torch.no_grad():
        for i, start in enumerate(starts):
            x_rows = x_unit[start : start + chunk_size]
            for col_start in starts[i:]:
                block = x_rows @ x_unit[col_start : col_start + chunk_size].t()
                if col_start == start:
                    # Every item is its own nearest neighbour, also when its
                    # row is all zeros or duplicates another item's.
                    block.diagonal().fill_(float("inf"))
                merge(start, block, col_start)
                if col_start != start:
                    merge(col_start, block.t(), start)
    return best_value, best_index


def knn_graph(
    x: Tensor,
    k: int = 10,
    chunk_size: int = 1024,
    weighted: bool = True,
    normalization: Normalization = "sym",
    mask: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    r"""The cosine :math:`k`-nearest-neighbour graph of the rows of ``x``, as
    the item-item graphs of LATTICE, MGCN and FREEDOM: each item :math:`i`
    keeps its :math:`k` most similar items :math:`\mathcal{N}_k(i)`, itself
    included, with

    .. math::
        s_{ij} = \frac{\mathbf{x}_i^{\top} \mathbf{x}_j}
        {\|\mathbf{x}_i\| \, \|\mathbf{x}_j\|}, \qquad
        w_{ij} = \begin{cases} s_{ij} & \texttt{weighted} \\ 1 &
        \text{otherwise} \end{cases}
        \quad (j \in \mathcal{N}_k(i)),

    normalised with the row sums :math:`d_i = \sum_{j \in \mathcal{N}_k(i)}
    w_{ij}` of the kept weights as LATTICE's ``compute_normalized_laplacian``
    (:math:`\hat{w}_{ij} = d_i^{-1/2} w_{ij} d_j^{-1/2}`, :obj:`"sym"`) or as
    :math:`\hat{w}_{ij} = d_i^{-1} w_{ij}` (:obj:`"row"`), so that
    :math:`\mathbf{h}_i = \sum_{j \in \mathcal{N}_k(i)} \hat{w}_{ij}
    \mathbf{h}_j`. The graph is directed: item :math:`i` is the target
    (``edge_index[1]``) of the edges from its neighbours (``edge_index[0]``).

    The similarities are computed in ``chunk_size x chunk_size`` blocks on
    and above the diagonal (the matrix is symmetric) with a running top-:math:`k`,
    so memory is :math:`O(\texttt{chunk\_size}^2 + N k)`, never
    :math:`O(N^2)`. The neighbour lists are selected without gradient; if
    ``x`` requires one, the kept similarities are recomputed from it, so the
    weights are differentiable w.r.t. ``x`` (LATTICE learns its projections
    through them) at :math:`O(N k F)` extra memory. Rows of zeros have
    similarity :math:`0` to everything (no ``NaN``, finite gradients); their
    normalised weights are :math:`0`.

    With a ``mask`` of the real rows, an item whose row is missing (filled
    in, see :mod:`mde_pyg.data.missing`) is linked to nothing through it:
    the search runs over the :math:`N_r` real rows only (:math:`k` clipped
    to :math:`N_r`), and a missing item keeps itself alone, with weight
    :math:`1` whatever its filled-in row, so that its degree is :math:`1`
    and every normalisation stays defined (its normalised self-weight is
    :math:`1`: the graph passes its own representation through).

    Args:
        x (torch.Tensor): ``[N, F]`` item features.
        k (int, optional): Neighbours per item, itself included (clipped to
            :math:`N`). (default: :obj:`10`)
        chunk_size (int, optional): Rows per similarity chunk.
            (default: :obj:`1024`)
        weighted (bool, optional): Keep the similarity as the weight;
            otherwise every kept edge weighs :math:`1`. (default: :obj:`True`)
        normalization (str, optional): :obj:`"sym"`, :obj:`"row"` or
            :obj:`"none"`. (default: :obj:`"sym"`)
        mask (torch.Tensor, optional): ``[N]`` boolean, ``True`` for the
            real rows of ``x``; :obj:`None` if every row is real.
            (default: :obj:`None`)

    :rtype: (:class:`torch.Tensor`, :class:`torch.Tensor`): ``[2, E]``
        edges sorted by target (:math:`E = N k` without missing rows, else
        :math:`N_r \min(k, N_r) + N - N_r`) and their weights (dtype of
        ``x`` if floating, else :obj:`float32`).
    """
    if k < 1:
        raise ValueError(f"'k' must be >= 1 (got {k})")
    if chunk_size < 1:
        raise ValueError(f"'chunk_size' must be >= 1 (got {chunk_size})")
    if not x.is_floating_point():
        x = x.float()
    num_nodes = x.size(0)
    if mask is not None:
        if mask.shape != (num_nodes,) or mask.dtype != torch.bool:
            raise ValueError(
                f"'mask' must be a boolean tensor of shape [{num_nodes}] (got "
                f"{mask.dtype} of shape {list(mask.shape)})"
            )
        mask = mask.to(x.device)
        if bool(mask.all()):
            mask = None
    x_unit = _unit_rows(x)
    if mask is None:
        real = None
        searched = x_unit.detach()
    else:
        real = mask.nonzero().view(-1)
        searched = x_unit.detach()[real]
    k = min(k, searched.size(0))
    value, col = _topk_cosine(searched, k, chunk_size)
    row = torch.arange(searched.size(0), device=x.device).repeat_interleave(k)
    col = col.view(-1)
    if real is not None:  # back from positions among the real rows to items
        row, col = real[row], real[col]
    if not weighted:
        weight = torch.ones(row.numel(), dtype=x.dtype, device=x.device)
    elif x.requires_grad and torch.is_grad_enabled():
        # Recomputed from `x` (O(N k F) memory kept for the backward pass)
        # so that the kept similarities carry gradients.
        weight = (x_unit[row] * x_unit[col]).sum(dim=-1)
    else:
        # The search marked every item's similarity to itself as `inf`.
        self_sim = x_unit.detach().pow(2).sum(dim=-1)
        weight = torch.where(col == row, self_sim[row], value.view(-1))
    if real is not None:
        row, col, weight = _add_missing_self_loops(row, col, weight, mask)
    weight = _normalize(col, row, weight, num_nodes, normalization, row)
    return torch.stack([col, row]), weight


def _add_missing_self_loops(
    row: Tensor, col: Tensor, weight: Tensor, mask: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """Adds a self-loop of weight 1 to every item of ``~mask`` and sorts
    the edges by target ``row`` again (stably: each item's neighbours keep
    their order)."""
    missing = (~mask).nonzero().view(-1)
    row = torch.cat([row, missing])
    col = torch.cat([col, missing])
    weight = torch.cat([weight, weight.new_ones(missing.numel())])
    order = row.argsort(stable=True)
    return row[order], col[order], weight[order]


def user_user_graph(
    edge_index: Tensor,
    num_users: int,
    num_items: int,
    k: int = 40,
    chunk_size: int = 1024,
) -> tuple[Tensor, Tensor]:
    r"""The user-user co-interaction graph of DRAGON: with the co-interaction
    counts :math:`c_{uv} = |\mathcal{N}(u) \cap \mathcal{N}(v)|` (the entries
    of :math:`\mathbf{R}\mathbf{R}^{\top}`), each user :math:`u` keeps the
    :math:`k` users :math:`\mathcal{K}(u)` with the largest positive counts,
    itself excluded (ties go to the smaller user index), weighted by

    .. math::
        a_{uv} = \frac{\exp(c_{uv})}{\sum_{v' \in \mathcal{K}(u)}
        \exp(c_{uv'})}, \qquad v \in \mathcal{K}(u),

    so that :math:`\mathbf{z}_u = \sum_{v \in \mathcal{K}(u)} a_{uv}
    \mathbf{z}_v`: user :math:`u` is the target (``edge_index[1]``).

    :math:`\mathbf{R}\mathbf{R}^{\top}` is computed as a sparse product
    ``chunk_size`` users at a time and its top-:math:`k` taken on the sparse
    rows, so memory stays :math:`O(\text{nnz})`, never
    :math:`O(|\mathcal{U}|^2)`.

    Args:
        edge_index (torch.Tensor): ``[2, E]`` training (user, item) pairs
            (duplicates count once).
        num_users (int): Number of users.
        num_items (int): Number of items.
        k (int, optional): Neighbours per user. (default: :obj:`40`)
        chunk_size (int, optional): Users per sparse product.
            (default: :obj:`1024`)

    :rtype: (:class:`torch.Tensor`, :class:`torch.Tensor`): ``[2, E_u]``
        edges sorted by target and their :obj:`float32` weights.
    """
    if k < 1:
        raise ValueError(f"'k' must be >= 1 (got {k})")
    if chunk_size < 1:
        raise ValueError(f"'chunk_size' must be >= 1 (got {chunk_size})")
    adj = binary_adjacency(edge_index, num_users, num_items)
    adj_csr = adj.to_sparse_csr()
    adj_t_csr = adj.t().to_sparse_csr()
    parts = [
        _top_co_users(adj_csr, adj_t_csr, start, k, chunk_size)
        for start in range(0, num_users, chunk_size)
    ]
    target, source, count = (torch.cat([p[i] for p in parts]) for i in range(3))
    weight = softmax(count, target, num_nodes=num_users)
    return torch.stack([source, target]), weight


def binary_adjacency(edge_index: Tensor, num_users: int, num_items: int) -> Tensor:
    """The coalesced sparse ``[num_users, num_items]`` matrix with a 1 at
    every (user, item) pair of ``edge_index``, duplicates counted once."""
    device = edge_index.device
    # Binary R: duplicated pairs must not inflate the counts.
    adj = torch.sparse_coo_tensor(
        edge_index,
        torch.ones(edge_index.size(1), dtype=torch.float32, device=device),
        (num_users, num_items),
        device=device,
        check_invariants=False,
    ).coalesce()
    return torch.sparse_coo_tensor(
        adj.indices(),
        adj.values().clamp(max=1.0),
        adj.size(),
        device=device,
        is_coalesced=True,
        check_invariants=False,
    )


def _top_co_users(
    adj_csr: Tensor, adj_t_csr: Tensor, start: int, k: int, chunk_size: int
) -> tuple[Tensor, Tensor, Tensor]:
    r"""The ``(target, source, count)`` edges of the ``chunk_size`` users
    from ``start`` on in :func:`user_user_graph`: each one's :math:`k`
    co-interacting users with the largest counts, ties to the smaller user
    index, self excluded."""
    num_users, num_items = adj_csr.size()
    end = min(start + chunk_size, num_users)
    device = adj_csr.device
    crow, col_index = adj_csr.crow_indices(), adj_csr.col_indices()
    lo, hi = int(crow[start]), int(crow[end])
    chunk = torch.sparse_csr_tensor(
        crow[start : end + 1] - lo,
        col_index[lo:hi],
        adj_csr.values()[lo:hi],
        (end - start, num_items),
        device=device,
        check_invariants=False,
    )
    co = torch.sparse.mm(chunk, adj_t_csr).to_sparse_coo()
    row, col = co.indices()
    value = co.values()
    keep = (value > 0) & (row + start != col)
    row, col, value = row[keep], col[keep], value[keep]
    # Rank each user's neighbours by (-count, user index) with one sort
    # of a combined int64 key (the product's columns are not sorted).
    max_count = int(value.max()) + 1 if value.numel() > 0 else 1
    if (end - start) * max_count * num_users >= 2**63:
        raise ValueError(
            f"'chunk_size' {chunk_size} is too large for int64 sort keys; "
            f"use a smaller one"
        )
    key = row * max_count + (max_count - 1 - value.long())
    perm = (key * num_users + col).argsort()
    row, col, value = row[perm], col[perm], value[perm]
    ptr = torch.zeros(end - start + 1, dtype=torch.long, device=device)
    ptr[1:] = torch.bincount(row, minlength=end - start).cumsum(0)
    rank = torch.arange(row.numel(), device=device) - ptr[row]
    keep = rank < k
    return row[keep] + start, col[keep], value[keep]


def to_adj(
    edge_index: Tensor,
    edge_weight: Tensor | None = None,
    size: tuple[int, int] | None = None,
    layout: Layout = "csr",
) -> Tensor | SparseTensor:
    r"""Converts ``(edge_index, edge_weight)`` into the sparse adjacency
    ``adj_t`` of shape ``[num_dst, num_src]`` (row = target, column =
    source), so that ``torch_geometric.utils.spmm(adj_t, x_src)`` sums
    :math:`w_{j,i} \mathbf{x}_j` at every target :math:`i`.

    Duplicated edges are summed, entries are sorted by (row, column), and the
    values keep their autograd history (gradients reach ``edge_weight``).

    Args:
        edge_index (torch.Tensor): ``[2, E]`` (source, target) pairs.
        edge_weight (torch.Tensor, optional): ``[E]`` weights; ones if
            :obj:`None`. (default: :obj:`None`)
        size (tuple, optional): ``(num_src, num_dst)``; inferred from
            ``edge_index`` if :obj:`None`. (default: :obj:`None`)
        layout (str, optional): :obj:`"csr"` (:obj:`torch.sparse_csr`),
            :obj:`"coo"` (coalesced :obj:`torch.sparse_coo`) or
            :obj:`"sparse_tensor"` (:class:`torch_sparse.SparseTensor`, needs
            :obj:`torch-sparse`). (default: :obj:`"csr"`)
    """
    if layout not in ("csr", "coo", "sparse_tensor"):
        raise ValueError(
            f"Unknown layout '{layout}' (expected 'csr', 'coo' or 'sparse_tensor')"
        )
    if layout == "sparse_tensor" and not WITH_TORCH_SPARSE:
        raise ImportError("layout='sparse_tensor' requires 'torch-sparse'")
    src, dst = edge_index[0], edge_index[1]
    if size is None:
        num_src = int(src.max()) + 1 if src.numel() > 0 else 0
        num_dst = int(dst.max()) + 1 if dst.numel() > 0 else 0
    else:
        num_src, num_dst = int(size[0]), int(size[1])
    if edge_weight is None:
        edge_weight = torch.ones(src.numel(), dtype=torch.float32, device=src.device)

    key, perm = (dst * num_src + src).sort()
    value = edge_weight[perm]
    unique, inverse = torch.unique_consecutive(key, return_inverse=True)
    if unique.numel() < key.numel():
        value = value.new_zeros(unique.numel()).index_add(0, inverse, value)
    row, col = unique // max(num_src, 1), unique % max(num_src, 1)

    if layout == "sparse_tensor":
        return SparseTensor(
            row=row,
            col=col,
            value=value,
            sparse_sizes=(num_dst, num_src),
            is_sorted=True,
            trust_data=True,
        )
    if layout == "coo":
        return torch.sparse_coo_tensor(
            torch.stack([row, col]),
            value,
            (num_dst, num_src),
            device=row.device,
            is_coalesced=True,
            check_invariants=False,
        )
    crow = torch.zeros(num_dst + 1, dtype=torch.long, device=row.device)
    crow[1:] = torch.bincount(row, minlength=num_dst).cumsum(0)
    return torch.sparse_csr_tensor(
        crow, col, value, (num_dst, num_src), device=row.device, check_invariants=False
    )


def degree_sensitive_pruning(
    edge_index: Tensor,
    num_users: int,
    num_items: int,
    dropout: float,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    r"""FREEDOM's degree-sensitive edge pruning of the user-item graph: keeps
    :math:`\lfloor (1 - \rho) |\mathcal{E}| \rfloor` of the training edges,
    drawn without replacement with probability proportional to

    .. math::
        p_{u,i} \propto \frac{1}{\sqrt{\deg(u)} \sqrt{\deg(i)}},

    so that edges between high-degree nodes are pruned most, and returns
    them with their LightGCN weights on the *pruned* graph,
    :math:`1/\sqrt{\widetilde{\deg}(u)\widetilde{\deg}(i)}` (see
    :func:`bipartite_norm`). The draw is :func:`torch.multinomial` (as the
    reference code), from ``generator`` if given.

    Args:
        edge_index (torch.Tensor): ``[2, E]`` training (user, item) pairs
            without duplicates.
        num_users (int): Number of users.
        num_items (int): Number of items.
        dropout (float): :math:`\rho \in [0, 1)`, the fraction of edges
            pruned; at least one edge is kept.
        generator (torch.Generator, optional): The random stream, on the
            device of ``edge_index``. (default: :obj:`None`, the global one)

    :rtype: (:class:`torch.Tensor`, :class:`torch.Tensor`): ``[2, E']`` kept
        (user, item) pairs (in the order drawn) and their :obj:`float32`
        weights.
    """
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"'dropout' must be in [0, 1) (got {dropout})")
    num_edges = edge_index.size(1)
    if num_edges == 0:
        raise ValueError("'edge_index' has no edges to prune")
    num_keep = max(1, int(num_edges * (1.0 - dropout)))
    probability = bipartite_norm(edge_index, num_users, num_items)
    kept = torch.multinomial(probability, num_keep, generator=generator)
    kept_index = edge_index[:, kept]
    return kept_index, bipartite_norm(kept_index, num_users, num_items)
