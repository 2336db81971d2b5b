"""The options of :class:`~mde_pyg.models.MDE`: the named option sets that
reduce it to MGCN or give the paper's full design, and its loss weights."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ALIGN_MODES = ("content_behaviour", "modality")
DIFF_LOSSES = ("pairwise_cos", "orthogonal", "club")
#: The options of :class:`MDE` that reduce it to MGCN (``study=mgcn``,
#: ``conf/study/mgcn.yaml``; :class:`MGCN`).
MGCN_OPTIONS: dict[str, Any] = {
    "user_graph": False,
    "enhancement": "none",
    "tradeoff": "fixed",
    "learn_alpha": False,
    "align_pairs": "content_behaviour",
    "lambda_modal": 0.0,
    "diff_loss": "pairwise_cos",
    "lambda_diff": 0.0,
}
#: The options of :class:`MDE` that give the full reconstruction of the
#: paper's abstract (``conf/model/mde_paper.yaml``): the pairwise difference
#: enhancement, the learnable node-level trade-off and the user-user graph,
#: without the orthogonality term. ``MDE.from_data(data, **PAPER_OPTIONS)``.
PAPER_OPTIONS: dict[str, Any] = {
    "user_graph": True,
    "enhancement": "pairwise",
    "tradeoff": "node",
    "learn_alpha": True,
    "diff_loss": "pairwise_cos",
    "lambda_diff": 0.0,
}


@dataclass(frozen=True)
class MDELossWeights:
    r"""The weights of MDE's loss terms, in the order they are added to the
    BPR loss (a term of weight 0 is not computed): :math:`\lambda_r`
    (``reg``), :math:`\lambda_a` (``align``), :math:`\lambda_d` (``diff``),
    :math:`\lambda_\phi` (``phi``), :math:`\lambda_\alpha` (``alpha``),
    :math:`\lambda_t` (``tradeoff``) and :math:`\lambda_s` (``specific``).
    :math:`\lambda_m` scales a part of the alignment term, not a term."""

    reg: float = 1e-4
    align: float = 1e-2
    diff: float = 0.1
    phi: float = 0.0
    alpha: float = 0.0
    tradeoff: float = 0.0
    specific: float = 0.0
