r"""Missing feature rows: what a model sees for an item that has no feature
of a modality (on Baby, 3,634 of the 7,050 items have no text).

Every modality's features travel with the boolean mask of their real rows,
``data['item'].x_<m>_mask`` (``True``: the item has the feature; see
:mod:`mde_pyg.data.hetero`), which :func:`~mde_pyg.data.mmrec.load_mmrec`
reads from the folder's ``<m>_mask.npy``. :func:`fill_missing_features`
decides the rows it marks missing, by one of the rules of
:data:`MISSING_FEATURES` (the ``missing_features`` key of the dataset
configs):

* ``"mean"``: the mean of the real rows, as the feature builders of this
  package (and the published features, for items without an image) fill
  them; the default.
* ``"zeros"``: zero vectors; the mask says which rows they are.
* ``"propagate"``: the mean of the real rows of the items co-interacted with
  it in the training graph (:func:`propagated_features`); an item without
  any such item gets the mean.

Whatever the rule, the item-item :math:`k`-NN graphs never link an item
through a filled-in row (see :func:`~mde_pyg.data.graphs.knn_graph`).
"""

from __future__ import annotations

import torch
from torch import Tensor

from mde_pyg.data.graphs import binary_adjacency
from mde_pyg.errors import ConfigError

#: The rules for a missing row, the values of ``missing_features``.
MISSING_FEATURES = ("mean", "zeros", "propagate")


def check_missing_features(rule: str, key: str = "missing_features") -> str:
    """Returns ``rule`` if it is one of :data:`MISSING_FEATURES`.

    Args:
        rule (str): The rule.
        key (str, optional): The name of the setting, for the message
            (e.g. ``"dataset.missing_features"``).
            (default: :obj:`"missing_features"`)

    Raises:
        ConfigError: otherwise, naming ``key`` and listing the choices.
    """
    if rule not in MISSING_FEATURES:
        choices = ", ".join(f"'{choice}'" for choice in MISSING_FEATURES)
        raise ConfigError(
            f"{key}={rule!r} is not a rule for missing feature rows (choose one "
            f"of {choices})"
        )
    return rule


def propagated_features(
    x: Tensor, mask: Tensor, edge_index: Tensor, num_users: int
) -> tuple[Tensor, Tensor]:
    r"""The features of every item propagated from the real rows of the
    items co-interacted with it: with the binary training interaction matrix
    :math:`\mathbf{R} \in \{0, 1\}^{|\mathcal{U}| \times |\mathcal{I}|}`,
    the co-interaction counts :math:`\mathbf{C} = \mathbf{R}^{\top}
    \mathbf{R}` (:math:`c_{ij}`: the users who interacted with both
    :math:`i` and :math:`j`) and the mask :math:`m_j \in \{0, 1\}`,

    .. math::
        \hat{\mathbf{x}}_i = \frac{\sum_j c_{ij}\, m_j\, \mathbf{x}_j}
        {\sum_j c_{ij}\, m_j},

    the mean of the real rows over the item-user-item paths from :math:`i`
    (an item co-interacted by more users weighs more). Computed as two
    sparse products, :math:`\mathbf{R}^{\top}(\mathbf{R}\,[\mathbf{m} \odot
    \mathbf{X},\ \mathbf{m}])`, never forming :math:`\mathbf{C}`.

    Args:
        x (torch.Tensor): ``[num_items, d]`` item features.
        mask (torch.Tensor): ``[num_items]`` boolean, ``True`` for the real
            rows of ``x``.
        edge_index (torch.Tensor): ``[2, E]`` **training** (user, item)
            pairs (duplicates count once); never held-out pairs, whose items
            would leak into the features.
        num_users (int): Number of users.

    Returns:
        ``(features, reached)``: the ``[num_items, d]`` propagated rows (zero
        where the denominator is :math:`0`) and the ``[num_items]`` boolean
        mask of the items with at least one co-interacted real row.

    Shapes:
        - **input:** x :math:`(|\mathcal{I}|, d)`, mask :math:`(|\mathcal{I}|)`,
          edge_index :math:`(2, E)`
        - **output:** :math:`(|\mathcal{I}|, d)`, :math:`(|\mathcal{I}|)`
    """
    num_items = x.size(0)
    adj = binary_adjacency(edge_index.to(x.device), num_users, num_items)
    adj = adj.to(x.dtype)
    real = mask.unsqueeze(1)
    # One pass carries the sums of the real rows and their counts side by
    # side; masked_fill, not a product, so that a NaN in a missing row
    # stays out.
    rows = torch.cat([x.masked_fill(~real, 0.0), real.to(x.dtype)], dim=1)
    paths = torch.sparse.mm(adj.t(), torch.sparse.mm(adj, rows))
    total, count = paths[:, :-1], paths[:, -1:]
    reached = count.squeeze(1) > 0
    features = torch.where(count > 0, total / count.clamp(min=1), torch.zeros_like(x))
    return features, reached


def fill_missing_features(
    x: Tensor,
    mask: Tensor,
    rule: str = "mean",
    edge_index: Tensor | None = None,
    num_users: int | None = None,
) -> Tensor:
    r"""``x`` with the rows that ``mask`` marks missing replaced by the
    ``rule`` of :data:`MISSING_FEATURES` (see the module's description); the
    real rows are returned unchanged, whatever the missing rows held.

    Args:
        x (torch.Tensor): ``[num_items, d]`` item features.
        mask (torch.Tensor): ``[num_items]`` boolean, ``True`` for the real
            rows; at least one.
        rule (str, optional): :obj:`"mean"`, :obj:`"zeros"` or
            :obj:`"propagate"`. (default: :obj:`"mean"`)
        edge_index (torch.Tensor, optional): ``[2, E]`` training (user,
            item) pairs, for :obj:`"propagate"`. (default: :obj:`None`)
        num_users (int, optional): Number of users, for :obj:`"propagate"`.
            (default: :obj:`None`)

    Raises:
        ConfigError: for an unknown ``rule``.
        ValueError: for a mask of another shape or dtype or without a real
            row, or :obj:`"propagate"` without ``edge_index`` and
            ``num_users``.
    """
    check_missing_features(rule)
    if mask.dtype != torch.bool or mask.shape != (x.size(0),):
        raise ValueError(
            f"'mask' must be a boolean tensor of shape [{x.size(0)}] (got "
            f"{mask.dtype} of shape {list(mask.shape)})"
        )
    mask = mask.to(x.device)
    if bool(mask.all()):
        return x
    if not bool(mask.any()):
        raise ValueError("'mask' marks no row real: there is nothing to fill from")
    # Accumulated in float64: the mean of thousands of rows is then the same
    # to the last float32 bit whatever the summation order.
    mean = x[mask].double().mean(0).to(x.dtype).expand_as(x)
    if rule == "mean":
        fill = mean
    elif rule == "zeros":
        fill = torch.zeros_like(x)
    else:
        if edge_index is None or num_users is None:
            raise ValueError("rule 'propagate' needs 'edge_index' and 'num_users'")
        propagated, reached = propagated_features(x, mask, edge_index, num_users)
        fill = torch.where(reached.unsqueeze(1), propagated, mean)
    return torch.where(mask.unsqueeze(1), x, fill)
