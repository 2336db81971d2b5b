r"""A synthetic multi-modal recommendation dataset with planted shared and
modality-specific structure, for tests, examples and sanity checks."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from mde_pyg.data.hetero import build_heterodata
from mde_pyg.data.raw import split_per_user

_USER_CHUNK = 1024
#: The generating latents that ``return_latents`` returns, in this order.
_LATENTS = (
    "item_shared",
    "item_specific",
    "user_shared",
    "user_specific",
    "item_popularity",
    "projection",
    "item_conflict",
    "user_conflict",
)


def make_synthetic(
    num_users: int = 2000,
    num_items: int = 1000,
    interactions_per_user: float = 20.0,
    modalities: Mapping[str, int] | None = None,
    shared_dim: int = 8,
    specific_dim: int = 8,
    noise: float = 0.1,
    temperature: float = 0.5,
    popularity: float = 0.5,
    conflict_dim: int = 0,
    seed: int = 0,
    return_latents: bool = False,
) -> HeteroData | tuple[HeteroData, dict[str, Any]]:
    r"""Generates a recommendation dataset whose item features carry a shared
    and a modality-specific part, both of which drive the interactions.

    Every item :math:`i` has a shared latent :math:`\mathbf{c}_i \in
    \mathbb{R}^{d_c}` and, per modality :math:`m`, a specific latent
    :math:`\mathbf{s}^m_i \in \mathbb{R}^{d_s}`; the features of modality
    :math:`m` are a random linear view of both plus noise. Every user has
    preferences :math:`\mathbf{p}_u` over the shared part and
    :math:`\mathbf{q}^m_u` over each specific part:

    .. math::
        \mathbf{x}^m_i = [\mathbf{c}_i, \mathbf{s}^m_i] \, \mathbf{P}^m +
        \sigma \boldsymbol{\epsilon}^m_i, \qquad
        a_{u,i} = \frac{\mathbf{p}_u^{\top} \mathbf{c}_i + \sum_m
        {\mathbf{q}^m_u}^{\top} \mathbf{s}^m_i}{\sqrt{d_c + |M| d_s}}
        + \beta b_i,

    and, with ``conflict_dim`` :math:`d_t > 0`, a conflict latent
    :math:`\mathbf{t}_i \in \mathbb{R}^{d_t}` that every modality shows with
    its own sign :math:`\sigma_m = (-1)^m` (:math:`m = 0, 1, \ldots`):
    :math:`\mathbf{x}^m_i = [\mathbf{c}_i, \mathbf{s}^m_i, \sigma_m
    \mathbf{t}_i] \, \mathbf{P}^m + \ldots`, and users with preferences
    :math:`\mathbf{r}_u` over it add :math:`\mathbf{r}_u^{\top}\mathbf{t}_i`
    to the affinity (normalised by :math:`\sqrt{d_c + |M| d_s + d_t}`). The
    modalities then contradict each other on :math:`\mathbf{t}`: their
    average cancels it for two modalities, so only a model that keeps the
    differences between modalities can use it (a capability test of
    difference enhancement, the ``capability`` dataset config), on top of
    the specific latents that each modality alone carries. With
    :math:`d_t = 0` the dataset is unchanged, draw for draw.

    All latents, :math:`\mathbf{P}^m` (scaled to unit feature variance),
    :math:`\boldsymbol{\epsilon}` and the item popularity :math:`b_i` drawn
    from :math:`\mathcal{N}(0, 1)`. User :math:`u` interacts with
    :math:`n_u = 5 + \text{Geometric} - 1` items (mean
    ``interactions_per_user``, long-tailed, at most ``num_items``), drawn
    without replacement with probabilities proportional to
    :math:`\exp(a_{u,i} / T)` (Gumbel top-:math:`n_u`, in user chunks). The
    interactions are then split randomly per user by the MMRec rule
    (:math:`n < 10`: :math:`n-2/1/1`; otherwise :math:`\lfloor 0.2 n
    \rfloor` held out, half of it for validation), so every user has
    training, validation and test items.

    The same ``seed`` gives an identical dataset.

    Args:
        num_users (int, optional): Number of users. (default: :obj:`2000`)
        num_items (int, optional): Number of items. (default: :obj:`1000`)
        interactions_per_user (float, optional): Mean interactions per user,
            at least :math:`5`. (default: :obj:`20.0`)
        modalities (Mapping[str, int], optional): ``{name: feature size}``;
            :obj:`None` means ``{"image": 64, "text": 32}``.
            (default: :obj:`None`)
        shared_dim (int, optional): :math:`d_c`. (default: :obj:`8`)
        specific_dim (int, optional): :math:`d_s`. (default: :obj:`8`)
        noise (float, optional): Feature noise :math:`\sigma`.
            (default: :obj:`0.1`)
        temperature (float, optional): Sampling temperature :math:`T`; lower
            makes interactions follow the affinities more closely.
            (default: :obj:`0.5`)
        popularity (float, optional): Weight :math:`\beta` of the item
            popularity term. (default: :obj:`0.5`)
        conflict_dim (int, optional): :math:`d_t`, the size of the latent the
            modalities show with opposite signs. (default: :obj:`0`)
        seed (int, optional): Random seed. (default: :obj:`0`)
        return_latents (bool, optional): Also return the generating latents
            as a dictionary with ``"item_shared"``, ``"item_specific"``
            (``{m: tensor}``), ``"user_shared"``, ``"user_specific"``,
            ``"item_popularity"``, ``"projection"`` (``{m: P^m}``),
            ``"item_conflict"`` and ``"user_conflict"`` (``[*, d_t]``).
            (default: :obj:`False`)
    """
    modalities = dict(
        modalities if modalities is not None else {"image": 64, "text": 32}
    )
    _check_arguments(
        num_users, num_items, interactions_per_user, conflict_dim, temperature
    )
    generator = torch.Generator().manual_seed(seed)

    def normal(*size: int) -> Tensor:
        return torch.randn(*size, generator=generator, device=generator.device)

    # The draws happen in this order: item latents, per modality the
    # projection and the feature noise, user latents and popularity, the
    # interaction counts, the Gumbel noise and the split.
    names, dims = list(modalities), (shared_dim, specific_dim, conflict_dim)
    latents = _latents(normal, "item", num_items, names, *dims)
    latents["projection"], features = _item_features(normal, latents, modalities, noise)
    latents.update(
        _latents(normal, "user", num_users, names, *dims, num_popular=num_items)
    )
    count = _interaction_counts(generator, num_users, num_items, interactions_per_user)
    user, item = _sample_interactions(
        generator, latents, count, temperature, popularity
    )
    data = _split(generator, num_users, num_items, user, item, features)
    if not return_latents:
        return data
    return data, {key: latents[key] for key in _LATENTS}


def _check_arguments(
    num_users: int,
    num_items: int,
    interactions_per_user: float,
    conflict_dim: int,
    temperature: float,
) -> None:
    if num_users < 1:
        raise ValueError(f"'num_users' must be >= 1 (got {num_users})")
    if num_items < 5:
        raise ValueError(f"'num_items' must be >= 5 (got {num_items})")
    if interactions_per_user < 5:
        raise ValueError(
            f"'interactions_per_user' must be >= 5 (got {interactions_per_user})"
        )
    if conflict_dim < 0:
        raise ValueError(f"'conflict_dim' must be >= 0 (got {conflict_dim})")
    if temperature <= 0:
        raise ValueError(f"'temperature' must be > 0 (got {temperature})")


def _latents(
    normal: Callable[..., Tensor],
    node: str,
    num: int,
    modalities: list[str],
    shared_dim: int,
    specific_dim: int,
    conflict_dim: int,
    num_popular: int | None = None,
) -> dict[str, Any]:
    r"""Draws the shared, modality-specific and conflicting latents of
    ``num`` nodes of type ``node`` (items: :math:`\mathbf{c}_i`,
    :math:`\mathbf{s}^m_i`, :math:`\mathbf{t}_i`; users:
    :math:`\mathbf{p}_u`, :math:`\mathbf{q}^m_u`, :math:`\mathbf{r}_u`) and,
    with ``num_popular``, the item popularity :math:`b_i` before the
    conflicting part (the order of the draws fixes the dataset of a seed)."""
    latents = {
        f"{node}_shared": normal(num, shared_dim),
        f"{node}_specific": {m: normal(num, specific_dim) for m in modalities},
    }
    if num_popular is not None:
        latents["item_popularity"] = normal(num_popular)
    # An empty draw consumes no random numbers: conflict_dim = 0 leaves the
    # dataset of a seed unchanged.
    latents[f"{node}_conflict"] = normal(num, conflict_dim)
    return latents


def _item_features(
    normal: Callable[..., Tensor],
    item: dict[str, Any],
    modalities: dict[str, int],
    noise: float,
) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    r"""Draws :math:`\mathbf{P}^m` and the noise of every modality; returns
    ``(projection, features)``."""
    shared, conflict = item["item_shared"], item["item_conflict"]
    num_items = shared.size(0)
    projection, features = {}, {}
    for k, (m, dim) in enumerate(modalities.items()):
        size = shared.size(1) + item["item_specific"][m].size(1) + conflict.size(1)
        projection[m] = normal(size, dim) / math.sqrt(size)
        sign = -1.0 if k % 2 else 1.0
        latent = torch.cat([shared, item["item_specific"][m], sign * conflict], 1)
        features[m] = latent @ projection[m] + noise * normal(num_items, dim)
    return projection, features


def _interaction_counts(
    generator: torch.Generator,
    num_users: int,
    num_items: int,
    interactions_per_user: float,
) -> Tensor:
    r"""Draws :math:`n_u = 5 + \text{Geometric} - 1` per user, at most
    ``num_items``."""
    # n_u = 5 + (Geometric(p) - 1) has mean 4 + 1/p.
    p = 1.0 / (interactions_per_user - 4.0)
    count = torch.empty(num_users, device=generator.device)
    count = count.geometric_(p, generator=generator).long() + 4
    return count.clamp_(max=num_items)


def _sample_interactions(
    generator: torch.Generator,
    latents: dict[str, Any],
    count: Tensor,
    temperature: float,
    popularity: float,
) -> tuple[Tensor, Tensor]:
    r"""Draws ``count[u]`` items per user without replacement with
    probabilities :math:`\propto \exp(a_{u,i} / T)` (Gumbel top-:math:`n_u`,
    in user chunks); returns the ``(user, item)`` pairs."""
    # Scores: a_ui = [p_u, q_u^1, ..., r_u] . [c_i, s_i^1, ..., t_i] / sqrt(dim).
    user_latent = torch.cat(
        [
            latents["user_shared"],
            *latents["user_specific"].values(),
            latents["user_conflict"],
        ],
        1,
    )
    item_latent = torch.cat(
        [
            latents["item_shared"],
            *latents["item_specific"].values(),
            latents["item_conflict"],
        ],
        1,
    )
    scale = 1.0 / (math.sqrt(item_latent.size(1)) * temperature)
    bias = popularity * latents["item_popularity"] / temperature
    users, items = [], []
    for start in range(0, user_latent.size(0), _USER_CHUNK):
        logits = user_latent[start : start + _USER_CHUNK] @ item_latent.t() * scale
        # Gumbel top-n: the n largest of logits + Gumbel noise are a draw of
        # n items without replacement with probabilities softmax(logits).
        gumbel = -torch.empty_like(logits).exponential_(generator=generator).log()
        n = count[start : start + _USER_CHUNK]
        top = (logits + bias + gumbel).topk(int(n.max()), dim=1).indices
        keep = torch.arange(top.size(1), device=top.device) < n.view(-1, 1)
        rows = torch.arange(start, start + top.size(0), device=top.device)
        rows = rows.view(-1, 1).expand_as(top)
        users.append(rows[keep])
        items.append(top[keep])
    return torch.cat(users), torch.cat(items)


def _split(
    generator: torch.Generator,
    num_users: int,
    num_items: int,
    user: Tensor,
    item: Tensor,
    features: dict[str, Tensor],
) -> HeteroData:
    """Splits the pairs per user (MMRec rule) into the dataset."""
    label = split_per_user(user, num_users, generator)
    # Sorted (user, item) pairs within every split.
    order = (user * num_items + item).argsort()
    user, item, label = user[order], item[order], label[order]
    index = [torch.stack([user[label == s], item[label == s]]) for s in range(3)]
    return build_heterodata(num_users, num_items, *index, features=features)
