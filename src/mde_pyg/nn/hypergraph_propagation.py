"""Message passing over a hypergraph given by a dense, soft incidence matrix
(LGMRec's global hypergraph embedding)."""

from __future__ import annotations

import torch
from torch import Tensor


class HypergraphPropagation(torch.nn.Module):
    r"""The hypergraph message passing of the `"LGMRec: Local and Global
    Graph Learning for Multimodal Recommendation"
    <https://arxiv.org/abs/2312.16400>`_ paper (Guo et al., AAAI 2024), as
    its published code runs it: :math:`N` *member* nodes with features
    :math:`\mathbf{X}` belong to :math:`A` hyperedges with the weights of a
    dense incidence matrix :math:`\mathbf{H} \in \mathbb{R}^{N \times A}`
    (in LGMRec a learnt soft assignment, each row a Gumbel-softmax). Every
    layer gathers the members into the hyperedges and spreads the hyperedges
    back to the members; *reader* nodes with incidence
    :math:`\mathbf{R} \in \mathbb{R}^{K \times A}` read the hyperedges of the
    last layer without being members:

    .. math::
        \mathbf{Z}^{(l)} = \mathbf{H}^{\top} \mathbf{X}^{(l-1)}, \qquad
        \mathbf{X}^{(l)} = \mathbf{H} \mathbf{Z}^{(l)}
        \quad (l = 1, \dots, L), \qquad
        \mathbf{Y} = \mathbf{R} \mathbf{Z}^{(L)},

    with :math:`\mathbf{X}^{(0)} = \mathbf{X}`. LGMRec's items are the
    members (their collaborative embeddings) and its users the readers
    (:math:`\mathbf{R}` from the hyperedge weights of the items they
    interacted with); an item without interactions can be a reader too, so
    that its output depends on its own hyperedge weights but not on its
    features' share in :math:`\mathbf{Z}`.

    There is no normalisation, nonlinearity or parameter: the weights are
    the incidences as given. Leading dimensions of the incidences are batch
    dimensions (e.g. one hypergraph per modality,
    :math:`(M, N, A)`), against which :math:`\mathbf{X}` broadcasts, so all
    hypergraphs propagate in one batched product.

    Args:
        num_layers (int, optional): Layers :math:`L \geq 1`.
            (default: :obj:`1`)

    Shapes:
        - **input:** member features :math:`(N, F)` or :math:`(*, N, F)`,
          incidence :math:`(*, N, A)`, reader incidence :math:`(*, K, A)`
          (optional)
        - **output:** member features :math:`(*, N, F)` and reader features
          :math:`(*, K, F)` (:obj:`None` without readers)
    """

    def __init__(self, num_layers: int = 1) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"'num_layers' must be >= 1 (got {num_layers})")
        self.num_layers = num_layers

    def reset_parameters(self) -> None:
        """The layer has no parameters."""

    def forward(
        self, x: Tensor, incidence: Tensor, reader_incidence: Tensor | None = None
    ) -> tuple[Tensor, Tensor | None]:
        incidence_t = incidence.transpose(-1, -2)
        for _ in range(self.num_layers):
            hyperedges = incidence_t @ x
            x = incidence @ hyperedges
        readers = None if reader_incidence is None else reader_incidence @ hyperedges
        return x, readers

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(num_layers={self.num_layers})"
