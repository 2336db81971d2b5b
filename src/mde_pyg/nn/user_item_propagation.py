"""LightGCN propagation over a typed bipartite user-item graph."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor
from torch_geometric.typing import EdgeType

from mde_pyg.nn.lg_conv import BipartiteLGConv, Graph


class UserItemPropagation(torch.nn.Module):
    r"""The propagation of the `"LightGCN: Simplifying and Powering Graph
    Convolution Network for Recommendation" <https://arxiv.org/abs/2002.02126>`_
    paper on a bipartite graph with two typed relations: layer :math:`l+1` of
    the users aggregates layer :math:`l` of the items and vice versa, and the
    output is the mean of layers :math:`0..L`:

    .. math::
        \mathbf{E}^{(l+1)}_{\mathcal{U}} = \hat{\mathbf{A}}_{\mathcal{I}
        \to \mathcal{U}} \mathbf{E}^{(l)}_{\mathcal{I}} + \mathbf{d}_{\mathcal{U}}
        \odot \mathbf{E}^{(l)}_{\mathcal{U}}, \qquad
        \mathbf{E}^{(l+1)}_{\mathcal{I}} = \hat{\mathbf{A}}_{\mathcal{U}
        \to \mathcal{I}} \mathbf{E}^{(l)}_{\mathcal{U}} + \mathbf{d}_{\mathcal{I}}
        \odot \mathbf{E}^{(l)}_{\mathcal{I}}, \qquad
        \mathbf{E} = \frac{1}{L+1} \sum_{l=0}^{L} \mathbf{E}^{(l)}

    The weights :math:`\hat{\mathbf{A}}` (and the optional self-loop weights
    :math:`\mathbf{d}`) are read from the graphs as given: LightGCN's
    :math:`1/\sqrt{\deg(u)\deg(i)}` and LATTICE's :math:`\mathbf{D}^{-1}
    (\mathbf{A} + \mathbf{I})` are both precomputed by
    :class:`mde_pyg.data.AddUserItemAdjacency`. Any number of feature columns
    propagate at once (e.g. a behaviour channel and several modality
    channels side by side). :meth:`layer_sum` and :meth:`last_layer` return
    the sum of the layers and layer :math:`L` alone instead of the mean.

    Args:
        edge_type (tuple): The user -> item relation, e.g.
            ``('user', 'interacts', 'item')``.
        rev_edge_type (tuple): The item -> user relation.
        num_layers (int, optional): Layers :math:`L`. (default: :obj:`2`)

    Shapes:
        - **input:** user features :math:`(|\mathcal{U}|, F)`, item features
          :math:`(|\mathcal{I}|, F)`, ``graphs``: ``{edge_type: Graph}``
          holding both relations
        - **output:** user and item embeddings :math:`(|\mathcal{U}|, F)`,
          :math:`(|\mathcal{I}|, F)`
    """

    def __init__(
        self, edge_type: EdgeType, rev_edge_type: EdgeType, num_layers: int = 2
    ) -> None:
        super().__init__()
        if num_layers < 0:
            raise ValueError(f"'num_layers' must be >= 0 (got {num_layers})")
        self.edge_type = tuple(edge_type)
        self.rev_edge_type = tuple(rev_edge_type)
        self.num_layers = num_layers
        self.conv = BipartiteLGConv()

    @property
    def edge_types(self) -> list[EdgeType]:
        """The relations :meth:`forward` reads."""
        return [self.edge_type, self.rev_edge_type]

    def reset_parameters(self) -> None:
        """The layer has no parameters."""

    def forward(
        self, x_user: Tensor, x_item: Tensor, graphs: dict[EdgeType, Graph]
    ) -> tuple[Tensor, Tensor]:
        sum_user, sum_item = self.layer_sum(x_user, x_item, graphs)
        scale = 1.0 / (self.num_layers + 1)
        return sum_user * scale, sum_item * scale

    def layers(
        self, x_user: Tensor, x_item: Tensor, graphs: dict[EdgeType, Graph]
    ) -> Iterator[tuple[Tensor, Tensor]]:
        r"""Layers :math:`0..L` of the users and items, in order."""
        to_item, to_user = graphs[self.edge_type], graphs[self.rev_edge_type]
        yield x_user, x_item
        for _ in range(self.num_layers):
            x_user, x_item = (
                self.conv.forward_graph((x_item, x_user), to_user),
                self.conv.forward_graph((x_user, x_item), to_item),
            )
            yield x_user, x_item

    def layer_sum(
        self, x_user: Tensor, x_item: Tensor, graphs: dict[EdgeType, Graph]
    ) -> tuple[Tensor, Tensor]:
        """The sum (not the mean) of layers :math:`0..L`."""
        layers = self.layers(x_user, x_item, graphs)
        sum_user, sum_item = next(layers)
        for x_user, x_item in layers:
            sum_user = sum_user + x_user
            sum_item = sum_item + x_item
        return sum_user, sum_item

    def last_layer(
        self, x_user: Tensor, x_item: Tensor, graphs: dict[EdgeType, Graph]
    ) -> tuple[Tensor, Tensor]:
        r"""Layer :math:`L` alone, :math:`\hat{\mathbf{A}}^L \mathbf{E}^{(0)}`
        (LGMRec's modality graphs keep only the last layer)."""
        *_, last = self.layers(x_user, x_item, graphs)
        return last

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.edge_type}, {self.rev_edge_type}, "
            f"num_layers={self.num_layers})"
        )
