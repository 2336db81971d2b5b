"""SMORE assembled from :class:`~mde_pyg.nn.SpectralFusion`,
:class:`~mde_pyg.nn.UserItemPropagation` and
:class:`~mde_pyg.nn.BipartiteLGConv`."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.data import HeteroData
from torch_geometric.transforms import BaseTransform, Compose
from torch_geometric.typing import EdgeType

from mde_pyg.data.hetero import INTERACTS, MAX_SIM, REV_INTERACTS, TEXT, item_sim
from mde_pyg.data.transforms import (
    AddMaxPooledItemGraph,
    AddModalityGraphs,
    AddUserItemAdjacency,
)
from mde_pyg.models.base import (
    BPRBatch,
    MultiModalRecommender,
    bpr_loss,
    check_positive,
)
from mde_pyg.models.losses import embedding_l2, info_nce
from mde_pyg.nn import BipartiteLGConv, SpectralFusion, UserItemPropagation, graphs_of


class SMORE(MultiModalRecommender):
    r"""SMORE from the `"Spectrum-based Modality Representation Fusion Graph
    Convolutional Network for Multimodal Recommendation"
    <https://arxiv.org/abs/2412.14978>`_ paper (Ong & Khong, WSDM 2025), as
    its published code (MMRec's ``SMORE``).

    Behaviour view: LightGCN on :math:`\hat{\mathbf{A}} =
    \mathbf{D}^{-1/2}\mathbf{A}\mathbf{D}^{-1/2}` with the free ID
    embeddings :math:`\mathbf{E}^{(0)}` of users and items. Spectral
    modality fusion (:class:`~mde_pyg.nn.SpectralFusion`) of each
    modality's raw features :math:`\mathbf{x}^m_i` (fine-tuned) projected to
    :math:`d`, giving the filtered modalities
    :math:`\tilde{\mathbf{x}}^1, \dots, \tilde{\mathbf{x}}^M` and their
    fusion :math:`\tilde{\mathbf{x}}^f`:

    .. math::
        \mathbf{e} = \frac{1}{L+1} \sum_{l=0}^{L} \hat{\mathbf{A}}^l
        \mathbf{E}^{(0)}, \qquad
        (\tilde{\mathbf{x}}^1, \dots, \tilde{\mathbf{x}}^M,
        \tilde{\mathbf{x}}^f) = \text{SpectralFusion}(\mathbf{W}_1
        \mathbf{x}^1 + \mathbf{b}_1, \dots, \mathbf{W}_M \mathbf{x}^M +
        \mathbf{b}_M).

    Item-item views, for every view :math:`k \in \{1, \dots, M, f\}`: the
    item ID embeddings gated by the view, :math:`L_i` layers on the frozen
    item graph :math:`\mathbf{S}^k` (the symmetrically normalised,
    similarity-weighted cosine top-:math:`k` graph of the raw features of
    modality :math:`k`, and for the fusion view :math:`\mathbf{S}^f`, their
    element-wise maximum, :class:`~mde_pyg.data.AddMaxPooledItemGraph`),
    lifted to users with the user-item block :math:`\hat{\mathbf{R}}` of
    :math:`\hat{\mathbf{A}}`:

    .. math::
        \mathbf{h}^k_i = \mathbf{E}^{(0)}_i \odot \sigma(\mathbf{W}^k_g
        \tilde{\mathbf{x}}^k_i + \mathbf{b}^k_g), \qquad
        \mathbf{z}^k_{\mathcal{I}} = (\mathbf{S}^k)^{L_i}
        \mathbf{h}^k_{\mathcal{I}}, \qquad
        \mathbf{z}^k_{\mathcal{U}} = \hat{\mathbf{R}} \,
        \mathbf{z}^k_{\mathcal{I}}.

    Modality-aware preference, for every user and item :math:`n`: an
    attention over the channels from the fusion view for every modality,
    preference gates from the behaviour view (dropout :math:`p` on them in
    training), and the mean of the :math:`M + 1` gated views:

    .. math::
        \mathbf{a}^m_n &= \operatorname{softmax}\big(\mathbf{W}^m_2
        \tanh(\mathbf{W}^m_1 \mathbf{z}^f_n + \mathbf{b}^m_1)\big), \qquad
        \mathbf{g}^k_n = \mathrm{dropout}_p\big(\sigma(\mathbf{W}^k_p
        \mathbf{e}_n + \mathbf{b}^k_p)\big),

        \mathbf{s}_n &= \frac{1}{M + 1} \Big( \sum_{m=1}^{M}
        \mathbf{g}^m_n \odot \mathbf{a}^m_n \odot \mathbf{z}^m_n +
        \mathbf{g}^f_n \odot \mathbf{z}^f_n \Big), \qquad
        \hat{y}_{ui} = (\mathbf{e}_u + \mathbf{s}_u)^{\top}
        (\mathbf{e}_i + \mathbf{s}_i),

    the softmax taken over the :math:`d` channels. Loss on a batch :math:`B`
    of (user, positive, negative) triples, with :math:`\mathbf{o} =
    \mathbf{e} + \mathbf{s}`, as MGCN's:

    .. math::
        \mathcal{L} = \mathcal{L}_{BPR}(\mathbf{o}) + \lambda_r
        \frac{\|\mathbf{o}_{U_B}\|_F^2 + \|\mathbf{o}_{I^+_B}\|_F^2 +
        \|\mathbf{o}_{I^-_B}\|_F^2}{2|B|} + \lambda_c \Big(
        \text{InfoNCE}_\tau(\mathbf{s}_{I^+_B}, \mathbf{e}_{I^+_B}) +
        \text{InfoNCE}_\tau(\mathbf{s}_{U_B}, \mathbf{e}_{U_B})\Big)

    with the in-batch cosine InfoNCE of
    :func:`~mde_pyg.models.losses.info_nce` (duplicates in the batch kept,
    as the reference). The graphs are precomputed onto the data by
    :meth:`graph_transform`. Train with the reference's learning-rate
    schedule :math:`0.96^{\,\text{epoch}/50}` (the ``trainer:`` block of
    ``conf/model/smore.yaml``).

    Modalities: the published code fuses exactly two, image and text. Any
    number :math:`M \ge 1` is accepted: the fusion is the product of all
    :math:`M` spectra, :math:`\mathbf{S}^f` the maximum over all :math:`M`
    graphs, with one attention per modality and :math:`M + 1` preference
    gates. With a single modality (e.g. text-only data) this is a variant,
    not the published model: the "fusion" is the modality under a second
    spectral filter on the modality's own graph (the maximum over one
    graph), so the two views differ only in their filters and gates and no
    cross-modal signal exists. The neighbours per item are set per modality
    by :meth:`graph_transform` (``image_k`` for every modality but
    ``"text"``, which takes the place of the reference's image features,
    e.g. ml100k's ``meta``; ``text_k`` for ``"text"``).

    Differences from the reference code, none of which changes the model:
    the regulariser divides by the actual batch size (the reference by the
    configured one, which differs on the last, smaller batch of an epoch);
    an item is always its own neighbour in :math:`\mathbf{S}^m`; in
    training, the node-wise preference module runs on the batch's distinct
    users and items only (the reference runs it on every node; per node the
    result, and the distribution of its dropout, are the same). The
    reference's ``lambda_coeff`` is read by nothing and not an argument; its
    ``temperature`` is :math:`\tau`, which its code fixes at :math:`0.2`.

    Initialisation as the published code: ID embeddings xavier-uniform, the
    real and imaginary parts of the spectral filters standard normal, every
    linear layer PyTorch's default.

    Args:
        num_users (int): Number of users.
        num_items (int): Number of items.
        features (dict): ``{modality: [num_items, d_m] tensor}`` raw item
            features (one or more modalities; two as published).
        embedding_dim (int, optional): Embedding size :math:`d`.
            (default: :obj:`64`)
        num_layers (int, optional): LightGCN layers :math:`L` of the
            behaviour view (the reference's ``n_ui_layers``); published grid
            ``{3, 4}``. (default: :obj:`3`)
        num_item_layers (int, optional): Layers :math:`L_i` on the item
            graphs (the reference's ``n_layers``). (default: :obj:`1`)
        lambda_align (float, optional): :math:`\lambda_c`, the weight of the
            content-behaviour InfoNCE (the reference's ``cl_loss``).
            (default: :obj:`1e-2`)
        reg_weight (float, optional): :math:`\lambda_r`; published grid
            ``{1e-5, 1e-4}``. (default: :obj:`1e-4`)
        dropout (float, optional): :math:`p`, the dropout of the preference
            gates (the reference's ``dropout_rate``); published grid
            ``{0, 0.1}``. (default: :obj:`0.0`)
        tau (float, optional): InfoNCE temperature :math:`\tau`.
            (default: :obj:`0.2`)
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
        num_layers: int = 3,
        num_item_layers: int = 1,
        lambda_align: float = 1e-2,
        reg_weight: float = 1e-4,
        dropout: float = 0.0,
        tau: float = 0.2,
        freeze_features: bool = False,
    ) -> None:
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"'dropout' must be in [0, 1) (got {dropout})")
        if num_item_layers < 0:
            raise ValueError(f"'num_item_layers' must be >= 0 (got {num_item_layers})")
        check_positive("tau", tau)
        super().__init__(num_users, num_items, features, embedding_dim, freeze_features)
        num_views = len(self.modalities) + 1
        self.num_item_layers = num_item_layers
        self.lambda_align = lambda_align
        self.reg_weight = reg_weight
        self.dropout = dropout
        self.tau = tau
        self.propagation = UserItemPropagation(INTERACTS, REV_INTERACTS, num_layers)
        self.conv = BipartiteLGConv()
        self.projections = torch.nn.ModuleDict(
            {m: torch.nn.Linear(x.size(1), embedding_dim) for m, x in features.items()}
        )
        self.spectral = SpectralFusion(embedding_dim, len(self.modalities))
        # One gate per view: the modalities in order, then the fusion.
        self.view_gates = torch.nn.ModuleList(
            torch.nn.Linear(embedding_dim, embedding_dim) for _ in range(num_views)
        )
        self.queries = torch.nn.ModuleDict(
            {
                m: torch.nn.Sequential(
                    torch.nn.Linear(embedding_dim, embedding_dim),
                    torch.nn.Tanh(),
                    torch.nn.Linear(embedding_dim, embedding_dim, bias=False),
                )
                for m in self.modalities
            }
        )
        # The M + 1 preference gates read the same input: one [d, (M + 1) d]
        # product, initialised as M + 1 separate Linear(d, d) (same fan-in).
        self.preference = torch.nn.Linear(embedding_dim, num_views * embedding_dim)
        self.item_edge_types = [item_sim(m) for m in self.modalities] + [MAX_SIM]
        self.reset_parameters()

    @classmethod
    def graph_transform(
        cls,
        image_k: int = 10,
        text_k: int = 10,
        cache_dir: str | Path | None = None,
        chunk_size: int = 1024,
        skip_missing: bool = True,
    ) -> BaseTransform:
        """SMORE's graphs: the symmetrically normalised user-item graph, the
        similarity-weighted, symmetrically normalised cosine top-:math:`k`
        item graph of every modality and their element-wise maximum
        (:class:`~mde_pyg.data.AddMaxPooledItemGraph`), all frozen.

        Args:
            image_k (int, optional): Neighbours per item (itself included) in
                the graph of every modality but ``"text"`` (the reference's
                ``image_knn_k``; published grid ``{10, 15, 20, 40}``).
                (default: :obj:`10`)
            text_k (int, optional): Neighbours per item in the ``"text"``
                graph (the reference's ``text_knn_k``; published grid
                ``{10, 15, 20, 40}``). (default: :obj:`10`)
            cache_dir (str, optional): Folder caching the item graphs by
                feature content; no cache if :obj:`None`.
                (default: :obj:`None`)
            chunk_size (int, optional): Rows per chunk of the similarity
                computations. (default: :obj:`1024`)
            skip_missing (bool, optional): Link no item through a missing
                feature row (it keeps only itself); :obj:`False` searches the
                rows the dataset filled in as if they were real.
                (default: :obj:`True`)
        """
        for name, k in (("image_k", image_k), ("text_k", text_k)):
            if k < 1:
                raise ValueError(f"'{name}' must be >= 1 (got {k})")
        return Compose(
            [
                AddUserItemAdjacency(),
                AddModalityGraphs(
                    k=image_k,
                    modality_k={TEXT: text_k},
                    user_graph=False,
                    chunk_size=chunk_size,
                    cache_dir=cache_dir,
                    skip_missing=skip_missing,
                ),
                AddMaxPooledItemGraph(),
            ]
        )

    def reset_parameters(self) -> None:
        """Re-initialises every weight. The raw features are data and keep
        their current (possibly fine-tuned) values."""
        torch.nn.init.xavier_uniform_(self.user_embedding.weight)
        torch.nn.init.xavier_uniform_(self.item_embedding.weight)
        for module in self.modules():
            if isinstance(module, torch.nn.Linear):
                module.reset_parameters()
        self.spectral.reset_parameters()

    @property
    def edge_types(self) -> list[EdgeType]:
        """The relations the model reads."""
        return self.propagation.edge_types + self.item_edge_types

    def encode(self, data: HeteroData, item_embedding: Tensor | None = None) -> Tensor:
        r"""The graph part of the model: ``[U + I, M + 2, d]``, every node's
        (users first) behaviour embedding :math:`\mathbf{e}_n` and its views
        :math:`\mathbf{z}^1_n, \dots, \mathbf{z}^M_n, \mathbf{z}^f_n`, from the
        layer-0 ID embeddings (``item_embedding`` in place of the items' if
        given)."""
        if item_embedding is None:
            item_embedding = self.item_embedding.weight
        user_embedding = self.user_embedding.weight
        graphs = graphs_of(data, self.edge_types)
        user, item = self.propagation(user_embedding, item_embedding, graphs)
        projected = torch.stack(
            [self.projections[m](self.feature(m)) for m in self.modalities]
        )
        views = []
        for gate, x, edge_type in zip(
            self.view_gates, self.spectral(projected), self.item_edge_types
        ):
            z = item_embedding * gate(x).sigmoid()
            for _ in range(self.num_item_layers):
                z = self.conv.forward_graph(z, graphs[edge_type])
            views.append(z)
        item_views = torch.cat(views, dim=1)
        # All views share R_hat: one product over [|I|, (M + 1) d].
        user_views = self.conv.forward_graph(
            (item_views, user_embedding), graphs[REV_INTERACTS]
        )
        rows = torch.cat(
            [torch.cat([user, user_views], dim=1), torch.cat([item, item_views], dim=1)]
        )
        return rows.view(rows.size(0), -1, self.embedding_dim)

    def fuse(self, rows: Tensor) -> tuple[Tensor, Tensor]:
        r"""The modality-aware preference module on rows of :meth:`encode`
        (``[n, M + 2, d]``): returns the behaviour embeddings
        :math:`\mathbf{e}` and the side embeddings :math:`\mathbf{s}`, each
        ``[n, d]``."""
        behaviour, views = rows[:, 0], rows[:, 1:]
        fusion = views[:, -1]
        attention = torch.stack(
            [self.queries[m](fusion) for m in self.modalities], dim=1
        ).softmax(dim=-1)
        parts = torch.cat([attention * views[:, :-1], views[:, -1:]], dim=1)
        preference = self.preference(behaviour).view_as(parts).sigmoid()
        preference = F.dropout(preference, self.dropout, self.training)
        return behaviour, (preference * parts).mean(dim=1)

    def forward(self, data: HeteroData) -> tuple[Tensor, Tensor]:
        behaviour, side = self.fuse(self.encode(data))
        return (behaviour + side).split([self.num_users, self.num_items])

    def loss(self, data: HeteroData, batch: BPRBatch) -> Tensor:
        size, d = batch.user.numel(), self.embedding_dim
        offset = self.num_users
        index = torch.cat([batch.user, batch.pos + offset, batch.neg + offset])
        # The preference module is node-wise: it runs once on each distinct
        # node of the batch. Rows are gathered by embedding lookups, whose
        # backward pass is one deterministic kernel sequence.
        nodes, inverse = index.unique(return_inverse=True)
        rows = F.embedding(nodes, self.encode(data).flatten(1))
        behaviour, side = self.fuse(rows.view(nodes.numel(), -1, d))
        # Back to the batch's rows: users, positives, negatives.
        batch_rows = F.embedding(inverse, torch.cat([behaviour, side], dim=1))
        behaviour, side = batch_rows[:, :d], batch_rows[:, d:]
        e_user, e_pos, e_neg = (behaviour + side).split(size)
        loss = bpr_loss((e_user * e_pos).sum(-1), (e_user * e_neg).sum(-1))
        loss = loss + self.reg_weight * embedding_l2(e_user, e_pos, e_neg)
        if self.lambda_align != 0.0:
            # Users and positives as one [2, B] batch of in-batch problems,
            # the mean over the two rescaled to their sum.
            sets = (2, size)
            align = 2 * info_nce(
                side[: 2 * size].view(*sets, d),
                behaviour[: 2 * size].view(*sets, d),
                self.tau,
            )
            loss = loss + self.lambda_align * align
        return loss

    @torch.no_grad()
    def cold_item_embeddings(self, data: HeteroData, items: Tensor) -> Tensor:
        r"""Embeddings of cold items (features, no training interaction)
        from SMORE's content path: the forward pass with the layer-0 ID
        embeddings of :obj:`items` and of every item without a training
        interaction set to zero, returning :math:`\mathbf{e}_i +
        \mathbf{s}_i` of :obj:`items`, as MGCN's and MDE's.

        For an item without training interactions the behaviour
        :math:`\mathbf{e}_i` is :math:`\mathbf{0}`, and its views
        :math:`\mathbf{z}^k_i` are the gated ID embeddings of its warm
        neighbours in the item graphs of ``data`` (its own term vanishes),
        each neighbour's gated by the neighbour's filtered features: the
        item's own features enter through which neighbours it has and their
        weights, in every modality's graph and in the fused graph. The
        preference module then weighs the views as for a node with no
        behaviour signal. For an item that has training interactions the
        result is its embedding with its own ID embedding unknown.

        The arguments (``data`` with its graphs) and the ``[C, d]`` result
        are those of :meth:`~mde_pyg.models.Recommender.cold_item_embeddings`.
        """
        items, _, x_item = self._cold_id_embeddings(data, items)
        rows = self.encode(data, item_embedding=x_item)[self.num_users + items]
        behaviour, side = self.fuse(rows)
        return behaviour + side

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(num_users={self.num_users}, "
            f"num_items={self.num_items}, modalities={self.modalities}, "
            f"embedding_dim={self.embedding_dim}, "
            f"num_layers={self.propagation.num_layers}, "
            f"num_item_layers={self.num_item_layers}, "
            f"lambda_align={self.lambda_align}, reg_weight={self.reg_weight}, "
            f"dropout={self.dropout}, tau={self.tau}, "
            f"freeze_features={self.freeze_features})"
        )
