"""Light graph convolution on bipartite (source, target) node pairs."""

from __future__ import annotations

from torch import Tensor
from torch_geometric.nn.conv import MessagePassing
from torch_geometric.typing import Adj, OptPairTensor, OptTensor

from mde_pyg.nn.functional import spmm_with_transpose


class BipartiteLGConv(MessagePassing):
    r"""The light graph convolution (LGC) operator from the `"LightGCN:
    Simplifying and Powering Graph Convolution Network for Recommendation"
    <https://arxiv.org/abs/2002.02126>`_ paper, for bipartite graphs and with
    the edge normalisation computed once by the caller.

    .. math::
        \mathbf{x}^{\prime}_i = \sum_{j \in \mathcal{N}(i)} w_{j,i} \,
        \mathbf{x}_j, \qquad
        w_{j,i} = \frac{1}{\sqrt{\deg(i)\deg(j)}} \text{ (LightGCN)}

    Unlike :class:`torch_geometric.nn.conv.LGConv`, which recomputes
    :math:`w` on every call and needs one homogeneous node set, this operator
    takes the weights as given (see
    :func:`mde_pyg.data.graphs.bipartite_norm`), so that a user->item and an
    item->user relation can share one precomputed normalisation, and it
    accepts a ``(x_source, x_target)`` pair, so it works inside
    :class:`torch_geometric.nn.conv.HeteroConv`.

    :meth:`forward` optionally takes ``adj``, the transpose of a sparse
    ``edge_index`` (CSR), which is then used for the backward pass instead of
    transposing ``edge_index`` on every call (see
    :func:`mde_pyg.nn.functional.spmm_with_transpose`).

    Args:
        **kwargs (optional): Additional arguments of
            :class:`torch_geometric.nn.conv.MessagePassing`; the aggregation
            defaults to :obj:`"add"`.

    Shapes:
        - **input:**
          node features :math:`(|\mathcal{V}|, F)` or
          :math:`((|\mathcal{V_s}|, F), (|\mathcal{V_t}|, F))` if bipartite,
          edge indices :math:`(2, |\mathcal{E}|)` with edge weights
          :math:`(|\mathcal{E}|)`, or a sparse adjacency
          :math:`(|\mathcal{V_t}|, |\mathcal{V_s}|)` holding the weights
        - **output:** target node features :math:`(|\mathcal{V_t}|, F)`
    """

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("aggr", "add")
        super().__init__(**kwargs)

    def forward(
        self,
        x: Tensor | OptPairTensor,
        edge_index: Adj,
        edge_weight: OptTensor = None,
        adj: OptTensor = None,
    ) -> Tensor:
        if isinstance(x, Tensor):
            x = (x, x)
        return self.propagate(edge_index, x=x, edge_weight=edge_weight, adj=adj)

    def message(self, x_j: Tensor, edge_weight: OptTensor) -> Tensor:
        return x_j if edge_weight is None else edge_weight.view(-1, 1) * x_j

    def message_and_aggregate(
        self, adj_t: Adj, x: OptPairTensor, adj: OptTensor
    ) -> Tensor:
        return spmm_with_transpose(adj_t, x[0], adj)


def sum_user_item_layers(
    conv: BipartiteLGConv,
    x_user: Tensor,
    x_item: Tensor,
    item_to_user: tuple,
    user_to_item: tuple,
    num_layers: int,
) -> tuple[Tensor, Tensor]:
    r"""Sums layers :math:`0..L` of light propagation on a bipartite
    user-item graph: layer :math:`l+1` of users aggregates layer :math:`l` of
    items through ``conv(..., *item_to_user)`` and vice versa. The tuples hold
    the graph arguments of :meth:`BipartiteLGConv.forward` (``edge_index``,
    ``edge_weight``, ``adj``) of each direction."""
    sum_user, sum_item = x_user, x_item
    for _ in range(num_layers):
        x_user, x_item = (
            conv((x_item, x_user), *item_to_user),
            conv((x_user, x_item), *user_to_item),
        )
        sum_user = sum_user + x_user
        sum_item = sum_item + x_item
    return sum_user, sum_item
