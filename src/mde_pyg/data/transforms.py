r"""PyG transforms that add the homogeneous graphs of multi-modal
recommenders to a :class:`~torch_geometric.data.HeteroData`."""

from __future__ import annotations

import torch
from torch_geometric.data import HeteroData
from torch_geometric.transforms import BaseTransform

from mde_pyg.data.graphs import knn_graph, user_user_graph
from mde_pyg.data.hetero import (
    CO_INTERACTS,
    ITEM,
    USER,
    item_features,
    item_sim,
    split_edge_index,
)


class AddModalityGraphs(BaseTransform):
    r"""Adds the item-item graph of every modality and the user-user
    co-interaction graph.

    For every item feature matrix ``x_<m>`` (see
    :func:`~mde_pyg.data.hetero.item_features`), the cosine top-:math:`k`
    graph of :func:`~mde_pyg.data.graphs.knn_graph` with symmetric
    normalisation is stored as ``data['item', 'sim_<m>', 'item']``
    (``edge_index``, ``edge_weight``). Unless ``user_graph=False``, the
    co-interaction graph of :func:`~mde_pyg.data.graphs.user_user_graph` on
    the training interactions only is stored as
    ``data['user', 'co_interacts', 'user']``. The graphs are frozen: they
    carry no gradient to the features.

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
    """

    def __init__(
        self,
        k: int = 10,
        user_k: int = 40,
        weighted: bool = True,
        user_graph: bool = True,
        chunk_size: int = 1024,
    ) -> None:
        self.k = k
        self.user_k = user_k
        self.weighted = weighted
        self.user_graph = user_graph
        self.chunk_size = chunk_size

    @torch.no_grad()
    def forward(self, data: HeteroData) -> HeteroData:
        for modality, x in item_features(data).items():
            edge_index, edge_weight = knn_graph(
                x,
                k=self.k,
                chunk_size=self.chunk_size,
                weighted=self.weighted,
                normalization="sym",
            )
            data[item_sim(modality)].edge_index = edge_index
            data[item_sim(modality)].edge_weight = edge_weight
        if self.user_graph:
            edge_index, edge_weight = user_user_graph(
                split_edge_index(data, "train"),
                data[USER].num_nodes,
                data[ITEM].num_nodes,
                k=self.user_k,
                chunk_size=self.chunk_size,
            )
            data[CO_INTERACTS].edge_index = edge_index
            data[CO_INTERACTS].edge_weight = edge_weight
        return data

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(k={self.k}, user_k={self.user_k}, "
            f"weighted={self.weighted}, user_graph={self.user_graph}, "
            f"chunk_size={self.chunk_size})"
        )
