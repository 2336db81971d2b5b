"""The small protocol every recommender of :mod:`mde_pyg` implements, so that
one trainer and one evaluator serve them all."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch_geometric.data import HeteroData
from torch_geometric.transforms import BaseTransform

from mde_pyg.data.hetero import ITEM, USER, item_features, split_edge_index
from mde_pyg.data.layout import FEATURE_SUFFIX
from mde_pyg.data.sampler import BPRBatch
from mde_pyg.errors import DatasetError
from mde_pyg.evaluation.retrieval import (
    check_items,
    check_users,
    recommend_from_embeddings,
)

__all__ = ["BPRBatch", "MultiModalRecommender", "Recommender", "bpr_loss"]


def bpr_loss(pos_score: Tensor, neg_score: Tensor) -> Tensor:
    r"""Bayesian personalised ranking loss
    :math:`-\frac{1}{|B|}\sum \log \sigma(s^+ - s^-)`."""
    return -torch.nn.functional.logsigmoid(pos_score - neg_score).mean()


def check_positive(name: str, value: float) -> None:
    """Raises :class:`ValueError` naming the argument ``name`` unless
    ``value`` is above zero (a size, or a temperature that divides)."""
    if not value > 0:
        raise ValueError(f"'{name}' must be > 0 (got {value})")


def check_item_features(
    model: str, features: dict[str, Tensor], num_items: int
) -> None:
    """Raises :class:`~mde_pyg.errors.DatasetError` (a :class:`ValueError`)
    unless ``features`` holds at least one modality, and :class:`ValueError`
    unless every matrix is ``[num_items, d]``."""
    if not features:
        raise DatasetError(
            f"{model} needs at least one item feature modality (the dataset "
            f"has none: add a <modality>{FEATURE_SUFFIX} file, e.g. "
            f"image{FEATURE_SUFFIX}, or choose model=lightgcn)"
        )
    for modality, x in features.items():
        if x.dim() != 2 or x.size(0) != num_items:
            raise ValueError(
                f"Features of modality '{modality}' must have shape "
                f"[num_items={num_items}, d] (got {list(x.shape)})"
            )


class Recommender(torch.nn.Module):
    r"""Base class of the recommenders: functions of the data.

    A recommender holds only its parameters. Every graph it reads is
    precomputed onto the :class:`~torch_geometric.data.HeteroData` by the
    transform of :meth:`graph_transform` (the trainer moves that data to the
    device once), and every method takes the data, so a trained model runs on
    any ``HeteroData`` with the same node counts and edge types: a new split,
    another device, another process's shard.

    Subclasses implement :meth:`forward` (final user and item embeddings),
    :meth:`loss` and :meth:`graph_transform`. :meth:`on_epoch_start` is a
    hook for models that refresh a structure once per epoch (LATTICE's
    learned item graph). Items are scored by the dot product of the
    embeddings.

    Args:
        num_users (int): Number of users.
        num_items (int): Number of items.
    """

    #: Whether the parameters that a training step backpropagates into can
    #: change from step to step (LATTICE's); data-parallel training then
    #: looks for the unused ones at every step instead of once.
    varying_parameter_use: bool = False

    def __init__(self, num_users: int, num_items: int) -> None:
        super().__init__()
        self.num_users = num_users
        self.num_items = num_items

    @classmethod
    def graph_transform(cls, **options: Any) -> BaseTransform:
        """The transform that precomputes, on the data, every graph the model
        reads; ``options`` are its settings (e.g. ``k`` of the item graphs)."""
        raise NotImplementedError

    def forward(self, data: HeteroData) -> tuple[Tensor, Tensor]:
        """Returns the final ``[num_users, d]`` and ``[num_items, d]``
        embeddings on the graphs of ``data``."""
        raise NotImplementedError

    def loss(self, data: HeteroData, batch: BPRBatch) -> Tensor:
        """Returns the scalar training loss of ``batch``."""
        raise NotImplementedError

    def register_item_features(self, features: dict[str, Tensor], freeze: bool) -> None:
        """Stores each modality's raw item features as ``x_<modality>``: a
        trainable copy (fine-tuned, as MGCN and LATTICE do; a copy so that
        training never modifies the dataset's tensors), or with ``freeze`` a
        non-persistent buffer (fixed data, not in the state dict)."""
        for modality, x in features.items():
            x = x.detach().float()
            if freeze:
                self.register_buffer(f"x_{modality}", x, persistent=False)
            else:
                self.register_parameter(f"x_{modality}", torch.nn.Parameter(x.clone()))

    def on_epoch_start(self, data: HeteroData, epoch: int) -> None:  # noqa: B027
        """Called by the trainer before the first batch of every epoch."""

    @torch.no_grad()
    def embeddings(self, data: HeteroData) -> tuple[Tensor, Tensor]:
        """Final embeddings for evaluation: computed once, then every user
        chunk is scored against them."""
        return self.forward(data)

    @torch.no_grad()
    def recommend(
        self,
        data: HeteroData,
        users: Tensor,
        k: int = 10,
        exclude_seen: bool = True,
        chunk_size: int | None = None,
        method: str = "auto",
    ) -> tuple[Tensor, Tensor]:
        r"""The top-:math:`K` items of :obj:`users`: the exact full ranking of
        :meth:`embeddings` by dot product, in blocks of :obj:`chunk_size`
        users, on the embeddings' device.

        Masking and ties are those of the evaluation
        (:mod:`mde_pyg.evaluation.metrics`): with :obj:`exclude_seen`, a
        user's training items (``split_edge_index(data, "train")``) are never
        recommended, and among equal scores the lower item id ranks first.
        If :obj:`k` exceeds the items a user can be recommended, the tail of
        the user's row is padded with item id ``-1`` and score
        :math:`-\infty`. Ids are internal ids (row ``i`` of the embeddings).
        See :func:`mde_pyg.evaluation.retrieval.recommend_from_embeddings`.

        Args:
            data (HeteroData): The data the model reads (with its graphs).
            users (torch.Tensor): ``[B]`` integer user ids.
            k (int, optional): Items per user. (default: :obj:`10`)
            exclude_seen (bool, optional): Never recommend a user's training
                items. (default: :obj:`True`)
            chunk_size (int, optional): Users scored at once; by default a
                block of at most 8 MiB of scores on CPU and 256 MiB
                elsewhere. (default: :obj:`None`)
            method (str, optional): :obj:`"dense"` (score blocks of users
                against every item), :obj:`"mips"` (search an exact faiss
                inner-product index, PyG's
                :class:`~torch_geometric.nn.pool.MIPSKNNIndex`;
                ``pip install "mde-pyg[retrieval]"``) or
                :obj:`"auto"` (``"mips"`` for large catalogues and batches
                of users on the CPU when faiss is installed, see
                :func:`mde_pyg.evaluation.retrieval.resolve_method`). Both give the same
                ranking up to floating-point rounding of near-equal scores.
                With ``"mips"``, :obj:`chunk_size` is the users per index
                search (default 4096). (default: :obj:`"auto"`)

        Returns:
            (torch.Tensor, torch.Tensor): item ids (``long``) and scores,
            best first.

        Shapes:
            - **input:** users :math:`(B)`
            - **output:** item ids :math:`(B, K)`, scores :math:`(B, K)`

        Raises:
            ValueError: if :obj:`users` is not a 1-D integer tensor or holds
                an id out of range (the message names it), or :obj:`k` is
                not a positive integer.
        """
        # Validated before the forward pass, which may be expensive.
        check_users(users, self.num_users)
        user_emb, item_emb = self.embeddings(data)
        return recommend_from_embeddings(
            user_emb,
            item_emb,
            users,
            k=k,
            exclude_index=split_edge_index(data, "train") if exclude_seen else None,
            chunk_size=chunk_size,
            method=method,
        )

    def has_content_path(self) -> bool:
        """Whether the model reads item features (it registered them with
        :meth:`register_item_features`), i.e. could embed an item from its
        features alone."""
        return any(
            name.startswith("x_")
            for name, _ in (
                *self.named_parameters(recurse=False),
                *self.named_buffers(recurse=False),
            )
        )

    def cold_items(self, data: HeteroData) -> Tensor:
        """The ids (ascending) of the items without any training interaction
        in ``data``: the cold-start items, whose ID embeddings were never
        trained on a positive pair."""
        return self._unknown_items(data).nonzero().view(-1)

    def _unknown_items(self, data: HeteroData, items: Tensor | None = None) -> Tensor:
        """``[num_items]`` mask of the items whose ID embedding a cold-start
        embedding must not read: those without training interactions, and
        :obj:`items`."""
        train_items = split_edge_index(data, "train")[1]
        mask = torch.bincount(train_items, minlength=self.num_items) == 0
        if items is not None:
            mask[items.to(mask.device)] = True
        return mask

    @torch.no_grad()
    def cold_item_embeddings(self, data: HeteroData, items: Tensor) -> Tensor:
        r"""Embeddings of *cold* items, items with features but no training
        interaction, computed from the model's content path only, to be
        scored by the dot product with the user embeddings of
        :meth:`embeddings` (:meth:`recommend_cold` does both).

        A cold item's ID embedding never met a positive pair in training, so
        the models that implement this method do not read it: they embed the
        item from its features and the item-item graphs built on them (each
        model's docstring says exactly what it computes), reading the ID
        embeddings of neither :obj:`items` nor any other item without a
        training interaction (:meth:`cold_items`), so an item's embedding
        does not depend on which others are asked for with it. Models
        without a content path (LightGCN) cannot score such items and raise.

        Args:
            data (HeteroData): The data the model reads (with its graphs);
                its catalogue includes the cold items.
            items (torch.Tensor): ``[C]`` item ids (internal ids).

        Returns:
            torch.Tensor: ``[C, d]`` item embeddings.

        Raises:
            NotImplementedError: for a model without a content path, or one
                that does not implement cold-start scoring.
        """
        name = type(self).__name__
        if not self.has_content_path():
            raise NotImplementedError(
                f"{name} has no content path: it cannot score items without "
                "interactions (use a model that reads item features, e.g. MDE, "
                "MGCN, LATTICE, FREEDOM, MMGCN, VBPR, BM3, DRAGON, LGMRec or SMORE, "
                "for cold-start items)"
            )
        raise NotImplementedError(
            f"{name} does not implement cold_item_embeddings: cold-start "
            "scoring is defined for MDE, MGCN, LATTICE, FREEDOM, MMGCN, VBPR, BM3, "
            "DRAGON, LGMRec and SMORE"
        )

    @torch.no_grad()
    def recommend_cold(
        self,
        data: HeteroData,
        users: Tensor,
        items: Tensor,
        k: int = 10,
        chunk_size: int | None = None,
        method: str = "auto",
    ) -> tuple[Tensor, Tensor]:
        r"""The top-:math:`K` of the cold items :obj:`items` for
        :obj:`users`: the users' embeddings of :meth:`embeddings` against
        :meth:`cold_item_embeddings`, ranked by dot product among
        :obj:`items` only (the scores of cold items come from the content
        path alone, so they are not comparable with those of items the model
        was trained on). Ties go to the item listed first in :obj:`items`
        (the lower id when :obj:`items` is ascending).

        Args:
            data (HeteroData): The data the model reads (with its graphs).
            users (torch.Tensor): ``[B]`` integer user ids.
            items (torch.Tensor): ``[C]`` candidate item ids, distinct.
            k (int, optional): Items per user. (default: :obj:`10`)
            chunk_size (int, optional): Users scored at once.
                (default: :obj:`None`)
            method (str, optional): ``"auto"``, ``"dense"`` or ``"mips"``,
                as in :meth:`recommend`. (default: :obj:`"auto"`)

        Returns:
            (torch.Tensor, torch.Tensor): item ids (from :obj:`items`,
            ``-1`` for padding when :math:`K > C`) and scores, best first.

        Shapes:
            - **input:** users :math:`(B)`, items :math:`(C)`
            - **output:** item ids :math:`(B, K)`, scores :math:`(B, K)`

        Raises:
            NotImplementedError: for a model without a content path.
            ValueError: for bad or repeated ids, or a bad :obj:`k`.
        """
        check_users(users, self.num_users)
        items = check_items(items, self.num_items)
        if items.unique().numel() != items.numel():
            raise ValueError("'items' must not repeat an item id")
        cold_emb = self.cold_item_embeddings(data, items)
        user_emb, _ = self.embeddings(data)
        index, scores = recommend_from_embeddings(
            user_emb, cold_emb, users, k=k, chunk_size=chunk_size, method=method
        )
        items = items.to(index.device)
        index = torch.where(index >= 0, items[index.clamp(min=0)], index)
        return index, scores

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(num_users={self.num_users}, "
            f"num_items={self.num_items})"
        )


class MultiModalRecommender(Recommender):
    r"""Base class of the recommenders that read item features (LATTICE,
    FREEDOM, MGCN, MDE, MMGCN, VBPR, BM3, DRAGON, LGMRec, SMORE): it holds the
    free ID embeddings of users and items (unless :attr:`id_embeddings` is
    :obj:`False`) and, as ``x_<modality>``, each modality's raw item features
    (see :meth:`~Recommender.register_item_features`), and builds a model on
    the data with :meth:`from_data`.

    Args:
        num_users (int): Number of users.
        num_items (int): Number of items.
        features (dict): ``{modality: [num_items, d_m] tensor}`` raw item
            features (one or more modalities).
        embedding_dim (int, optional): ID embedding size :math:`d`.
            (default: :obj:`64`)
        freeze_features (bool, optional): Keep the raw features fixed
            (buffers) instead of fine-tuning them (parameters).
            (default: :obj:`False`)
    """

    #: Whether the model has the free ID embeddings ``user_embedding`` and
    #: ``item_embedding`` (DRAGON has none: its users have one preference
    #: vector per modality, its items only their content).
    id_embeddings: bool = True

    def __init__(
        self,
        num_users: int,
        num_items: int,
        features: dict[str, Tensor],
        embedding_dim: int = 64,
        freeze_features: bool = False,
    ) -> None:
        super().__init__(num_users, num_items)
        check_positive("embedding_dim", embedding_dim)
        check_item_features(type(self).__name__, features, num_items)
        self.modalities = list(features)
        self.embedding_dim = embedding_dim
        self.freeze_features = freeze_features
        if self.id_embeddings:
            self.user_embedding = torch.nn.Embedding(num_users, embedding_dim)
            self.item_embedding = torch.nn.Embedding(num_items, embedding_dim)
        self.register_item_features(features, freeze_features)

    @classmethod
    def from_data(cls, data: HeteroData, **kwargs: Any) -> MultiModalRecommender:
        """Builds the model on the users, items and every item feature
        modality of ``data``; ``kwargs`` are the model's other arguments."""
        return cls(
            data[USER].num_nodes, data[ITEM].num_nodes, item_features(data), **kwargs
        )

    def feature(self, modality: str) -> Tensor:
        """The (possibly fine-tuned) ``[num_items, d_m]`` raw features of
        ``modality``."""
        return getattr(self, f"x_{modality}")

    @property
    def features(self) -> dict[str, Tensor]:
        """The raw item features, ``{modality: x}``."""
        return {m: self.feature(m) for m in self.modalities}

    def _cold_id_embeddings(
        self, data: HeteroData, items: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """The inputs of a cold-start embedding
        (:meth:`~Recommender.cold_item_embeddings`): :obj:`items` checked and
        on the model's device, the ``[num_items]`` mask of the items whose ID
        embedding must not be read (:meth:`~Recommender._unknown_items`), and
        the ``[num_items, d]`` ID embeddings with those rows set to zero."""
        items = check_items(items, self.num_items).to(self.item_embedding.weight.device)
        unknown = self._unknown_items(data, items)
        x_item = self.item_embedding.weight.masked_fill(unknown.view(-1, 1), 0.0)
        return items, unknown, x_item
