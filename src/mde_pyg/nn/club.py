"""A CLUB mutual-information upper bound between the modality-specific parts
and the shared part of node views (an MDE differentiation option)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


class CLUB(torch.nn.Module):
    r"""The contrastive log-ratio upper bound of mutual information from the
    `"CLUB: A Contrastive Log-ratio Upper Bound of Mutual Information"
    <https://arxiv.org/abs/2006.12013>`_ paper, as SAND (`"Boosting
    Multimedia Recommendation via Separate Generic and Unique Awareness"
    <https://arxiv.org/abs/2406.08270>`_) uses it to push the unique part of
    each modality away from the generic part.

    A Gaussian :math:`q_\theta(\mathbf{y} \mid \mathbf{x}) =
    \mathcal{N}(\boldsymbol{\mu}(\mathbf{x}),
    \operatorname{diag}\boldsymbol{\sigma}^2(\mathbf{x}))`, with
    :math:`\boldsymbol{\mu}(\mathbf{x}) = \mathbf{W}_\mu \mathbf{x} +
    \mathbf{b}_\mu` and :math:`\log \boldsymbol{\sigma}^2(\mathbf{x}) =
    \tanh(\mathbf{W}_\sigma \mathbf{x} + \mathbf{b}_\sigma)`, gives for
    every pair :math:`(\mathbf{x}_n, \mathbf{y}_n)` of a batch of :math:`B`

    .. math::
        I_n = \log q_\theta(\mathbf{y}_n \mid \mathbf{x}_n) - \frac{1}{B}
        \sum_{k=1}^{B} \log q_\theta(\mathbf{y}_k \mid \mathbf{x}_n)
        = \sum_j \frac{\overline{(y_{\cdot j} - \mu_{nj})^2} -
        (y_{nj} - \mu_{nj})^2}{2 \sigma^2_{nj}},

    where :math:`\overline{(y_{\cdot j} - \mu_{nj})^2} = \overline{y^2_j} -
    2 \mu_{nj} \bar{y}_j + \mu^2_{nj}` is computed from the batch means
    :math:`\bar{y}_j`, :math:`\overline{y^2_j}` in :math:`O(B d)` (no
    :math:`B \times B` pairs). :math:`\frac{1}{B}\sum_n I_n` is an upper
    bound of :math:`I(\mathbf{x}; \mathbf{y})` when :math:`q_\theta` fits
    :math:`p(\mathbf{y} \mid \mathbf{x})`.

    The two objectives are kept apart: :meth:`forward` returns :math:`I_n`
    with :math:`\theta` detached, so minimising it moves only
    :math:`\mathbf{x}` and :math:`\mathbf{y}` (the encoder); and
    :meth:`learning_loss` is the negative log-likelihood
    :math:`-\frac{1}{B}\sum_n \log q_\theta(\mathbf{y}_n \mid \mathbf{x}_n)`
    (up to a constant) with the inputs detached, so it moves only
    :math:`\theta`. Both can then simply be added to one loss.

    Args:
        channels (int): Size :math:`d` of :math:`\mathbf{x}` and
            :math:`\mathbf{y}`.

    Shapes:
        - **input:** :math:`\mathbf{x}` :math:`(*, B, d)`, :math:`\mathbf{y}`
          :math:`(B, d)` (broadcast over the leading dimensions of
          :math:`\mathbf{x}`, e.g. modalities)
        - **output:** :meth:`forward`: :math:`(*, B)`; :meth:`learning_loss`:
          scalar
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.mu = torch.nn.Linear(channels, channels)
        self.logvar = torch.nn.Linear(channels, channels)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.mu.reset_parameters()
        self.logvar.reset_parameters()

    def _gaussian(self, x: Tensor, detach: bool) -> tuple[Tensor, Tensor]:
        r"""Mean and log-variance of the Gaussian :math:`q_\theta` at ``x``,
        its parameters detached if ``detach``."""
        params = [
            p.detach() if detach else p
            for layer in (self.mu, self.logvar)
            for p in (layer.weight, layer.bias)
        ]
        mu = F.linear(x, params[0], params[1])
        return mu, torch.tanh(F.linear(x, params[2], params[3]))

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """Returns the per-pair bound :math:`I_n` (gradients to ``x`` and
        ``y`` only)."""
        mu, logvar = self._gaussian(x, detach=True)
        y_mean, y_sq_mean = y.mean(dim=0), y.pow(2).mean(dim=0)
        negative = y_sq_mean - 2.0 * mu * y_mean + mu.pow(2)
        positive = (y - mu).pow(2)
        return ((negative - positive) / (2.0 * logvar.exp())).sum(dim=-1)

    def learning_loss(self, x: Tensor, y: Tensor) -> Tensor:
        r"""Returns the negative log-likelihood of :math:`q_\theta` on the
        pairs (gradients to :math:`\theta` only)."""
        mu, logvar = self._gaussian(x.detach(), detach=False)
        nll = (y.detach() - mu).pow(2) / logvar.exp() + logvar
        return 0.5 * nll.sum(dim=-1).mean()

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.channels})"
