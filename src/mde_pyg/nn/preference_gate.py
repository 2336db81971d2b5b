"""Node-level trade-off between shared and modality-specific information
with learnable modality preferences (MDE)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from mde_pyg.deprecation import renamed_arguments

TRADEOFF_MODES = ("node", "fixed")


class PreferenceGate(torch.nn.Module):
    r"""Fuses the shared part, the specific parts and the difference of the
    modality views of every node with a per-node trade-off :math:`\alpha_n`
    and per-node, per-modality preference gates, from the `"MDE: Modality
    Discrimination Enhancement for Multi-modal Recommendation"
    <https://arxiv.org/abs/2502.18481>`_ paper (the preference gates are
    MGCN's, `"Multi-View Graph Convolutional Network for Multimedia
    Recommendation" <https://arxiv.org/abs/2308.03588>`_):

    .. math::
        \alpha_n &= \sigma(\mathbf{w}_a^{\top} \mathbf{e}_n + b_a), \qquad
        \mathbf{g}^m_n = \sigma(\mathbf{W}^m_p \mathbf{e}_n + \mathbf{b}^m_p),

        \mathbf{f}_n &= \alpha_n \mathbf{s}_n + (1 - \alpha_n) \left(
        \frac{1}{M} \sum_m \mathbf{g}^m_n \odot \boldsymbol{\delta}^m_n
        + \epsilon \boldsymbol{\Delta}_n \right),

    where :math:`\mathbf{e}_n` is the node's behaviour (ID) embedding and
    :math:`\epsilon` a learnable scalar. At initialisation
    :math:`\epsilon = 0`, :math:`\mathbf{w}_a = 0` and
    :math:`b_a = \operatorname{logit}(\alpha_0)`, so with the default
    :math:`\alpha_0 = 1/3` and two modalities the output is MGCN's
    :math:`(\mathbf{s} + \mathbf{g}^1 \odot \boldsymbol{\delta}^1 +
    \mathbf{g}^2 \odot \boldsymbol{\delta}^2) / 3`.

    With ``tradeoff="fixed"`` one global :math:`\alpha` replaces
    :math:`\alpha_n`: a learnable scalar :math:`\sigma(a)` initialised at
    :math:`\alpha_0`, or the constant :math:`\alpha_0` if
    ``learn_alpha=False``.

    Args:
        channels (int): Embedding size :math:`d`.
        num_modalities (int): Number of modalities :math:`M`.
        tradeoff (str, optional): :obj:`"node"` (per-node :math:`\alpha_n`) or
            :obj:`"fixed"` (one global :math:`\alpha`). (default: :obj:`"node"`)
        alpha (float, optional): Initial (or constant) trade-off
            :math:`\alpha_0 \in (0, 1)`. (default: :obj:`1/3`)
        learn_alpha (bool, optional): With ``tradeoff="fixed"``, learn
            :math:`\alpha` rather than keep it constant. (default: :obj:`True`)

    Shapes:
        - **input:** behaviour embeddings :math:`(N, d)`, shared part
          :math:`(N, d)`, specific parts :math:`(M, N, d)`, difference
          :math:`(N, d)` or :obj:`None`
        - **output:** fused embeddings :math:`(N, d)`, trade-off :math:`(N)`
    """

    def __init__(
        self,
        channels: int,
        num_modalities: int,
        tradeoff: str = "node",
        alpha: float = 1.0 / 3.0,
        learn_alpha: bool = True,
    ) -> None:
        super().__init__()
        if tradeoff not in TRADEOFF_MODES:
            raise ValueError(
                f"Unknown tradeoff '{tradeoff}' (expected one of {TRADEOFF_MODES})"
            )
        if not 0.0 < alpha < 1.0:
            raise ValueError(f"'alpha' must lie in (0, 1) (got {alpha})")
        self.channels = channels
        self.num_modalities = num_modalities
        self.tradeoff = tradeoff
        self.alpha_init = alpha
        self.learn_alpha = learn_alpha or tradeoff == "node"
        # All M gates read the same input: one [N, d] x [d, M d] product.
        self.weight = torch.nn.Parameter(
            torch.empty(num_modalities, channels, channels)
        )
        self.bias = torch.nn.Parameter(torch.empty(num_modalities, channels))
        self.eps = torch.nn.Parameter(torch.zeros(()))
        if tradeoff == "node":
            self.alpha_lin = torch.nn.Linear(channels, 1)
            self.register_parameter("alpha_logit", None)
        else:
            self.alpha_lin = None
            logit = torch.tensor(math.log(alpha / (1.0 - alpha)), device="cpu")
            if self.learn_alpha:
                self.alpha_logit = torch.nn.Parameter(logit)
            else:
                self.register_buffer("alpha_logit", logit)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # Each gate is initialised as its own torch.nn.Linear(d, d) would be.
        bound = 1.0 / math.sqrt(self.channels)
        for weight in self.weight:
            torch.nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
        torch.nn.init.uniform_(self.bias, -bound, bound)
        torch.nn.init.zeros_(self.eps)
        logit = math.log(self.alpha_init / (1.0 - self.alpha_init))
        if self.alpha_lin is not None:
            torch.nn.init.zeros_(self.alpha_lin.weight)
            torch.nn.init.constant_(self.alpha_lin.bias, logit)
        else:
            with torch.no_grad():
                self.alpha_logit.fill_(logit)

    def preferences(self, x: Tensor) -> Tensor:
        r"""Returns the modality preferences :math:`\mathbf{g}^m_n`,
        ``[M, N, d]``, of nodes with behaviour embeddings ``x``."""
        gate = torch.addmm(
            self.bias.view(-1), x, self.weight.view(-1, self.channels).t()
        ).sigmoid()
        return gate.view(x.size(0), self.num_modalities, self.channels).transpose(0, 1)

    @renamed_arguments(diff="difference")
    def forward(
        self,
        x: Tensor,
        shared: Tensor,
        specific: Tensor,
        difference: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        r"""Returns the fused embeddings ``f`` and the per-node trade-off
        ``alpha`` (``difference``: :math:`\boldsymbol{\Delta}`, or
        :obj:`None` for none; formerly ``diff``, a deprecated alias)."""
        num_nodes = x.size(0)
        out = (self.preferences(x) * specific).mean(dim=0)
        if difference is not None:
            out = out + self.eps * difference
        if self.alpha_lin is not None:
            alpha = self.alpha_lin(x).sigmoid().view(-1)
        else:
            alpha = self.alpha_logit.sigmoid().expand(num_nodes)
        a = alpha.view(-1, 1)
        return a * shared + (1.0 - a) * out, alpha

    def __repr__(self) -> str:
        fixed = "" if self.tradeoff == "node" else f", learn_alpha={self.learn_alpha}"
        return (
            f"{self.__class__.__name__}({self.channels}, "
            f"num_modalities={self.num_modalities}, tradeoff='{self.tradeoff}', "
            f"alpha={self.alpha_init:.4g}{fixed})"
        )
