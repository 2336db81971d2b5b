"""MDE assembled from :class:`~mde_pyg.nn.HeteroGraphEncoder`,
:class:`~mde_pyg.nn.ModalityDiscriminationConv` and
:class:`~mde_pyg.nn.PreferenceGate`."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.data import HeteroData
from torch_geometric.transforms import BaseTransform, Compose

from mde_pyg.data.hetero import (
    CO_INTERACTS,
    INTERACTS,
    ITEM,
    REV_INTERACTS,
    USER,
    item_sim,
)
from mde_pyg.data.transforms import AddModalityGraphs, AddUserItemAdjacency
from mde_pyg.deprecation import renamed_arguments
from mde_pyg.models.base import (
    BPRBatch,
    MultiModalRecommender,
    bpr_loss,
    check_positive,
)
from mde_pyg.models.losses import (
    embedding_l2,
    info_nce,
    modality_alignment_loss,
    orthogonality_loss,
    shared_orthogonality_loss,
    weighted_mean,
)
from mde_pyg.models.mde_options import (
    ALIGN_MODES,
    DIFF_LOSSES,
    MDELossWeights,
)
from mde_pyg.nn.club import CLUB
from mde_pyg.nn.hetero_graph_encoder import HeteroGraphEncoder
from mde_pyg.nn.modality_discrimination_conv import ModalityDiscriminationConv
from mde_pyg.nn.preference_gate import PreferenceGate


class MDEState(NamedTuple):
    """What :meth:`MDE.encode` computes for ``N`` nodes (all
    ``num_users + num_items`` nodes, users first, or a selection)."""

    behaviour: Tensor  # e_id [N, d]
    fused: Tensor  # f [N, d]
    views: Tensor  # z [M, N, d]
    specific: Tensor  # delta [M, N, d]
    alpha: Tensor  # [N]
    beta: Tensor  # [N, M]
    shared: Tensor  # s [N, d]


def node_rows(x: Tensor, views: Tensor) -> Tensor:
    """``[N, (M + 1) d]``: each node's embedding ``x`` (``[N, d]``) and its
    ``M`` views (``[M, N, d]``) side by side."""
    return torch.cat([x, views.transpose(0, 1).reshape(x.size(0), -1)], dim=1)


class MDE(MultiModalRecommender):
    r"""MDE from the `"MDE: Modality Discrimination Enhancement for
    Multi-modal Recommendation" <https://arxiv.org/abs/2502.18481>`_ paper,
    built on MGCN and DRAGON:

    .. math::
        (\mathbf{e}, \mathbf{z}) &= \text{HeteroGraphEncoder}(
        \mathbf{E}^{(0)}, \{\mathbf{X}^m\}), \qquad
        (\mathbf{s}, \boldsymbol{\delta}, \boldsymbol{\Delta}, \beta) =
        \text{ModalityDiscriminationConv}(\mathbf{z}),

        (\mathbf{f}, \alpha) &= \text{PreferenceGate}(\mathbf{e}, \mathbf{s},
        \boldsymbol{\delta}, \boldsymbol{\Delta}), \qquad
        \hat{y}_{ui} = (\mathbf{e}_u + \mathbf{f}_u)^{\top}
        (\mathbf{e}_i + \mathbf{f}_i).

    The loss on a batch :math:`B` of (user, positive, negative) triples is

    .. math::
        \mathcal{L} = \mathcal{L}_{BPR} + \lambda_r \mathcal{L}_{reg} +
        \lambda_a \mathcal{L}_{align} + \lambda_d \mathcal{L}_{diff} +
        \lambda_\phi \|\mathbf{W}_\phi\|_F^2 + \lambda_\alpha
        \overline{(\alpha_n - \alpha_0)^2} + \lambda_t \mathcal{L}_{trade} +
        \lambda_s \mathcal{L}_{spec}

    (a term of weight :math:`0` is not computed) with
    :math:`\mathcal{L}_{reg} = \frac{1}{2|B|}(\|\mathbf{E}_{u}\|^2 +
    \|\mathbf{E}_{i^+}\|^2 + \|\mathbf{E}_{i^-}\|^2)` on the final embeddings,
    and, summed over the batch's users and (separately) its positive items
    :math:`\mathcal{B}` (duplicates kept, as MGCN),

    .. math::
        \mathcal{L}_{align} &= \sum_{\mathcal{B}} \left[
        \text{InfoNCE}(\mathbf{f}_{\mathcal{B}}, \mathbf{e}_{\mathcal{B}}) +
        \lambda_m \frac{1}{|P|} \sum_{m < m'} \frac{1}{|\mathcal{B}|}
        \sum_{n \in \mathcal{B}} \text{sg}(\alpha_n) \,
        \ell^{m,m'}_n \right],

        \mathcal{L}_{diff} &= \sum_{\mathcal{B}} \frac{1}{|\mathcal{B}|}
        \sum_{n \in \mathcal{B}} d_n,

        \mathcal{L}_{trade} &= \sum_{\mathcal{B}} \frac{1}{|\mathcal{B}|}
        \sum_{n \in \mathcal{B}} \left[ \text{sg}(\alpha_n) \,
        \frac{1}{|P|} \sum_{m < m'} \ell^{m,m'}_n + (1 - \text{sg}(\alpha_n))
        \, d_n \right],

        \mathcal{L}_{spec} &= \frac{1}{M} \sum_m \mathcal{L}_{BPR}\left(
        {\mathbf{p}^m_u}^{\top} \mathbf{p}^m_{i^+},
        {\mathbf{p}^m_u}^{\top} \mathbf{p}^m_{i^-}\right), \qquad
        \mathbf{p}^m_n = \mathbf{g}^m_n \odot \boldsymbol{\delta}^m_n,

    where :math:`\text{sg}` stops the gradient, :math:`\ell^{m,m'}_n` is the
    symmetric in-batch InfoNCE between the views :math:`\mathbf{z}^m_n` and
    :math:`\mathbf{z}^{m'}_n` over the modality pairs :math:`P`,
    :math:`\mathbf{g}^m_n` are the preference gates of
    :class:`~mde_pyg.nn.PreferenceGate`, and ``align_pairs="modality"``
    keeps only the second term of :math:`\mathcal{L}_{align}`, with
    :math:`\lambda_m = 1`. The differentiation term :math:`d_n` is chosen by
    ``diff_loss`` (every one is :math:`0` with a single modality):

    * :obj:`"pairwise_cos"`: the mean over pairs of
      :math:`\cos^2(\boldsymbol{\delta}^m_n, \boldsymbol{\delta}^{m'}_n)`
      (constant with two modalities, whose specific parts are collinear).
    * :obj:`"orthogonal"`: the mean over modalities of
      :math:`\cos^2(\boldsymbol{\delta}^m_n, \mathbf{s}_n)`.
    * :obj:`"club"`: the mean over modalities of the
      :class:`~mde_pyg.nn.CLUB` mutual-information upper bound between
      :math:`\boldsymbol{\delta}^m_n` and :math:`\mathbf{s}_n`; its
      estimator's own likelihood loss is added (weight 1, gradients to the
      estimator only) whenever the bound is used.

    With the options of :data:`MGCN_OPTIONS` this is exactly MGCN; the
    default initialisation (:math:`\epsilon = 0`, :math:`\alpha = 1/3`)
    computes the same forward pass. The defaults add the orthogonality term
    (``diff_loss="orthogonal"``, ``lambda_diff=0.1``) to that reduction;
    :data:`PAPER_OPTIONS` switches on the full design of the paper's
    abstract (pairwise difference, node-level trade-off, user-user graph).
    How the defaults were chosen: the docs' design study page
    (``docs/mde_study.rst``).

    Every graph (the user-item weights, the per-modality item graphs and the
    user-user graph) is precomputed once onto the data by
    :meth:`graph_transform`, so a training step normalises nothing; the model
    holds only parameters.

    Args:
        num_users (int): Number of users.
        num_items (int): Number of items.
        features (dict): ``{modality: [num_items, d_m] features}``.
        embedding_dim (int, optional): :math:`d`. (default: :obj:`64`)
        num_layers (int, optional): LightGCN layers :math:`L_{ui}`.
            (default: :obj:`2`)
        user_graph (bool, optional): Use the user-user layer.
            (default: :obj:`False`)
        encoder (str, optional): :obj:`"id_purify"` (MGCN) or
            :obj:`"feature_mlp"` (DRAGON). (default: :obj:`"id_purify"`)
        freeze_features (bool, optional): Keep the raw features fixed
            (buffers) rather than train them (parameters, as MGCN and
            LATTICE). (default: :obj:`False`)
        enhancement (str, optional): The difference enhancement of
            :class:`~mde_pyg.nn.ModalityDiscriminationConv`:
            :obj:`"pairwise"`, :obj:`"amplify"` or :obj:`"none"` (formerly
            ``diff``, a deprecated alias). (default: :obj:`"none"`)
        tradeoff (str, optional): :obj:`"node"` or :obj:`"fixed"`.
            (default: :obj:`"fixed"`)
        learn_alpha (bool, optional): With ``tradeoff="fixed"``, learn the
            global :math:`\alpha` (else the constant :math:`1/3`).
            (default: :obj:`False`)
        align_pairs (str, optional): :obj:`"content_behaviour"` or
            :obj:`"modality"`. (default: :obj:`"content_behaviour"`)
        lambda_align (float, optional): :math:`\lambda_a`.
            (default: :obj:`1e-2`)
        lambda_modal (float, optional): :math:`\lambda_m`.
            (default: :obj:`0.0`)
        tau (float, optional): InfoNCE temperature. (default: :obj:`0.2`)
        reg_weight (float, optional): :math:`\lambda_r`. (default: :obj:`1e-4`)
        lambda_diff (float, optional): :math:`\lambda_d`, the weight of the
            differentiation term :math:`\mathcal{L}_{diff}` (``diff_loss``).
            (default: :obj:`0.1`)
        diff_loss (str, optional): The differentiation term :math:`d_n` of
            :math:`\mathcal{L}_{diff}` and :math:`\mathcal{L}_{trade}`:
            :obj:`"pairwise_cos"`, :obj:`"orthogonal"` or :obj:`"club"`.
            (default: :obj:`"orthogonal"`)
        lambda_tradeoff (float, optional): :math:`\lambda_t`, the loss-level
            node trade-off between alignment and differentiation.
            (default: :obj:`0.0`)
        lambda_specific (float, optional): :math:`\lambda_s`, the ranking
            loss of every gated specific part on its own.
            (default: :obj:`0.0`)
        lambda_phi (float, optional): :math:`\lambda_\phi`, weight decay on
            the difference layer :math:`\phi`. (default: :obj:`0.0`)
        lambda_alpha (float, optional): :math:`\lambda_\alpha`, pulls the
            batch nodes' :math:`\alpha_n` towards :math:`\alpha_0 = 1/3`.
            (default: :obj:`0.0`)

    Shapes:
        - **input:** ``data`` with the graphs of :meth:`graph_transform` and
          ``features`` :math:`\{m: (|\mathcal{I}|, d_m)\}`
        - **output:** :meth:`forward` returns user embeddings
          :math:`(|\mathcal{U}|, d)` and item embeddings
          :math:`(|\mathcal{I}|, d)`; :meth:`loss` a scalar;
          :meth:`explain` each user's and item's :math:`\alpha` and
          :math:`\beta`
    """

    @renamed_arguments(diff="enhancement")
    def __init__(
        self,
        num_users: int,
        num_items: int,
        features: dict[str, Tensor],
        embedding_dim: int = 64,
        num_layers: int = 2,
        user_graph: bool = False,
        encoder: str = "id_purify",
        freeze_features: bool = False,
        enhancement: str = "none",
        tradeoff: str = "fixed",
        learn_alpha: bool = False,
        align_pairs: str = "content_behaviour",
        lambda_align: float = 1e-2,
        lambda_modal: float = 0.0,
        tau: float = 0.2,
        reg_weight: float = 1e-4,
        lambda_diff: float = 0.1,
        lambda_phi: float = 0.0,
        lambda_alpha: float = 0.0,
        diff_loss: str = "orthogonal",
        lambda_tradeoff: float = 0.0,
        lambda_specific: float = 0.0,
    ) -> None:
        if align_pairs not in ALIGN_MODES:
            raise ValueError(
                f"Unknown align_pairs '{align_pairs}' (expected one of {ALIGN_MODES})"
            )
        if diff_loss not in DIFF_LOSSES:
            raise ValueError(
                f"Unknown diff_loss '{diff_loss}' (expected one of {DIFF_LOSSES})"
            )
        check_positive("tau", tau)
        super().__init__(num_users, num_items, features, embedding_dim, freeze_features)
        self.align_pairs = align_pairs
        self.lambda_modal = lambda_modal
        self.tau = tau
        self.diff_loss = diff_loss
        self.weights = MDELossWeights(
            reg=reg_weight,
            align=lambda_align,
            diff=lambda_diff,
            phi=lambda_phi,
            alpha=lambda_alpha,
            tradeoff=lambda_tradeoff,
            specific=lambda_specific,
        )

        self.encoder = HeteroGraphEncoder(
            {m: x.size(1) for m, x in features.items()},
            embedding_dim,
            num_layers=num_layers,
            mode=encoder,
            edge_type=INTERACTS,
            rev_edge_type=REV_INTERACTS,
            item_edge_types={m: item_sim(m) for m in self.modalities},
            user_edge_type=CO_INTERACTS if user_graph else None,
            num_users=num_users,
        )
        self.conv = ModalityDiscriminationConv(embedding_dim, enhancement=enhancement)
        self.gate = PreferenceGate(
            embedding_dim,
            len(features),
            tradeoff=tradeoff,
            alpha=self.initial_alpha(len(features)),
            learn_alpha=learn_alpha,
        )
        self.club = CLUB(embedding_dim) if diff_loss == "club" else None
        self.reset_parameters()

    @staticmethod
    def initial_alpha(num_modalities: int) -> float:
        r"""The trade-off :math:`\alpha_0` of :class:`~mde_pyg.nn.PreferenceGate`
        for ``num_modalities`` modalities: where a learnt :math:`\alpha` starts
        and :math:`\lambda_\alpha` pulls it, and the constant :math:`\alpha`
        with ``tradeoff="fixed"``, ``learn_alpha=False``. :math:`1/3` (MGCN's
        value for two modalities) for any number of modalities."""
        return 1.0 / 3.0

    @classmethod
    def graph_transform(
        cls,
        k: int = 10,
        user_k: int = 40,
        user_graph: bool = False,
        cache_dir: str | Path | None = None,
        chunk_size: int = 1024,
        skip_missing: bool = True,
    ) -> BaseTransform:
        """The symmetric user-item graph, the cosine top-``k`` item graph of
        every modality and (with ``user_graph``) the top-``user_k``
        co-interaction user graph (see
        :class:`~mde_pyg.data.AddModalityGraphs`; item graphs cached in
        ``cache_dir``; an item whose row is missing keeps only itself unless
        ``skip_missing=False``). The defaults are those of
        ``conf/model/mde.yaml``: without the user-user graph, which the
        default model does not read; :data:`PAPER_OPTIONS` needs
        ``user_graph=True``."""
        return Compose(
            [
                AddUserItemAdjacency(),
                AddModalityGraphs(
                    k=k,
                    user_k=user_k,
                    user_graph=user_graph,
                    chunk_size=chunk_size,
                    cache_dir=cache_dir,
                    skip_missing=skip_missing,
                ),
            ]
        )

    def reset_parameters(self) -> None:
        torch.nn.init.xavier_uniform_(self.user_embedding.weight)
        torch.nn.init.xavier_uniform_(self.item_embedding.weight)
        self.encoder.reset_parameters()
        self.conv.reset_parameters()
        self.gate.reset_parameters()
        if self.club is not None:
            self.club.reset_parameters()

    def encode(self, data: HeteroData, index: Tensor | None = None) -> MDEState:
        """Runs the model on the graphs of ``data`` and returns the state of
        the nodes ``index`` (users ``0..U-1``, then items ``U..U+I-1``), or
        of all nodes."""
        encoding = self.encoder.forward_hetero(
            data, self.user_embedding.weight, self.item_embedding.weight, self.features
        )
        # Users and items share the fusion layers (as MGCN).
        if index is None:
            behaviour = torch.cat([encoding.user, encoding.item])
            views = torch.cat([encoding.user_views, encoding.item_views], dim=1)
        else:
            # The fusion is node-wise: a batch needs it on its nodes only.
            # Behaviour and views are gathered as one row per node: the
            # backward pass of one embedding lookup is a single deterministic
            # kernel sequence, where indexing each tensor would cost a sorted
            # scatter per tensor, the most expensive launches of a GPU step.
            rows = torch.cat(
                [
                    node_rows(encoding.user, encoding.user_views),
                    node_rows(encoding.item, encoding.item_views),
                ]
            )
            rows = F.embedding(index, rows).view(index.numel(), -1, self.embedding_dim)
            behaviour, views = rows[:, 0], rows[:, 1:].transpose(0, 1)
        shared, specific, difference, beta = self.conv(views)
        fused, alpha = self.gate(
            behaviour,
            shared,
            specific,
            difference if self.conv.enhancement == "pairwise" else None,
        )
        return MDEState(behaviour, fused, views, specific, alpha, beta, shared)

    def forward(self, data: HeteroData) -> tuple[Tensor, Tensor]:
        state = self.encode(data)
        return (state.behaviour + state.fused).split([self.num_users, self.num_items])

    def loss(self, data: HeteroData, batch: BPRBatch) -> Tensor:
        size = batch.user.numel()
        offset = self.num_users
        index = torch.cat([batch.user, batch.pos + offset, batch.neg + offset])
        state = self.encode(data, index=index)  # rows: users, positives, negatives
        e_user, e_pos, e_neg = (state.behaviour + state.fused).split(size)
        nodes = (slice(0, size), slice(size, 2 * size))  # users, positives
        terms = {
            "reg": lambda: embedding_l2(e_user, e_pos, e_neg),
            "align": lambda: self._align(state, nodes),
            "diff": lambda: sum(self._differentiation(state, n) for n in nodes),
            "phi": lambda: (
                self.conv.phi.weight.pow(2).sum()
                if self.conv.phi is not None
                else e_user.new_zeros(())
            ),
            "alpha": lambda: (
                (state.alpha[: 2 * size] - self.gate.alpha_init).pow(2).mean()
            ),
            "tradeoff": lambda: sum(self._tradeoff(state, n) for n in nodes),
            "specific": lambda: self._specific(state, size),
        }
        loss = bpr_loss((e_user * e_pos).sum(-1), (e_user * e_neg).sum(-1))
        for name, weight in asdict(self.weights).items():
            if weight != 0.0:
                loss = loss + weight * terms[name]()
        if self.club is not None and (self.weights.diff or self.weights.tradeoff):
            # The estimator's own objective (it moves the estimator only).
            nodes = slice(0, 2 * size)
            loss = loss + self.club.learning_loss(
                state.specific[:, nodes], state.shared[nodes]
            )
        return loss

    def _align(self, state: MDEState, nodes: tuple[slice, ...]) -> Tensor:
        """The alignment term, summed over the node sets ``nodes`` (the
        batch's users and positives, consecutive rows of ``state``)."""
        if self.align_pairs == "modality":
            return sum(self._modal(state, n) for n in nodes)
        # All node sets as one [S, B] batch of in-batch problems: one InfoNCE
        # call instead of S (on a GPU, a fraction of the kernel launches),
        # its mean over the sets rescaled to their sum.
        rows = slice(nodes[0].start, nodes[-1].stop)
        sets = (len(nodes), -1)
        loss = len(nodes) * info_nce(
            state.fused[rows].unflatten(0, sets),
            state.behaviour[rows].unflatten(0, sets),
            self.tau,
        )
        if self.lambda_modal != 0.0:
            modal = sum(self._modal(state, n) for n in nodes)
            loss = loss + self.lambda_modal * modal
        return loss

    def _modal(self, state: MDEState, nodes: slice) -> Tensor:
        # alpha is detached: aligning the views must not move the trade-off.
        weight = state.alpha[nodes].detach()
        return modality_alignment_loss(state.views[:, nodes], self.tau, weight)

    def _differentiation(
        self, state: MDEState, nodes: slice, weight: Tensor | None = None
    ) -> Tensor:
        """The differentiation term (``diff_loss``) of one node set, each
        node's value scaled by ``weight`` if given."""
        specific, shared = state.specific[:, nodes], state.shared[nodes]
        if self.diff_loss == "pairwise_cos":
            return orthogonality_loss(specific, weight)
        if self.diff_loss == "orthogonal":
            return shared_orthogonality_loss(specific, shared, weight)
        if specific.size(0) < 2:  # delta = 0: nothing to differentiate
            return specific.new_zeros(())
        return weighted_mean(self.club(specific, shared), weight)

    def _tradeoff(self, state: MDEState, nodes: slice) -> Tensor:
        """The loss-level trade-off of one node set: alignment weighted by
        the detached alpha, differentiation by its complement."""
        complement = 1.0 - state.alpha[nodes].detach()
        return self._modal(state, nodes) + self._differentiation(
            state, nodes, complement
        )

    def _specific(self, state: MDEState, size: int) -> Tensor:
        """BPR of every modality's gated specific part on its own, averaged
        over modalities (rows of ``state``: users, positives, negatives)."""
        parts = self.gate.preferences(state.behaviour) * state.specific
        user, pos, neg = parts.split(size, dim=1)
        return bpr_loss((user * pos).sum(-1), (user * neg).sum(-1))

    @torch.no_grad()
    def cold_item_embeddings(self, data: HeteroData, items: Tensor) -> Tensor:
        r"""Embeddings of cold items (features, no training interaction)
        from MDE's content path: the model's forward pass with the layer-0 ID
        embeddings :math:`\mathbf{E}^{(0)}_i` of :obj:`items` and of every
        item without a training interaction (:meth:`cold_items`) set to zero
        (they never met a positive pair, so they hold only their random
        initialisation and the push of being sampled as negatives), returning
        :math:`\mathbf{e}_i + \mathbf{f}_i` of :obj:`items`.

        For an item without training interactions that gives:

        * behaviour :math:`\mathbf{e}_i = \frac{1}{L+1}\sum_l
          \hat{\mathbf{A}}^l \mathbf{E}^{(0)}` is :math:`\mathbf{0}` (no
          edge in the user-item graph, zero layer 0);
        * views, ``encoder="id_purify"`` (MGCN):
          :math:`\mathbf{z}^m_i = \sum_{j \ne i} \mathbf{S}^m_{ij} \,
          \mathbf{E}^{(0)}_j \odot \sigma(\cdots \mathbf{x}^m_j)`, the
          feature-purified ID embeddings of the item's :math:`k` nearest
          neighbours by the features of modality :math:`m` (its own term
          and those of cold neighbours vanish), i.e. the collaborative
          signal of the warm items it looks like: the item's own features
          enter through the item graph :math:`\mathbf{S}^m` of ``data``
          (which neighbours it has, and their weights) only, as in MGCN;
          ``encoder="feature_mlp"`` (DRAGON):
          :math:`\mathrm{MLP}^m(\mathbf{x}^m_i)` plus the item-graph
          aggregate of its neighbours' views;
        * :math:`\mathbf{f}_i`: the usual modality discrimination and
          preference gate on those views, gated as a node with no behaviour
          signal (the gates see :math:`\mathbf{e}_i = \mathbf{0}`).

        So the embedding is :math:`\mathbf{f}_i`, scored against the usual
        user embeddings :math:`\mathbf{e}_u + \mathbf{f}_u`. The item graphs
        are those of ``data`` (built on the features of every item, cold ones
        included); the features are the model's own (fine-tuned unless
        ``freeze_features``). For an item that has training interactions the
        result is its embedding with its own ID embedding unknown.

        Args:
            data (HeteroData): The data the model reads (with its graphs).
            items (torch.Tensor): ``[C]`` item ids.

        Returns:
            torch.Tensor: ``[C, d]`` item embeddings.
        """
        items, _, x_item = self._cold_id_embeddings(data, items)
        encoding = self.encoder.forward_hetero(
            data, self.user_embedding.weight, x_item, self.features
        )
        behaviour = encoding.item[items]
        shared, specific, difference, _ = self.conv(encoding.item_views[:, items])
        fused, _ = self.gate(
            behaviour,
            shared,
            specific,
            difference if self.conv.enhancement == "pairwise" else None,
        )
        return behaviour + fused

    @torch.no_grad()
    def explain(self, data: HeteroData) -> dict[str, Any]:
        r"""Per-node trade-off :math:`\alpha` (``[N]``, high = leans on the
        shared part) and modality attention :math:`\beta` (``[N, M]``, in the
        order of ``modalities``) of all users and items, on the graphs of
        ``data``."""
        state = self.encode(data)
        sizes = [self.num_users, self.num_items]
        alpha, beta = state.alpha.split(sizes), state.beta.split(sizes)
        return {
            "modalities": list(self.modalities),
            USER: {"alpha": alpha[0], "beta": beta[0]},
            ITEM: {"alpha": alpha[1], "beta": beta[1]},
        }

    def __repr__(self) -> str:
        weights = ", ".join(f"{k}={v}" for k, v in asdict(self.weights).items())
        return (
            f"{self.__class__.__name__}(num_users={self.num_users}, "
            f"num_items={self.num_items}, modalities={self.modalities}, "
            f"embedding_dim={self.embedding_dim}, "
            f"num_layers={self.encoder.num_layers}, "
            f"encoder='{self.encoder.mode}', user_graph={self.encoder.user_graph}, "
            f"freeze_features={self.freeze_features}, "
            f"enhancement='{self.conv.enhancement}', "
            f"tradeoff='{self.gate.tradeoff}', align_pairs='{self.align_pairs}', "
            f"lambda_modal={self.lambda_modal}, tau={self.tau}, "
            f"diff_loss='{self.diff_loss}', "
            f"loss_weights=({weights}))"
        )
