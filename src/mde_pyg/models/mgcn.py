"""MGCN as a named configuration of MDE's layers
(:class:`~mde_pyg.nn.HeteroGraphEncoder`,
:class:`~mde_pyg.nn.ModalityDiscriminationConv` and
:class:`~mde_pyg.nn.PreferenceGate`)."""

from __future__ import annotations

import warnings
from pathlib import Path

from torch import Tensor
from torch_geometric.transforms import BaseTransform

from mde_pyg.deprecation import renamed_arguments
from mde_pyg.models.mde import MDE
from mde_pyg.models.mde_options import MGCN_OPTIONS


class MGCN(MDE):
    r"""MGCN from the `"Multi-View Graph Convolutional Network for
    Multimedia Recommendation" <https://arxiv.org/abs/2308.03588>`_ paper
    (Yu et al., ACM MM 2023), as in its published code and the MMRec
    comparisons.

    MGCN is the reduction of :class:`~mde_pyg.models.MDE` without difference
    enhancement (``enhancement="none"``), with the fixed trade-off
    :math:`\alpha = 1/3` (``tradeoff="fixed"``, ``learn_alpha=False``),
    without the user-user graph and with the content-behaviour alignment
    alone (``lambda_modal=0``): this class runs the same layers in that
    configuration, under MGCN's own argument names.

    Behaviour view (LightGCN on :math:`\hat{\mathbf{A}} =
    \mathbf{D}^{-1/2}\mathbf{A}\mathbf{D}^{-1/2}` with free ID embeddings
    :math:`\mathbf{E}^{(0)}`, users and items), and for every modality
    :math:`m` the behaviour-guided purifier, one layer on the frozen item
    graph :math:`\mathbf{S}^m` (the symmetrically normalised cosine
    top-:math:`k` graph of the raw features :math:`\mathbf{X}^m`, weighted
    by the similarity) and the user-item block :math:`\hat{\mathbf{R}}` of
    :math:`\hat{\mathbf{A}}`:

    .. math::
        \mathbf{e} &= \frac{1}{L+1} \sum_{l=0}^{L} \hat{\mathbf{A}}^l
        \mathbf{E}^{(0)}, \qquad
        \mathbf{h}^m_i = \mathbf{E}^{(0)}_i \odot \sigma\big(
        \mathbf{W}^m_g (\mathbf{W}^m \mathbf{x}^m_i + \mathbf{b}^m) +
        \mathbf{b}^m_g\big),

        \mathbf{z}^m_{\mathcal{I}} &= \mathbf{S}^m
        \mathbf{h}^m_{\mathcal{I}}, \qquad
        \mathbf{z}^m_{\mathcal{U}} = \hat{\mathbf{R}} \,
        \mathbf{z}^m_{\mathcal{I}}.

    Behaviour-aware fuser, for every user and item :math:`n`:

    .. math::
        \beta_{n,m} &= \operatorname{softmax}_m\big(\mathbf{q}^{\top}
        \tanh(\mathbf{W}_q \mathbf{z}^m_n + \mathbf{b}_q)\big), \qquad
        \mathbf{s}_n = \sum_m \beta_{n,m} \mathbf{z}^m_n,

        \mathbf{f}_n &= \frac{1}{M + 1}\Big(\mathbf{s}_n + \sum_m
        \sigma(\mathbf{W}^m_p \mathbf{e}_n + \mathbf{b}^m_p) \odot
        (\mathbf{z}^m_n - \mathbf{s}_n)\Big), \qquad
        \hat{y}_{ui} = (\mathbf{e}_u + \mathbf{f}_u)^{\top}
        (\mathbf{e}_i + \mathbf{f}_i),

    i.e. the reference's :math:`(\mathbf{s} + \mathbf{g}^v \odot
    \boldsymbol{\delta}^v + \mathbf{g}^t \odot \boldsymbol{\delta}^t) / 3`
    with two modalities. Loss on a batch :math:`B` of (user, positive,
    negative) triples, with :math:`\mathbf{o} = \mathbf{e} + \mathbf{f}`:

    .. math::
        \mathcal{L} = \mathcal{L}_{BPR}(\mathbf{o}) + \lambda_r
        \frac{\|\mathbf{o}_{U_B}\|_F^2 + \|\mathbf{o}_{I^+_B}\|_F^2 +
        \|\mathbf{o}_{I^-_B}\|_F^2}{2|B|} + \lambda_c \Big(
        \text{InfoNCE}_\tau(\mathbf{f}_{I^+_B}, \mathbf{e}_{I^+_B}) +
        \text{InfoNCE}_\tau(\mathbf{f}_{U_B}, \mathbf{e}_{U_B})\Big)

    with the in-batch cosine InfoNCE of
    :func:`~mde_pyg.models.losses.info_nce` (duplicates in the batch kept, as
    the reference). The graphs are precomputed onto the data by
    :meth:`graph_transform`. Train with the reference's learning-rate
    schedule :math:`0.96^{\,\text{epoch}/50}` (the ``trainer:`` block of
    ``conf/model/mgcn.yaml``).

    Differences from the reference code, none of which changes the model:
    the regulariser divides by the actual batch size (the reference by the
    configured one, which differs on the last, smaller batch of an epoch);
    an item is always its own neighbour in :math:`\mathbf{S}^m`; any number
    :math:`M \ge 1` of modalities (the reference needs exactly image and
    text), with the fused view the mean of the shared part and the
    :math:`M` gated specific parts (:math:`\alpha = 1/(M+1)`; for
    :math:`M \neq 2` this is not MDE's reduction, which keeps
    :math:`\alpha = 1/3`).

    Args:
        num_users (int): Number of users.
        num_items (int): Number of items.
        features (dict): ``{modality: [num_items, d_m] tensor}`` raw item
            features (one or more modalities).
        embedding_dim (int, optional): Embedding size :math:`d`.
            (default: :obj:`64`)
        num_layers (int, optional): LightGCN layers :math:`L` of the
            behaviour view. (default: :obj:`2`)
        lambda_align (float, optional): :math:`\lambda_c`, the weight of the
            contrastive (content-behaviour InfoNCE) term, MDE's
            ``lambda_align`` (the reference's and formerly this argument's
            ``cl_loss``, a deprecated alias); the published grid is
            ``{1e-3, 1e-2, 1e-1}``. (default: :obj:`1e-2`)
        reg_weight (float, optional): :math:`\lambda_r`. (default:
            :obj:`1e-4`)
        tau (float, optional): InfoNCE temperature :math:`\tau`.
            (default: :obj:`0.2`)
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

    @renamed_arguments(cl_loss="lambda_align")
    def __init__(
        self,
        num_users: int,
        num_items: int,
        features: dict[str, Tensor],
        embedding_dim: int = 64,
        num_layers: int = 2,
        lambda_align: float = 1e-2,
        reg_weight: float = 1e-4,
        tau: float = 0.2,
        freeze_features: bool = False,
    ) -> None:
        super().__init__(
            num_users,
            num_items,
            features,
            embedding_dim=embedding_dim,
            num_layers=num_layers,
            encoder="id_purify",
            freeze_features=freeze_features,
            lambda_align=lambda_align,
            tau=tau,
            reg_weight=reg_weight,
            **MGCN_OPTIONS,
        )

    @staticmethod
    def initial_alpha(num_modalities: int) -> float:
        r"""The constant trade-off :math:`\alpha = 1/(M+1)`: the fused view
        is the mean of the shared part and the :math:`M` gated specific parts
        (:math:`1/3` for two modalities, as MDE's)."""
        return 1.0 / (num_modalities + 1)

    @classmethod
    def graph_transform(
        cls,
        k: int = 10,
        cache_dir: str | Path | None = None,
        chunk_size: int = 1024,
        skip_missing: bool = True,
    ) -> BaseTransform:
        """MGCN's graphs: the symmetrically normalised user-item graph and the
        similarity-weighted, symmetrically normalised cosine top-``k`` item
        graph of every modality (no user-user graph).

        Args:
            k (int, optional): Neighbours per item (itself included) in every
                modality's item graph. (default: :obj:`10`)
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
        return super().graph_transform(
            k=k,
            user_graph=False,
            cache_dir=cache_dir,
            chunk_size=chunk_size,
            skip_missing=skip_missing,
        )

    @property
    def cl_loss(self) -> float:
        r"""Deprecated: the contrastive weight :math:`\lambda_c`, now
        ``weights.align`` (the argument ``lambda_align``)."""
        warnings.warn(
            "MGCN.cl_loss is deprecated, use .weights.align",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.weights.align

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(num_users={self.num_users}, "
            f"num_items={self.num_items}, modalities={self.modalities}, "
            f"embedding_dim={self.embedding_dim}, "
            f"num_layers={self.encoder.num_layers}, "
            f"lambda_align={self.weights.align}, "
            f"reg_weight={self.weights.reg}, tau={self.tau}, "
            f"freeze_features={self.freeze_features})"
        )
