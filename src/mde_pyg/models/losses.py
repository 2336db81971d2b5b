r"""Loss terms shared by the multi-modal recommenders (BPR lives in
:mod:`mde_pyg.models.base`)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from mde_pyg.nn import modality_pairs


def info_nce(
    view1: Tensor,
    view2: Tensor,
    tau: float = 0.2,
    weight: Tensor | None = None,
    symmetric: bool = False,
) -> Tensor:
    r"""In-batch InfoNCE with cosine similarity, as MGCN's ``InfoNCE``:

    .. math::
        \mathcal{L} = \frac{1}{B} \sum_{n=1}^{B} w_n \left( -\log
        \frac{\exp(\cos(\mathbf{a}_n, \mathbf{b}_n) / \tau)}
        {\sum_{k=1}^{B} \exp(\cos(\mathbf{a}_n, \mathbf{b}_k) / \tau)}\right)

    computed as a cross-entropy over the logits
    (:func:`softmax_cross_entropy`, stable for small :math:`\tau`). Leading
    dimensions are batch dimensions: ``[P, B, d]`` inputs give the mean over
    :math:`P` independent in-batch problems in one batched product.

    Args:
        view1 (torch.Tensor): Anchors :math:`\mathbf{a}`, ``[..., B, d]``.
        view2 (torch.Tensor): Positives :math:`\mathbf{b}` (and negatives of
            the other anchors), ``[..., B, d]``.
        tau (float, optional): Temperature. (default: :obj:`0.2`)
        weight (torch.Tensor, optional): ``[B]`` per-node weights
            :math:`w_n`; ones if :obj:`None`. (default: :obj:`None`)
        symmetric (bool, optional): Average with the loss of the swapped
            views, so that the term does not depend on which view comes
            first. (default: :obj:`False`)
    """
    # 1/tau is applied to the [B, d] inputs, not to the [B, B] logits: the
    # logits are the largest tensor here. They are cosines over tau, so 1/tau
    # bounds them.
    view1 = F.normalize(view1, dim=-1) / tau
    view2 = F.normalize(view2, dim=-1)
    logits = view1 @ view2.transpose(-1, -2)  # [..., B anchors, B candidates]
    bound = 1.0 / tau
    loss = softmax_cross_entropy(logits, bound=bound)
    if symmetric:
        swapped = softmax_cross_entropy(logits.transpose(-1, -2), bound=bound)
        loss = 0.5 * (loss + swapped)
    return weighted_mean(loss, weight)


#: The widest range of logits whose exponentials, shifted by their bound,
#: cannot all underflow in float32 (exp(-87) is its smallest normal number).
_SAFE_SHIFT_RANGE = 80.0


class _SoftmaxCrossEntropy(torch.autograd.Function):
    """Per-row cross-entropy of ``[..., B, N]`` logits against one target
    column per row (the diagonal if none), with one exponential pass: the
    forward keeps the softmax, and the backward is the softmax less the
    one-hot targets, scaled by the incoming gradient."""

    @staticmethod
    def forward(
        ctx, logits: Tensor, target: Tensor | None, bound: float | None
    ) -> Tensor:
        if target is None:
            positives = logits.diagonal(dim1=-2, dim2=-1)
        else:
            positives = logits.gather(-1, target.unsqueeze(-1)).squeeze(-1)
        if bound is not None and 2 * bound <= _SAFE_SHIFT_RANGE:
            shift = logits.new_tensor(bound)
        else:
            shift = logits.amax(dim=-1, keepdim=True).detach()
        probs = torch.sub(logits, shift).exp_()
        total = probs.sum(dim=-1, keepdim=True)
        probs.div_(total)
        ctx.save_for_backward(probs, target)
        return (total.log_() + shift).squeeze(-1) - positives

    @staticmethod
    def backward(ctx, grad_loss: Tensor) -> tuple[Tensor, None, None]:
        probs, target = ctx.saved_tensors
        grad = probs * grad_loss.unsqueeze(-1)
        if target is None:
            grad.diagonal(dim1=-2, dim2=-1).sub_(grad_loss)
        else:
            grad.scatter_add_(-1, target.unsqueeze(-1), -grad_loss.unsqueeze(-1))
        return grad, None, None


def softmax_cross_entropy(
    logits: Tensor, target: Tensor | None = None, bound: float | None = None
) -> Tensor:
    r"""The cross-entropy of every row :math:`n` of ``logits`` against its
    target column :math:`t_n` (in-batch contrast: the diagonal,
    :math:`t_n = n`):

    .. math::
        \ell_n = \log \sum_{k} \exp(s_{nk}) - s_{n t_n},

    as :func:`torch.nn.functional.cross_entropy` with ``reduction="none"``,
    but with one exponential pass over the logits instead of two (the
    backward reuses the softmax of the forward) and no one-hot gradient
    buffer.

    Args:
        logits (torch.Tensor): ``[..., B, N]`` scores :math:`s_{nk}` of row
            :math:`n` and candidate :math:`k`.
        target (torch.Tensor, optional): ``[..., B]`` target column of each
            row; the diagonal (``N == B``) if :obj:`None`.
            (default: :obj:`None`)
        bound (float, optional): A bound :math:`b` with :math:`|s_{nk}| \le
            b` (:math:`1/\tau` for cosines over a temperature :math:`\tau`),
            the shift that keeps the exponentials finite without a pass for
            the row maxima; those are used if :obj:`None` or if :math:`2b`
            is so wide that every shifted exponential could underflow.
            (default: :obj:`None`)

    Returns:
        torch.Tensor: ``[..., B]`` losses :math:`\ell_n`.
    """
    return _SoftmaxCrossEntropy.apply(logits, target, bound)


def all_node_info_nce(
    anchor: Tensor, nodes: Tensor, index: Tensor, tau: float = 0.2
) -> Tensor:
    r"""InfoNCE with cosine similarity of a batch of anchors against *every*
    node of another view, the positive of anchor :math:`n` being node
    :math:`i_n` of that view, summed over the anchors (LGMRec's
    ``ssl_triple_loss``):

    .. math::
        \mathcal{L} = \sum_{n=1}^{B} -\log
        \frac{\exp(\cos(\mathbf{a}_n, \mathbf{z}_{i_n}) / \tau)}
        {\sum_{j=1}^{N} \exp(\cos(\mathbf{a}_n, \mathbf{z}_j) / \tau)}

    computed as a cross-entropy over the logits
    (:func:`softmax_cross_entropy`, stable for small :math:`\tau`). Leading
    dimensions are batch dimensions: ``[P, B, d]`` anchors against
    ``[P, N, d]`` nodes give ``P`` sums.

    Args:
        anchor (torch.Tensor): Anchors :math:`\mathbf{a}`, ``[..., B, d]``.
        nodes (torch.Tensor): Every node :math:`\mathbf{z}` of the other
            view, ``[..., N, d]``.
        index (torch.Tensor): ``[B]`` node of each anchor's positive.
        tau (float, optional): Temperature. (default: :obj:`0.2`)

    :rtype: :class:`torch.Tensor` of the leading shape ``[...]``.
    """
    anchor = F.normalize(anchor, dim=-1) / tau
    logits = anchor @ F.normalize(nodes, dim=-1).transpose(-1, -2)  # [..., B, N]
    target = index.expand(logits.shape[:-1])
    return softmax_cross_entropy(logits, target, bound=1.0 / tau).sum(-1)


def modality_alignment_loss(
    views: Tensor, tau: float = 0.2, weight: Tensor | None = None
) -> Tensor:
    r"""Symmetric in-batch InfoNCE between the views
    :math:`\mathbf{z}^m_n` and :math:`\mathbf{z}^{m'}_n` of the same nodes,
    averaged over all modality pairs :math:`m < m'` (:obj:`0` with a single
    modality).

    Args:
        views (torch.Tensor): ``[M, B, d]`` views of the batch's nodes.
        tau (float, optional): Temperature. (default: :obj:`0.2`)
        weight (torch.Tensor, optional): ``[B]`` per-node weights.
            (default: :obj:`None`)
    """
    first, second = modality_pairs(views)
    if first.size(0) == 0:
        return views.new_zeros(())
    return info_nce(first, second, tau, weight, symmetric=True)


def orthogonality_loss(parts: Tensor, weight: Tensor | None = None) -> Tensor:
    r"""Mean over nodes and modality pairs of
    :math:`w_n \cos^2(\boldsymbol{\delta}^m_n, \boldsymbol{\delta}^{m'}_n)`
    (:obj:`0` with a single modality).

    Args:
        parts (torch.Tensor): ``[M, B, d]`` modality-specific parts.
        weight (torch.Tensor, optional): ``[B]`` per-node weights :math:`w_n`;
            ones if :obj:`None`. (default: :obj:`None`)
    """
    first, second = modality_pairs(parts)
    if first.size(0) == 0:
        return parts.new_zeros(())
    cos = F.cosine_similarity(first, second, dim=-1)
    return weighted_mean(cos.pow(2), weight)


def shared_orthogonality_loss(
    specific: Tensor, shared: Tensor, weight: Tensor | None = None
) -> Tensor:
    r"""Mean over nodes and modalities of
    :math:`w_n \cos^2(\boldsymbol{\delta}^m_n, \mathbf{s}_n)`: the
    modality-specific parts pushed orthogonal to the shared part (:obj:`0`
    with a single modality, whose specific part is :math:`\mathbf{0}`).

    Args:
        specific (torch.Tensor): ``[M, B, d]`` modality-specific parts.
        shared (torch.Tensor): ``[B, d]`` shared parts.
        weight (torch.Tensor, optional): ``[B]`` per-node weights :math:`w_n`;
            ones if :obj:`None`. (default: :obj:`None`)
    """
    cos = F.cosine_similarity(specific, shared.unsqueeze(0), dim=-1)
    return weighted_mean(cos.pow(2), weight)


def weighted_mean(values: Tensor, weight: Tensor | None = None) -> Tensor:
    r"""The mean of ``[..., B]`` per-node values, each node's scaled by its
    weight :math:`w_n` (``[B]``) if given.

    Args:
        values (torch.Tensor): ``[..., B]`` per-node values.
        weight (torch.Tensor, optional): ``[B]`` weights; ones if
            :obj:`None`. (default: :obj:`None`)
    """
    return (values if weight is None else values * weight).mean()


def embedding_l2(*embeddings: Tensor) -> Tensor:
    r"""MGCN's regulariser :math:`\frac{1}{2B} \sum_t \|\mathbf{E}_t\|_F^2`
    over ``B``-row embedding matrices :math:`\mathbf{E}_t`."""
    total = sum(emb.pow(2).sum() for emb in embeddings)
    return total / (2 * embeddings[0].size(0))
