"""LATTICE with sparse, chunk-built item-item graphs."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.data import HeteroData
from torch_geometric.nn.conv.gcn_conv import gcn_norm
from torch_geometric.transforms import BaseTransform, Compose

from mde_pyg.data.graphs import knn_graph, to_adj
from mde_pyg.data.hetero import (
    INTERACTS_MEAN,
    REV_INTERACTS_MEAN,
    item_sim,
)
from mde_pyg.data.transforms import (
    AddModalityGraphs,
    AddUserItemAdjacency,
    graph_masks,
)
from mde_pyg.models.base import BPRBatch, MultiModalRecommender, bpr_loss
from mde_pyg.models.losses import embedding_l2
from mde_pyg.nn import BipartiteLGConv, UserItemPropagation, graphs_of

# Chunks of the learned graph's edges in the differentiable item propagation.
_EDGE_CHUNKS = 8


class LATTICE(MultiModalRecommender):
    r"""LATTICE from the `"Mining Latent Structures for Multimedia
    Recommendation" <https://arxiv.org/abs/2104.09036>`_ paper (Zhang et al.,
    ACM MM 2021), as in its published code and the MMRec comparisons, with
    every item-item graph kept sparse (:math:`O(|\mathcal{I}| k)` memory,
    similarities computed in item chunks) instead of the reference's dense
    :math:`|\mathcal{I}| \times |\mathcal{I}|` matrices.

    For every modality :math:`m` with raw features :math:`\mathbf{X}_m`, the
    frozen graph :math:`\hat{\mathbf{S}}_m` is the cosine top-:math:`k` graph
    of :math:`\mathbf{X}_m` (each item keeps its :math:`k` most similar items,
    itself included, weighted by the similarity), symmetrically normalised; it
    is precomputed once onto the data by :meth:`graph_transform` (and cached
    on disk with ``cache_dir``), as is the user-item graph
    :math:`\mathbf{D}^{-1}(\mathbf{A}_{ui} + \mathbf{I})`. The learned graph
    :math:`\tilde{\mathbf{S}}_m` is the same construction, unnormalised, on the
    projections :math:`\mathbf{X}_m \mathbf{W}_m + \mathbf{b}_m`. In both,
    an item whose row of :math:`\mathbf{X}_m` is missing (``x_<m>_mask`` of
    the data, see :func:`~mde_pyg.data.graphs.knn_graph`) keeps only itself:
    no item is linked through a filled-in row (unless ``skip_missing=False``
    here and in :meth:`graph_transform`). With the
    modality weights :math:`\boldsymbol{\alpha} = \mathrm{softmax}(
    \boldsymbol{\omega})`:

    .. math::
        \mathbf{S} = (1 - \lambda)\, \mathrm{sym}\Big(\sum_m \alpha_m
        \tilde{\mathbf{S}}_m\Big) + \lambda \sum_m \alpha_m
        \hat{\mathbf{S}}_m, \qquad
        \mathrm{sym}(\mathbf{A}) = \mathbf{D}^{-1/2}\mathbf{A}
        \mathbf{D}^{-1/2},\; \mathbf{D} = \mathrm{diag}(\mathbf{A}\mathbf{1})

        \mathbf{H} = \mathbf{S}^{n} \mathbf{E}^{(0)}_{\mathcal{I}}, \qquad
        \mathbf{E}^{(l+1)} = \mathbf{D}^{-1}(\mathbf{A}_{ui} + \mathbf{I})
        \mathbf{E}^{(l)}, \qquad
        \mathbf{E} = \frac{1}{L+1} \sum_{l=0}^{L} \mathbf{E}^{(l)}

        \mathbf{e}_u = \mathbf{E}_u, \qquad
        \mathbf{e}_i = \mathbf{E}_i + \frac{\mathbf{h}_i}{\|\mathbf{h}_i\|_2},
        \qquad \hat{y}_{ui} = \mathbf{e}_u^{\top} \mathbf{e}_i

    where :math:`\mathbf{A}_{ui}` is the bipartite user-item graph of the
    training interactions. Loss, on the final embeddings of a batch
    :math:`B` of (user, positive, negative) triples:

    .. math::
        \mathcal{L} = \mathcal{L}_{BPR} + \gamma \, \frac{1}{2|B|}
        \big(\|\mathbf{e}_{U_B}\|_F^2 + \|\mathbf{e}_{I^+_B}\|_F^2 +
        \|\mathbf{e}_{I^-_B}\|_F^2\big)

    As in the reference, :math:`\mathbf{S}` is recomputed from the current
    parameters once per epoch (:meth:`on_epoch_start`) and at every
    evaluation (:meth:`embeddings`); gradients flow through it (into the
    projections, the modality weights and the raw features) on the first
    batch after it was built, later batches use it detached. The raw
    features are fine-tuned by default; the frozen graphs stay those of the
    initial features. Train with the reference's learning-rate schedule
    :math:`0.96^{\,\text{epoch}/50}` (``trainer.lr_decay=0.96``,
    ``trainer.lr_decay_every=50``).

    Differences from the reference code, none of which changes the model:
    the graphs are sparse (mixed by concatenating edge lists, duplicates
    summed); :math:`\mathbf{S}` is built once per evaluation rather than once
    per evaluated user batch; the regulariser divides by the actual batch
    size (the reference divides by the configured one, which differs on the
    last, smaller batch of an epoch); an item is always its own neighbour
    (the reference's top-:math:`k` may drop it if duplicates tie with it);
    any number of modalities (the reference has image and text; with one
    modality :math:`\alpha = 1`, its single-modality path).

    Args:
        num_users (int): Number of users.
        num_items (int): Number of items.
        features (dict): ``{modality: [num_items, d_m] tensor}`` raw item
            features (one or more modalities).
        embedding_dim (int, optional): ID embedding size. (default: :obj:`64`)
        feat_embed_dim (int, optional): Size of the projections the learned
            graph is built on. (default: :obj:`64`)
        k (int, optional): Neighbours per item in the learned item-item
            graphs, itself included (the frozen graphs' ``k`` is the
            transform's). (default: :obj:`10`)
        lambda_coeff (float, optional): :math:`\lambda`, the weight of the
            frozen graphs. (default: :obj:`0.9`)
        num_item_layers (int, optional): :math:`n`, item-graph propagation
            steps. (default: :obj:`1`)
        num_layers (int, optional): :math:`L`, user-item propagation
            layers. (default: :obj:`2`)
        reg_weight (float, optional): :math:`\gamma`; the published grid is
            ``{0, 1e-5, 1e-4, 1e-3}``. (default: :obj:`1e-5`, the default of
            the original code)
        freeze_features (bool, optional): Keep the raw features fixed instead
            of fine-tuning them (a deviation; saves the features' gradients
            and optimiser state). (default: :obj:`False`)
        chunk_size (int, optional): Items per similarity chunk when building
            the :math:`k`-NN graphs; memory is
            :math:`O(\text{chunk\_size} \cdot |\mathcal{I}|)`.
            (default: :obj:`1024`)
        skip_missing (bool, optional): Link no item through a missing
            feature row in the learned graphs; :obj:`False` searches the rows
            the dataset filled in as if they were real (the frozen graphs'
            choice is the transform's). (default: :obj:`True`)

    Shapes:
        - **input:** ``data`` with the graphs of :meth:`graph_transform` and
          ``features`` :math:`\{m: (|\mathcal{I}|, d_m)\}`
        - **output:** :meth:`forward` returns user embeddings
          :math:`(|\mathcal{U}|, d)` and item embeddings
          :math:`(|\mathcal{I}|, d)`; :meth:`loss` a scalar
    """

    # The first batch after a graph rebuild trains the graph learner, the
    # others do not.
    varying_parameter_use = True

    def __init__(
        self,
        num_users: int,
        num_items: int,
        features: dict[str, Tensor],
        embedding_dim: int = 64,
        feat_embed_dim: int = 64,
        k: int = 10,
        lambda_coeff: float = 0.9,
        num_item_layers: int = 1,
        num_layers: int = 2,
        reg_weight: float = 1e-5,
        freeze_features: bool = False,
        chunk_size: int = 1024,
        skip_missing: bool = True,
    ) -> None:
        if not 0.0 <= lambda_coeff <= 1.0:
            raise ValueError(f"'lambda_coeff' must be in [0, 1] (got {lambda_coeff})")
        if num_item_layers < 0:
            raise ValueError(f"'num_item_layers' must be >= 0 (got {num_item_layers})")
        if k < 1:
            raise ValueError(f"'k' must be >= 1 (got {k})")
        super().__init__(num_users, num_items, features, embedding_dim, freeze_features)
        self.feat_embed_dim = feat_embed_dim
        self.k = k
        self.lambda_coeff = lambda_coeff
        self.num_item_layers = num_item_layers
        self.reg_weight = reg_weight
        self.chunk_size = chunk_size
        self.skip_missing = skip_missing

        self.projections = torch.nn.ModuleDict(
            {m: torch.nn.Linear(x.size(1), feat_embed_dim) for m, x in features.items()}
        )
        self.modality_weight = torch.nn.Parameter(torch.empty(len(features)))
        self.conv = BipartiteLGConv()
        self.propagation = UserItemPropagation(
            INTERACTS_MEAN, REV_INTERACTS_MEAN, num_layers
        )
        self.frozen_edge_types = [item_sim(m) for m in self.modalities]
        # The item graph of the current parameters and of the data it was
        # mixed with, rebuilt once per epoch, at every evaluation and for other
        # data (derived state, not in the state dict).
        self._item_graph: Tensor | tuple[Tensor, Tensor, Tensor] | None = None
        self._item_graph_data: HeteroData | None = None
        self.reset_parameters()

    @classmethod
    def graph_transform(
        cls,
        k: int = 10,
        cache_dir: str | Path | None = None,
        chunk_size: int = 1024,
        skip_missing: bool = True,
    ) -> BaseTransform:
        r"""LATTICE's user-item graph :math:`\mathbf{D}^{-1}(\mathbf{A} +
        \mathbf{I})` and its frozen item graphs, the symmetric cosine
        top-``k`` graph of every modality (see
        :class:`~mde_pyg.data.AddModalityGraphs`; cached in ``cache_dir``;
        an item whose row is missing keeps only itself unless
        ``skip_missing=False``)."""
        return Compose(
            [
                AddUserItemAdjacency(
                    normalization="row",
                    self_loops=True,
                    out_edge_types=(INTERACTS_MEAN, REV_INTERACTS_MEAN),
                ),
                AddModalityGraphs(
                    k=k,
                    user_graph=False,
                    chunk_size=chunk_size,
                    cache_dir=cache_dir,
                    skip_missing=skip_missing,
                ),
            ]
        )

    def reset_parameters(self) -> None:
        """Re-initialises the ID embeddings (xavier-uniform), projections and
        modality weights (equal). The raw features are data and keep their
        current (possibly fine-tuned) values."""
        torch.nn.init.xavier_uniform_(self.user_embedding.weight)
        torch.nn.init.xavier_uniform_(self.item_embedding.weight)
        for projection in self.projections.values():
            projection.reset_parameters()
        with torch.no_grad():
            self.modality_weight.fill_(1.0 / len(self.modalities))
        self._item_graph = None

    def learned_graph(self, data: HeteroData) -> tuple[Tensor, Tensor, Tensor]:
        r"""The learned graph :math:`\mathrm{sym}(\sum_m \alpha_m
        \tilde{\mathbf{S}}_m)` of the current parameters as ``(edge_index,
        edge_weight)`` (duplicated edges not yet summed), and the modality
        weights :math:`\boldsymbol{\alpha}`; differentiable when autograd is
        on. An item whose row of modality :math:`m` is missing in ``data``
        (``x_<m>_mask``) keeps only itself in :math:`\tilde{\mathbf{S}}_m`,
        as in the frozen graphs (unless ``skip_missing=False``)."""
        alpha = self.modality_weight.softmax(0)
        masks = graph_masks(data, skip_missing=self.skip_missing)
        indices, weights = [], []
        for m, modality in enumerate(self.modalities):
            projected = self.projections[modality](self.feature(modality))
            index, weight = knn_graph(
                projected,
                self.k,
                self.chunk_size,
                normalization="none",
                mask=masks.get(modality),
            )
            indices.append(index)
            weights.append(alpha[m] * weight)
        # The normalisation is linear per edge, so edges that two modalities
        # share need not be merged before it: their degree sums are the same.
        index, weight = gcn_norm(
            torch.cat(indices, 1),
            torch.cat(weights),
            self.num_items,
            add_self_loops=False,
        )
        return index, weight, alpha

    def item_graph(self, data: HeteroData) -> tuple[Tensor, Tensor]:
        r"""The item-item graph :math:`\mathbf{S}` of the current parameters
        as ``(edge_index, edge_weight)`` (duplicated edges not yet summed),
        differentiable when autograd is on."""
        return self._mix(data, *self.learned_graph(data))

    def _mix(
        self,
        data: HeteroData,
        learned_index: Tensor,
        learned_weight: Tensor,
        alpha: Tensor,
    ) -> tuple[Tensor, Tensor]:
        graphs_of(data, self.frozen_edge_types)  # a clear error if one is missing
        frozen = [data[et] for et in self.frozen_edge_types]
        edge_index = torch.cat([learned_index, *(g.edge_index for g in frozen)], 1)
        frozen_weight = torch.cat(
            [g.edge_weight * alpha[m] for m, g in enumerate(frozen)]
        )
        edge_weight = torch.cat(
            [
                (1.0 - self.lambda_coeff) * learned_weight,
                self.lambda_coeff * frozen_weight,
            ]
        )
        return edge_index, edge_weight

    def _to_adj(self, edge_index: Tensor, edge_weight: Tensor) -> Tensor:
        return to_adj(edge_index, edge_weight, size=(self.num_items, self.num_items))

    def refresh_item_graph(self, data: HeteroData) -> None:
        r"""Rebuilds :math:`\mathbf{S}` from the current parameters; with
        autograd on, the next forward pass differentiates through it."""
        self._item_graph_data = data
        graph = self.learned_graph(data)
        if graph[1].requires_grad:
            self._item_graph = graph
        else:
            self._item_graph = self._to_adj(*self._mix(data, *graph))

    def on_epoch_start(self, data: HeteroData, epoch: int) -> None:
        self.refresh_item_graph(data)

    def _propagate_items(self, data: HeteroData) -> Tensor:
        if self._item_graph is None or self._item_graph_data is not data:
            self.refresh_item_graph(data)
        h = self.item_embedding.weight
        if isinstance(self._item_graph, Tensor):
            for _ in range(self.num_item_layers):
                h = self.conv(h, self._item_graph)
            return h
        # The differentiable pass. The learned part is propagated over its
        # edge list: the backward of a sparse-dense product w.r.t. the sparse
        # values materialises a dense items x items gradient in PyTorch. The
        # frozen graphs only need their fixed sparse matrices, scaled by
        # alpha afterwards.
        learned_index, learned_weight, alpha = self._item_graph
        frozen = graphs_of(data, self.frozen_edge_types)
        lam = self.lambda_coeff
        for _ in range(self.num_item_layers):
            mixed = [
                alpha[m] * self.conv.forward_graph(h, frozen[et])
                for m, et in enumerate(self.frozen_edge_types)
            ]
            # In edge chunks: message passing keeps one [edges, d] tensor for
            # the weights' gradient, but its transients would be several.
            learned = sum(
                self.conv(h, index, weight)
                for index, weight in zip(
                    learned_index.tensor_split(_EDGE_CHUNKS, dim=1),
                    learned_weight.tensor_split(_EDGE_CHUNKS),
                )
            )
            h = (1.0 - lam) * learned + lam * torch.stack(mixed).sum(0)
        # As the reference, later batches use the graph detached, as one
        # sparse matrix with the duplicated edges summed.
        self._item_graph = self._to_adj(
            *self._mix(data, learned_index, learned_weight.detach(), alpha.detach())
        )
        return h

    def forward(self, data: HeteroData) -> tuple[Tensor, Tensor]:
        h = self._propagate_items(data)
        user_emb, item_emb = self.propagation(
            self.user_embedding.weight,
            self.item_embedding.weight,
            graphs_of(data, self.propagation.edge_types),
        )
        return user_emb, item_emb + F.normalize(h, p=2, dim=1)

    @torch.no_grad()
    def embeddings(self, data: HeteroData) -> tuple[Tensor, Tensor]:
        r"""Rebuilds :math:`\mathbf{S}` from the current parameters (as the
        reference does at evaluation) and returns the final embeddings."""
        self.refresh_item_graph(data)
        return self.forward(data)

    @torch.no_grad()
    def cold_item_embeddings(self, data: HeteroData, items: Tensor) -> Tensor:
        r"""Embeddings of cold items (features, no training interaction)
        from LATTICE's content path: :meth:`forward` with the layer-0 ID
        embeddings :math:`\mathbf{E}^{(0)}_i` of :obj:`items` and of every
        item without a training interaction (:meth:`cold_items`) set to zero
        (never trained on a positive pair, they are noise), returning
        :math:`\mathbf{E}_i + \mathbf{h}_i / \|\mathbf{h}_i\|_2` of
        :obj:`items`, with :math:`\mathbf{S}` rebuilt from the current
        parameters as :meth:`embeddings` does.

        For an item without training interactions that gives:

        * ID part :math:`\mathbf{E}_i = \mathbf{0}`: its only edge in
          :math:`\mathbf{D}^{-1}(\mathbf{A}_{ui} + \mathbf{I})` is its self
          loop, which keeps its (zero) layer 0;
        * item-graph part :math:`\mathbf{h}_i = (\mathbf{S}^n
          \mathbf{E}^{(0)})_i`, with :math:`n = 1`: :math:`\sum_{j \ne i}
          \mathbf{S}_{ij} \mathbf{E}^{(0)}_j`, the ID embeddings of its
          warm neighbours in the mixed item graph :math:`\mathbf{S}` (the
          frozen :math:`k`-NN graphs of the raw features of ``data`` and the
          learned :math:`k`-NN graph of the model's projections of its own,
          possibly fine-tuned, features, weighted by the modality weights
          and :math:`\lambda`), which is how LATTICE lets an item borrow the
          collaborative signal of the items its content resembles: the
          item's features decide its neighbours and their weights.

        So the embedding is the normalised :math:`\mathbf{h}_i` (zero if all
        its neighbours are cold too, or with ``num_item_layers=0``), scored
        against the usual user embeddings. For an item that has training
        interactions the result is its embedding with its own ID embedding
        unknown.

        Args:
            data (HeteroData): The data the model reads (with its graphs).
            items (torch.Tensor): ``[C]`` item ids.

        Returns:
            torch.Tensor: ``[C, d]`` item embeddings.
        """
        items, _, x_item = self._cold_id_embeddings(data, items)
        self.refresh_item_graph(data)
        h = x_item
        for _ in range(self.num_item_layers):
            h = self.conv(h, self._item_graph)
        _, item_emb = self.propagation(
            self.user_embedding.weight,
            x_item,
            graphs_of(data, self.propagation.edge_types),
        )
        return item_emb[items] + F.normalize(h[items], p=2, dim=1)

    def loss(self, data: HeteroData, batch: BPRBatch) -> Tensor:
        user_emb, item_emb = self.forward(data)
        u, pos, neg = user_emb[batch.user], item_emb[batch.pos], item_emb[batch.neg]
        loss = bpr_loss((u * pos).sum(-1), (u * neg).sum(-1))
        return loss + self.reg_weight * embedding_l2(u, pos, neg)

    def _apply(self, fn, recurse: bool = True):
        # A cached graph would stay on the old device / dtype.
        self._item_graph = None
        return super()._apply(fn, recurse)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(num_users={self.num_users}, "
            f"num_items={self.num_items}, modalities={self.modalities}, "
            f"embedding_dim={self.embedding_dim}, k={self.k}, "
            f"lambda_coeff={self.lambda_coeff}, "
            f"num_item_layers={self.num_item_layers}, "
            f"num_layers={self.propagation.num_layers}, "
            f"reg_weight={self.reg_weight}, "
            f"freeze_features={self.freeze_features}, "
            f"skip_missing={self.skip_missing})"
        )
