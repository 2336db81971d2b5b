"""DRAGON assembled from :class:`~mde_pyg.nn.UserItemPropagation` and
:class:`~mde_pyg.nn.BipartiteLGConv`: one user-item graph convolution per
modality, then the item-item and user-user (homogeneous) graphs."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.data import HeteroData
from torch_geometric.transforms import BaseTransform, Compose

from mde_pyg.data.hetero import CO_INTERACTS, INTERACTS, MM_SIM, REV_INTERACTS
from mde_pyg.data.transforms import AddUserUserGraph
from mde_pyg.evaluation.retrieval import check_items
from mde_pyg.models.base import BPRBatch, MultiModalRecommender, bpr_loss
from mde_pyg.models.freedom import FREEDOM
from mde_pyg.nn import BipartiteLGConv, UserItemPropagation, graphs_of


class DRAGON(MultiModalRecommender):
    r"""DRAGON from the `"Enhancing Dyadic Relations with Homogeneous Graphs
    for Multimodal Recommendation" <https://arxiv.org/abs/2301.12097>`_ paper
    (Zhou et al., ECAI 2023), as its published code (MMRec's ``DRAGON``).

    No ID embeddings: every user has a free preference vector
    :math:`\mathbf{p}^m_u` per modality :math:`m`, and an item is its
    content, each modality's raw features :math:`\mathbf{f}^m_i` through a
    two-layer perceptron :math:`g_m` (hidden size :math:`4d`, LeakyReLU).
    Per modality, the L2-normalised inputs are propagated on the
    symmetrically normalised user-item graph :math:`\hat{\mathbf{A}}` and
    the layers :math:`0..L` *summed* (the heterogeneous graph):

    .. math::
        \mathbf{x}^{m,(0)}_u = \frac{\mathbf{p}^m_u}{\|\mathbf{p}^m_u\|},
        \qquad \mathbf{x}^{m,(0)}_i = \frac{g_m(\mathbf{f}^m_i)}
        {\|g_m(\mathbf{f}^m_i)\|}, \qquad
        \mathbf{X}^m = \sum_{l=0}^{L} \hat{\mathbf{A}}^l \mathbf{X}^{m,(0)}.

    The modalities are concatenated, each user weighting its own with
    learned weights :math:`w_{u,m}` (none with a single modality); the
    homogeneous graphs then add each node's neighbours: on the items the
    frozen item-item graph :math:`\mathbf{S}` (FREEDOM's, :math:`n` steps),
    on the users the co-interaction graph :math:`a_{uv}` (each user's
    :math:`k` users with the most common training items, softmax of the
    counts; :class:`~mde_pyg.data.AddUserUserGraph`):

    .. math::
        \mathbf{u}_u = \big[w_{u,1}\mathbf{x}^1_u \,\|\, \cdots \,\|\,
        w_{u,M}\mathbf{x}^M_u\big], \qquad
        \mathbf{i}_i = \big[\mathbf{x}^1_i \,\|\, \cdots \,\|\,
        \mathbf{x}^M_i\big],

        \mathbf{e}_u = \mathbf{u}_u + \sum_{v \in \mathcal{K}(u)} a_{uv}
        \mathbf{u}_v, \qquad
        \mathbf{e}_i = \mathbf{i}_i + (\mathbf{S}^{n}\mathbf{I})_i, \qquad
        \hat{y}_{ui} = \mathbf{e}_u^{\top}\mathbf{e}_i.

    Loss on a batch :math:`B` of (user, positive, negative) triples: BPR in
    base 2 (the published ``-log2 sigmoid``), and the mean squares of the
    batch users' preferences and of the whole table of modality weights:

    .. math::
        \mathcal{L} = \frac{1}{\ln 2}\mathcal{L}_{BPR}(\mathbf{e}) +
        \lambda \Big(\sum_m \overline{(\mathbf{P}^m_{U_B})^2} +
        \overline{\mathbf{W}^2}\Big)

    The graphs are those of :meth:`graph_transform`, precomputed once.

    Initialisation as the published code: preferences xavier-normal,
    perceptrons PyTorch's default, the modality weights the softmax over the
    modalities of a xavier-normal draw (then trained freely).

    What the published code does, and what this class does:

    * It has image and text. Here any number :math:`M \geq 1` of
      modalities, one branch each; with one (e.g. text only) the users
      weigh nothing, as the published code's single-modality path (whose
      unused weights' regulariser, which changes no score, is left out):
      a one-modality DRAGON is a variant of the published two-modality
      model.
    * Its user graph is made once by its preprocessing script (each user's
      200 co-users with the largest counts), and every epoch it takes each
      user's first :math:`k = 40`; a user with fewer than :math:`k` pads the
      list with co-users drawn again at random (so they weigh more, differently
      every epoch). Here each co-user counts once, and ties among equal
      counts go to the lower user index.
    * It evaluates the representations of the last training batch's
      forward pass (before that batch's update); :meth:`embeddings`
      recomputes them.
    * It reads its raw features fixed (its fine-tunable copies of them only
      build the item graph): ``freeze_features=True`` by default. It also
      holds parameters and edge-dropped graphs that nothing reads; there
      are none here. The normalisations omit its :math:`10^{-7}` added to
      every degree, and an item is always its own neighbour in the
      :math:`k`-NN graphs (as FREEDOM here).

    Args:
        num_users (int): Number of users.
        num_items (int): Number of items.
        features (dict): ``{modality: [num_items, d_m] tensor}`` raw item
            features (one or more modalities).
        embedding_dim (int, optional): Size :math:`d` of every modality's
            preferences and perceptron output (the published code's fixed
            ``dim_latent``; its ``embedding_size`` is not read); the final
            embeddings have :math:`Md`. (default: :obj:`64`)
        num_layers (int, optional): Layers :math:`L` on the user-item graph
            (the published code always runs two; its ``n_layers`` is not
            read). (default: :obj:`2`)
        num_item_layers (int, optional): Steps :math:`n` on the item-item
            graph (``n_mm_layers``). (default: :obj:`1`)
        reg_weight (float, optional): :math:`\lambda`; published grid
            ``{0.1, 0.01, 1e-3, 1e-4, 1e-5}``. (default: :obj:`1e-3`)
        freeze_features (bool, optional): Keep the raw features fixed, as the
            published code does; :obj:`False` fine-tunes them.
            (default: :obj:`True`)

    Shapes:
        - **input:** ``data`` with the graphs of :meth:`graph_transform` and
          ``features`` :math:`\{m: (|\mathcal{I}|, d_m)\}`
        - **output:** :meth:`forward` returns user embeddings
          :math:`(|\mathcal{U}|, Md)` and item embeddings
          :math:`(|\mathcal{I}|, Md)`; :meth:`loss` a scalar
    """

    id_embeddings = False

    def __init__(
        self,
        num_users: int,
        num_items: int,
        features: dict[str, Tensor],
        embedding_dim: int = 64,
        num_layers: int = 2,
        num_item_layers: int = 1,
        reg_weight: float = 1e-3,
        freeze_features: bool = True,
    ) -> None:
        if num_item_layers < 0:
            raise ValueError(f"'num_item_layers' must be >= 0 (got {num_item_layers})")
        super().__init__(num_users, num_items, features, embedding_dim, freeze_features)
        self.num_item_layers = num_item_layers
        self.reg_weight = reg_weight
        self.preferences = torch.nn.ParameterDict(
            {
                m: torch.nn.Parameter(torch.empty(num_users, embedding_dim))
                for m in features
            }
        )
        self.projections = torch.nn.ModuleDict(
            {
                m: torch.nn.Sequential(
                    torch.nn.Linear(x.size(1), 4 * embedding_dim),
                    torch.nn.LeakyReLU(),
                    torch.nn.Linear(4 * embedding_dim, embedding_dim),
                )
                for m, x in features.items()
            }
        )
        if len(features) > 1:
            self.modality_weight = torch.nn.Parameter(
                torch.empty(num_users, len(features))
            )
        else:
            self.register_parameter("modality_weight", None)
        self.propagation = UserItemPropagation(INTERACTS, REV_INTERACTS, num_layers)
        self.conv = BipartiteLGConv()
        self.reset_parameters()

    @classmethod
    def graph_transform(
        cls,
        k: int = 10,
        user_k: int = 40,
        mm_image_weight: float = 0.1,
        modality_weights: Mapping[str, float] | None = None,
        cache_dir: str | Path | None = None,
        chunk_size: int = 1024,
        skip_missing: bool = True,
    ) -> BaseTransform:
        """DRAGON's graphs: FREEDOM's (the published code builds the same
        item graph), i.e. the symmetrically normalised user-item graph and the
        frozen item graph mixed from every modality's binary top-``k`` graph
        (``('item', 'mm_sim', 'item')``, see
        :meth:`FREEDOM.graph_transform
        <mde_pyg.models.FREEDOM.graph_transform>`), and the user
        co-interaction graph (:class:`~mde_pyg.data.AddUserUserGraph`,
        ``('user', 'co_interacts', 'user')``).

        Args:
            k (int, optional): Neighbours per item (itself included) in every
                modality's graph (the reference's ``knn_k``).
                (default: :obj:`10`)
            user_k (int, optional): Neighbours per user (the reference's
                fixed ``k``). (default: :obj:`40`)
            mm_image_weight (float, optional): The image graph's weight in the
                mix; text gets the rest (see
                :func:`~mde_pyg.models.freedom_modality_weights` for other
                modalities). (default: :obj:`0.1`)
            modality_weights (dict, optional): Explicit ``{modality: weight}``
                for every modality, replacing the rule of
                ``mm_image_weight``. (default: :obj:`None`)
            cache_dir (str, optional): Folder caching the per-modality graphs
                by feature content; no cache if :obj:`None`.
                (default: :obj:`None`)
            chunk_size (int, optional): Rows per chunk of the similarity and
                co-interaction computations. (default: :obj:`1024`)
            skip_missing (bool, optional): Link no item through a missing
                feature row (it keeps only itself); :obj:`False` searches the
                rows the dataset filled in as if they were real.
                (default: :obj:`True`)
        """
        return Compose(
            [
                FREEDOM.graph_transform(
                    k=k,
                    mm_image_weight=mm_image_weight,
                    modality_weights=modality_weights,
                    cache_dir=cache_dir,
                    chunk_size=chunk_size,
                    skip_missing=skip_missing,
                ),
                AddUserUserGraph(k=user_k, chunk_size=chunk_size),
            ]
        )

    def reset_parameters(self) -> None:
        """Re-initialises the preferences, the perceptrons and the modality
        weights as the published code. The raw features are data and keep
        their current values."""
        for modality in self.modalities:
            torch.nn.init.xavier_normal_(self.preferences[modality])
            for layer in self.projections[modality]:
                if isinstance(layer, torch.nn.Linear):
                    layer.reset_parameters()
        if self.modality_weight is not None:
            torch.nn.init.xavier_normal_(self.modality_weight)
            with torch.no_grad():
                self.modality_weight.copy_(self.modality_weight.softmax(dim=-1))

    def modality_embeddings(
        self, data: HeteroData
    ) -> tuple[list[Tensor], list[Tensor]]:
        r"""Per modality, :math:`\mathbf{X}^m` split into its ``[num_users,
        d]`` user and ``[num_items, d]`` item rows: the sum of layers
        :math:`0..L` on the user-item graph of ``data``."""
        graphs = graphs_of(data, self.propagation.edge_types)
        users, items = [], []
        for modality in self.modalities:
            x_user = F.normalize(self.preferences[modality], dim=-1)
            x_item = F.normalize(
                self.projections[modality](self.feature(modality)), dim=-1
            )
            user, item = self.propagation.layer_sum(x_user, x_item, graphs)
            users.append(user)
            items.append(item)
        return users, items

    def forward(self, data: HeteroData) -> tuple[Tensor, Tensor]:
        users, items = self.modality_embeddings(data)
        if self.modality_weight is not None:
            users = [
                weight.unsqueeze(-1) * user
                for weight, user in zip(self.modality_weight.unbind(-1), users)
            ]
        user, item = torch.cat(users, dim=-1), torch.cat(items, dim=-1)
        graphs = graphs_of(data, [MM_SIM, CO_INTERACTS])
        h = item
        for _ in range(self.num_item_layers):
            h = self.conv.forward_graph(h, graphs[MM_SIM])
        return user + self.conv.forward_graph(user, graphs[CO_INTERACTS]), item + h

    def loss(self, data: HeteroData, batch: BPRBatch) -> Tensor:
        user_emb, item_emb = self.forward(data)
        u = user_emb[batch.user]
        loss = bpr_loss(
            (u * item_emb[batch.pos]).sum(-1), (u * item_emb[batch.neg]).sum(-1)
        ) / math.log(2.0)
        reg = sum(
            self.preferences[m][batch.user].pow(2).mean() for m in self.modalities
        )
        if self.modality_weight is not None:
            reg = reg + self.modality_weight.pow(2).mean()
        return loss + self.reg_weight * reg

    @torch.no_grad()
    def cold_item_embeddings(self, data: HeteroData, items: Tensor) -> Tensor:
        r"""Embeddings of cold items (features, no training interaction)
        from DRAGON's content path, which is its whole item side: DRAGON has
        no item ID embeddings, so :meth:`forward`'s row of an item without
        training interactions reads only features and the frozen item graph
        :math:`\mathbf{S}` built on them. With no user-item neighbour, its
        layers :math:`1..L` are zero and

        .. math::
            \mathbf{e}_i = \mathbf{i}_i + (\mathbf{S}^{n}\mathbf{I})_i, \qquad
            \mathbf{i}_i = \Big[\frac{g_1(\mathbf{f}^1_i)}
            {\|g_1(\mathbf{f}^1_i)\|} \,\|\, \cdots \,\|\,
            \frac{g_M(\mathbf{f}^M_i)}{\|g_M(\mathbf{f}^M_i)\|}\Big]:

        its own content plus that of the items its features resemble (with
        :math:`n = 1`, their representations :math:`\mathbf{i}_j`, weighted
        as in :math:`\mathbf{S}`). It depends on no other item's inclusion
        in :obj:`items`.

        Args:
            data (HeteroData): The data the model reads (with its graphs).
            items (torch.Tensor): ``[C]`` item ids.

        Returns:
            torch.Tensor: ``[C, Md]`` item embeddings.
        """
        items = check_items(items, self.num_items)
        item = self.forward(data)[1]
        return item[items.to(item.device)]

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(num_users={self.num_users}, "
            f"num_items={self.num_items}, modalities={self.modalities}, "
            f"embedding_dim={self.embedding_dim}, "
            f"num_layers={self.propagation.num_layers}, "
            f"num_item_layers={self.num_item_layers}, "
            f"reg_weight={self.reg_weight}, freeze_features={self.freeze_features})"
        )
