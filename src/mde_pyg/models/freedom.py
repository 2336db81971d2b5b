"""FREEDOM assembled from :class:`~mde_pyg.nn.UserItemPropagation` and
:class:`~mde_pyg.nn.BipartiteLGConv`."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from pathlib import Path

import torch
from torch import Tensor
from torch_geometric.data import HeteroData
from torch_geometric.transforms import BaseTransform, Compose

from mde_pyg.data.graphs import degree_sensitive_pruning, to_adj
from mde_pyg.data.hetero import (
    INTERACTS,
    MM_SIM,
    REV_INTERACTS,
    TEXT,
)
from mde_pyg.data.transforms import AddMixedItemGraph, AddUserItemAdjacency
from mde_pyg.deprecation import renamed_arguments, renamed_attribute
from mde_pyg.models.base import BPRBatch, MultiModalRecommender, bpr_loss
from mde_pyg.nn import BipartiteLGConv, Graph, UserItemPropagation, graphs_of


def freedom_modality_weights(
    modalities: list[str], mm_image_weight: float = 0.1
) -> dict[str, float]:
    r"""FREEDOM's weights :math:`w_m` of the modality graphs in the mixed
    item graph, for any modalities.

    The reference mixes its two modalities as :math:`0.1\,\mathbf{S}_v +
    0.9\,\mathbf{S}_t` (``mm_image_weight`` for the image graph, the rest for
    the text graph). For other modality sets: a single modality weighs
    :math:`1` (the reference's single-modality path); with a ``"text"``
    modality and others, ``"text"`` weighs ``1 - mm_image_weight`` and the
    other modalities share ``mm_image_weight`` equally (so ``{meta, text}``,
    metadata features given to the reference as its image features, gets the
    reference's 0.1 / 0.9); without ``"text"``, all weigh :math:`1/M`.

    Args:
        modalities (list): The modality names.
        mm_image_weight (float, optional): The weight of the non-text
            modalities together. (default: :obj:`0.1`)
    """
    if not 0.0 <= mm_image_weight <= 1.0:
        raise ValueError(f"'mm_image_weight' must be in [0, 1] (got {mm_image_weight})")
    if len(modalities) == 1:
        return {modalities[0]: 1.0}
    if TEXT not in modalities:
        return {m: 1.0 / len(modalities) for m in modalities}
    share = mm_image_weight / (len(modalities) - 1)
    return {m: 1.0 - mm_image_weight if m == TEXT else share for m in modalities}


class FREEDOM(MultiModalRecommender):
    r"""FREEDOM from the `"A Tale of Two Graphs: Freezing and Denoising Graph
    Structures for Multimodal Recommendation"
    <https://arxiv.org/abs/2211.06924>`_ paper (Zhou and Shen, ACM MM 2023),
    as in its published code (MMRec's ``FREEDOM``).

    Frozen item-item graph (precomputed once onto the data by
    :meth:`graph_transform`, see
    :class:`~mde_pyg.data.transforms.AddMixedItemGraph`): for every modality
    :math:`m` the *binary* cosine top-:math:`k` graph :math:`\mathbf{A}_m`
    of the raw features :math:`\mathbf{X}_m` (each item keeps its :math:`k`
    most similar items, itself included), symmetrically normalised, mixed
    with the weights :math:`w_m` of :func:`freedom_modality_weights`
    (image :math:`0.1`, text :math:`0.9`):

    .. math::
        \mathbf{S} = \sum_m w_m \mathbf{D}_m^{-1/2} \mathbf{A}_m
        \mathbf{D}_m^{-1/2}, \qquad
        \mathbf{H} = \mathbf{S}^{n} \mathbf{E}^{(0)}_{\mathcal{I}}.

    User-item view: LightGCN on a graph :math:`\hat{\mathbf{A}}` of the
    training interactions, mean over layers :math:`0..L`, plus the item-graph
    view:

    .. math::
        \mathbf{E} = \frac{1}{L+1} \sum_{l=0}^{L} \hat{\mathbf{A}}^l
        \mathbf{E}^{(0)}, \qquad
        \mathbf{e}_u = \mathbf{E}_u, \qquad
        \mathbf{e}_i = \mathbf{E}_i + \mathbf{h}_i, \qquad
        \hat{y}_{ui} = \mathbf{e}_u^{\top} \mathbf{e}_i.

    Evaluation (:meth:`forward`, :meth:`embeddings`) uses the full graph
    :math:`\hat{\mathbf{A}} = \mathbf{D}^{-1/2}\mathbf{A}\mathbf{D}^{-1/2}`;
    training uses the degree-sensitively pruned graph
    :math:`\tilde{\mathbf{A}}`, re-sampled at every :meth:`on_epoch_start`
    (see :func:`~mde_pyg.data.graphs.degree_sensitive_pruning`): of the
    training edges, :math:`\lfloor (1-\rho)|\mathcal{E}| \rfloor` are drawn
    without replacement with probability
    :math:`\propto 1/\sqrt{\deg(u)\deg(i)}` and symmetrically normalised with
    their degrees in the pruned graph. Loss on a batch :math:`B` of (user,
    positive, negative) triples, the modality terms scoring the projected
    raw features :math:`\mathbf{X}_m \mathbf{W}_m + \mathbf{b}_m` against the
    users' (trained-graph) embeddings:

    .. math::
        \mathcal{L} = \mathcal{L}_{BPR}(\mathbf{e}_{U_B}, \mathbf{e}_{I^+_B},
        \mathbf{e}_{I^-_B}) + \lambda \sum_m \mathcal{L}_{BPR}\big(
        \mathbf{e}_{U_B}, (\mathbf{X}_m\mathbf{W}_m + \mathbf{b}_m)_{I^+_B},
        (\mathbf{X}_m\mathbf{W}_m + \mathbf{b}_m)_{I^-_B}\big)

    The raw features are fine-tuned (by the modality terms only); the frozen
    graph stays that of the initial features. No modality features enter the
    scored embeddings.

    The pruning draws from a :class:`torch.Generator` on the graph's device
    seeded from the global (CPU) random stream, so a seeded run
    (:func:`~mde_pyg.training.seed_everything`) is reproducible on any
    device. With ``dropout=0`` the full graph is trained on, as the reference.

    Differences from the reference code, none of which changes the model:
    an item is always its own neighbour in the :math:`k`-NN graphs (the
    reference's top-:math:`k` may drop it if duplicated features tie with
    it); the normalisations omit the reference's :math:`10^{-7}` added to
    every degree; at least one edge is kept; any number of modalities (the
    reference has image and/or text); the projections map to
    ``embedding_dim`` (the reference's ``feat_embed_dim``, which must equal
    it for the modality BPR terms).

    Args:
        num_users (int): Number of users.
        num_items (int): Number of items.
        features (dict): ``{modality: [num_items, d_m] tensor}`` raw item
            features (one or more modalities).
        embedding_dim (int, optional): Embedding size :math:`d` (also of the
            feature projections). (default: :obj:`64`)
        num_layers (int, optional): LightGCN layers :math:`L` on the
            user-item graph (the reference's ``n_ui_layers``).
            (default: :obj:`2`)
        num_item_layers (int, optional): Propagation steps :math:`n` on the
            item-item graph (``n_mm_layers``). (default: :obj:`1`)
        dropout (float, optional): :math:`\rho`, the fraction of user-item
            edges pruned every epoch; published grid ``{0.8, 0.9}``.
            (default: :obj:`0.8`)
        lambda_modality_bpr (float, optional): :math:`\lambda`, the weight
            of the modality BPR terms (the reference's and formerly this
            argument's ``reg_weight``, a deprecated alias: it is no L2 weight
            here); published grid ``{0, 1e-5, 1e-4, 1e-3}``.
            (default: :obj:`1e-4`)
        freeze_features (bool, optional): Keep the raw features fixed instead
            of fine-tuning them as the reference does (a deviation; saves
            their gradients and optimiser state). (default: :obj:`False`)

    Shapes:
        - **input:** ``data`` with the graphs of :meth:`graph_transform` and
          ``features`` :math:`\{m: (|\mathcal{I}|, d_m)\}`
        - **output:** :meth:`forward` returns user embeddings
          :math:`(|\mathcal{U}|, d)` and item embeddings
          :math:`(|\mathcal{I}|, d)`; :meth:`loss` a scalar
    """

    reg_weight = renamed_attribute("reg_weight", "lambda_modality_bpr")

    @renamed_arguments(reg_weight="lambda_modality_bpr")
    def __init__(
        self,
        num_users: int,
        num_items: int,
        features: dict[str, Tensor],
        embedding_dim: int = 64,
        num_layers: int = 2,
        num_item_layers: int = 1,
        dropout: float = 0.8,
        lambda_modality_bpr: float = 1e-4,
        freeze_features: bool = False,
    ) -> None:
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"'dropout' must be in [0, 1) (got {dropout})")
        if num_item_layers < 0:
            raise ValueError(f"'num_item_layers' must be >= 0 (got {num_item_layers})")
        super().__init__(num_users, num_items, features, embedding_dim, freeze_features)
        self.num_item_layers = num_item_layers
        self.dropout = dropout
        self.lambda_modality_bpr = lambda_modality_bpr
        self.item_edge_type = MM_SIM

        self.projections = torch.nn.ModuleDict(
            {m: torch.nn.Linear(x.size(1), embedding_dim) for m, x in features.items()}
        )
        self.conv = BipartiteLGConv()
        self.propagation = UserItemPropagation(INTERACTS, REV_INTERACTS, num_layers)
        # The pruned graph of this epoch and the data it was drawn from
        # (derived state, not in the state dict).
        self._pruned_edge_index: Tensor | None = None
        self._pruned_graphs: dict | None = None
        self._pruned_data: HeteroData | None = None
        self.reset_parameters()

    @classmethod
    def graph_transform(
        cls,
        k: int = 10,
        mm_image_weight: float = 0.1,
        modality_weights: Mapping[str, float] | None = None,
        cache_dir: str | Path | None = None,
        chunk_size: int = 1024,
        skip_missing: bool = True,
    ) -> BaseTransform:
        """FREEDOM's graphs: the symmetrically normalised user-item graph and
        the frozen item graph mixed from every modality's binary top-``k``
        graph (:class:`~mde_pyg.data.transforms.AddMixedItemGraph`, stored as
        ``('item', 'mm_sim', 'item')``).

        Args:
            k (int, optional): Neighbours per item (itself included) in every
                modality's graph (the reference's ``knn_k``).
                (default: :obj:`10`)
            mm_image_weight (float, optional): The image graph's weight in the
                mix; text gets the rest (see :func:`freedom_modality_weights`
                for other modalities). (default: :obj:`0.1`)
            modality_weights (dict, optional): Explicit ``{modality: weight}``
                for every modality, replacing the rule of
                ``mm_image_weight``. (default: :obj:`None`)
            cache_dir (str, optional): Folder caching the per-modality graphs
                by feature content; no cache if :obj:`None`.
                (default: :obj:`None`)
            chunk_size (int, optional): Rows per chunk of the similarity
                computations. (default: :obj:`1024`)
            skip_missing (bool, optional): Link no item through a missing
                feature row (it keeps only itself); :obj:`False` searches the
                rows the dataset filled in as if they were real.
                (default: :obj:`True`)
        """
        weights = (
            dict(modality_weights)
            if modality_weights is not None
            else partial(freedom_modality_weights, mm_image_weight=mm_image_weight)
        )
        return Compose(
            [
                AddUserItemAdjacency(),
                AddMixedItemGraph(
                    k=k,
                    weights=weights,
                    weighted=False,
                    chunk_size=chunk_size,
                    cache_dir=cache_dir,
                    skip_missing=skip_missing,
                ),
            ]
        )

    def reset_parameters(self) -> None:
        """Re-initialises the ID embeddings (xavier-uniform) and the
        projections. The raw features are data and keep their current
        (possibly fine-tuned) values."""
        torch.nn.init.xavier_uniform_(self.user_embedding.weight)
        torch.nn.init.xavier_uniform_(self.item_embedding.weight)
        for projection in self.projections.values():
            projection.reset_parameters()

    # --------------------------------------------------------- the pruning
    def resample_graph(self, data: HeteroData) -> None:
        """Draws this epoch's pruned user-item graph from the training pairs
        of ``data`` (the full graph if ``dropout`` is 0)."""
        self._pruned_data = data
        if self.dropout <= 0.0:
            self._pruned_edge_index = data[INTERACTS].edge_index
            self._pruned_graphs = None
            return
        edge_index = data[INTERACTS].edge_index
        # One draw of the global stream seeds the epoch's own generator on
        # the graph's device.
        seed = int(torch.randint(2**62, (1,), device="cpu").item())
        generator = torch.Generator(device=edge_index.device).manual_seed(seed)
        kept, weight = degree_sensitive_pruning(
            edge_index, self.num_users, self.num_items, self.dropout, generator
        )
        size = (self.num_users, self.num_items)
        to_item = Graph(
            to_adj(kept, weight, size), None, to_adj(kept.flip(0), weight, size[::-1])
        )
        to_user = Graph(to_item.adj, None, to_item.adj_t)
        self._pruned_edge_index = kept
        self._pruned_graphs = {INTERACTS: to_item, REV_INTERACTS: to_user}

    @property
    def pruned_edge_index(self) -> Tensor | None:
        """The ``[2, E']`` (user, item) pairs of the current pruned graph."""
        return self._pruned_edge_index

    def on_epoch_start(self, data: HeteroData, epoch: int) -> None:
        self.resample_graph(data)

    def _training_graphs(self, data: HeteroData) -> dict:
        if self._pruned_data is not data:
            self.resample_graph(data)
        if self._pruned_graphs is None:
            return graphs_of(data, self.propagation.edge_types)
        return self._pruned_graphs

    # ------------------------------------------------------------ the model
    def propagate(
        self,
        data: HeteroData,
        graphs: dict | None = None,
        item_embedding: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """The user and item embeddings with the user-item ``graphs``
        (``{edge_type: Graph}`` of both relations; the full graph of ``data``
        if :obj:`None`) and the item graph of ``data``, from the layer-0 ID
        embeddings (``item_embedding`` in place of the items' if given)."""
        if graphs is None:
            graphs = graphs_of(data, self.propagation.edge_types)
        if item_embedding is None:
            item_embedding = self.item_embedding.weight
        item_graph = graphs_of(data, [self.item_edge_type])[self.item_edge_type]
        h = item_embedding
        for _ in range(self.num_item_layers):
            h = self.conv.forward_graph(h, item_graph)
        user_emb, item_emb = self.propagation(
            self.user_embedding.weight, item_embedding, graphs
        )
        return user_emb, item_emb + h

    @torch.no_grad()
    def cold_item_embeddings(self, data: HeteroData, items: Tensor) -> Tensor:
        r"""Embeddings of cold items (features, no training interaction)
        from FREEDOM's content path, its frozen item-item graph
        :math:`\mathbf{S}` built on the features: :meth:`forward` with the
        layer-0 ID embeddings of :obj:`items` and of every item without a
        training interaction (:meth:`cold_items`) set to zero (never trained
        on a positive pair, they are noise), rows :obj:`items`.

        An item without training interactions has no user-item edge, so its
        LightGCN part is zero and its embedding is :math:`\mathbf{h}_i =
        (\mathbf{S}^{n} \mathbf{E}^{(0)})_i`: with :math:`n = 1`, the ID
        embeddings of the warm items its features resemble, weighted as in
        :math:`\mathbf{S}` (zero if all its neighbours are cold too). The
        modality projections of the auxiliary BPR terms are not used: they
        are not part of FREEDOM's item representation.

        Args:
            data (HeteroData): The data the model reads (with its graphs).
            items (torch.Tensor): ``[C]`` item ids.

        Returns:
            torch.Tensor: ``[C, d]`` item embeddings.
        """
        items, _, x_item = self._cold_id_embeddings(data, items)
        return self.propagate(data, item_embedding=x_item)[1][items]

    def forward(self, data: HeteroData) -> tuple[Tensor, Tensor]:
        return self.propagate(data)

    def loss(self, data: HeteroData, batch: BPRBatch) -> Tensor:
        user_emb, item_emb = self.propagate(data, self._training_graphs(data))
        u = user_emb[batch.user]
        loss = bpr_loss(
            (u * item_emb[batch.pos]).sum(-1), (u * item_emb[batch.neg]).sum(-1)
        )
        if self.lambda_modality_bpr == 0.0:
            return loss
        modal = 0.0
        for modality in self.modalities:
            x = self.feature(modality)
            projection = self.projections[modality]
            pos, neg = projection(x[batch.pos]), projection(x[batch.neg])
            modal = modal + bpr_loss((u * pos).sum(-1), (u * neg).sum(-1))
        return loss + self.lambda_modality_bpr * modal

    def _apply(self, fn, recurse: bool = True):
        # A cached pruned graph would stay on the old device / dtype.
        self._pruned_edge_index = self._pruned_graphs = self._pruned_data = None
        return super()._apply(fn, recurse)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(num_users={self.num_users}, "
            f"num_items={self.num_items}, modalities={self.modalities}, "
            f"embedding_dim={self.embedding_dim}, "
            f"num_layers={self.propagation.num_layers}, "
            f"num_item_layers={self.num_item_layers}, dropout={self.dropout}, "
            f"lambda_modality_bpr={self.lambda_modality_bpr}, "
            f"freeze_features={self.freeze_features})"
        )
