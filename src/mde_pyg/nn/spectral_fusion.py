"""Denoising and fusion of modality representations in the frequency domain
(SMORE)."""

from __future__ import annotations

import torch
from torch import Tensor


class SpectralFusion(torch.nn.Module):
    r"""The spectrum modality fusion of the `"Spectrum-based Modality
    Representation Fusion Graph Convolutional Network for Multimodal
    Recommendation" <https://arxiv.org/abs/2412.14978>`_ paper (SMORE):
    every modality's representation is filtered in the frequency domain by a
    learnable complex filter (uni-modal denoising), and the modalities are
    fused by the product of their spectra under a filter of its own (by the
    convolution theorem, the circular convolution of the modalities along
    the channels):

    .. math::
        \hat{\mathbf{x}}^m_n = \mathcal{F}(\mathbf{x}^m_n), \qquad
        \tilde{\mathbf{x}}^m_n = \mathcal{F}^{-1}\big(\mathbf{w}^m \odot
        \hat{\mathbf{x}}^m_n\big), \qquad
        \tilde{\mathbf{x}}^{f}_n = \mathcal{F}^{-1}\Big(\mathbf{w}^{f}
        \odot \prod_{m=1}^{M} \hat{\mathbf{x}}^m_n\Big),

    where :math:`\mathcal{F}` is the orthonormal real discrete Fourier
    transform along the :math:`d` channels (:func:`torch.fft.rfft`,
    :math:`\lfloor d/2 \rfloor + 1` frequencies), :math:`\mathcal{F}^{-1}`
    its inverse back to :math:`d` real channels, and
    :math:`\mathbf{w}^1, \dots, \mathbf{w}^M, \mathbf{w}^f \in
    \mathbb{C}^{\lfloor d/2 \rfloor + 1}` are learnable, their real and
    imaginary parts initialised from :math:`\mathcal{N}(0, 1)` as in the
    published code. With two modalities this is the published
    ``spectrum_convolution``; with one, :math:`\tilde{\mathbf{x}}^{f}` is
    the modality filtered by a second filter.

    Args:
        channels (int): Size :math:`d` of every representation.
        num_modalities (int): Number of modalities :math:`M \ge 1`.

    Shapes:
        - **input:** modality representations :math:`(M, N, d)`
        - **output:** the filtered modalities and the fusion,
          :math:`(M + 1, N, d)`: :math:`\tilde{\mathbf{x}}^1, \dots,
          \tilde{\mathbf{x}}^M, \tilde{\mathbf{x}}^{f}`
    """

    def __init__(self, channels: int, num_modalities: int) -> None:
        super().__init__()
        if num_modalities < 1:
            raise ValueError(f"'num_modalities' must be >= 1 (got {num_modalities})")
        self.channels = channels
        self.num_modalities = num_modalities
        # Real and imaginary parts of the M uni-modal filters and the fusion
        # filter (last), as real numbers so that any optimiser treats them as
        # the published code does.
        self.weight = torch.nn.Parameter(
            torch.empty(num_modalities + 1, channels // 2 + 1, 2)
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        torch.nn.init.normal_(self.weight)

    @property
    def filters(self) -> Tensor:
        r"""The complex filters :math:`\mathbf{w}^1, \dots, \mathbf{w}^M,
        \mathbf{w}^f`, ``[M + 1, d // 2 + 1]``."""
        return torch.view_as_complex(self.weight)

    def forward(self, x: Tensor) -> Tensor:
        if (
            x.dim() != 3
            or x.size(0) != self.num_modalities
            or x.size(-1) != self.channels
        ):
            raise ValueError(
                f"Expected [{self.num_modalities}, N, {self.channels}] modality "
                f"representations (got {list(x.shape)})"
            )
        spectrum = torch.fft.rfft(x, dim=-1, norm="ortho")  # [M, N, F]
        filters = self.filters.unsqueeze(1)  # [M + 1, 1, F]
        fused = spectrum.prod(dim=0, keepdim=True)
        filtered = torch.cat([spectrum, fused]) * filters
        return torch.fft.irfft(filtered, n=self.channels, dim=-1, norm="ortho")

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.channels}, "
            f"num_modalities={self.num_modalities})"
        )
