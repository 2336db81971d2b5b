"""Per-modality views of every user and item from a heterogeneous user-item
graph and homogeneous item-item and user-user graphs (MDE)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.typing import EdgeType

from mde_pyg.nn.lg_conv import BipartiteLGConv, Graph, graphs_of
from mde_pyg.nn.user_item_propagation import UserItemPropagation

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
    relations it reads are constructor arguments, as the keys of
    :class:`~torch_geometric.nn.conv.HeteroConv` are, so any node and edge
    type names work. The graphs are passed as ``{edge_type:``
    :class:`~mde_pyg.nn.Graph` ``}``: each either an ``edge_index`` with its
    ``edge_weight``, or a sparse ``adj_t`` (:obj:`torch.sparse` or
    :class:`torch_sparse.SparseTensor`, ``[num_targets, num_sources]``)
    holding the weights, with identical results. Nothing is normalised here:
    precompute the weights once (the transforms
    :class:`mde_pyg.data.AddUserItemAdjacency` and
    :class:`mde_pyg.data.AddModalityGraphs` do), and use
    :meth:`forward_hetero` to read them from a
    :class:`~torch_geometric.data.HeteroData`.

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
        edge_type (tuple, optional): The user -> item relation
            :math:`\hat{\mathbf{A}}`, e.g. ``('user', 'interacts', 'item')``.
            (default: :obj:`None`, required)
        rev_edge_type (tuple, optional): The item -> user relation.
            (default: :obj:`None`, required)
        item_edge_types (dict, optional): ``{modality: item-item relation}``
            :math:`\mathbf{S}^m`. (default: :obj:`None`, required)
        user_edge_type (tuple, optional): The user-user relation; :obj:`None`
            skips the user-user layer. (default: :obj:`None`)
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
        edge_type: EdgeType | None = None,
        rev_edge_type: EdgeType | None = None,
        item_edge_types: Mapping[str, EdgeType] | None = None,
        user_edge_type: EdgeType | None = None,
        num_users: int | None = None,
    ) -> None:
        super().__init__()
        if len(in_channels) == 0:
            raise ValueError("'in_channels' must name at least one modality")
        if mode not in ENCODER_MODES:
            raise ValueError(f"Unknown mode '{mode}' (expected one of {ENCODER_MODES})")
        if mode == "feature_mlp" and num_users is None:
            raise ValueError("mode='feature_mlp' needs 'num_users'")
        if edge_type is None or rev_edge_type is None or item_edge_types is None:
            raise ValueError(
                "'edge_type', 'rev_edge_type' and 'item_edge_types' name the "
                "relations the encoder reads and are required"
            )
        missing = [m for m in in_channels if m not in item_edge_types]
        if missing:
            raise ValueError(f"'item_edge_types' has no relation for {missing}")
        self.in_channels = dict(in_channels)
        self.modalities = list(in_channels)
        self.channels = channels
        self.mode = mode
        self.item_edge_types = {m: tuple(item_edge_types[m]) for m in self.modalities}
        self.user_edge_type = None if user_edge_type is None else tuple(user_edge_type)
        self.propagation = UserItemPropagation(edge_type, rev_edge_type, num_layers)
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
    def num_layers(self) -> int:
        return self.propagation.num_layers

    @property
    def user_graph(self) -> bool:
        return self.user_edge_type is not None

    @property
    def edge_types(self) -> list[EdgeType]:
        """The edge types :meth:`forward` reads."""
        types = self.propagation.edge_types + list(self.item_edge_types.values())
        return types + [self.user_edge_type] if self.user_graph else types

    def forward(
        self,
        x_user: Tensor,
        x_item: Tensor,
        features: Mapping[str, Tensor],
        graphs: Mapping[EdgeType, Graph],
    ) -> HeteroEncoding:
        """Encodes all users and items; ``x_user`` and ``x_item`` are the
        layer-0 ID embeddings, ``features`` the raw item features and
        ``graphs`` holds a :class:`~mde_pyg.nn.Graph` of every relation of
        :attr:`edge_types`."""
        missing = [et for et in self.edge_types if et not in graphs]
        if missing:
            raise KeyError(f"Graphs missing for edge types {missing}")
        missing = [m for m in self.modalities if m not in features]
        if missing:
            raise KeyError(f"Features missing for modalities {missing}")
        to_user = graphs[self.propagation.rev_edge_type]

        num_users, num_items = x_user.size(0), x_item.size(0)
        num_modalities, d = len(self.modalities), self.channels
        if self.mode == "id_purify":
            user, item = self.propagation(x_user, x_item, graphs)
            views = [
                self.conv.forward_graph(
                    x_item * self.item_input[m](features[m]).sigmoid(),
                    graphs[self.item_edge_types[m]],
                )
                for m in self.modalities
            ]
            item_views = torch.stack(views, dim=1).view(num_items, -1)
            # All modalities share R_hat: one product over [|I|, M d].
            user_views = self.conv(
                (item_views, x_user), to_user.adj_t, to_user.edge_weight, to_user.adj
            )
        else:
            pref = F.normalize(self.user_preference, dim=-1).view(num_users, -1)
            feat = [
                F.normalize(self.item_input[m](features[m]), dim=-1)
                for m in self.modalities
            ]
            # Behaviour and modality channels share A_hat: one propagation
            # over [N, (1 + M) d] columns.
            # The views sum their layers (DRAGON); the behaviour channel is
            # the mean.
            user, item = self.propagation.layer_sum(
                torch.cat([x_user, pref], dim=-1),
                torch.cat([x_item, *feat], dim=-1),
                graphs,
            )
            scale = 1.0 / (self.num_layers + 1)
            user, user_views = user[:, :d] * scale, user[:, d:]
            item, item_views = item[:, :d] * scale, item[:, d:]
            views = item_views.view(num_items, num_modalities, d).unbind(dim=1)
            views = [
                z + self.conv.forward_graph(z, graphs[self.item_edge_types[m]])
                for z, m in zip(views, self.modalities)
            ]
            item_views = torch.stack(views, dim=1).view(num_items, -1)

        if self.user_graph:
            user_views = user_views + self.conv.forward_graph(
                user_views, graphs[self.user_edge_type]
            )
        return HeteroEncoding(
            user,
            item,
            user_views.view(num_users, num_modalities, d).transpose(0, 1),
            item_views.view(num_items, num_modalities, d).transpose(0, 1),
        )

    def forward_hetero(
        self,
        data: Any,
        x_user: Tensor,
        x_item: Tensor,
        features: Mapping[str, Tensor],
    ) -> HeteroEncoding:
        r""":meth:`forward` on the graphs stored in a
        :class:`~torch_geometric.data.HeteroData` under :attr:`edge_types`
        (see :func:`graphs_of`)."""
        return self(x_user, x_item, features, graphs_of(data, self.edge_types))

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.in_channels}, {self.channels}, "
            f"num_layers={self.num_layers}, mode='{self.mode}', "
            f"edge_types={self.edge_types})"
        )
