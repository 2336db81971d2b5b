"""VBPR: matrix factorisation with projected item content."""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.data import HeteroData
from torch_geometric.transforms import BaseTransform, Compose

from mde_pyg.evaluation.retrieval import check_items
from mde_pyg.models.base import BPRBatch, MultiModalRecommender, bpr_loss


class VBPR(MultiModalRecommender):
    r"""VBPR from the `"VBPR: Visual Bayesian Personalized Ranking from
    Implicit Feedback" <https://arxiv.org/abs/1510.01784>`_ paper (He &
    McAuley, AAAI 2016), as in the published multi-modal comparisons
    (MMRec's "recommended version"): matrix factorisation whose item factors
    are an ID part and a linear projection of the item's content features.

    Every user has an ID factor :math:`\boldsymbol{\gamma}_u` and a content
    factor :math:`\boldsymbol{\theta}_u`; every item an ID factor
    :math:`\boldsymbol{\gamma}_i` and its raw features
    :math:`\mathbf{f}_i = [\mathbf{x}^{m_1}_i \,\|\, \mathbf{x}^{m_2}_i
    \,\|\, \cdots]`, all modalities concatenated, projected by
    :math:`\mathbf{E}, \mathbf{b}`:

    .. math::
        \mathbf{e}_u = [\boldsymbol{\gamma}_u \,\|\, \boldsymbol{\theta}_u],
        \qquad
        \mathbf{e}_i = [\boldsymbol{\gamma}_i \,\|\,
        \mathbf{E}\mathbf{f}_i + \mathbf{b}], \qquad
        \hat{y}_{ui} = \mathbf{e}_u^{\top}\mathbf{e}_i =
        \boldsymbol{\gamma}_u^{\top}\boldsymbol{\gamma}_i +
        \boldsymbol{\theta}_u^{\top}(\mathbf{E}\mathbf{f}_i + \mathbf{b}).

    Loss on a batch :math:`B` of (user, positive, negative) triples, the
    regulariser being MMRec's ``EmbLoss`` (the Frobenius norms, not squared,
    of the batch's final user, positive and negative embedding matrices,
    content part included):

    .. math::
        \mathcal{L} = \mathcal{L}_{BPR} + \lambda \frac{
        \|\mathbf{e}_{U_B}\|_F + \|\mathbf{e}_{I^+_B}\|_F +
        \|\mathbf{e}_{I^-_B}\|_F}{|B|}

    Like the published code, and unlike the paper, there are no item biases
    :math:`\beta_i` and no visual bias :math:`\boldsymbol{\beta}'` (they do
    not change a user's ranking up to the item's popularity term), the
    content projection has a bias :math:`\mathbf{b}`, the regulariser is the
    one above rather than the paper's squared L2 norm of every parameter,
    and the raw features stay fixed by default. The published code
    concatenates text then image; a single linear map of the concatenation
    is the sum of per-modality maps, so the order of the modalities changes
    nothing but the layout of :math:`\mathbf{E}`. Any number of modalities.
    The model reads no graph.

    Initialisation as the published code: :math:`[\boldsymbol{\gamma}_u
    \,\|\, \boldsymbol{\theta}_u]` as one xavier-uniform
    :math:`|\mathcal{U}| \times 2d` matrix, :math:`\boldsymbol{\gamma}_i`
    xavier-uniform, :math:`\mathbf{E}` xavier-normal and
    :math:`\mathbf{b} = \mathbf{0}`.

    Args:
        num_users (int): Number of users.
        num_items (int): Number of items.
        features (dict): ``{modality: [num_items, d_m] tensor}`` raw item
            features (one or more modalities).
        embedding_dim (int, optional): Size :math:`d` of the ID factors and
            of the content factors (the final embeddings have :math:`2d`).
            (default: :obj:`64`)
        reg_weight (float, optional): :math:`\lambda`; published grid
            ``{2, 1, 0.1, 0.01, 1e-3, 1e-4, 1e-5}``. (default: :obj:`1e-4`)
        freeze_features (bool, optional): Keep the raw features fixed, as the
            published code does; :obj:`False` fine-tunes them.
            (default: :obj:`True`)

    Shapes:
        - **input:** ``data`` (no graph is read) and ``features``
          :math:`\{m: (|\mathcal{I}|, d_m)\}`
        - **output:** :meth:`forward` returns user embeddings
          :math:`(|\mathcal{U}|, 2d)` and item embeddings
          :math:`(|\mathcal{I}|, 2d)`; :meth:`loss` a scalar
    """

    def __init__(
        self,
        num_users: int,
        num_items: int,
        features: dict[str, Tensor],
        embedding_dim: int = 64,
        reg_weight: float = 1e-4,
        freeze_features: bool = True,
    ) -> None:
        super().__init__(num_users, num_items, features, embedding_dim, freeze_features)
        self.reg_weight = reg_weight
        #: :math:`\boldsymbol{\theta}_u`, the users' content factors (the ID
        #: factors are ``user_embedding``).
        self.user_content_embedding = torch.nn.Embedding(num_users, embedding_dim)
        in_dim = sum(x.size(1) for x in features.values())
        self.projection = torch.nn.Linear(in_dim, embedding_dim)
        self.reset_parameters()

    @classmethod
    def graph_transform(cls) -> BaseTransform:
        """No graph: VBPR reads only the item features (an empty
        :class:`~torch_geometric.transforms.Compose`)."""
        return Compose([])

    def reset_parameters(self) -> None:
        """Re-initialises the factors and the projection as the published
        code. The raw features are data and keep their current values."""
        d = self.embedding_dim
        with torch.no_grad():
            user = torch.empty(
                self.num_users, 2 * d, device=self.user_embedding.weight.device
            )
            torch.nn.init.xavier_uniform_(user)
            self.user_embedding.weight.copy_(user[:, :d])
            self.user_content_embedding.weight.copy_(user[:, d:])
        torch.nn.init.xavier_uniform_(self.item_embedding.weight)
        torch.nn.init.xavier_normal_(self.projection.weight)
        torch.nn.init.zeros_(self.projection.bias)

    def content_embedding(self, items: Tensor | None = None) -> Tensor:
        r"""The projected content :math:`\mathbf{E}\mathbf{f}_i + \mathbf{b}`
        of ``items`` (all items if :obj:`None`), ``[*, d]``."""
        x = torch.cat([self.feature(m) for m in self.modalities], dim=-1)
        if items is not None:
            x = x[items]
        return self.projection(x)

    def user_embeddings(self) -> Tensor:
        r"""``[num_users, 2d]``: :math:`[\boldsymbol{\gamma}_u \,\|\,
        \boldsymbol{\theta}_u]`."""
        return torch.cat(
            [self.user_embedding.weight, self.user_content_embedding.weight], dim=-1
        )

    def forward(self, data: HeteroData) -> tuple[Tensor, Tensor]:
        item = torch.cat([self.item_embedding.weight, self.content_embedding()], -1)
        return self.user_embeddings(), item

    def loss(self, data: HeteroData, batch: BPRBatch) -> Tensor:
        user = torch.cat(
            [self.user_embedding(batch.user), self.user_content_embedding(batch.user)],
            dim=-1,
        )
        items = torch.cat([batch.pos, batch.neg])
        item = torch.cat(
            [self.item_embedding(items), self.content_embedding(items)], dim=-1
        )
        pos, neg = item.split([batch.pos.numel(), batch.neg.numel()])
        loss = bpr_loss((user * pos).sum(-1), (user * neg).sum(-1))
        reg = user.norm() + pos.norm() + neg.norm()
        return loss + self.reg_weight * reg / batch.user.numel()

    @torch.no_grad()
    def cold_item_embeddings(self, data: HeteroData, items: Tensor) -> Tensor:
        r"""Embeddings of cold items (features, no training interaction)
        from VBPR's content path: :math:`[\mathbf{0} \,\|\, \mathbf{E}
        \mathbf{f}_i + \mathbf{b}]`, the ID factor (never trained on a
        positive pair) set to zero, so that an item scores
        :math:`\boldsymbol{\theta}_u^{\top}(\mathbf{E}\mathbf{f}_i +
        \mathbf{b})`, the paper's cold-start score without biases.

        Args:
            data (HeteroData): The data the model reads.
            items (torch.Tensor): ``[C]`` item ids.

        Returns:
            torch.Tensor: ``[C, 2d]`` item embeddings.
        """
        items = check_items(items, self.num_items).to(self.projection.weight.device)
        content = self.content_embedding(items)
        return torch.cat([torch.zeros_like(content), content], dim=-1)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(num_users={self.num_users}, "
            f"num_items={self.num_items}, modalities={self.modalities}, "
            f"embedding_dim={self.embedding_dim}, reg_weight={self.reg_weight}, "
            f"freeze_features={self.freeze_features})"
        )
