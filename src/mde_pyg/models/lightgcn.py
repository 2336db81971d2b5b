"""LightGCN assembled from :class:`~mde_pyg.nn.UserItemPropagation`."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch_geometric.data import HeteroData
from torch_geometric.transforms import BaseTransform
from torch_geometric.typing import EdgeType

from mde_pyg.data.hetero import INTERACTS, ITEM, REV_INTERACTS, USER
from mde_pyg.data.transforms import AddUserItemAdjacency
from mde_pyg.models.base import BPRBatch, Recommender, bpr_loss, check_positive
from mde_pyg.nn import UserItemPropagation, graphs_of


class LightGCN(Recommender):
    r"""LightGCN from the `"LightGCN: Simplifying and Powering Graph
    Convolution Network for Recommendation"
    <https://arxiv.org/abs/2002.02126>`_ paper, as in the published
    multi-modal comparisons (MMRec).

    .. math::
        \mathbf{E}^{(l+1)} = \mathbf{D}^{-1/2}\mathbf{A}\mathbf{D}^{-1/2}
        \mathbf{E}^{(l)}, \qquad
        \mathbf{E} = \frac{1}{L+1} \sum_{l=0}^{L} \mathbf{E}^{(l)},
        \qquad \hat{y}_{ui} = \mathbf{e}_u^{\top} \mathbf{e}_i

    Loss (MMRec's ``EmbLoss``: the Frobenius norms, not squared, of the
    batch's layer-0 user, positive and negative embedding matrices):

    .. math::
        \mathcal{L} = \mathcal{L}_{BPR} + \lambda \frac{
        \|\mathbf{E}^{(0)}_{U_B}\|_F + \|\mathbf{E}^{(0)}_{I^+_B}\|_F +
        \|\mathbf{E}^{(0)}_{I^-_B}\|_F}{|B|}

    Reads the normalised user-item graph of :meth:`graph_transform`.

    Args:
        num_users (int): Number of users.
        num_items (int): Number of items.
        embedding_dim (int, optional): Embedding size. (default: :obj:`64`)
        num_layers (int, optional): Propagation layers :math:`L`.
            (default: :obj:`2`)
        reg_weight (float, optional): :math:`\lambda`. (default: :obj:`1e-4`)
        edge_type (tuple, optional): The user -> item relation.
            (default: :obj:`('user', 'interacts', 'item')`)
        rev_edge_type (tuple, optional): The item -> user relation.
            (default: :obj:`('item', 'rev_interacts', 'user')`)

    Shapes:
        - **input:** ``data`` with the graphs of :meth:`graph_transform`
        - **output:** user and item embeddings :math:`(|\mathcal{U}|, d)`,
          :math:`(|\mathcal{I}|, d)`
    """

    def __init__(
        self,
        num_users: int,
        num_items: int,
        embedding_dim: int = 64,
        num_layers: int = 2,
        reg_weight: float = 1e-4,
        edge_type: EdgeType = INTERACTS,
        rev_edge_type: EdgeType = REV_INTERACTS,
    ) -> None:
        check_positive("embedding_dim", embedding_dim)
        super().__init__(num_users, num_items)
        self.embedding_dim = embedding_dim
        self.reg_weight = reg_weight
        self.user_embedding = torch.nn.Embedding(num_users, embedding_dim)
        self.item_embedding = torch.nn.Embedding(num_items, embedding_dim)
        self.propagation = UserItemPropagation(edge_type, rev_edge_type, num_layers)
        self.reset_parameters()

    @classmethod
    def graph_transform(cls) -> BaseTransform:
        """The symmetrically normalised user-item graph
        (:class:`~mde_pyg.data.AddUserItemAdjacency`)."""
        return AddUserItemAdjacency()

    @classmethod
    def from_data(cls, data: HeteroData, **kwargs: Any) -> LightGCN:
        """Builds the model for the users and items of ``data``."""
        return cls(data[USER].num_nodes, data[ITEM].num_nodes, **kwargs)

    def reset_parameters(self) -> None:
        torch.nn.init.xavier_uniform_(self.user_embedding.weight)
        torch.nn.init.xavier_uniform_(self.item_embedding.weight)

    def forward(self, data: HeteroData) -> tuple[Tensor, Tensor]:
        graphs = graphs_of(data, self.propagation.edge_types)
        return self.propagation(
            self.user_embedding.weight, self.item_embedding.weight, graphs
        )

    def loss(self, data: HeteroData, batch: BPRBatch) -> Tensor:
        user_emb, item_emb = self.forward(data)
        u, pos, neg = user_emb[batch.user], item_emb[batch.pos], item_emb[batch.neg]
        loss = bpr_loss((u * pos).sum(-1), (u * neg).sum(-1))
        reg = (
            self.user_embedding(batch.user).norm()
            + self.item_embedding(batch.pos).norm()
            + self.item_embedding(batch.neg).norm()
        )
        return loss + self.reg_weight * reg / batch.user.numel()

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(num_users={self.num_users}, "
            f"num_items={self.num_items}, embedding_dim={self.embedding_dim}, "
            f"num_layers={self.propagation.num_layers}, "
            f"reg_weight={self.reg_weight})"
        )
