r"""PyG transforms that precompute, once, every graph the recommenders of
:mod:`mde_pyg.models` read, onto a :class:`~torch_geometric.data.HeteroData`.

Each relation is stored on its edge store as ``edge_index`` and
``edge_weight``, plus the sparse CSR ``adj_t`` (``[num_targets,
num_sources]``, what a training step multiplies with) and its transpose
``adj`` (used by the backward pass), and optionally ``self_weight``
(``[num_targets]`` self-loop weights): the fields
:meth:`mde_pyg.nn.Graph.from_store` reads. They move with ``data.to(device)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import torch
from torch import Tensor
from torch_geometric.data import HeteroData
from torch_geometric.transforms import BaseTransform
from torch_geometric.typing import EdgeType
from torch_geometric.utils import coalesce

from mde_pyg.data.graph_cache import GraphCache
from mde_pyg.data.graphs import (
    bipartite_norm,
    knn_graph,
    to_adj,
    user_item_adjacency,
    user_user_graph,
)
from mde_pyg.data.hetero import (
    CO_INTERACTS,
    INTERACTS,
    ITEM,
    MAX_SIM,
    MM_SIM,
    REV_INTERACTS,
    USER,
    feature_masks,
    item_features,
)

NORMALIZATIONS = ("sym", "row", "none")


def store_graph(
    data: HeteroData,
    edge_type: EdgeType,
    edge_index: Tensor,
    edge_weight: Tensor,
    self_weight: Tensor | None = None,
) -> None:
    """Writes one relation with its weights, its CSR ``adj_t`` and ``adj``
    and, if given, the self-loop weights of its target nodes."""
    src, _, dst = edge_type
    size = (data[src].num_nodes, data[dst].num_nodes)
    edge_weight = edge_weight.detach()
    store = data[edge_type]
    store.edge_index = edge_index
    store.edge_weight = edge_weight
    store.adj_t = to_adj(edge_index, edge_weight, size=size)
    store.adj = to_adj(edge_index.flip(0), edge_weight, size=size[::-1])
    if self_weight is not None:
        store.self_weight = self_weight


def cached_knn_graph(
    x: Tensor,
    k: int,
    weighted: bool,
    chunk_size: int,
    cache: GraphCache | None,
    mask: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """:func:`~mde_pyg.data.graphs.knn_graph` of ``x`` (its real rows
    ``mask``) with symmetric normalisation, read from / written to ``cache``
    when one is given."""

    def build() -> tuple[Tensor, Tensor]:
        return knn_graph(
            x,
            k=k,
            chunk_size=chunk_size,
            weighted=weighted,
            normalization="sym",
            mask=mask,
        )

    if cache is None:
        return build()
    return cache.get_or_build(x, k, build, mask, weighted=weighted, normalization="sym")


def graph_masks(
    data: HeteroData, item_type: str = ITEM, skip_missing: bool = True
) -> dict[str, Tensor | None]:
    """``{modality: mask}`` of the rows a :math:`k`-NN item graph searches:
    the real rows ``x_<m>_mask`` (an item without a row is linked to none),
    or, with ``skip_missing=False``, every row (:obj:`None`), the rows the
    dataset filled in included."""
    masks = feature_masks(data, item_type)
    return masks if skip_missing else dict.fromkeys(masks)


class AddUserItemAdjacency(BaseTransform):
    r"""Adds the normalised user-item graph in both directions.

    With ``normalization="sym"`` (LightGCN, MGCN, MDE) every training edge
    gets :math:`1/\sqrt{\deg(u)\deg(i)}`; with ``"row"`` and
    ``self_loops=True`` (LATTICE) the graph is
    :math:`\mathbf{D}^{-1}(\mathbf{A} + \mathbf{I})` on users and items
    together: every edge into node :math:`t` weighs :math:`1/(\deg(t) + 1)`
    and :math:`t` keeps :math:`1/(\deg(t) + 1)` of itself (``self_weight``);
    ``"row"`` without self-loops is the mean over a node's neighbours
    (MMGCN's), ``"none"`` keeps every edge's weight :math:`1` (their sum).

    .. code-block:: python

        data = AddUserItemAdjacency()(make_synthetic())
        data["user", "interacts", "item"].adj_t  # [num_items, num_users] CSR

    Args:
        edge_type (tuple, optional): The relation holding the training
            (user, item) pairs in ``edge_index``.
            (default: :obj:`('user', 'interacts', 'item')`)
        rev_edge_type (tuple, optional): Its reverse relation.
            (default: :obj:`('item', 'rev_interacts', 'user')`)
        normalization (str, optional): :obj:`"sym"`, :obj:`"row"` or
            :obj:`"none"`. (default: :obj:`"sym"`)
        self_loops (bool, optional): Add :math:`\mathbf{I}` before
            normalising. (default: :obj:`False`)
        out_edge_types (tuple, optional): The two relations to write to, if
            not ``edge_type`` and ``rev_edge_type`` (so that graphs of
            different normalisations can live side by side).
            (default: :obj:`None`)
    """

    def __init__(
        self,
        edge_type: EdgeType = INTERACTS,
        rev_edge_type: EdgeType = REV_INTERACTS,
        normalization: str = "sym",
        self_loops: bool = False,
        out_edge_types: tuple[EdgeType, EdgeType] | None = None,
    ) -> None:
        if normalization not in NORMALIZATIONS:
            raise ValueError(
                f"Unknown normalization '{normalization}' (expected one of "
                f"{NORMALIZATIONS})"
            )
        self.edge_type = tuple(edge_type)
        self.rev_edge_type = tuple(rev_edge_type)
        self.normalization = normalization
        self.self_loops = self_loops
        out = out_edge_types or (edge_type, rev_edge_type)
        self.out_edge_types = (tuple(out[0]), tuple(out[1]))

    @torch.no_grad()
    def forward(self, data: HeteroData) -> HeteroData:
        edge_index = data[self.edge_type].edge_index
        num_users = data[self.edge_type[0]].num_nodes
        num_items = data[self.edge_type[2]].num_nodes
        to_item, to_user = self.out_edge_types
        if self.normalization == "sym" and not self.self_loops:
            weight = bipartite_norm(edge_index, num_users, num_items)
            store_graph(data, to_item, edge_index, weight)
            store_graph(data, to_user, edge_index.flip(0), weight)
            return data
        # The homogeneous graph on users then items, split back into the two
        # relations and the self-loops of each node type.
        _, weight = user_item_adjacency(
            edge_index, num_users, num_items, self.normalization, self.self_loops
        )
        num_edges = edge_index.size(1)
        loops = weight[2 * num_edges :]
        store_graph(
            data,
            to_item,
            edge_index,
            weight[:num_edges],
            loops[num_users:] if self.self_loops else None,
        )
        store_graph(
            data,
            to_user,
            edge_index.flip(0),
            weight[num_edges : 2 * num_edges],
            loops[:num_users] if self.self_loops else None,
        )
        return data

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.edge_type}, "
            f"normalization='{self.normalization}', self_loops={self.self_loops}, "
            f"out_edge_types={self.out_edge_types})"
        )


class AddUserUserGraph(BaseTransform):
    r"""Adds the user-user co-interaction graph of DRAGON (`"Enhancing Dyadic
    Relations with Homogeneous Graphs for Multimodal Recommendation"
    <https://arxiv.org/abs/2301.12097>`_): each user's :math:`k` users with
    the most items in common in the training interactions, weighted by the
    softmax of those counts (:func:`~mde_pyg.data.graphs.user_user_graph`:
    a sparse :math:`\mathbf{R}\mathbf{R}^{\top}` and a top-:math:`k` per
    row, never a dense user-user matrix), stored as
    ``data[user_type, 'co_interacts', user_type]``; user :math:`u` is the
    target of the edges from its co-users.

    .. code-block:: python

        from mde_pyg.data import AddUserUserGraph, make_synthetic

        data = AddUserUserGraph(k=40)(make_synthetic())

    Args:
        k (int, optional): Neighbours per user. (default: :obj:`40`)
        chunk_size (int, optional): Users per sparse product.
            (default: :obj:`1024`)
        item_type (str, optional): The item node type. (default: :obj:`"item"`)
        user_type (str, optional): The user node type. (default: :obj:`"user"`)
        edge_type (tuple, optional): The relation holding the training
            (user, item) pairs. (default: :obj:`('user', 'interacts', 'item')`)
    """

    def __init__(
        self,
        k: int = 40,
        chunk_size: int = 1024,
        item_type: str = ITEM,
        user_type: str = USER,
        edge_type: EdgeType = INTERACTS,
    ) -> None:
        self.k = k
        self.chunk_size = chunk_size
        self.item_type = item_type
        self.user_type = user_type
        self.edge_type = tuple(edge_type)

    @torch.no_grad()
    def forward(self, data: HeteroData) -> HeteroData:
        store_graph(
            data,
            (self.user_type, CO_INTERACTS[1], self.user_type),
            *user_user_graph(
                data[self.edge_type].edge_index,
                data[self.user_type].num_nodes,
                data[self.item_type].num_nodes,
                k=self.k,
                chunk_size=self.chunk_size,
            ),
        )
        return data

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(k={self.k}, chunk_size={self.chunk_size})"


class AddModalityGraphs(BaseTransform):
    r"""Adds the item-item graph of every modality and the user-user
    co-interaction graph.

    For every item feature matrix ``x_<m>``, the cosine top-:math:`k` graph
    of :func:`~mde_pyg.data.graphs.knn_graph` with symmetric normalisation
    (MGCN's, LATTICE's frozen graph, MDE's) is stored as
    ``data[item_type, 'sim_<m>', item_type]``; it links no item through a
    missing row (``x_<m>_mask``): such an item keeps only itself (unless
    ``skip_missing=False``, which searches the filled-in rows as real ones).
    Unless ``user_graph=False``, the co-interaction graph of :class:`AddUserUserGraph`
    is added too. The graphs are frozen: they carry no gradient to the
    features.

    .. code-block:: python

        from mde_pyg.data import AddModalityGraphs, make_synthetic

        data = AddModalityGraphs(k=10, user_k=40)(make_synthetic())

    Args:
        k (int, optional): Neighbours per item (itself included).
            (default: :obj:`10`)
        user_k (int, optional): Neighbours per user. (default: :obj:`40`)
        weighted (bool, optional): Weight item edges by their similarity
            (else :math:`1`) before normalising. (default: :obj:`True`)
        user_graph (bool, optional): Add the user-user graph.
            (default: :obj:`True`)
        chunk_size (int, optional): Rows per chunk of the similarity
            computations. (default: :obj:`1024`)
        cache_dir (str, optional): Folder of an on-disk cache of the item
            graphs, keyed by the features' content (see
            :class:`~mde_pyg.data.graph_cache.GraphCache`); no caching if
            :obj:`None`. (default: :obj:`None`)
        item_type (str, optional): The item node type, whose ``x_<m>``
            attributes are the features. (default: :obj:`"item"`)
        user_type (str, optional): The user node type. (default: :obj:`"user"`)
        edge_type (tuple, optional): The relation holding the training
            (user, item) pairs. (default: :obj:`('user', 'interacts', 'item')`)
        modality_k (dict, optional): ``{modality: k}``, the neighbours per
            item of the modalities named, in place of :obj:`k` (SMORE's
            separate image and text :math:`k`); a name the data lacks is
            not used. (default: :obj:`None`)
        skip_missing (bool, optional): Link no item through a missing
            feature row; :obj:`False` searches the rows the dataset filled in
            (``dataset.missing_features``) as if they were real.
            (default: :obj:`True`)
    """

    def __init__(
        self,
        k: int = 10,
        user_k: int = 40,
        weighted: bool = True,
        user_graph: bool = True,
        chunk_size: int = 1024,
        cache_dir: str | Path | None = None,
        item_type: str = ITEM,
        user_type: str = USER,
        edge_type: EdgeType = INTERACTS,
        modality_k: Mapping[str, int] | None = None,
        skip_missing: bool = True,
    ) -> None:
        self.k = k
        self.user_k = user_k
        self.skip_missing = skip_missing
        self.weighted = weighted
        self.modality_k = dict(modality_k or {})
        self.user_graph = user_graph
        self.chunk_size = chunk_size
        self.cache = GraphCache(cache_dir) if cache_dir is not None else None
        self.item_type = item_type
        self.user_type = user_type
        self.edge_type = tuple(edge_type)

    def item_graph(
        self, x: Tensor, k: int | None = None, mask: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """The normalised cosine top-:math:`k` graph of the rows of ``x``
        (:obj:`k` neighbours per item, by default the transform's; of its
        real rows ``mask``, see :func:`~mde_pyg.data.graphs.knn_graph`)."""
        k = self.k if k is None else k
        return cached_knn_graph(x, k, self.weighted, self.chunk_size, self.cache, mask)

    @torch.no_grad()
    def forward(self, data: HeteroData) -> HeteroData:
        masks = graph_masks(data, self.item_type, self.skip_missing)
        for modality, x in item_features(data, self.item_type).items():
            edge_type = (self.item_type, f"sim_{modality}", self.item_type)
            k = self.modality_k.get(modality, self.k)
            store_graph(data, edge_type, *self.item_graph(x, k, masks[modality]))
        if self.user_graph:
            AddUserUserGraph(
                k=self.user_k,
                chunk_size=self.chunk_size,
                item_type=self.item_type,
                user_type=self.user_type,
                edge_type=self.edge_type,
            ).forward(data)
        return data

    def __repr__(self) -> str:
        modality_k = f", modality_k={self.modality_k}" if self.modality_k else ""
        return (
            f"{self.__class__.__name__}(k={self.k}, user_k={self.user_k}, "
            f"weighted={self.weighted}, user_graph={self.user_graph}, "
            f"chunk_size={self.chunk_size}, skip_missing={self.skip_missing}"
            f"{modality_k})"
        )


#: Modality weights of :class:`AddMixedItemGraph`: a mapping, or a function of
#: the data's modality names returning one.
ModalityWeights = Mapping[str, float] | Callable[[list[str]], Mapping[str, float]]


class AddMixedItemGraph(BaseTransform):
    r"""Adds one item-item graph mixed from the :math:`k`-NN graphs of all
    modalities: FREEDOM's frozen graph (`"A Tale of Two Graphs: Freezing and
    Denoising Graph Structures for Multimodal Recommendation"
    <https://arxiv.org/abs/2211.06924>`_).

    For every item feature matrix ``x_<m>`` the cosine top-:math:`k` graph
    :math:`\mathbf{A}_m` of :func:`~mde_pyg.data.graphs.knn_graph` (each
    item keeps its :math:`k` most similar items, itself included; binary
    weights by default, as FREEDOM; an item whose row of :math:`m` is
    missing, by ``x_<m>_mask``, keeps only itself there unless
    ``skip_missing=False``) is symmetrically
    normalised by its row sums, and the graphs are mixed with the modality
    weights :math:`w_m`:

    .. math::
        \mathbf{S} = \sum_m w_m \, \mathbf{D}_m^{-1/2} \mathbf{A}_m
        \mathbf{D}_m^{-1/2}, \qquad
        \mathbf{D}_m = \mathrm{diag}(\mathbf{A}_m \mathbf{1}),

    (edges that several modalities share are summed). The result is stored
    as ``data[item_type, relation, item_type]`` (by default
    ``('item', 'mm_sim', 'item')``); item :math:`i` is the target of the
    edges from its neighbours. The graph is frozen: it carries no gradient
    to the features. A modality of weight :math:`0` is not built.

    .. code-block:: python

        from mde_pyg.data import make_synthetic
        from mde_pyg.data.transforms import AddMixedItemGraph

        data = AddMixedItemGraph(k=10, weights={"image": 0.1, "text": 0.9})(
            make_synthetic()
        )

    Args:
        k (int, optional): Neighbours per item (itself included).
            (default: :obj:`10`)
        weights (dict or callable, optional): ``{modality: w_m}`` naming
            exactly the data's modalities, or a function of the list of
            modality names returning such a mapping; :obj:`None` weighs all
            modalities equally. (default: :obj:`None`)
        weighted (bool, optional): Weight the edges of each modality's graph
            by their similarity (else :math:`1`) before normalising.
            (default: :obj:`False`)
        chunk_size (int, optional): Rows per chunk of the similarity
            computations. (default: :obj:`1024`)
        cache_dir (str, optional): Folder of an on-disk cache of the
            per-modality graphs, keyed by the features' content (see
            :class:`~mde_pyg.data.graph_cache.GraphCache`); no caching if
            :obj:`None`. (default: :obj:`None`)
        item_type (str, optional): The item node type, whose ``x_<m>``
            attributes are the features. (default: :obj:`"item"`)
        relation (str, optional): The relation name the graph is stored
            under. (default: :obj:`"mm_sim"`)
        skip_missing (bool, optional): Link no item through a missing
            feature row; :obj:`False` searches the rows the dataset filled in
            as if they were real. (default: :obj:`True`)
    """

    def __init__(
        self,
        k: int = 10,
        weights: ModalityWeights | None = None,
        weighted: bool = False,
        chunk_size: int = 1024,
        cache_dir: str | Path | None = None,
        item_type: str = ITEM,
        relation: str = MM_SIM[1],
        skip_missing: bool = True,
    ) -> None:
        self.k = k
        self.weights = weights
        self.skip_missing = skip_missing
        self.weighted = weighted
        self.chunk_size = chunk_size
        self.cache = GraphCache(cache_dir) if cache_dir is not None else None
        self.item_type = item_type
        self.relation = relation

    def modality_weights(self, modalities: list[str]) -> dict[str, float]:
        """The weight :math:`w_m` of every modality of ``modalities``."""
        if not modalities:
            raise ValueError(
                f"AddMixedItemGraph needs item features 'x_<modality>' on "
                f"'{self.item_type}' nodes (found none)"
            )
        weights = self.weights
        if weights is None:
            return {m: 1.0 / len(modalities) for m in modalities}
        if callable(weights):
            weights = weights(list(modalities))
        weights = {str(m): float(w) for m, w in dict(weights).items()}
        if set(weights) != set(modalities):
            raise ValueError(
                f"The modality weights {weights} must name exactly the data's "
                f"modalities {list(modalities)}"
            )
        if any(w < 0 for w in weights.values()) or not any(weights.values()):
            raise ValueError(f"The modality weights {weights} must be >= 0, not all 0")
        return {m: weights[m] for m in modalities}

    def item_graph(
        self, x: Tensor, mask: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """The normalised cosine top-:math:`k` graph of the rows of ``x``
        (of its real rows ``mask``, see
        :func:`~mde_pyg.data.graphs.knn_graph`)."""
        return cached_knn_graph(
            x, self.k, self.weighted, self.chunk_size, self.cache, mask
        )

    @torch.no_grad()
    def forward(self, data: HeteroData) -> HeteroData:
        features = item_features(data, self.item_type)
        masks = graph_masks(data, self.item_type, self.skip_missing)
        weights = self.modality_weights(list(features))
        indices, values = [], []
        for modality, x in features.items():
            if weights[modality] == 0.0:
                continue
            edge_index, edge_weight = self.item_graph(x, masks[modality])
            indices.append(edge_index)
            values.append(weights[modality] * edge_weight)
        num_items = data[self.item_type].num_nodes
        edge_index, edge_weight = coalesce(
            torch.cat(indices, dim=1), torch.cat(values), num_items, reduce="sum"
        )
        edge_type = (self.item_type, self.relation, self.item_type)
        store_graph(data, edge_type, edge_index, edge_weight)
        return data

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(k={self.k}, weights={self.weights}, "
            f"weighted={self.weighted}, chunk_size={self.chunk_size}, "
            f"relation='{self.relation}', skip_missing={self.skip_missing})"
        )


class AddMaxPooledItemGraph(BaseTransform):
    r"""Adds the element-wise maximum of the item-item graphs of the
    modalities, SMORE's fused item graph (`"Spectrum-based Modality
    Representation Fusion Graph Convolutional Network for Multimodal
    Recommendation" <https://arxiv.org/abs/2412.14978>`_): on the union of
    the modality graphs' edges,

    .. math::
        \mathbf{S}^{f}_{ij} = \max_{m \,:\, (j, i) \in \mathcal{E}_m}
        \mathbf{S}^m_{ij},

    so an edge of one modality's graph only keeps that graph's weight (the
    published code's max-pooling, where a missing edge counts as
    :math:`-\infty`). It reads the normalised graphs that
    :class:`AddModalityGraphs` stored, ``data[item_type, 'sim_<m>',
    item_type]`` for every item feature ``x_<m>``, and stores the result as
    ``data[item_type, relation, item_type]`` (by default
    ``('item', 'max_sim', 'item')``). With one modality it is that
    modality's graph.

    .. code-block:: python

        from torch_geometric.transforms import Compose

        from mde_pyg.data import (
            AddMaxPooledItemGraph,
            AddModalityGraphs,
            make_synthetic,
        )

        transform = Compose(
            [AddModalityGraphs(user_graph=False), AddMaxPooledItemGraph()]
        )
        data = transform(make_synthetic())

    Args:
        item_type (str, optional): The item node type, whose ``x_<m>``
            attributes name the modalities. (default: :obj:`"item"`)
        relation (str, optional): The relation name the graph is stored
            under. (default: :obj:`"max_sim"`)
    """

    def __init__(self, item_type: str = ITEM, relation: str = MAX_SIM[1]) -> None:
        self.item_type = item_type
        self.relation = relation

    @torch.no_grad()
    def forward(self, data: HeteroData) -> HeteroData:
        modalities = list(item_features(data, self.item_type))
        if not modalities:
            raise ValueError(
                f"AddMaxPooledItemGraph needs item features 'x_<modality>' on "
                f"'{self.item_type}' nodes (found none)"
            )
        graphs = [(self.item_type, f"sim_{m}", self.item_type) for m in modalities]
        missing = [
            et
            for et in graphs
            if et not in data.edge_types or "edge_weight" not in data[et]
        ]
        if missing:
            raise ValueError(
                f"AddMaxPooledItemGraph reads the item graph of every modality; "
                f"{missing} missing (run AddModalityGraphs first)"
            )
        edge_index, edge_weight = coalesce(
            torch.cat([data[et].edge_index for et in graphs], dim=1),
            torch.cat([data[et].edge_weight for et in graphs]),
            data[self.item_type].num_nodes,
            reduce="max",
        )
        edge_type = (self.item_type, self.relation, self.item_type)
        store_graph(data, edge_type, edge_index, edge_weight)
        return data

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(relation='{self.relation}')"
