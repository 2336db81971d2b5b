"""Every unordered pair of modalities of a stacked tensor, for the layers and
losses that compare modalities pairwise."""

from __future__ import annotations

import torch
from torch import Tensor


def modality_pairs(z: Tensor) -> tuple[Tensor, Tensor]:
    r"""Returns both sides :math:`(\mathbf{z}^m, \mathbf{z}^{m'})` of every
    unordered modality pair :math:`m < m'` of ``z`` (``[M, ...]``), as two
    ``[M (M - 1) / 2, ...]`` tensors in the order :math:`(0, 1), (0, 2),
    \dots, (1, 2), \dots`, so that a layer handles all pairs at once instead
    of looping over them.

    The sides are slices and broadcasts of ``z`` rather than an index gather:
    on a GPU the backward pass of a gather is a sort and several kernel
    launches, where slices cost none (with two modalities, nothing is
    copied at all)."""
    num = z.size(0)
    if num < 2:
        return z[:0], z[:0]
    first = [z[m : m + 1].expand(num - 1 - m, *z.shape[1:]) for m in range(num - 1)]
    second = [z[m + 1 :] for m in range(num - 1)]
    if num == 2:  # one pair: the slices themselves, nothing to concatenate
        return first[0], second[0]
    return torch.cat(first), torch.cat(second)
