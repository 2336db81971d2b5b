r"""Validation-driven design study of MDE's additions over its MGCN reduction
(issue "MDE that earns its name").

::

    python benchmarks/mde_study.py --plan            # per-epoch times, budget
    python benchmarks/mde_study.py                   # the study (resumable)
    python benchmarks/mde_study.py --workers 2       # two runs at a time
    python benchmarks/mde_study.py --report-only     # tables and plot
    python benchmarks/mde_study.py --quick           # smoke test, to a temporary folder

Every candidate is a config of ``conf/study/`` (``CANDIDATES``, named in the
records as in ``runner.STUDY_CONFIGS``: ``mde_mgcn`` is ``study=mgcn``) or
``model=mde_paper``: the MGCN reduction ``mde_mgcn`` plus one addition each
(user graph, node-level forward trade-off, orthogonal / CLUB
differentiation, modality-specific supervision, the loss-level node
trade-off), and the full design ``mde_paper`` with its ablations. Two
stages, on validation Recall@20 only:

1. Screening: every candidate on every dataset with seeds 0, 1, 2.
2. Confirmation: the ``TOP`` candidates with the best mean validation rank
   over the datasets (rank 1 = best mean over seeds on a dataset), and the
   MGCN reduction, with seeds 0-4 (reusing the screening seeds); Welch's
   t-test of each against the MGCN reduction on validation Recall@20, and,
   for information only (nothing is chosen by it), on test Recall@20.

Runs, resumption, locks and the protocol (Adam, batch 2048, early stopping on
validation Recall@20 with patience 20 within the epoch cap) are those of the
accuracy suite (:mod:`runner`); the datasets those of
:mod:`benchmark_datasets`.
"""

from __future__ import annotations

import argparse
import csv
import shlex
import sys
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np

import runner
from common import RESULTS
from runner import (
    MONITOR,
    Run,
    add_run_arguments,
    load_runs,
    p_value,
    pm,
    report_header,
    run_then_report,
    setup,
    welch,
)

REFERENCE = "mde_mgcn"
CANDIDATES = (
    REFERENCE,
    "mde_paper",
    "mde_no_user_graph",
    "mde_fixed_tradeoff",
    "mde_regularised",
    "mde_mgcn_user_graph",
    "mde_mgcn_node_alpha",
    "mde_mgcn_orthogonal",
    "mde_mgcn_club",
    "mde_mgcn_specific",
    "mde_tradeoff_orthogonal",
    "mde_tradeoff_club",
)
TOP = 3
#: The datasets whose validation ranks choose the finalists (and
#: ``model=mde``'s defaults) when the study includes them; the planted
#: capability data is a test of the mechanism, not a choice of defaults.
DECISION_DATASETS = ("ml100k", "baby_text")
#: The study's datasets and their epoch caps.
EPOCH_CAPS = {"ml100k": 400, "baby_text": 150, "capability": 300}
#: What the report adds to a dataset's description.
REMARKS = {"baby_text": "every cross-modal term is 0 there by construction"}


# ------------------------------------------------------------ the schedule
def val_means(
    runs: list[dict[str, Any]], dataset: str, candidate: str, seeds: list[int]
) -> list[float]:
    """Validation Recall@20 of the finished runs of ``seeds``, by seed."""
    return [
        r["val"][MONITOR]
        for r in sorted(runs, key=lambda r: r["seed"])
        if r["dataset"] == dataset and r["model"] == candidate and r["seed"] in seeds
    ]


def rank_datasets(args) -> list[str]:
    """The :data:`DECISION_DATASETS` of the study, or all its datasets if it
    has none of them."""
    return [d for d in args.datasets if d in DECISION_DATASETS] or args.datasets


def ranks(runs: list[dict[str, Any]], args) -> dict[str, float] | None:
    """Mean over :func:`rank_datasets` of each candidate's rank by mean
    screening validation Recall@20 (1 = best), once screening has finished
    on every dataset."""
    if any(
        len(val_means(runs, d, c, args.screen_seeds)) < len(args.screen_seeds)
        for d, c in product(args.datasets, args.candidates)
    ):
        return None
    decision = rank_datasets(args)
    total = dict.fromkeys(args.candidates, 0.0)
    for dataset in decision:
        means = {}
        for candidate in args.candidates:
            values = val_means(runs, dataset, candidate, args.screen_seeds)
            means[candidate] = float(np.mean(values))
        for rank, candidate in enumerate(sorted(means, key=lambda c: -means[c])):
            total[candidate] += (rank + 1) / len(decision)
    return total


def same_as_reference(
    runs: list[dict[str, Any]], dataset: str, candidate: str, args
) -> bool:
    """Whether every screening run of ``candidate`` on ``dataset`` reproduced
    the reference's run of the same seed bit for bit (validation and test
    metrics, best epoch): its addition is inert there (*e.g.* a cross-modal
    term on one modality), so its confirmation seeds are the reference's and
    are not run again."""

    def by_seed(model: str) -> dict[int, tuple]:
        return {
            r["seed"]: (r["val"], r["test"], r["best_epoch"])
            for r in runs
            if r["dataset"] == dataset
            and r["model"] == model
            and r["seed"] in args.screen_seeds
        }

    mine = by_seed(candidate)
    return (
        candidate != REFERENCE
        and len(mine) == len(args.screen_seeds)
        and mine == by_seed(REFERENCE)
    )


def finalists(runs: list[dict[str, Any]], args) -> list[str] | None:
    """The reference and the ``TOP`` best-ranked other candidates."""
    mean_rank = ranks(runs, args)
    if mean_rank is None:
        return None
    others = sorted((c for c in mean_rank if c != REFERENCE), key=mean_rank.get)
    return [REFERENCE, *others[:TOP]]


def pending(args, out: Path) -> list[Run]:
    """Screening runs, then (once screening has finished) the confirmation
    seeds of the finalists; :func:`runner.work` runs what this returns."""
    runs = load_runs(out)
    stages = [(args.candidates, args.screen_seeds)]
    final = finalists(runs, args)
    if final is not None:
        stages.append((final, args.confirm_seeds))
    todo = [
        Run(dataset, candidate, (), seed)
        for candidates, seeds in stages
        for dataset, candidate, seed in product(args.datasets, candidates, seeds)
        if seed in args.screen_seeds
        or not same_as_reference(runs, dataset, candidate, args)
    ]
    return [r for r in dict.fromkeys(todo) if not r.path(out).exists()]


# ------------------------------------------------------------------ report
def write_report(args, out: Path) -> None:
    runs = [r for r in load_runs(out) if r["dataset"] in args.datasets]
    mean_rank = ranks(runs, args)
    lines = [
        *report_header(
            args,
            "MDE design study: additions over the MGCN reduction",
            f"- Devices of the runs: {runner.devices(runs)}; "
            f"{args.threads} torch thread(s) per run",
            f"- Compute: {len(runs)} runs, {runner.compute_hours(runs):.1f} h of "
            "training + validation",
        ),
        "- Protocol: package defaults of every candidate config (no grid), "
        "Adam lr 1e-3, batch 2048, early stopping on validation Recall@20 "
        "(patience 20) within the epoch cap; screening with seeds "
        f"{args.screen_seeds}, the {TOP} best by mean validation rank over "
        f"{', '.join(rank_datasets(args))} (ties: the candidate listed first) and "
        f"`{REFERENCE}` confirmed with seeds {args.confirm_seeds}; mean ± "
        "sample std over seeds; nothing is chosen on test.",
        *runner.data_lines(args, REMARKS),
        "",
        "## Screening (validation Recall@20)",
        "",
        "| candidate | "
        + " | ".join(args.datasets)
        + f" | mean rank ({', '.join(rank_datasets(args))}) |",
        "|---|" + "---|" * len(args.datasets) + "---:|",
    ]
    screening = []
    for candidate in args.candidates:
        cells = []
        for dataset in args.datasets:
            values = val_means(runs, dataset, candidate, args.screen_seeds)
            std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
            cells.append((float(np.mean(values)), std) if values else None)
            screening.append(
                [dataset, candidate, len(values), *(cells[-1] or ("",) * 2)]
            )
        rank = f"{mean_rank[candidate]:.2f}" if mean_rank else "-"
        lines.append(
            f"| {candidate} | "
            + " | ".join(pm(c) if c else "-" for c in cells)
            + f" | {rank} |"
        )
    write_csv(
        out / "screening.csv",
        ["dataset", "candidate", "seeds", "val_mean", "val_std"],
        screening,
    )

    final = finalists(runs, args)
    if final is not None:
        lines += confirmation(runs, args, final, out)
        lines += decision(runs, args, final, mean_rank)
    lines += ["", "![screening](mde_study.png)", ""]
    (out / "mde_study.md").write_text("\n".join(lines))
    plot(runs, args, out / "mde_study.png")
    print("\n".join(lines))


def confirmation(
    runs: list[dict[str, Any]], args, final: list[str], out: Path
) -> list[str]:
    """The confirmation table (Markdown lines) and ``confirmation.csv``."""
    lines = [
        "",
        f"## Confirmation ({len(args.confirm_seeds)} seeds, against `{REFERENCE}`)",
        "",
        "| dataset | candidate | seeds | val R@20 | Δ val | p (val) | test R@20 "
        "| p (test) | best epochs |",
        "|---|---|---:|---|---:|---:|---|---:|---|",
    ]
    rows = []
    for dataset, candidate in product(args.datasets, final):
        if same_as_reference(runs, dataset, candidate, args):
            rows.append([dataset, candidate, "same as reference"] + [""] * 8)
            lines.append(
                f"| {dataset} | {candidate} | - | = `{REFERENCE}` (bit-identical "
                "on every screening seed: inert here, not rerun) | | | | | |"
            )
            continue
        mine = sorted(
            (
                r
                for r in runs
                if r["dataset"] == dataset
                and r["model"] == candidate
                and r["seed"] in args.confirm_seeds
            ),
            key=lambda r: r["seed"],
        )
        ref = [
            r
            for r in runs
            if r["dataset"] == dataset
            and r["model"] == REFERENCE
            and r["seed"] in args.confirm_seeds
        ]
        if not mine or not ref:
            continue
        val = [r["val"][MONITOR] for r in mine]
        test = [r["test"][MONITOR] for r in mine]
        ref_val = [r["val"][MONITOR] for r in ref]
        ref_test = [r["test"][MONITOR] for r in ref]
        gain = 100 * (np.mean(val) - np.mean(ref_val)) / np.mean(ref_val)
        p_val, p_test = welch(val, ref_val), welch(test, ref_test)
        stats = [
            (np.mean(v), np.std(v, ddof=1) if len(v) > 1 else 0.0) for v in (val, test)
        ]
        epochs = " ".join(str(r["best_epoch"]) for r in mine)
        rows.append(
            [
                dataset,
                candidate,
                len(mine),
                *stats[0],
                gain,
                p_val,
                *stats[1],
                p_test,
                epochs,
            ]
        )
        lines.append(
            f"| {dataset} | {candidate} | {len(mine)} | {pm(stats[0])} | "
            f"{gain:+.1f}% | {p_value(p_val)} | {pm(stats[1])} | "
            f"{p_value(p_test)} | {epochs} |"
        )
    write_csv(
        out / "confirmation.csv",
        [
            "dataset",
            "candidate",
            "seeds",
            "val_mean",
            "val_std",
            "val_gain_%",
            "p_val",
            "test_mean",
            "test_std",
            "p_test",
            "best_epochs",
        ],
        rows,
    )
    return lines


def confirmed_values(
    runs: list[dict[str, Any]], dataset: str, candidate: str, args
) -> list[float]:
    """Validation Recall@20 of ``candidate``'s confirmation seeds on
    ``dataset`` (the reference's when it reproduced the reference)."""
    if same_as_reference(runs, dataset, candidate, args):
        candidate = REFERENCE
    return val_means(runs, dataset, candidate, args.confirm_seeds)


def decision(
    runs: list[dict[str, Any]],
    args,
    final: list[str],
    mean_rank: dict[str, float],
    alpha: float = 0.05,
) -> list[str]:
    """The issue's rule, once the confirmation has finished on the decision
    datasets: ``model=mde``'s defaults become the finalist with the best mean
    validation rank that is not significantly below the reference (Welch,
    ``p < alpha``, lower mean) on any decision dataset."""
    complete = all(
        len(confirmed_values(runs, d, c, args)) == len(args.confirm_seeds)
        for d, c in product(rank_datasets(args), final)
    )
    if not complete:
        return ["", "## Decision", "", "Waiting for the confirmation runs."]
    lines = ["", "## Decision", ""]
    for candidate in sorted(final, key=mean_rank.get):
        below = []
        for dataset in rank_datasets(args):
            mine = confirmed_values(runs, dataset, candidate, args)
            ref = confirmed_values(runs, dataset, REFERENCE, args)
            p = welch(mine, ref) if mine != ref else 1.0
            if np.mean(mine) < np.mean(ref) and p < alpha:
                below.append(f"{dataset} (p = {p_value(p)})")
        if below:
            lines.append(
                f"- `{candidate}` (mean rank {mean_rank[candidate]:.2f}) is "
                f"significantly below `{REFERENCE}` on " + ", ".join(below) + "."
            )
            continue
        lines.append(
            f"- **`{candidate}`** (mean rank {mean_rank[candidate]:.2f}): the best "
            "ranked finalist not significantly below the reference on "
            f"{', '.join(rank_datasets(args))}: `model=mde`'s defaults."
        )
        break
    return lines


def write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(
            [f"{v:.6f}" if isinstance(v, float) else v for v in row] for row in rows
        )


def plot(runs: list[dict[str, Any]], args, path: Path) -> None:
    """Screening validation Recall@20 (mean ± std) of every candidate, one
    panel per dataset, the MGCN reduction's mean as a dashed line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        1, len(args.datasets), figsize=(5 * len(args.datasets), 4), squeeze=False
    )
    for ax, dataset in zip(axes[0], args.datasets):
        values = [
            val_means(runs, dataset, c, args.screen_seeds) for c in args.candidates
        ]
        means = [np.mean(v) if v else np.nan for v in values]
        stds = [np.std(v, ddof=1) if len(v) > 1 else 0.0 for v in values]
        y = np.arange(len(args.candidates))
        ax.barh(y, means, xerr=stds, capsize=2)
        ax.axvline(means[args.candidates.index(REFERENCE)], ls="--", c="k", lw=1)
        ax.set_yticks(y, args.candidates)
        lo = np.nanmin(means) if np.isfinite(np.nanmin(means)) else 0.0
        ax.set_xlim(left=0.9 * lo)
        ax.set_title(f"{dataset}: val R@20 (screening)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# -------------------------------------------------------------------- plan
def plan(args, out: Path) -> None:
    """Times every (dataset, candidate) in a subprocess and writes the
    study's cost estimate (runs x epoch time x half the epoch cap) to
    ``out/plan.md``."""
    lines = [
        *report_header(args, "MDE design study: per-epoch times and budget"),
        "- Second of two epochs (training + full-ranking validation), seed 0.",
        "- Estimate per run: epoch time x half the epoch cap (runs usually "
        "stop early); confirmation: the mean candidate's time x "
        f"{TOP + 1} finalists x {len(args.confirm_seeds) - len(args.screen_seeds)} "
        "more seeds.",
        "",
        "```",
    ]
    screen = confirm = 0.0
    for dataset in args.datasets:
        cap = args.caps[dataset]
        times = []
        for candidate in args.candidates:
            seconds = runner.epoch_seconds(Run(dataset, candidate, (), 0), args)
            if seconds is None:
                lines.append(f"{dataset} / {candidate}: failed")
                continue
            times.append(seconds)
            cost = len(args.screen_seeds) * seconds * cap / 2
            screen += cost
            lines.append(
                f"{dataset:11s} {candidate:24s} {seconds:7.2f} s/epoch -> "
                f"{len(args.screen_seeds)} runs x cap {cap} / 2 = {cost / 3600:.2f} h"
            )
            print(lines[-1], flush=True)
        extra = len(set(args.confirm_seeds) - set(args.screen_seeds))
        confirm += (TOP + 1) * extra * float(np.mean(times or [0.0])) * cap / 2
    lines += [
        f"screening (one worker):    {screen / 3600:.1f} h",
        f"confirmation (one worker): {confirm / 3600:.1f} h",
        f"total (one worker):        {(screen + confirm) / 3600:.1f} h",
        "```",
        "",
    ]
    print("\n".join(lines[-6:]))
    (out / "plan.md").write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=list(EPOCH_CAPS))
    parser.add_argument("--candidates", nargs="+", default=list(CANDIDATES))
    parser.add_argument("--plan", action="store_true")
    add_run_arguments(parser, "mde_study")
    args = parser.parse_args(argv)
    args.command = shlex.join(["python", "benchmarks/mde_study.py", *sys.argv[1:]])
    if REFERENCE not in args.candidates:
        parser.error(f"the candidates must include the reference '{REFERENCE}'")

    args.screen_seeds = [0, 1] if args.quick else [0, 1, 2]
    args.confirm_seeds = [0, 1, 2] if args.quick else [0, 1, 2, 3, 4]
    out = setup(
        args, parser, EPOCH_CAPS, "capability", RESULTS / "mde_study", "mde_study"
    )

    if args.plan:
        plan(args, out)
        return
    # Its workers follow the study's two-stage schedule (pending: screening,
    # then the best candidates).
    run_then_report(args, argv, __file__, out, pending, write_report)


if __name__ == "__main__":
    main()
