"""Shared and modality-specific parts of per-modality node views, with
difference enhancement (MDE)."""

from __future__ import annotations

import torch
from torch import Tensor

from mde_pyg.deprecation import renamed_arguments, renamed_attribute
from mde_pyg.nn.modality_pairs import modality_pairs

#: How :class:`ModalityDiscriminationConv` enhances the differences between
#: modalities (its ``enhancement``).
ENHANCEMENT_MODES = ("pairwise", "amplify", "none")


class ModalityDiscriminationConv(torch.nn.Module):
    r"""Splits the per-modality views of every node into a shared part and
    modality-specific parts, and enhances the differences between modalities,
    from the `"MDE: Modality Discrimination Enhancement for Multi-modal
    Recommendation" <https://arxiv.org/abs/2502.18481>`_ paper (the shared /
    specific split follows MGCN, `"Multi-View Graph Convolutional Network for
    Multimedia Recommendation" <https://arxiv.org/abs/2308.03588>`_).

    For node :math:`n` with views :math:`\mathbf{z}^m_n`,
    :math:`m = 1..M`:

    .. math::
        \beta_{n,m} &= \operatorname{softmax}_m\left(\mathbf{q}^{\top}
        \tanh(\mathbf{W}_q \mathbf{z}^m_n + \mathbf{b}_q)\right), \qquad
        \mathbf{s}_n = \sum_m \beta_{n,m} \mathbf{z}^m_n,

        \boldsymbol{\delta}^m_n &= (1 + \gamma) (\mathbf{z}^m_n - \mathbf{s}_n),

        \boldsymbol{\Delta}_n &= \frac{1}{|P|} \sum_{(m, m') \in P}
        \phi\left(\left[\,|\mathbf{z}^m_n - \mathbf{z}^{m'}_n| \,;\,
        \mathbf{z}^m_n \odot \mathbf{z}^{m'}_n\right]\right),

    with :math:`P` the unordered modality pairs, :math:`\phi` a
    :class:`~torch.nn.Linear` layer :math:`2d \to d` shared by all pairs, and
    :math:`\gamma = \max(0, \tilde{\gamma}) \ge 0` learnable. ``enhancement`` selects
    the enhancement: :obj:`"pairwise"` computes :math:`\boldsymbol{\Delta}`
    (:math:`\gamma = 0`), :obj:`"amplify"` learns :math:`\gamma`
    (:math:`\boldsymbol{\Delta} = 0`), :obj:`"none"` neither (MGCN).

    The pair feature uses the absolute difference, so that
    :math:`\boldsymbol{\Delta}` (and the whole layer) is equivariant to the
    order in which modalities are stacked; a signed difference
    :math:`\mathbf{z}^m - \mathbf{z}^{m'}` would change sign with it. With a
    single modality, :math:`\mathbf{s} = \mathbf{z}`,
    :math:`\boldsymbol{\delta} = 0` and :math:`\boldsymbol{\Delta} = 0`.

    Args:
        channels (int): Size :math:`d` of every view.
        enhancement (str, optional): The difference enhancement:
            :obj:`"pairwise"`, :obj:`"amplify"` or :obj:`"none"` (formerly
            ``diff``, a deprecated alias). (default: :obj:`"pairwise"`)

    Shapes:
        - **input:** views :math:`(M, N, d)`
        - **output:** shared part :math:`(N, d)`, specific parts
          :math:`(M, N, d)`, difference :math:`(N, d)`, attention
          :math:`(N, M)`
    """

    diff = renamed_attribute("diff", "enhancement")

    @renamed_arguments(diff="enhancement")
    def __init__(self, channels: int, enhancement: str = "pairwise") -> None:
        super().__init__()
        if enhancement not in ENHANCEMENT_MODES:
            raise ValueError(
                f"Unknown enhancement '{enhancement}' "
                f"(expected one of {ENHANCEMENT_MODES})"
            )
        self.channels = channels
        self.enhancement = enhancement
        self.att_lin = torch.nn.Linear(channels, channels)
        self.att_query = torch.nn.Linear(channels, 1, bias=False)
        self.phi = (
            torch.nn.Linear(2 * channels, channels)
            if enhancement == "pairwise"
            else None
        )
        if enhancement == "amplify":
            self.gamma = torch.nn.Parameter(torch.zeros(()))
        else:
            self.register_parameter("gamma", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.att_lin.reset_parameters()
        self.att_query.reset_parameters()
        if self.phi is not None:
            self.phi.reset_parameters()
        if self.gamma is not None:
            torch.nn.init.zeros_(self.gamma)

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Returns the shared part ``s``, the specific parts ``delta``, the
        difference ``Delta`` and the attention ``beta``."""
        score = self.att_query(torch.tanh(self.att_lin(z)))  # [M, N, 1]
        beta = torch.softmax(score, dim=0)
        s = (beta * z).sum(dim=0)
        delta = z - s
        if self.gamma is not None:
            delta = delta * (1.0 + self.gamma.clamp_min(0.0))

        if self.phi is None or z.size(0) < 2:
            Delta = z.new_zeros(z.shape[1:])
        else:
            z_a, z_b = modality_pairs(z)  # [P, N, d] each
            Delta = self.phi(torch.cat([(z_a - z_b).abs(), z_a * z_b], dim=-1))
            Delta = Delta.mean(dim=0)
        return s, delta, Delta, beta.squeeze(-1).t()

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.channels}, "
            f"enhancement='{self.enhancement}')"
        )
