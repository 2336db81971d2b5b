"""Summarising the runs of several seeds as mean ± standard deviation."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np


def summarize(runs: Iterable[Mapping[str, float]]) -> dict[str, tuple[float, float]]:
    """Returns ``{metric: (mean, std)}`` over ``runs`` (sample standard
    deviation, ``ddof=1``; 0 for a single run)."""
    runs = list(runs)
    if not runs:
        raise ValueError("Cannot summarise an empty list of runs")
    summary = {}
    for key in runs[0]:
        values = np.array([run[key] for run in runs], dtype=np.float64)
        std = float(values.std(ddof=1)) if len(values) > 1 else 0.0
        summary[key] = (float(values.mean()), std)
    return summary


def format_summary(summary: Mapping[str, tuple[float, float]], digits: int = 4) -> str:
    """One ``metric: mean ± std`` item per metric, in the given order."""
    return "  ".join(
        f"{key}={mean:.{digits}f}±{std:.{digits}f}"
        for key, (mean, std) in summary.items()
    )
