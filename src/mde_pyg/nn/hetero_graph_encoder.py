"""Per-modality views of every user and item from a heterogeneous user-item
graph and homogeneous item-item and user-user graphs (MDE)."""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.data import HeteroData
from torch_geometric.typing import Adj, EdgeType

from mde_pyg.data.graphs import bipartite_norm
from mde_pyg.data.hetero import (
    CO_INTERACTS,
    INTERACTS,
    ITEM,
    REV_INTERACTS,
    USER,
    item_features,
    item_sim,
)
from mde_pyg.nn.lg_conv import BipartiteLGConv, sum_user_item_layers

ENCODER_MODES = ("id_purify", "feature_mlp")


class HeteroEncoding(NamedTuple):
    """Output of :class:`HeteroGraphEncoder`: behaviour embeddings
    ``[N, d]`` and stacked modality views ``[M, N, d]`` of users and items."""

    user: Tensor
    item: Tensor
    user_views: Tensor
    item_views: Tensor


class HeteroGraphEncoder(torch.nn.Module):
    r"""The graph encoder of the `"MDE: Modality Discrimination Enhancement
    for Multi-modal Recommendation" <https://arxiv.org/abs/2502.18481>`_
    paper: a behaviour channel and one view per modality of every user and
    item, learnt on the user-item graph and the item-item and user-user
    graphs (after MGCN, `"Multi-View Graph Convolutional Network for
    Multimedia Recommendation" <https://arxiv.org/abs/2308.03588>`_, and
    DRAGON, `"Enhancing Dyadic Relations with Homogeneous Graphs for
    Multimodal Recommendation" <https://arxiv.org/abs/2301.12097>`_).

    Behaviour channel (LightGCN on :math:`\hat{\mathbf{A}} =
    \mathbf{D}^{-1/2}\mathbf{A}\mathbf{D}^{-1/2}`, given layer-0
    embeddings :math:`\mathbf{E}^{(0)}`):

    .. math::
        \mathbf{e} = \frac{1}{L+1} \sum_{l=0}^{L} \hat{\mathbf{A}}^l
        \mathbf{E}^{(0)}.

    Modality :math:`m` with ``mode="id_purify"`` (MGCN): the item ID
    embeddings are purified by the features :math:`\mathbf{x}^m_i`,
    propagated once on the item-item graph :math:`\mathbf{S}^m` and lifted to
    users with the user-item block :math:`\hat{\mathbf{R}}` of
    :math:`\hat{\mathbf{A}}`:

    .. math::
        \mathbf{h}^m_i &= \mathbf{E}^{(0)}_i \odot \sigma\left(
        \mathbf{W}^m_g (\mathbf{W}^m \mathbf{x}^m_i + \mathbf{b}^m) +
        \mathbf{b}^m_g\right), \qquad
        \mathbf{z}^m_{\mathcal{I}} = \mathbf{S}^m \mathbf{h}^m_{\mathcal{I}},
        \qquad
        \mathbf{z}^m_{\mathcal{U}} = \hat{\mathbf{R}} \, \mathbf{z}^m_{\mathcal{I}},

    With ``mode="feature_mlp"`` (DRAGON): items start from
    :math:`\mathrm{MLP}^m(\mathbf{x}^m_i)` (:math:`d_m \to 4d \to d`,
    LeakyReLU), users from a free preference embedding
    :math:`\mathbf{p}^m_u`, both L2-normalised as in DRAGON, and
    :math:`\mathbf{z}^m = \sum_{l=0}^{L} \hat{\mathbf{A}}^l [\mathbf{p}^m ;
    \mathrm{MLP}^m(\mathbf{x}^m)]`; the item-item graph is then applied with a
    residual, :math:`\mathbf{z}^m_{\mathcal{I}} \leftarrow
    \mathbf{z}^m_{\mathcal{I}} + \mathbf{S}^m \mathbf{z}^m_{\mathcal{I}}`, as
    DRAGON adds its item-item aggregation to the item representation.

    In both modes, with ``user_graph=True``, one layer on the user-user
    graph with weights :math:`a(u, u')` and a residual follows:
    :math:`\mathbf{z}^m_u \leftarrow \mathbf{z}^m_u + \sum_{u'} a(u, u')
    \mathbf{z}^m_{u'}`.

    The layer owns only its weights: the layer-0 ID embeddings and the raw
    features are inputs, so a model decides whether they are trained (pass
    :class:`~torch.nn.Parameter` objects) or frozen (pass plain tensors). The
    graphs are passed as in :class:`~torch_geometric.nn.conv.HeteroConv`,
    keyed by the edge types of :mod:`mde_pyg.data.hetero`: each either an
    ``edge_index`` with its ``edge_weight`` in ``edge_weight_dict``, or a
    sparse ``adj_t`` (:obj:`torch.sparse` or :class:`torch_sparse.SparseTensor`,
    ``[num_targets, num_sources]``) holding the weights, with identical
    results. Nothing is normalised here: pass the weights of
    :func:`~mde_pyg.data.graphs.bipartite_norm`,
    :func:`~mde_pyg.data.graphs.knn_graph` and
    :func:`~mde_pyg.data.graphs.user_user_graph`, or use
    :meth:`forward_hetero` on a :class:`~torch_geometric.data.HeteroData`.

    Args:
        in_channels (dict): ``{modality: feature size d_m}``; its order is the
            order of the stacked views.
        channels (int, optional): Size :math:`d` of the ID embeddings and of
            every view. (default: :obj:`64`)
        num_layers (int, optional): Propagation layers :math:`L` on
            :math:`\hat{\mathbf{A}}` (behaviour channel, and modality channels
            with ``mode="feature_mlp"``). (default: :obj:`2`)
        mode (str, optional): :obj:`"id_purify"` or :obj:`"feature_mlp"`.
            (default: :obj:`"id_purify"`)
        user_graph (bool, optional): Apply the user-user layer (the
            ``('user', 'co_interacts', 'user')`` graph is then required).
            (default: :obj:`True`)
        num_users (int, optional): Number of users; required with
            ``mode="feature_mlp"`` for the user preference embeddings.
            (default: :obj:`None`)

    Shapes:
        - **input:** user ID embeddings :math:`(|\mathcal{U}|, d)`, item ID
          embeddings :math:`(|\mathcal{I}|, d)`, features
          ``{m: (|I|, d_m)}``, graphs ``{edge_type: (2, |E|) or sparse}``
        - **output:** :class:`HeteroEncoding` of behaviour embeddings
          :math:`(|\mathcal{U}|, d)`, :math:`(|\mathcal{I}|, d)` and views
          :math:`(M, |\mathcal{U}|, d)`, :math:`(M, |\mathcal{I}|, d)`
    """

    def __init__(
        self,
        in_channels: dict[str, int],
        channels: int = 64,
        num_layers: int = 2,
        mode: str = "id_purify",
        user_graph: bool = True,
        num_users: int | None = None,
    ) -> None:
        super().__init__()
        if len(in_channels) == 0:
            raise ValueError("'in_channels' must name at least one modality")
        if mode not in ENCODER_MODES:
            raise ValueError(f"Unknown mode '{mode}' (expected one of {ENCODER_MODES})")
        if num_layers < 0:
            raise ValueError(f"'num_layers' must be >= 0 (got {num_layers})")
        if mode == "feature_mlp" and num_users is None:
            raise ValueError("mode='feature_mlp' needs 'num_users'")
        self.in_channels = dict(in_channels)
        self.modalities = list(in_channels)
        self.channels = channels
        self.num_layers = num_layers
        self.mode = mode
        self.user_graph = user_graph
        self.conv = BipartiteLGConv()

        if mode == "id_purify":
            # W^m then W_g^m: the gate's input is the projected feature.
            self.item_input = torch.nn.ModuleDict(
                {
                    m: torch.nn.Sequential(
                        torch.nn.Linear(d_m, channels),
                        torch.nn.Linear(channels, channels),
                    )
                    for m, d_m in in_channels.items()
                }
            )
            self.register_parameter("user_preference", None)
        else:
            self.item_input = torch.nn.ModuleDict(
                {
                    m: torch.nn.Sequential(
                        torch.nn.Linear(d_m, 4 * channels),
                        torch.nn.LeakyReLU(),
                        torch.nn.Linear(4 * channels, channels),
                    )
                    for m, d_m in in_channels.items()
                }
            )
            self.user_preference = torch.nn.Parameter(
                torch.empty(num_users, len(in_channels), channels)
            )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for module in self.item_input.modules():
            if isinstance(module, torch.nn.Linear):
                module.reset_parameters()
        if self.user_preference is not None:
            # DRAGON: xavier_normal_ on each [num_users, d] preference matrix.
            for m in range(len(self.modalities)):
                torch.nn.init.xavier_normal_(self.user_preference[:, m])

    @property
    def edge_types(self) -> list[EdgeType]:
        """The edge types :meth:`forward` reads."""
        types = [INTERACTS, REV_INTERACTS] + [item_sim(m) for m in self.modalities]
        return types + [CO_INTERACTS] if self.user_graph else types

    def forward(
        self,
        x_user: Tensor,
        x_item: Tensor,
        features: dict[str, Tensor],
        edge_index_dict: dict[EdgeType, Adj],
        edge_weight_dict: dict[EdgeType, Tensor] | None = None,
        adj_dict: dict[EdgeType, Tensor] | None = None,
    ) -> HeteroEncoding:
        """Encodes all users and items; ``x_user`` and ``x_item`` are the
        layer-0 ID embeddings, ``features`` the raw item features.
        ``adj_dict`` optionally holds the transpose (CSR) of a sparse
        ``adj_t`` of ``edge_index_dict``, used only by the backward pass (see
        :class:`~mde_pyg.nn.BipartiteLGConv`)."""
        missing = [et for et in self.edge_types if et not in edge_index_dict]
        if missing:
            raise KeyError(f"Graphs missing for edge types {missing}")
        missing = [m for m in self.modalities if m not in features]
        if missing:
            raise KeyError(f"Features missing for modalities {missing}")
        edge_weight_dict, adj_dict = edge_weight_dict or {}, adj_dict or {}
        # (adj_t or edge_index, edge_weight, adj): BipartiteLGConv's arguments.
        graphs = {
            et: (edge_index_dict[et], edge_weight_dict.get(et), adj_dict.get(et))
            for et in self.edge_types
        }

        num_users, num_items = x_user.size(0), x_item.size(0)
        num_modalities, d = len(self.modalities), self.channels
        if self.mode == "id_purify":
            user, item = self._propagate(x_user, x_item, graphs)
            views = [
                self.conv(
                    x_item * self.item_input[m](features[m]).sigmoid(),
                    *graphs[item_sim(m)],
                )
                for m in self.modalities
            ]
            item_views = torch.stack(views, dim=1).view(num_items, -1)
            # All modalities share R_hat: one product over [|I|, M d].
            user_views = self.conv((item_views, x_user), *graphs[REV_INTERACTS])
        else:
            pref = F.normalize(self.user_preference, dim=-1).view(num_users, -1)
            feat = [
                F.normalize(self.item_input[m](features[m]), dim=-1)
                for m in self.modalities
            ]
            # Behaviour and modality channels share A_hat: one propagation
            # over [N, (1 + M) d] columns.
            user, item = self._propagate(
                torch.cat([x_user, pref], dim=-1),
                torch.cat([x_item, *feat], dim=-1),
                graphs,
            )
            user, user_views = user[:, :d], user[:, d:]
            item, item_views = item[:, :d], item[:, d:]
            views = item_views.view(num_items, num_modalities, d).unbind(dim=1)
            views = [
                z + self.conv(z, *graphs[item_sim(m)])
                for z, m in zip(views, self.modalities)
            ]
            item_views = torch.stack(views, dim=1).view(num_items, -1)

        if self.user_graph:
            user_views = user_views + self.conv(user_views, *graphs[CO_INTERACTS])
        # The behaviour channel is the mean over layers 0..L.
        scale = 1.0 / (self.num_layers + 1)
        return HeteroEncoding(
            user * scale,
            item * scale,
            user_views.view(num_users, num_modalities, d).transpose(0, 1),
            item_views.view(num_items, num_modalities, d).transpose(0, 1),
        )

    def forward_hetero(
        self,
        data: HeteroData,
        x_user: Tensor,
        x_item: Tensor,
        features: dict[str, Tensor] | None = None,
    ) -> HeteroEncoding:
        r"""Runs :meth:`forward` on the graphs of ``data`` (layout of
        :mod:`mde_pyg.data.hetero`): every edge type uses its ``adj_t`` (which
        must hold the weights, e.g. from
        :class:`~torch_geometric.transforms.ToSparseTensor` with
        ``attr="edge_weight"``) if it has one, else its ``edge_index`` and
        ``edge_weight``. User-item edges without
        weights get the LightGCN weights of
        :func:`~mde_pyg.data.graphs.bipartite_norm`, computed here on every
        call; a training loop should precompute its graphs once instead.
        ``features`` defaults to the ``x_<modality>`` item features of
        ``data``."""
        num_users, num_items = data[USER].num_nodes, data[ITEM].num_nodes
        edge_index_dict, edge_weight_dict = {}, {}
        for et in self.edge_types:
            if et not in data.edge_types:
                raise KeyError(
                    f"'data' has no edge type {et} (build the graphs with "
                    f"mde_pyg.data.transforms.AddModalityGraphs)"
                )
            store = data[et]
            if "adj_t" in store:
                edge_index_dict[et] = store.adj_t
                continue
            edge_index_dict[et] = store.edge_index
            if "edge_weight" in store:
                edge_weight_dict[et] = store.edge_weight
            elif et == INTERACTS:
                edge_weight_dict[et] = bipartite_norm(
                    store.edge_index, num_users, num_items
                )
            elif et == REV_INTERACTS:
                edge_weight_dict[et] = bipartite_norm(
                    store.edge_index.flip(0), num_users, num_items
                )
        features = item_features(data) if features is None else features
        return self(x_user, x_item, features, edge_index_dict, edge_weight_dict)

    def _propagate(
        self,
        x_user: Tensor,
        x_item: Tensor,
        graphs: dict[EdgeType, tuple[Adj, Tensor | None, Tensor | None]],
    ) -> tuple[Tensor, Tensor]:
        """Sums layers 0..L of light propagation on the user-item graph."""
        return sum_user_item_layers(
            self.conv,
            x_user,
            x_item,
            graphs[REV_INTERACTS],
            graphs[INTERACTS],
            self.num_layers,
        )

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.in_channels}, {self.channels}, "
            f"num_layers={self.num_layers}, mode='{self.mode}', "
            f"user_graph={self.user_graph})"
        )
