"""The small protocol every recommender of :mod:`mde_pyg` implements, so that
one trainer and one evaluator serve them all."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch_geometric.data import HeteroData
from torch_geometric.transforms import BaseTransform

from mde_pyg.data.hetero import split_edge_index
from mde_pyg.data.sampler import BPRBatch
from mde_pyg.inference import check_users, recommend_from_embeddings

__all__ = ["BPRBatch", "Recommender", "bpr_loss"]


def bpr_loss(pos_score: Tensor, neg_score: Tensor) -> Tensor:
    r"""Bayesian personalised ranking loss
    :math:`-\frac{1}{|B|}\sum \log \sigma(s^+ - s^-)`."""
    return -torch.nn.functional.logsigmoid(pos_score - neg_score).mean()


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
        See :func:`mde_pyg.inference.recommend_from_embeddings`.

        Args:
            data (HeteroData): The data the model reads (with its graphs).
            users (torch.Tensor): ``[B]`` integer user ids.
            k (int, optional): Items per user. (default: :obj:`10`)
            exclude_seen (bool, optional): Never recommend a user's training
                items. (default: :obj:`True`)
            chunk_size (int, optional): Users scored at once; by default a
                block of at most 8 MiB of scores on CPU and 256 MiB
                elsewhere. (default: :obj:`None`)

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
        )

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(num_users={self.num_users}, "
            f"num_items={self.num_items})"
        )
