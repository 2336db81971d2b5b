"""Sparse-dense products whose backward pass reuses a precomputed transpose."""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.typing import Adj
from torch_geometric.utils import spmm


class _SpMMWithTranspose(torch.autograd.Function):
    @staticmethod
    def forward(ctx, adj_t: Tensor, adj: Tensor, x: Tensor) -> Tensor:
        ctx.adj = adj
        return torch.sparse.mm(adj_t, x)

    @staticmethod
    def backward(ctx, grad_out: Tensor) -> tuple[None, None, Tensor]:
        return None, None, torch.sparse.mm(ctx.adj, grad_out)


def spmm_with_transpose(adj_t: Adj, x: Tensor, adj: Tensor | None = None) -> Tensor:
    r"""Computes :math:`\mathbf{A}^{\top}\mathbf{X}` like
    :func:`torch_geometric.utils.spmm`, but when the transpose ``adj`` of a
    constant CSR ``adj_t`` is given, the gradient w.r.t. ``x`` is
    :math:`\mathbf{A}\,\partial\mathbf{Y}` with that stored matrix. Autograd
    would otherwise transpose ``adj_t`` into CSC and re-sort it into CSR on
    every backward pass, which doubles LightGCN's training time on CPU.

    Args:
        adj_t (torch.Tensor or SparseTensor): ``[num_dst, num_src]`` adjacency.
        x (torch.Tensor): ``[num_src, F]`` source features.
        adj (torch.Tensor, optional): ``adj_t`` transposed, as a CSR tensor.
            Ignored when ``adj_t`` requires grad (its values are then learned
            and need their own gradient). (default: :obj:`None`)
    """
    if (
        adj is not None
        and isinstance(adj_t, Tensor)
        and adj_t.layout == torch.sparse_csr
        and not adj_t.requires_grad
        and x.requires_grad
    ):
        return _SpMMWithTranspose.apply(adj_t, adj, x)
    return spmm(adj_t, x)
