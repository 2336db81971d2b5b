"""LGMRec assembled from :class:`~mde_pyg.nn.UserItemPropagation` and
:class:`~mde_pyg.nn.HypergraphPropagation`."""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.data import HeteroData
from torch_geometric.transforms import BaseTransform, Compose
from torch_geometric.typing import EdgeType

from mde_pyg.data.hetero import (
    INTERACTS,
    INTERACTS_AVG,
    INTERACTS_SUM,
    REV_INTERACTS,
    REV_INTERACTS_AVG,
    REV_INTERACTS_SUM,
)
from mde_pyg.data.transforms import AddUserItemAdjacency
from mde_pyg.models.base import (
    BPRBatch,
    MultiModalRecommender,
    bpr_loss,
    check_positive,
)
from mde_pyg.models.losses import all_node_info_nce
from mde_pyg.nn import (
    BipartiteLGConv,
    Graph,
    HypergraphPropagation,
    UserItemPropagation,
    graphs_of,
    modality_pairs,
)

#: The relations LGMRec reads: the symmetrically normalised user-item graph,
#: and the item -> user mean and sum over a user's items.
EDGE_TYPES = [INTERACTS, REV_INTERACTS, REV_INTERACTS_AVG, REV_INTERACTS_SUM]


class LGMRecEncoding(NamedTuple):
    """Output of :meth:`LGMRec.encode`: the final ``[N, d]`` user and item
    embeddings, and every modality's global (hypergraph) embeddings
    ``[M, N, d]`` of users and items, which the contrastive term compares."""

    user: Tensor
    item: Tensor
    hyper_user: Tensor
    hyper_item: Tensor


class LGMRec(MultiModalRecommender):
    r"""LGMRec from the `"LGMRec: Local and Global Graph Learning for
    Multimodal Recommendation" <https://arxiv.org/abs/2312.16400>`_ paper
    (Guo et al., AAAI 2024), as its published code (MMRec): every user and
    item has a *local* embedding, from the user-item graph, and a *global*
    one, from a hypergraph per modality whose hyperedges are learnt from the
    item features.

    Collaborative graph embedding (LightGCN on the symmetrically normalised
    graph :math:`\hat{\mathbf{A}}` of the training interactions, ID
    embeddings :math:`\mathbf{E}^{(0)}`); modality graph embedding, for
    every modality :math:`m`, from the projected features
    :math:`\mathbf{f}^m_i = \mathbf{W}_m \mathbf{x}^m_i` of the items and
    their mean over each user's items :math:`\mathcal{N}(u)`, of which only
    layer :math:`L_m` is kept:

    .. math::
        \mathbf{E} = \frac{1}{L_c+1} \sum_{l=0}^{L_c} \hat{\mathbf{A}}^l
        \mathbf{E}^{(0)}, \qquad
        \mathbf{f}^m_u = \frac{1}{|\mathcal{N}(u)|} \sum_{i \in
        \mathcal{N}(u)} \mathbf{f}^m_i, \qquad
        \mathbf{M}^m = \hat{\mathbf{A}}^{L_m} \mathbf{F}^m.

    Hypergraph of modality :math:`m` with :math:`A` hyperedges: the items'
    weights from their features :math:`\mathbf{X}^m`, a user's from the sum
    over its items (:math:`\mathbf{R}` the 0/1 interaction matrix), each row
    a Gumbel-softmax at temperature :math:`\tau` and under dropout (keep
    rate :math:`\rho`, scaling by :math:`1/\rho`) in training; the global
    embeddings from the items' collaborative embeddings
    (:class:`~mde_pyg.nn.HypergraphPropagation`, :math:`L_h` layers; one
    shown):

    .. math::
        \mathbf{H}^m_{\mathcal{I}} = \operatorname{GumbelSoftmax}_\tau(
        \mathbf{X}^m \mathbf{V}_m), \qquad
        \mathbf{H}^m_{\mathcal{U}} = \operatorname{GumbelSoftmax}_\tau(
        \mathbf{R} \mathbf{X}^m \mathbf{V}_m), \qquad
        \mathbf{G}^m_{\mathcal{I}} = \mathbf{H}^m_{\mathcal{I}}
        \mathbf{H}^{m\top}_{\mathcal{I}} \mathbf{E}_{\mathcal{I}}, \qquad
        \mathbf{G}^m_{\mathcal{U}} = \mathbf{H}^m_{\mathcal{U}}
        \mathbf{H}^{m\top}_{\mathcal{I}} \mathbf{E}_{\mathcal{I}}.

    Final embeddings (:math:`\bar{\mathbf{v}} = \mathbf{v} / \|\mathbf{v}\|`)
    and scores:

    .. math::
        \mathbf{e}_n = \mathbf{E}_n + \sum_m \overline{\mathbf{M}^m_n} +
        \alpha \, \overline{\textstyle\sum_m \mathbf{G}^m_n}, \qquad
        \hat{y}_{ui} = \mathbf{e}_u^{\top} \mathbf{e}_i.

    Loss on a batch :math:`B` of (user, positive, negative) triples, with
    the contrast of the global embeddings of two modalities against every
    node (:func:`~mde_pyg.models.losses.all_node_info_nce`, summed over the
    batch) and MMRec's ``EmbLoss`` on the final embeddings (Frobenius norms,
    not squared):

    .. math::
        \mathcal{L} = \mathcal{L}_{BPR}(\mathbf{e}) + \lambda_c \big(
        \mathcal{L}_{NCE}(\mathbf{G}^{m}_{U_B}, \mathbf{G}^{m'}_{\mathcal{U}})
        + \mathcal{L}_{NCE}(\mathbf{G}^{m}_{I^+_B},
        \mathbf{G}^{m'}_{\mathcal{I}})\big) + \lambda
        \frac{\|\mathbf{e}_{U_B}\|_F + \|\mathbf{e}_{I^+_B}\|_F +
        \|\mathbf{e}_{I^-_B}\|_F}{|B|}

    for the published two modalities :math:`(m, m')` (image, text). Any
    number :math:`M \geq 1` of modalities: the local and global terms sum
    over them, and the contrast is averaged over the unordered pairs
    :math:`m < m'` in the data's order of the modalities (the first one
    anchors, as the published image does; MMRec's datasets sort ``image``
    before ``text``). With a single modality there is no pair: the
    contrastive term is zero and the global embedding is that modality's
    (the published code needs image and text). A dataset without item
    features is refused (:class:`~mde_pyg.errors.DatasetError`).

    What the published code does, and what this class does by default:

    * It draws fresh Gumbel noise in evaluation too (once per block of
      users scored), so its rankings are random. Here the evaluation and
      the recommendations use the noise-free weights
      :math:`\operatorname{softmax}(\mathbf{X}^m\mathbf{V}_m / \tau)` and are
      deterministic; ``sample_at_eval=True`` draws as the published code
      does (once per evaluation), for a parity run.
    * It adds :math:`10^{-7}` to every degree of :math:`\hat{\mathbf{A}}`
      and of the user mean; here nodes without edges get zero weights (no
      change to the model).
    * Its ``cf_model: mf`` (ID embeddings without propagation) is
      ``num_ui_layers=0``; its ``feat_embed_dim`` is the embedding size
      (the two are added).

    Initialisation as the published code: ID embeddings and the maps
    :math:`\mathbf{W}_m`, :math:`\mathbf{V}_m` (no biases) xavier-uniform;
    the raw features stay fixed by default, as published.

    Args:
        num_users (int): Number of users.
        num_items (int): Number of items.
        features (dict): ``{modality: [num_items, d_m] tensor}`` raw item
            features (one or more modalities).
        embedding_dim (int, optional): Embedding size :math:`d` (also of
            the projected features). (default: :obj:`64`)
        num_ui_layers (int, optional): :math:`L_c`, layers of the
            collaborative embedding. (default: :obj:`2`)
        num_mm_layers (int, optional): :math:`L_m`, layers of the modality
            graph embedding. (default: :obj:`2`)
        num_hyper_layers (int, optional): :math:`L_h \geq 1`, hypergraph
            layers. (default: :obj:`1`)
        num_hyperedges (int, optional): :math:`A`, hyperedges per modality.
            (default: :obj:`4`)
        keep_rate (float, optional): :math:`\rho \in (0, 1]`, the keep rate
            of the dropout on the hyperedge weights. (default: :obj:`0.5`)
        alpha (float, optional): :math:`\alpha`, the weight of the global
            embeddings. (default: :obj:`0.3`)
        cl_weight (float, optional): :math:`\lambda_c`, the weight of the
            contrastive term. (default: :obj:`1e-4`)
        reg_weight (float, optional): :math:`\lambda`. (default: :obj:`1e-6`)
        tau (float, optional): :math:`\tau`, the temperature of the
            Gumbel-softmax and of the contrastive term. (default: :obj:`0.2`)
        sample_at_eval (bool, optional): Draw Gumbel noise in evaluation
            too, as the published code does. (default: :obj:`False`)
        freeze_features (bool, optional): Keep the raw features fixed, as
            the published code does (false fine-tunes them).
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
        num_ui_layers: int = 2,
        num_mm_layers: int = 2,
        num_hyper_layers: int = 1,
        num_hyperedges: int = 4,
        keep_rate: float = 0.5,
        alpha: float = 0.3,
        cl_weight: float = 1e-4,
        reg_weight: float = 1e-6,
        tau: float = 0.2,
        sample_at_eval: bool = False,
        freeze_features: bool = True,
    ) -> None:
        if not 0.0 < keep_rate <= 1.0:
            raise ValueError(f"'keep_rate' must be in (0, 1] (got {keep_rate})")
        if num_hyperedges < 1:
            raise ValueError(f"'num_hyperedges' must be >= 1 (got {num_hyperedges})")
        check_positive("tau", tau)
        super().__init__(num_users, num_items, features, embedding_dim, freeze_features)
        self.num_hyperedges = num_hyperedges
        self.keep_rate = keep_rate
        self.alpha = alpha
        self.cl_weight = cl_weight
        self.reg_weight = reg_weight
        self.tau = tau
        self.sample_at_eval = sample_at_eval
        self.projections = torch.nn.ModuleDict(
            {
                m: torch.nn.Linear(x.size(1), embedding_dim, bias=False)
                for m, x in features.items()
            }
        )
        self.hyperedge_logits = torch.nn.ModuleDict(
            {
                m: torch.nn.Linear(x.size(1), num_hyperedges, bias=False)
                for m, x in features.items()
            }
        )
        self.collaborative = UserItemPropagation(
            INTERACTS, REV_INTERACTS, num_ui_layers
        )
        self.modality_propagation = UserItemPropagation(
            INTERACTS, REV_INTERACTS, num_mm_layers
        )
        self.to_user = BipartiteLGConv()
        self.hypergraph = HypergraphPropagation(num_hyper_layers)
        self.reset_parameters()

    @classmethod
    def graph_transform(cls) -> BaseTransform:
        """The user-item graph, symmetrically normalised (the collaborative
        and modality graph embeddings), row-normalised (a user's mean of its
        items' features) and unnormalised (a user's sum of its items'
        hyperedge logits) (:class:`~mde_pyg.data.AddUserItemAdjacency`)."""
        return Compose(
            [
                AddUserItemAdjacency(),
                AddUserItemAdjacency(
                    normalization="row",
                    out_edge_types=(INTERACTS_AVG, REV_INTERACTS_AVG),
                ),
                AddUserItemAdjacency(
                    normalization="none",
                    out_edge_types=(INTERACTS_SUM, REV_INTERACTS_SUM),
                ),
            ]
        )

    def reset_parameters(self) -> None:
        """Xavier-uniform ID embeddings, projections and hyperedge maps. The
        raw features are data and keep their current values."""
        torch.nn.init.xavier_uniform_(self.user_embedding.weight)
        torch.nn.init.xavier_uniform_(self.item_embedding.weight)
        for layer in (*self.projections.values(), *self.hyperedge_logits.values()):
            torch.nn.init.xavier_uniform_(layer.weight)

    def _per_modality(self, columns: Tensor) -> Tensor:
        """``[N, M F]`` modality blocks side by side -> ``[M, N, F]``."""
        num_modalities = len(self.modalities)
        return columns.view(columns.size(0), num_modalities, -1).transpose(0, 1)

    def _sum_to_users(self, item_columns: Tensor, graph: Graph) -> Tensor:
        """``[U, F]``: every user's aggregate, by ``graph``'s weights, of the
        ``[I, F]`` columns of its items."""
        # The user embeddings only give the conv the number of users.
        return self.to_user.forward_graph(
            (item_columns, self.user_embedding.weight), graph
        )

    def projected_features(self, items: Tensor | None = None) -> Tensor:
        r"""``[M, N, d]``: :math:`\mathbf{W}_m \mathbf{x}^m_i` of ``items``
        (all if :obj:`None`) in every modality."""
        return torch.stack(
            [
                self.projections[m](
                    self.feature(m) if items is None else self.feature(m)[items]
                )
                for m in self.modalities
            ]
        )

    def modality_embeddings(
        self, graphs: dict[EdgeType, Graph]
    ) -> tuple[Tensor, Tensor]:
        r"""The modality graph embeddings :math:`\mathbf{M}^m`, ``[M, U, d]``
        and ``[M, I, d]`` (every modality in one propagation)."""
        item = self.projected_features().transpose(0, 1).flatten(1)  # [I, M d]
        user = self._sum_to_users(item, graphs[REV_INTERACTS_AVG])
        user, item = self.modality_propagation.last_layer(user, item, graphs)
        return self._per_modality(user), self._per_modality(item)

    def hyperedge_weights(
        self, graphs: dict[EdgeType, Graph], sample: bool
    ) -> tuple[Tensor, Tensor]:
        r"""The hyperedge weights :math:`\mathbf{H}^m_{\mathcal{U}}`,
        ``[M, U, A]``, and :math:`\mathbf{H}^m_{\mathcal{I}}`, ``[M, I, A]``,
        before dropout: Gumbel-softmax rows if ``sample``, else the
        noise-free :math:`\operatorname{softmax}(\cdot / \tau)`."""
        logits = torch.cat(
            [self.hyperedge_logits[m](self.feature(m)) for m in self.modalities],
            dim=-1,
        )  # [I, M A]
        user = self._sum_to_users(logits, graphs[REV_INTERACTS_SUM])
        item, user = self._per_modality(logits), self._per_modality(user)
        if sample:
            item = F.gumbel_softmax(item, tau=self.tau, dim=-1)
            user = F.gumbel_softmax(user, tau=self.tau, dim=-1)
        else:
            item, user = F.softmax(item / self.tau, -1), F.softmax(user / self.tau, -1)
        return user, item

    def encode(self, data: HeteroData) -> LGMRecEncoding:
        r"""The final and the global embeddings on the graphs of ``data``.
        Random in training (Gumbel noise and dropout on the hyperedge
        weights; the noise also in evaluation with ``sample_at_eval``)."""
        graphs = graphs_of(data, EDGE_TYPES)
        user_cf, item_cf = self.collaborative(
            self.user_embedding.weight, self.item_embedding.weight, graphs
        )
        user_mm, item_mm = self.modality_embeddings(graphs)
        user_h, item_h = self.hyperedge_weights(
            graphs, sample=self.training or self.sample_at_eval
        )
        drop = 1.0 - self.keep_rate
        hyper_item, hyper_user = self.hypergraph(
            item_cf,
            F.dropout(item_h, drop, self.training),
            F.dropout(user_h, drop, self.training),
        )

        def combine(cf: Tensor, mm: Tensor, hyper: Tensor) -> Tensor:
            local = cf + F.normalize(mm, dim=-1).sum(0)
            return local + self.alpha * F.normalize(hyper.sum(0), dim=-1)

        return LGMRecEncoding(
            combine(user_cf, user_mm, hyper_user),
            combine(item_cf, item_mm, hyper_item),
            hyper_user,
            hyper_item,
        )

    def forward(self, data: HeteroData) -> tuple[Tensor, Tensor]:
        encoding = self.encode(data)
        return encoding.user, encoding.item

    def hypergraph_contrast(self, encoding: LGMRecEncoding, batch: BPRBatch) -> Tensor:
        r"""The contrastive term: every pair of modalities' global embeddings
        of the batch's users and positive items against all users and items
        of the other modality, summed over the batch, averaged over the
        pairs (zero with one modality)."""
        first_user, second_user = modality_pairs(encoding.hyper_user)
        if first_user.size(0) == 0:
            return encoding.user.new_zeros(())
        first_item, second_item = modality_pairs(encoding.hyper_item)
        users = all_node_info_nce(
            first_user[:, batch.user], second_user, batch.user, self.tau
        )
        items = all_node_info_nce(
            first_item[:, batch.pos], second_item, batch.pos, self.tau
        )
        return (users + items).mean()

    def loss(self, data: HeteroData, batch: BPRBatch) -> Tensor:
        encoding = self.encode(data)
        user = encoding.user[batch.user]
        pos, neg = encoding.item[batch.pos], encoding.item[batch.neg]
        loss = bpr_loss((user * pos).sum(-1), (user * neg).sum(-1))
        reg = (user.norm() + pos.norm() + neg.norm()) / batch.user.numel()
        loss = loss + self.reg_weight * reg
        if self.cl_weight != 0.0:
            loss = loss + self.cl_weight * self.hypergraph_contrast(encoding, batch)
        return loss

    @torch.no_grad()
    def cold_item_embeddings(self, data: HeteroData, items: Tensor) -> Tensor:
        r"""Embeddings of cold items (features, no training interaction)
        from LGMRec's content path, its global embedding: the item's
        hyperedge weights :math:`\mathbf{h}^m_i` (from its features) read the
        hyperedges :math:`\mathbf{Z}^m` of the last hypergraph layer, to
        which only the items with training interactions belong (the
        :obj:`items` and the other items without interactions are readers,
        not members, and their ID embeddings are zero in the collaborative
        embeddings :math:`\mathbf{E}`):

        .. math::
            \mathbf{e}_i = \alpha \, \overline{\textstyle\sum_m
            \mathbf{h}^m_i \mathbf{Z}^m}
            \; \Big(+ \sum_m \overline{\mathbf{W}_m \mathbf{x}^m_i}
            \text{ if } L_m = 0\Big)

        With one hypergraph layer (the published setting) this is
        :meth:`forward`'s row, in evaluation, of an item without training
        interactions when the ID embeddings of all such items are zero: its
        collaborative embedding is then zero, and so is its modality graph
        embedding unless :math:`L_m = 0` (only layer 0 holds the item's own
        features), and its hyperedge weights take no share in
        :math:`\mathbf{Z}^m`. With more layers, a member's output feeds the
        next layer, and leaving the cold items out of the hyperedges keeps an
        item's embedding independent of the others asked for with it.

        The arguments (``data`` with its graphs) and the ``[C, d]`` result
        are those of :meth:`~mde_pyg.models.Recommender.cold_item_embeddings`.
        """
        items, unknown, x_item = self._cold_id_embeddings(data, items)
        graphs = graphs_of(data, EDGE_TYPES)
        _, item_cf = self.collaborative(self.user_embedding.weight, x_item, graphs)
        _, item_h = self.hyperedge_weights(graphs, sample=self.sample_at_eval)
        members = item_h.masked_fill(unknown.view(1, -1, 1), 0.0)
        _, hyper = self.hypergraph(item_cf, members, item_h[:, items])
        out = self.alpha * F.normalize(hyper.sum(0), dim=-1)
        if self.modality_propagation.num_layers == 0:
            out = out + F.normalize(self.projected_features(items), dim=-1).sum(0)
        return out

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(num_users={self.num_users}, "
            f"num_items={self.num_items}, modalities={self.modalities}, "
            f"embedding_dim={self.embedding_dim}, "
            f"num_ui_layers={self.collaborative.num_layers}, "
            f"num_mm_layers={self.modality_propagation.num_layers}, "
            f"num_hyper_layers={self.hypergraph.num_layers}, "
            f"num_hyperedges={self.num_hyperedges}, keep_rate={self.keep_rate}, "
            f"alpha={self.alpha}, cl_weight={self.cl_weight}, "
            f"reg_weight={self.reg_weight}, tau={self.tau}, "
            f"sample_at_eval={self.sample_at_eval}, "
            f"freeze_features={self.freeze_features})"
        )
