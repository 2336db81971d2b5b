"""MMGCN assembled from :class:`~mde_pyg.nn.MMGCNConv`: one graph convolution
network per modality over the user-item graph."""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.data import HeteroData
from torch_geometric.transforms import BaseTransform

from mde_pyg.data.hetero import (
    INTERACTS_AVG,
    INTERACTS_SUM,
    REV_INTERACTS_AVG,
    REV_INTERACTS_SUM,
)
from mde_pyg.data.transforms import AddUserItemAdjacency
from mde_pyg.evaluation.retrieval import check_items
from mde_pyg.models.base import BPRBatch, MultiModalRecommender, bpr_loss
from mde_pyg.nn import MMGCNConv, graphs_of

#: The published projection: the image features through a linear layer to
#: 256 dimensions, every other modality's raw features as they are.
PUBLISHED_LATENT_DIMS = {"image": 256}
#: aggr -> (user -> item, item -> user) relations and their normalisation.
GRAPHS = {
    "mean": ((INTERACTS_AVG, REV_INTERACTS_AVG), "row"),
    "add": ((INTERACTS_SUM, REV_INTERACTS_SUM), "none"),
}


class MMGCN(MultiModalRecommender):
    r"""MMGCN from the `"MMGCN: Multi-modal Graph Convolution Network for
    Personalized Recommendation of Micro-video"
    <https://arxiv.org/abs/1908.06661>`_ paper (Wei et al., ACM MM 2019), as
    in its published code in the MMRec comparisons.

    For every modality :math:`m`, a graph convolution network of :math:`L`
    :class:`~mde_pyg.nn.MMGCNConv` layers over the user-item graph. Its input
    is a free preference vector :math:`\mathbf{p}^m_u` per user and each
    item's (optionally projected) features, L2-normalised:

    .. math::
        \mathbf{x}^{m,(0)}_u = \frac{\mathbf{p}^m_u}{\|\mathbf{p}^m_u\|},
        \qquad \mathbf{x}^{m,(0)}_i = \frac{\mathbf{W}^m \mathbf{f}^m_i +
        \mathbf{b}^m}{\|\mathbf{W}^m \mathbf{f}^m_i + \mathbf{b}^m\|}

    (no projection for a modality without a latent size: then
    :math:`\mathbf{x}^{m,(0)}_i = \mathbf{f}^m_i / \|\mathbf{f}^m_i\|`).
    Layer :math:`l` aggregates the neighbours (mean by default), transforms
    the node's own message, adds its ID embedding :math:`\mathbf{e}_n`
    (users and items) and combines the two:

    .. math::
        \mathbf{h}_n &= \operatorname{LeakyReLU}\Big(\frac{1}{|\mathcal{N}(n)|}
        \sum_{j \in \mathcal{N}(n)} \mathbf{W}^{m,l}_a \mathbf{x}^{m,(l)}_j
        \Big), \qquad \hat{\mathbf{x}}_n = \operatorname{LeakyReLU}(
        \mathbf{W}^{m,l}_s \mathbf{x}^{m,(l)}_n + \mathbf{b}^{m,l}_s) +
        \mathbf{e}_n,

        \mathbf{x}^{m,(l+1)}_n &= \operatorname{LeakyReLU}\big(
        \mathbf{W}^{m,l}_c [\mathbf{h}_n \,\|\, \hat{\mathbf{x}}_n] +
        \mathbf{b}^{m,l}_c\big), \qquad
        \mathbf{r}_n = \frac{1}{M} \sum_m \mathbf{x}^{m,(L)}_n, \qquad
        \hat{y}_{ui} = \mathbf{r}_u^{\top} \mathbf{r}_i

    Loss on a batch :math:`B` of (user, positive, negative) triples, with
    :math:`\overline{\,\cdot\,}` the mean over all entries of a matrix:

    .. math::
        \mathcal{L} = \mathcal{L}_{BPR}(\mathbf{r}) + \lambda \Big(
        \overline{\mathbf{E}_{U_B}^{\,2}} + \tfrac{1}{2}\big(
        \overline{\mathbf{E}_{I^+_B}^{\,2}} +
        \overline{\mathbf{E}_{I^-_B}^{\,2}}\big) + \sum_m
        \overline{(\mathbf{P}^m)^2} \Big)

    (the published ``(id_embedding[users]**2 + id_embedding[items]**2).mean()``
    over the interleaved positive and negative pairs, plus the mean square of
    the preferences). Reads the user-item graph of :meth:`graph_transform`.

    What the published code does, and what this class does by default:

    * It always runs three layers (its ``n_layers`` is not read) with
      ``concat`` combination (its ``concate = 'False'`` is a non-empty
      string, hence true) and mean aggregation: the defaults here.
    * Its ID embeddings and user preferences are plain tensors, not
      parameters, so training never updates them (they stay at their
      random initialisation, and its L2 term has no gradient). Here they are
      trained, as the paper describes; ``freeze_embeddings=True`` reproduces
      the published behaviour (for a parity run).
    * Its L2 term holds the image modality's preferences only; here every
      modality's (no difference to its training: nothing in the term is
      trained there).
    * Its raw item features are fixed: ``freeze_features=True`` by default.
    * It evaluates the representations of the last training batch's
      forward pass (before that batch's update); :meth:`embeddings`
      recomputes them.

    Args:
        num_users (int): Number of users.
        num_items (int): Number of items.
        features (dict): ``{modality: [num_items, d_m] tensor}`` raw item
            features (one or more modalities).
        embedding_dim (int, optional): Size :math:`d` of the ID embeddings
            and of every layer's output. (default: :obj:`64`)
        num_layers (int, optional): Layers :math:`L` per modality.
            (default: :obj:`3`)
        latent_dims (dict, optional): ``{modality: size}``: the modalities
            whose features are projected by a linear layer (and the user
            preferences' size in that modality); the others enter raw, with
            preferences of the features' size. :obj:`None` is the published
            ``{"image": 256}``. (default: :obj:`None`)
        aggr (str, optional): Neighbour aggregation, :obj:`"mean"` or
            :obj:`"add"`. (default: :obj:`"mean"`)
        combine (str, optional): Combination of a node's aggregated and own
            messages, :obj:`"concat"` or :obj:`"add"` (see
            :class:`~mde_pyg.nn.MMGCNConv`). (default: :obj:`"concat"`)
        reg_weight (float, optional): :math:`\lambda`; the published grid is
            ``{0, 1e-5, 1e-4, 1e-3, 1e-2, 0.1}``. (default: :obj:`1e-4`)
        freeze_embeddings (bool, optional): Keep the ID embeddings and the
            user preferences at their initialisation, as the published code
            does. (default: :obj:`False`)
        freeze_features (bool, optional): Keep the raw features fixed, as the
            published code does, instead of fine-tuning them.
            (default: :obj:`True`)

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
        num_layers: int = 3,
        latent_dims: Mapping[str, int] | None = None,
        aggr: str = "mean",
        combine: str = "concat",
        reg_weight: float = 1e-4,
        freeze_embeddings: bool = False,
        freeze_features: bool = True,
    ) -> None:
        super().__init__(
            num_users,
            num_items,
            features,
            embedding_dim=embedding_dim,
            freeze_features=freeze_features,
        )
        if aggr not in GRAPHS:
            raise ValueError(f"Unknown aggr '{aggr}' (expected one of {list(GRAPHS)})")
        if num_layers < 1:
            raise ValueError(f"num_layers must be at least 1 (got {num_layers})")
        latent_dims = dict(
            PUBLISHED_LATENT_DIMS if latent_dims is None else latent_dims
        )
        self.latent_dims = {
            m: int(latent_dims[m]) for m in self.modalities if m in latent_dims
        }
        self.num_layers = num_layers
        self.aggr = aggr
        self.combine = combine
        self.reg_weight = reg_weight
        self.freeze_embeddings = freeze_embeddings
        self.edge_types = list(GRAPHS[aggr][0])
        self.projections = torch.nn.ModuleDict()
        self.preferences = torch.nn.ParameterDict()
        self.convs = torch.nn.ModuleDict()
        for modality, x in features.items():
            size = self.latent_dims.get(modality, x.size(1))
            if modality in self.latent_dims:
                self.projections[modality] = torch.nn.Linear(x.size(1), size)
            self.preferences[modality] = torch.nn.Parameter(
                torch.empty(num_users, size)
            )
            self.convs[modality] = torch.nn.ModuleList(
                MMGCNConv(size if layer == 0 else embedding_dim, embedding_dim, combine)
                for layer in range(num_layers)
            )
        self.reset_parameters()
        if freeze_embeddings:
            for param in (
                self.user_embedding.weight,
                self.item_embedding.weight,
                *self.preferences.values(),
            ):
                param.requires_grad_(False)

    @classmethod
    def graph_transform(cls, aggr: str = "mean") -> BaseTransform:
        """The user-item graph in both directions, weighted for the
        aggregation: row-normalised (:math:`1/\\deg`, the mean) for
        ``aggr="mean"``, unit weights for ``"add"``
        (:class:`~mde_pyg.data.AddUserItemAdjacency`).

        Args:
            aggr (str, optional): The model's aggregation, :obj:`"mean"` or
                :obj:`"add"`. (default: :obj:`"mean"`)
        """
        if aggr not in GRAPHS:
            raise ValueError(f"Unknown aggr '{aggr}' (expected one of {list(GRAPHS)})")
        edge_types, normalization = GRAPHS[aggr]
        return AddUserItemAdjacency(
            normalization=normalization, out_edge_types=edge_types
        )

    def reset_parameters(self) -> None:
        """Xavier-normal ID embeddings (of one users-then-items matrix, as the
        published code), preferences and layer weights; the first layer's
        combination is Xavier-normal too, the later ones and the projections
        PyTorch's defaults (as published)."""
        num_nodes = self.num_users + self.num_items
        std = (2.0 / (num_nodes + self.embedding_dim)) ** 0.5
        with torch.no_grad():
            self.user_embedding.weight.normal_(0.0, std)
            self.item_embedding.weight.normal_(0.0, std)
        for modality in self.modalities:
            torch.nn.init.xavier_normal_(self.preferences[modality])
            if modality in self.projections:
                self.projections[modality].reset_parameters()
            for conv in self.convs[modality]:
                conv.reset_parameters()
            torch.nn.init.xavier_normal_(self.convs[modality][0].lin_combine.weight)

    def item_input(self, modality: str, items: Tensor | None = None) -> Tensor:
        """The normalised layer-0 features of the items (all, or ``items``)
        in ``modality``."""
        x = self.feature(modality)
        x = x if items is None else x[items]
        if modality in self.projections:
            x = self.projections[modality](x)
        return F.normalize(x, dim=-1)

    def forward(self, data: HeteroData) -> tuple[Tensor, Tensor]:
        to_item, to_user = self.edge_types
        graphs = graphs_of(data, self.edge_types)
        id_user, id_item = self.user_embedding.weight, self.item_embedding.weight
        user_out, item_out = 0.0, 0.0
        for modality in self.modalities:
            x_user = F.normalize(self.preferences[modality], dim=-1)
            x_item = self.item_input(modality)
            for conv in self.convs[modality]:
                x_user, x_item = (
                    conv((x_item, x_user), graphs[to_user], id_user),
                    conv((x_user, x_item), graphs[to_item], id_item),
                )
            user_out, item_out = user_out + x_user, item_out + x_item
        num = len(self.modalities)
        return user_out / num, item_out / num

    @torch.no_grad()
    def cold_item_embeddings(self, data: HeteroData, items: Tensor) -> Tensor:
        r"""Embeddings of cold items (features, no training interaction) from
        MMGCN's content path: every modality's layers run on the item's own
        features alone, with no neighbour to aggregate
        (:math:`\mathbf{h} = \mathbf{0}`) and no ID embedding (never trained
        on a positive pair), averaged over the modalities:

        .. math::
            \mathbf{x}^{m,(l+1)}_i = \operatorname{LeakyReLU}\big(
            \mathbf{W}^{m,l}_c [\mathbf{0} \,\|\, \operatorname{LeakyReLU}(
            \mathbf{W}^{m,l}_s \mathbf{x}^{m,(l)}_i + \mathbf{b}^{m,l}_s)] +
            \mathbf{b}^{m,l}_c\big), \qquad
            \mathbf{r}_i = \frac{1}{M} \sum_m \mathbf{x}^{m,(L)}_i

        This is :meth:`forward`'s row of an item without training
        interactions whose ID embedding is zero, and depends on no other
        item and on no graph.

        Args:
            data (HeteroData): The data the model reads (unused: no graph is
                read).
            items (torch.Tensor): ``[C]`` item ids.

        Returns:
            torch.Tensor: ``[C, d]`` item embeddings.
        """
        items = check_items(items, self.num_items).to(self.item_embedding.weight.device)
        out = 0.0
        for modality in self.modalities:
            x = self.item_input(modality, items)
            for conv in self.convs[modality]:
                x = conv(x, None)
            out = out + x
        return out / len(self.modalities)

    def loss(self, data: HeteroData, batch: BPRBatch) -> Tensor:
        user_emb, item_emb = self.forward(data)
        u = user_emb[batch.user]
        loss = bpr_loss(
            (u * item_emb[batch.pos]).sum(-1), (u * item_emb[batch.neg]).sum(-1)
        )
        if self.reg_weight == 0.0:
            return loss
        reg = self.user_embedding(batch.user).pow(2).mean() + 0.5 * (
            self.item_embedding(batch.pos).pow(2).mean()
            + self.item_embedding(batch.neg).pow(2).mean()
        )
        for preference in self.preferences.values():
            reg = reg + preference.pow(2).mean()
        return loss + self.reg_weight * reg

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(num_users={self.num_users}, "
            f"num_items={self.num_items}, modalities={self.modalities}, "
            f"embedding_dim={self.embedding_dim}, num_layers={self.num_layers}, "
            f"latent_dims={self.latent_dims}, aggr='{self.aggr}', "
            f"combine='{self.combine}', reg_weight={self.reg_weight}, "
            f"freeze_embeddings={self.freeze_embeddings}, "
            f"freeze_features={self.freeze_features})"
        )
