"""MMGCN's graph convolution of one modality on a bipartite user-item graph:
neighbour aggregation, the node's own transformed message and their
combination."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.typing import OptPairTensor, OptTensor

from mde_pyg.nn.lg_conv import BipartiteLGConv, Graph

COMBINES = ("concat", "add")


class MMGCNConv(torch.nn.Module):
    r"""The graph convolution layer of the `"MMGCN: Multi-modal Graph
    Convolution Network for Personalized Recommendation of Micro-video"
    <https://arxiv.org/abs/1908.06661>`_ paper (Wei et al., ACM MM 2019), as
    its published code (MMRec's ``GCN``) runs it, on one typed relation
    (sources :math:`\to` targets) of a bipartite graph.

    Aggregation of the neighbours' transformed messages, the target's own
    message (plus its ID embedding :math:`\mathbf{e}_i`, if given) and their
    combination:

    .. math::
        \mathbf{h}_i &= \operatorname{LeakyReLU}\Big(\sum_{j \in
        \mathcal{N}(i)} w_{j,i} \, \mathbf{W}_a \mathbf{x}_j\Big), \qquad
        \hat{\mathbf{x}}_i = \operatorname{LeakyReLU}(\mathbf{W}_s
        \mathbf{x}_i + \mathbf{b}_s) + \mathbf{e}_i,

        \mathbf{x}^{\prime}_i &= \begin{cases}
        \operatorname{LeakyReLU}\big(\mathbf{W}_c [\mathbf{h}_i \,\|\,
        \hat{\mathbf{x}}_i] + \mathbf{b}_c\big) & \texttt{"concat"} \\
        \operatorname{LeakyReLU}\big(\mathbf{W}_c \mathbf{h}_i +
        \mathbf{b}_c + \hat{\mathbf{x}}_i\big) & \texttt{"add"}
        \end{cases}

    The aggregation is that of the graph's weights :math:`w_{j,i}`, read as
    given: :math:`1/\deg(i)` is the mean over the neighbours (MMGCN's
    default, :class:`~mde_pyg.data.AddUserItemAdjacency` with
    ``normalization="row"``), :math:`1` their sum (``"none"``). A target
    without neighbours has :math:`\mathbf{h}_i = \mathbf{0}`; with
    ``graph=None`` every target is such a node (the content path of an item
    without interactions). Users and items share one layer: call it once
    per direction.

    Args:
        in_channels (int): Size :math:`F` of the input features.
        out_channels (int): Size :math:`F'` of the output features (and of
            the ID embeddings).
        combine (str, optional): :obj:`"concat"` or :obj:`"add"`.
            (default: :obj:`"concat"`)
        negative_slope (float, optional): Slope of the LeakyReLUs.
            (default: :obj:`0.01`)

    Shapes:
        - **input:** node features :math:`(|\mathcal{V}|, F)` or
          :math:`((|\mathcal{V_s}|, F), (|\mathcal{V_t}|, F))` if bipartite,
          a :class:`~mde_pyg.nn.Graph` of the relation (sparse adjacency
          :math:`(|\mathcal{V_t}|, |\mathcal{V_s}|)`) or :obj:`None`, ID
          embeddings :math:`(|\mathcal{V_t}|, F')` (optional)
        - **output:** target node features :math:`(|\mathcal{V_t}|, F')`
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        combine: str = "concat",
        negative_slope: float = 0.01,
    ) -> None:
        super().__init__()
        if combine not in COMBINES:
            raise ValueError(
                f"Unknown combine '{combine}' (expected one of {COMBINES})"
            )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.combine = combine
        self.negative_slope = negative_slope
        self.lin_message = torch.nn.Linear(in_channels, in_channels, bias=False)
        self.lin_self = torch.nn.Linear(in_channels, out_channels)
        combined = in_channels + out_channels if combine == "concat" else in_channels
        self.lin_combine = torch.nn.Linear(combined, out_channels)
        self.aggregate = BipartiteLGConv()
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-normal message and self weights (as the published code);
        PyTorch's default initialisation of the biases and the combination."""
        self.lin_self.reset_parameters()
        self.lin_combine.reset_parameters()
        torch.nn.init.xavier_normal_(self.lin_message.weight)
        torch.nn.init.xavier_normal_(self.lin_self.weight)

    def forward(
        self,
        x: Tensor | OptPairTensor,
        graph: Graph | None,
        id_embedding: OptTensor = None,
    ) -> Tensor:
        x_target = x if isinstance(x, Tensor) else x[1]
        x_hat = F.leaky_relu(self.lin_self(x_target), self.negative_slope)
        if id_embedding is not None:
            x_hat = x_hat + id_embedding
        if graph is None:  # no neighbours: h = LeakyReLU(0) = 0
            h = x_target.new_zeros(x_target.size(0), self.in_channels)
        else:
            x_source = x if isinstance(x, Tensor) else x[0]
            h = self.aggregate.forward_graph(
                (self.lin_message(x_source), x_target), graph
            )
            h = F.leaky_relu(h, self.negative_slope)
        if self.combine == "concat":
            out = self.lin_combine(torch.cat([h, x_hat], dim=-1))
        else:
            out = self.lin_combine(h) + x_hat
        return F.leaky_relu(out, self.negative_slope)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, "
            f"combine='{self.combine}')"
        )
