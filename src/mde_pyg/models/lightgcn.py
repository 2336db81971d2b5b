"""LightGCN assembled from :class:`~mde_pyg.nn.BipartiteLGConv`."""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from mde_pyg.data.graphs import bipartite_norm, to_adj
from mde_pyg.data.hetero import ITEM, USER, split_edge_index
from mde_pyg.models.base import BPRBatch, Recommender, bpr_loss
from mde_pyg.nn.lg_conv import BipartiteLGConv, sum_user_item_layers


class UserItemPropagation(torch.nn.Module):
    r"""LightGCN propagation on the bipartite user-item graph: layer
    :math:`l+1` of users aggregates layer :math:`l` of items and vice versa,
    with the symmetric weights :math:`1/\sqrt{\deg(u)\deg(i)}` computed once,
    and the output is the mean of layers :math:`0..L`.

    The two directions are held as CSR adjacencies, so each layer is two
    sparse-dense products. Shared by :class:`LightGCN` and the behaviour
    channel of MDE.

    Args:
        edge_index (torch.Tensor): Training ``(user, item)`` pairs ``[2, E]``.
        num_users (int): Number of users.
        num_items (int): Number of items.
        num_layers (int, optional): Propagation layers :math:`L`.
            (default: :obj:`2`)
        edge_weight (torch.Tensor, optional): Per-edge weights replacing the
            symmetric normalisation. (default: :obj:`None`)
    """

    def __init__(
        self,
        edge_index: Tensor,
        num_users: int,
        num_items: int,
        num_layers: int = 2,
        edge_weight: Tensor | None = None,
    ) -> None:
        super().__init__()
        if num_layers < 0:
            raise ValueError(f"'num_layers' must be >= 0 (got {num_layers})")
        self.num_layers = num_layers
        self.conv = BipartiteLGConv()
        if edge_weight is None:
            edge_weight = bipartite_norm(edge_index, num_users, num_items)
        # Derived from the data, so not part of the state dict.
        self.register_buffer(
            "adj_item_to_user",
            to_adj(edge_index.flip(0), edge_weight, size=(num_items, num_users)),
            persistent=False,
        )
        self.register_buffer(
            "adj_user_to_item",
            to_adj(edge_index, edge_weight, size=(num_users, num_items)),
            persistent=False,
        )

    def forward(self, x_user: Tensor, x_item: Tensor) -> tuple[Tensor, Tensor]:
        sum_user, sum_item = sum_user_item_layers(
            self.conv,
            x_user,
            x_item,
            (self.adj_item_to_user, None, self.adj_user_to_item),
            (self.adj_user_to_item, None, self.adj_item_to_user),
            self.num_layers,
        )
        scale = 1.0 / (self.num_layers + 1)
        return sum_user * scale, sum_item * scale

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(num_layers={self.num_layers})"


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

    Args:
        num_users (int): Number of users.
        num_items (int): Number of items.
        edge_index (torch.Tensor): Training ``(user, item)`` pairs ``[2, E]``.
        embedding_dim (int, optional): Embedding size. (default: :obj:`64`)
        num_layers (int, optional): Propagation layers :math:`L`.
            (default: :obj:`2`)
        reg_weight (float, optional): :math:`\lambda`. (default: :obj:`1e-4`)
    """

    def __init__(
        self,
        num_users: int,
        num_items: int,
        edge_index: Tensor,
        embedding_dim: int = 64,
        num_layers: int = 2,
        reg_weight: float = 1e-4,
    ) -> None:
        super().__init__(num_users, num_items)
        self.embedding_dim = embedding_dim
        self.reg_weight = reg_weight
        self.user_embedding = torch.nn.Embedding(num_users, embedding_dim)
        self.item_embedding = torch.nn.Embedding(num_items, embedding_dim)
        self.propagation = UserItemPropagation(
            edge_index, num_users, num_items, num_layers
        )
        self.reset_parameters()

    @classmethod
    def from_data(cls, data: HeteroData, **kwargs) -> LightGCN:
        """Builds the model on the training graph of ``data``."""
        return cls(
            data[USER].num_nodes,
            data[ITEM].num_nodes,
            split_edge_index(data, "train"),
            **kwargs,
        )

    def reset_parameters(self) -> None:
        torch.nn.init.xavier_uniform_(self.user_embedding.weight)
        torch.nn.init.xavier_uniform_(self.item_embedding.weight)

    def forward(self) -> tuple[Tensor, Tensor]:
        return self.propagation(self.user_embedding.weight, self.item_embedding.weight)

    def loss(self, batch: BPRBatch) -> Tensor:
        user_emb, item_emb = self.forward()
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
