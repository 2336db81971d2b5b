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
    (:func:`contrast`, stable for small :math:`\tau`). Leading
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
    view1 = F.normalize(view1, dim=-1)
    view2 = F.normalize(view2, dim=-1)
    loss = contrast(view1, view2, tau)
    if symmetric:
        loss = 0.5 * (loss + contrast(view2, view1, tau))
    return weighted_mean(loss, weight)


#: The widest range of scores whose softmax stays a normal float32 at every
#: entry, even over a million candidates (exp(-60) / 1e6 is above 1e-38).
_SAFE_LOGIT_RANGE = 60.0


def _rows_of(candidates: Tensor, target: Tensor) -> Tensor:
    """The ``target`` rows (``[..., B]``) of ``[..., N, d]`` candidates."""
    index = target.unsqueeze(-1).expand(*target.shape, candidates.size(-1))
    return candidates.gather(-2, index)


def _at_target(scores: Tensor, target: Tensor | None) -> Tensor:
    """The ``[..., B]`` entries of ``[..., B, N]`` scores at each row's
    target column (the diagonal if :obj:`None`), as a new tensor."""
    if target is None:
        return scores.diagonal(dim1=-2, dim2=-1).clone()
    return scores.gather(-1, target.unsqueeze(-1)).squeeze(-1)


class _Contrast(torch.autograd.Function):
    """Per-anchor softmax cross-entropy of the scores ``anchors @
    candidates^T`` against one target candidate each. The forward keeps the
    softmax; the backward multiplies it with the small inputs, so that no
    elementwise pass over the ``[..., B, N]`` scores runs after the forward's
    one fused softmax."""

    @staticmethod
    def forward(
        ctx, anchors: Tensor, candidates: Tensor, target: Tensor | None, bound: float
    ) -> Tensor:
        logits = anchors @ candidates.transpose(-1, -2)
        positive = candidates if target is None else _rows_of(candidates, target)
        safe = 2 * bound <= _SAFE_LOGIT_RANGE
        if safe and logits.dtype in (torch.float32, torch.float64):
            probs = torch.softmax(logits, dim=-1)
            loss = -_at_target(probs, target).log()
        else:  # a wide range: log-probabilities, exact however small
            log_probs = torch.log_softmax(logits, dim=-1)
            loss = -_at_target(log_probs, target)
            probs = log_probs.exp_()
        ctx.save_for_backward(anchors, candidates, probs, positive, target)
        return loss

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_loss: Tensor) -> tuple[Tensor, Tensor, None, None]:
        anchors, candidates, probs, positive, target = ctx.saved_tensors
        g = grad_loss.unsqueeze(-1)
        # d loss_n / d score_nk = p_nk - [k = t_n], so with G = diag(g)(P - T):
        # grad anchors = G C, grad candidates = G^T A, T one-hot per row.
        grad_anchors = g * (probs @ candidates - positive)
        weighted = g * anchors
        grad_candidates = probs.transpose(-1, -2) @ weighted
        if target is None:
            grad_candidates -= weighted
        else:
            index = target.unsqueeze(-1).expand_as(weighted)
            grad_candidates.scatter_add_(-2, index, -weighted)
        return grad_anchors, grad_candidates, None, None


def contrast(
    anchors: Tensor, candidates: Tensor, tau: float, target: Tensor | None = None
) -> Tensor:
    r"""The InfoNCE term of every anchor against all candidates, with
    unit-norm inputs:

    .. math::
        \ell_n = -\log \frac{\exp(\mathbf{a}_n^{\top} \mathbf{c}_{t_n} / \tau)}
        {\sum_{k} \exp(\mathbf{a}_n^{\top} \mathbf{c}_k / \tau)},

    the positive of anchor :math:`n` being candidate :math:`t_n` (in-batch
    contrast: :math:`t_n = n`). The same values as
    :func:`torch.nn.functional.cross_entropy` of the scores, computed with
    one fused softmax over the :math:`B \times N` scores and a backward of
    two matrix products, with no elementwise pass over the scores.

    Args:
        anchors (torch.Tensor): ``[..., B, d]`` unit-norm anchors
            :math:`\mathbf{a}`.
        candidates (torch.Tensor): ``[..., N, d]`` unit-norm candidates
            :math:`\mathbf{c}`.
        tau (float): Temperature :math:`\tau`.
        target (torch.Tensor, optional): ``[..., B]`` candidate :math:`t_n`
            of each anchor; the diagonal (``N == B``) if :obj:`None`.
            (default: :obj:`None`)

    Returns:
        torch.Tensor: ``[..., B]`` losses :math:`\ell_n`.
    """
    return _Contrast.apply(anchors / tau, candidates, target, 1.0 / tau)


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
    (:func:`contrast`, stable for small :math:`\tau`). Leading
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
    anchor = F.normalize(anchor, dim=-1)
    target = index.expand(anchor.shape[:-1])
    return contrast(anchor, F.normalize(nodes, dim=-1), tau, target).sum(-1)


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
