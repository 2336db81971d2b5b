"""BM3 assembled from :class:`~mde_pyg.nn.UserItemPropagation`."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.data import HeteroData
from torch_geometric.transforms import BaseTransform

from mde_pyg.data.hetero import INTERACTS, REV_INTERACTS
from mde_pyg.data.transforms import AddUserItemAdjacency
from mde_pyg.models.base import BPRBatch, MultiModalRecommender
from mde_pyg.nn import UserItemPropagation, graphs_of


def cosine_alignment(online: Tensor, target: Tensor) -> Tensor:
    r""":math:`1 - \frac{1}{B}\sum_n \cos(\mathbf{a}_n, \mathbf{b}_n)`, the
    target taken as a constant (no gradient)."""
    return 1.0 - F.cosine_similarity(online, target.detach(), dim=-1).mean()


class BM3(MultiModalRecommender):
    r"""BM3 from the `"Bootstrap Latent Representations for Multi-modal
    Recommendation" <https://arxiv.org/abs/2207.05969>`_ paper (Zhou et al.,
    WWW 2023), as its published code (MMRec): self-supervised, without
    negative sampling. Every node has an online embedding; a *target* view
    is the online embedding under dropout, taken as a constant, and a shared
    predictor :math:`g(\mathbf{z}) = \mathbf{W}_p\mathbf{z} + \mathbf{b}_p`
    maps online embeddings so that their cosine with the targets is
    maximised.

    Online embeddings: LightGCN on the symmetrically normalised graph
    :math:`\hat{\mathbf{A}}` of the training interactions, mean over layers
    :math:`0..L`, the items' layer-0 ID embeddings added once more; each
    modality's raw features (fine-tuned) projected to :math:`d`:

    .. math::
        \mathbf{E} = \frac{1}{L+1} \sum_{l=0}^{L} \hat{\mathbf{A}}^l
        \mathbf{E}^{(0)}, \qquad
        \mathbf{h}_u = \mathbf{E}_u, \qquad
        \mathbf{h}_i = \mathbf{E}_i + \mathbf{E}^{(0)}_i, \qquad
        \mathbf{h}^m_i = \mathbf{W}_m \mathbf{x}^m_i + \mathbf{b}_m.

    Loss on a batch of observed (user, item) pairs :math:`B` (the batch's
    negatives are not read), with :math:`\tilde{\mathbf{z}} =
    \mathrm{dropout}_p(\mathbf{z})` (inverted dropout, scaling by
    :math:`1/(1-p)`) and :math:`\ell(\mathbf{a}, \mathbf{b}) = 1 -
    \frac{1}{|B|}\sum_{(u,i) \in B} \cos(\mathbf{a}, \mathbf{b})`:

    .. math::
        \mathcal{L} = \ell(g(\mathbf{h}_u), \tilde{\mathbf{h}}_i) +
        \ell(g(\mathbf{h}_i), \tilde{\mathbf{h}}_u) +
        \lambda_{cl} \sum_m \big[\ell(g(\mathbf{h}^m_i), \tilde{\mathbf{h}}_i)
        + \ell(g(\mathbf{h}^m_i), \tilde{\mathbf{h}}^m_i)\big] +
        \lambda \frac{\|\mathbf{H}_{\mathcal{U}}\|_F +
        \|\mathbf{H}_{\mathcal{I}}\|_F}{|\mathcal{I}|}.

    Scores: :math:`\hat{y}_{ui} = g(\mathbf{h}_u)^{\top} g(\mathbf{h}_i)`
    (:meth:`forward` returns the predicted embeddings). The modality terms
    train the features and projections; they do not enter the scores.

    As the published code: the regulariser is MMRec's ``EmbLoss`` of the
    *whole* online user and item tables (Frobenius norms, not squared,
    divided by the number of items, not by the batch); the dropout of the
    target views is drawn on the whole user and item tables at every step;
    the targets of a modality are the dropout of that modality's own
    projection. The published code builds no item-item graph (the paper's
    BM3 has none either), so only the user-item graph is read.
    Differences, none of which changes the model: the normalisation omits
    the reference's :math:`10^{-7}` added to every degree; the modality
    projections and their dropout are computed on the batch's distinct
    items only (the reference projects every item; per row the result and
    its distribution are the same); any number of modalities (the reference
    has image and/or text, and draws the text targets first: here the order
    of the data's modalities).

    Initialisation as the published code: ID embeddings xavier-uniform, the
    weights of the projections and of the predictor xavier-normal, their
    biases PyTorch's default.

    Args:
        num_users (int): Number of users.
        num_items (int): Number of items.
        features (dict): ``{modality: [num_items, d_m] tensor}`` raw item
            features (one or more modalities).
        embedding_dim (int, optional): Embedding size :math:`d` (also of
            the projections and the predictor). (default: :obj:`64`)
        num_layers (int, optional): LightGCN layers :math:`L` (the
            reference's ``n_layers``); published grid ``{1, 2}``.
            (default: :obj:`1`)
        dropout (float, optional): :math:`p`, the dropout of the target
            views; published grid ``{0.3, 0.5}``. (default: :obj:`0.5`)
        reg_weight (float, optional): :math:`\lambda`; published grid
            ``{0.1, 0.01}``. (default: :obj:`0.1`)
        cl_weight (float, optional): :math:`\lambda_{cl}`, the weight of the
            modality alignment terms. (default: :obj:`2.0`)
        freeze_features (bool, optional): Keep the raw features fixed instead
            of fine-tuning them as the reference does (a deviation).
            (default: :obj:`False`)

    Shapes:
        - **input:** ``data`` with the graphs of :meth:`graph_transform` and
          ``features`` :math:`\{m: (|\mathcal{I}|, d_m)\}`
        - **output:** :meth:`forward` returns user embeddings
          :math:`(|\mathcal{U}|, d)` and item embeddings
          :math:`(|\mathcal{I}|, d)`; :meth:`loss` a scalar
    """

    def __init__(
        self,
        num_users: int,
        num_items: int,
        features: dict[str, Tensor],
        embedding_dim: int = 64,
        num_layers: int = 1,
        dropout: float = 0.5,
        reg_weight: float = 0.1,
        cl_weight: float = 2.0,
        freeze_features: bool = False,
    ) -> None:
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"'dropout' must be in [0, 1) (got {dropout})")
        super().__init__(num_users, num_items, features, embedding_dim, freeze_features)
        self.dropout = dropout
        self.reg_weight = reg_weight
        self.cl_weight = cl_weight
        self.projections = torch.nn.ModuleDict(
            {m: torch.nn.Linear(x.size(1), embedding_dim) for m, x in features.items()}
        )
        self.predictor = torch.nn.Linear(embedding_dim, embedding_dim)
        self.propagation = UserItemPropagation(INTERACTS, REV_INTERACTS, num_layers)
        self.reset_parameters()

    @classmethod
    def graph_transform(cls) -> BaseTransform:
        """The symmetrically normalised user-item graph
        (:class:`~mde_pyg.data.AddUserItemAdjacency`); BM3 reads no item-item
        graph."""
        return AddUserItemAdjacency()

    def reset_parameters(self) -> None:
        """Re-initialises the ID embeddings, the projections and the
        predictor. The raw features are data and keep their current
        (possibly fine-tuned) values."""
        torch.nn.init.xavier_uniform_(self.user_embedding.weight)
        torch.nn.init.xavier_uniform_(self.item_embedding.weight)
        for layer in (*self.projections.values(), self.predictor):
            layer.reset_parameters()
            torch.nn.init.xavier_normal_(layer.weight)

    def online(
        self, data: HeteroData, item_embedding: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        r"""The online embeddings :math:`\mathbf{h}_u, \mathbf{h}_i` (before
        the predictor), from the layer-0 ID embeddings (``item_embedding`` in
        place of the items' if given)."""
        if item_embedding is None:
            item_embedding = self.item_embedding.weight
        graphs = graphs_of(data, self.propagation.edge_types)
        user, item = self.propagation(
            self.user_embedding.weight, item_embedding, graphs
        )
        return user, item + item_embedding

    def forward(self, data: HeteroData) -> tuple[Tensor, Tensor]:
        user, item = self.online(data)
        return self.predictor(user), self.predictor(item)

    def loss(self, data: HeteroData, batch: BPRBatch) -> Tensor:
        user, item = self.online(data)
        with torch.no_grad():
            user_target = F.dropout(user, self.dropout)
            item_target = F.dropout(item, self.dropout)
        u, i = batch.user, batch.pos
        loss = cosine_alignment(self.predictor(user[u]), item_target[i])
        loss = loss + cosine_alignment(self.predictor(item[i]), user_target[u])
        modal = 0.0
        if self.cl_weight != 0.0:
            items, index = i.unique(return_inverse=True)
            for modality in self.modalities:
                h = self.projections[modality](self.feature(modality)[items])
                with torch.no_grad():
                    target = F.dropout(h, self.dropout)
                online = self.predictor(h)[index]
                modal = modal + cosine_alignment(online, item_target[i])
                modal = modal + cosine_alignment(online, target[index])
        reg = (user.norm() + item.norm()) / self.num_items
        return loss + self.reg_weight * reg + self.cl_weight * modal

    @torch.no_grad()
    def content_embedding(self, items: Tensor) -> Tensor:
        r"""``[C, d]``: the mean over modalities of
        :math:`g(\mathbf{h}^m_i)`, the online embedding that BM3 aligns (by
        cosine) with the item's online embedding :math:`\mathbf{h}_i`."""
        return torch.stack(
            [
                self.predictor(self.projections[m](self.feature(m)[items]))
                for m in self.modalities
            ]
        ).mean(0)

    @torch.no_grad()
    def cold_item_embeddings(self, data: HeteroData, items: Tensor) -> Tensor:
        r"""Embeddings of cold items (features, no training interaction)
        from BM3's content path: the modality terms align
        :math:`\mathbf{c}_i = \frac{1}{M}\sum_m g(\mathbf{h}^m_i)` with the
        item's online embedding :math:`\mathbf{h}_i` in direction only, so
        :math:`\mathbf{c}_i` stands for :math:`\mathbf{h}_i` rescaled to the
        mean norm :math:`r` of the online embeddings of the items with
        training interactions, and is mapped by the predictor like every
        item:

        .. math::
            \mathbf{e}_i = g\Big(r \frac{\mathbf{c}_i}{\|\mathbf{c}_i\|}\Big)

        No ID embedding of :obj:`items` or of any other item without
        training interactions is read (those items are set to zero before
        the propagation that gives :math:`r`).

        The arguments (``data`` with its graphs) and the ``[C, d]`` result
        are those of :meth:`~mde_pyg.models.Recommender.cold_item_embeddings`.
        """
        items, unknown, x_item = self._cold_id_embeddings(data, items)
        _, item = self.online(data, item_embedding=x_item)
        known = item[~unknown]
        radius = known.norm(dim=-1).mean() if known.numel() else item.new_ones(())
        content = F.normalize(self.content_embedding(items), dim=-1) * radius
        return self.predictor(content)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(num_users={self.num_users}, "
            f"num_items={self.num_items}, modalities={self.modalities}, "
            f"embedding_dim={self.embedding_dim}, "
            f"num_layers={self.propagation.num_layers}, dropout={self.dropout}, "
            f"reg_weight={self.reg_weight}, cl_weight={self.cl_weight}, "
            f"freeze_features={self.freeze_features})"
        )
