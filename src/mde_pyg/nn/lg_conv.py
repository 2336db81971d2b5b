"""Light graph convolution on bipartite (source, target) node pairs, and the
typed graph it reads."""

from __future__ import annotations

from typing import Any, NamedTuple

from torch import Tensor
from torch_geometric.nn.conv import MessagePassing
from torch_geometric.typing import Adj, EdgeType, OptPairTensor, OptTensor
from torch_geometric.utils import spmm

from mde_pyg.nn.functional import spmm_with_transpose


class Graph(NamedTuple):
    r"""One weighted relation as the layers of :mod:`mde_pyg.nn` read it: the
    arguments of :meth:`BipartiteLGConv.forward` plus optional self-loop
    weights of the target nodes.

    Args:
        adj_t (torch.Tensor or SparseTensor): An ``edge_index`` ``[2, E]``
            (row 0 sources, row 1 targets) or a sparse adjacency
            ``[num_targets, num_sources]`` holding the weights.
        edge_weight (torch.Tensor, optional): ``[E]`` weights of an
            ``edge_index``. (default: :obj:`None`)
        adj (torch.Tensor, optional): The CSR transpose of a sparse
            ``adj_t``, used by the backward pass. (default: :obj:`None`)
        self_weight (torch.Tensor, optional): ``[num_targets]`` weight of
            every target node's own features (a self-loop).
            (default: :obj:`None`)
    """

    adj_t: Adj
    edge_weight: OptTensor = None
    adj: OptTensor = None
    self_weight: OptTensor = None

    @classmethod
    def from_store(cls, store: Any) -> Graph:
        """Reads the graph of an edge store of a
        :class:`~torch_geometric.data.HeteroData`: its sparse ``adj_t`` (and
        ``adj``) if it has one, else its ``edge_index`` and ``edge_weight``;
        ``self_weight`` if present."""
        self_weight = store.get("self_weight")
        if "adj_t" in store:
            return cls(store.adj_t, None, store.get("adj"), self_weight)
        return cls(store.edge_index, store.get("edge_weight"), None, self_weight)


def graphs_of(data: Any, edge_types: list[EdgeType]) -> dict[EdgeType, Graph]:
    """``{edge_type: Graph}`` read from the edge stores of a
    :class:`~torch_geometric.data.HeteroData` (see :meth:`Graph.from_store`).

    Raises:
        KeyError: if a relation is missing or has neither ``adj_t`` nor
            ``edge_weight`` (an unweighted graph where the layers expect
            normalised weights would give silently wrong results).
    """
    missing = [
        et
        for et in edge_types
        if et not in data.edge_types
        or ("adj_t" not in data[et] and "edge_weight" not in data[et])
    ]
    if missing:
        raise KeyError(
            f"'data' has no weighted graph for edge type(s) {missing}: precompute "
            "them with the model's graph_transform() (the transforms of "
            "mde_pyg.data.transforms) or store 'edge_weight' yourself"
        )
    return {et: Graph.from_store(data[et]) for et in edge_types}


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
        if self.aggr not in ("add", "sum"):
            # The sparse product honours the aggregation as the edge path does.
            return spmm(adj_t, x[0], reduce=self.aggr)
        return spmm_with_transpose(adj_t, x[0], adj)

    def forward_graph(self, x: Tensor | OptPairTensor, graph: Graph) -> Tensor:
        """:meth:`forward` on a :class:`Graph`, its self-loops included."""
        out = self(x, graph.adj_t, graph.edge_weight, graph.adj)
        if graph.self_weight is not None:
            x_target = x if isinstance(x, Tensor) else x[1]
            out = out + graph.self_weight.view(-1, 1) * x_target
        return out
