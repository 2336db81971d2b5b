r"""Accuracy of MDE and every baseline of the package under one protocol:
hyperparameters chosen on validation from a small grid, then several seeds at
the chosen setting, test metrics at the best validation epoch, mean ± std.

::

    python benchmarks/prepare_data.py --datasets ml100k baby_text   # the real datasets
    python benchmarks/accuracy.py --plan             # time 2 epochs of each run kind
    python benchmarks/accuracy.py                    # the full suite (resumable)
    python benchmarks/accuracy.py --workers 2        # two runs at a time
    python benchmarks/accuracy.py --report-only      # tables and plot from the runs
    python benchmarks/accuracy.py --quick            # smoke test, to a temporary folder

Protocol (``protocol.md``): Adam, batch 2048, early stopping on validation
Recall@20 with patience 20, test metrics of the best validation epoch. Epochs
are capped per dataset (``EPOCH_CAPS``), early stopping still decides within
the cap. The datasets are those of :mod:`benchmark_datasets` (the package's
``dataset=<name>`` configs and the benchmarks' own). For every (dataset,
model) the suite's grid is searched with seed 0 only: ``hydra.sweeper.params``
of ``conf/experiment/<model>_suite.yaml`` (the suite's budget), else of the
published ``<model>_grid.yaml``; the setting with the best validation
Recall@20 (never a test score) is then run with the remaining seeds, reusing
its seed-0 run.

Runs, resumption, locks and workers: :mod:`runner`.

``mde`` is the package default chosen by the design study
(``benchmarks/mde_study.py``), ``mde_paper`` the full reconstruction of the
abstract that was the default before it. The ablation study of ``mde_paper``
uses the same runner on the synthetic data with its ablation configs and no
grid::

    python benchmarks/accuracy.py --datasets synthetic --no-grid --seeds 0 1 2 \
        --models mde_paper mde_no_diff mde_no_align mde_fixed_tradeoff \
        mde_no_user_graph lightgcn --out benchmarks/results/mde_ablations
"""

from __future__ import annotations

import argparse
import csv
import shlex
import sys
from importlib import resources
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import OmegaConf

from common import RESULTS
from mde_pyg.training import summarize
from runner import (
    MONITOR,
    Run,
    add_run_arguments,
    compute_hours,
    data_lines,
    devices,
    epoch_seconds,
    load_runs,
    p_value,
    pm,
    record_keys,
    report_header,
    report_scope,
    run_then_report,
    setup,
    tag,
    welch,
)

METRICS = ("recall@10", "recall@20", "ndcg@10", "ndcg@20")
BASELINES = (
    "lightgcn",
    "vbpr",
    "lattice",
    "mgcn",
    "freedom",
    "bm3",
    "mmgcn",
    "dragon",
    "lgmrec",
    "smore",
)
#: MDE's default and the full design of the paper (``model=mde_paper``).
OURS = ("mde", "mde_paper")
#: The baseline MDE's default extends (MGCN plus the orthogonality term, see
#: the design study): MDE is compared with it as well as with the best
#: baseline, since a gain over it is what the added term earns.
EXTENDS = "mgcn"
#: The suite's models, in the order of its tables.
DEFAULT_MODELS = (*BASELINES, "mde_paper", "mde")
#: The suite's datasets and their epoch caps.
EPOCH_CAPS = {
    "synthetic": 300,
    "synthetic_large": 200,
    "ml100k": 400,
    "baby_text": 150,
    "capability": 300,
}
#: Seeds per dataset where not 5 (the planted capability data is cheap to
#: regenerate and its differences are large, so 3 seeds suffice).
SEED_COUNTS = {"capability": 3}
#: Models swept over another model's grid.
GRID_OF = {"mde_paper": "mde"}


def parse_value(text: str) -> Any:
    """A value of a sweep's comma list as Python (``int``, ``float`` or
    ``str``), so that ``1e-4`` gives the setting ``...=0.0001``."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def read_grid(path: Any) -> dict[str, list[Any]]:
    """``hydra.sweeper.params`` of an experiment config: each key's comma
    list of values."""
    params = OmegaConf.create(path.read_text()).hydra.sweeper.params
    return {
        key: [parse_value(v.strip()) for v in str(values).split(",")]
        for key, values in params.items()
    }


def grid_axes(model: str) -> dict[str, list[Any]]:
    """The suite's grid of ``model`` (none where ``conf/experiment`` has
    none)."""
    folder = resources.files("mde_pyg.conf") / "experiment"
    name = GRID_OF.get(model, model)
    for path in (folder / f"{name}_suite.yaml", folder / f"{name}_grid.yaml"):
        if path.is_file():
            return read_grid(path)
    return {}


def grid(model: str, use_grid: bool) -> list[tuple[str, ...]]:
    """The grid points of ``model`` as override tuples (one empty point
    without a grid)."""
    axes = grid_axes(model) if use_grid else {}
    if not axes:
        return [()]
    keys = list(axes)
    names = record_keys(model)
    return [
        tuple(f"{names.get(k, k)}={v}" for k, v in zip(keys, values))
        for values in product(*(axes[k] for k in keys))
    ]


# ------------------------------------------------------------ the schedule
def seeds_of(args, dataset: str) -> list[int]:
    """The seeds of ``dataset``: ``--seeds`` where given, else the first
    :data:`SEED_COUNTS` (default 5) of 0, 1, 2, ..."""
    if args.seeds:
        return args.seeds
    return list(range(2 if args.quick else SEED_COUNTS.get(dataset, 5)))


def chosen_setting(
    runs: list[dict[str, Any]], dataset: str, model: str, points: list[tuple[str, ...]]
) -> tuple[str, ...] | None:
    """The grid point with the best seed-0 validation Recall@20 once every
    point has finished (ties: the first in grid order), else :obj:`None`."""
    val = {
        tuple(r["setting"]): r["val"][MONITOR]
        for r in runs
        if r["dataset"] == dataset and r["model"] == model and r["seed"] == 0
    }
    if any(p not in val for p in points):
        return None
    return max(points, key=lambda p: (val[p], -points.index(p)))


def pending(args, out: Path) -> list[Run]:
    """Runs still to do, grid points first; the seeds of a (dataset, model)
    become available once its grid has finished."""
    runs = load_runs(out)
    todo = []
    # Dataset by dataset, so that an interrupted suite has whole datasets.
    for dataset, model in product(args.datasets, args.models):
        points = grid(model, not args.no_grid)
        todo += [Run(dataset, model, p, 0) for p in points]
        best = chosen_setting(runs, dataset, model, points)
        if best is not None:
            seeds = seeds_of(args, dataset)
            todo += [Run(dataset, model, best, s) for s in seeds if s != 0]
    return [r for r in todo if not r.path(out).exists()]


# ------------------------------------------------------------------ report
def summary_rows(runs: list[dict[str, Any]], args) -> list[dict[str, Any]]:
    rows = []
    for dataset, model in product(args.datasets, args.models):
        points = grid(model, not args.no_grid)
        best = chosen_setting(runs, dataset, model, points)
        if best is None:
            continue
        mine = [
            r
            for r in runs
            if r["dataset"] == dataset
            and r["model"] == model
            and tuple(r["setting"]) == best
            and r["seed"] in seeds_of(args, dataset)
        ]
        mine.sort(key=lambda r: r["seed"])
        rows.append(
            {
                "dataset": dataset,
                "model": model,
                "setting": tag(best),
                "seeds": [r["seed"] for r in mine],
                "complete": [r["seed"] for r in mine] == seeds_of(args, dataset),
                "val": summarize([{MONITOR: r["val"][MONITOR]} for r in mine])[MONITOR],
                "val_runs": [r["val"][MONITOR] for r in mine],
                "test": summarize([{m: r["test"][m] for m in METRICS} for r in mine]),
                "test_runs": {m: [r["test"][m] for r in mine] for m in METRICS},
                "best_epochs": [r["best_epoch"] for r in mine],
                "epoch_s": float(np.mean([r["mean_epoch_time"] for r in mine])),
                "device": mine[0]["device"],
            }
        )
    return rows


def comparison(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each of :data:`OURS` against the baseline with the best mean
    validation Recall@20 of each dataset, and against :data:`EXTENDS`:
    relative differences of the validation and test means, and Welch's
    p-values over seeds. Only rows with all their seeds take part: a row
    still running its seeds is neither compared nor a baseline."""
    out = []
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        mine = {
            r["model"]: r for r in rows if r["dataset"] == dataset and r["complete"]
        }
        baselines = [mine[b] for b in BASELINES if b in mine]
        if not baselines:
            continue
        best = max(baselines, key=lambda r: r["val"][0])["model"]
        references = dict.fromkeys([best, EXTENDS] if EXTENDS in mine else [best])
        for model, reference in product((m for m in OURS if m in mine), references):
            entry = {
                "dataset": dataset,
                "model": model,
                "baseline": reference,
                "best_on_val": reference == best,
            }
            ours, theirs = mine[model], mine[reference]
            pairs = {"val": (ours["val_runs"], theirs["val_runs"])}
            for metric in ("recall@20", "ndcg@20"):
                pairs[metric] = (ours["test_runs"][metric], theirs["test_runs"][metric])
            for name, (a, b) in pairs.items():
                entry[f"{name} gain %"] = 100 * (np.mean(a) - np.mean(b)) / np.mean(b)
                entry[f"{name} p"] = welch(a, b)
            out.append(entry)
    return out


def write_report(args, out: Path) -> None:
    runs = load_runs(out)
    args = report_scope(args, runs, EPOCH_CAPS, DEFAULT_MODELS)
    runs = [r for r in runs if r["dataset"] in args.datasets]
    rows = summary_rows(runs, args)
    if not rows:
        print("no finished (dataset, model) yet")
        return
    with open(out / f"{args.report_name}.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(
            ["dataset", "model", "setting", "seeds", "val_recall@20_mean", "val_std"]
            + [f"test_{m}_{s}" for m in METRICS for s in ("mean", "std")]
            + ["best_epochs", "epoch_s", "device"]
        )
        for r in rows:
            writer.writerow(
                [r["dataset"], r["model"], r["setting"], " ".join(map(str, r["seeds"]))]
                + [f"{v:.6f}" for v in r["val"]]
                + [f"{v:.6f}" for m in METRICS for v in r["test"][m]]
                + [
                    " ".join(map(str, r["best_epochs"])),
                    f"{r['epoch_s']:.3f}",
                    r["device"],
                ]
            )
    lines = [
        *report_header(
            args,
            args.title,
            f"- Devices of the runs: {devices(runs)}; "
            f"{args.threads} torch thread(s) per run",
            f"- Compute: {len(runs)} runs, {compute_hours(runs):.1f} h of "
            "training + validation in all (epochs run x mean epoch and "
            "evaluation times, summed over the runs)",
        ),
        "- Protocol: Adam lr 1e-3 (LATTICE: its grid and 0.96^(epoch/50) decay), "
        "batch 2048, early stopping on validation Recall@20 (patience 20) within "
        "the epoch cap, test metrics of the best validation epoch; settings "
        "chosen on validation Recall@20 with seed 0, then every seed at the "
        "chosen setting; mean ± sample std over seeds.",
        "- Grids: "
        + (
            "none (package defaults)"
            if args.no_grid
            else "; ".join(
                f"{m}: " + ", ".join(f"{k} in {v}" for k, v in grid_axes(m).items())
                for m in args.models
                if grid_axes(m)
            )
        ),
        *data_lines(args),
        "",
        "| dataset | model | setting | seeds | val R@20 | test R@10 | test R@20 "
        "| test N@10 | test N@20 | best epochs | s/epoch |",
        "|---|---|---|---|---|---|---|---|---|---|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['dataset']} | {r['model']} | {r['setting']} | "
            f"{len(r['seeds'])} | {pm(r['val'])} | "
            + " | ".join(pm(r["test"][m]) for m in METRICS)
            + f" | {' '.join(map(str, r['best_epochs']))} | {r['epoch_s']:.2f} |"
        )
    gains = comparison(rows)
    if gains:
        lines += [
            "",
            "MDE (`mde`, and the full design `mde_paper`) against the best "
            "baseline of each dataset (the baseline with the best mean "
            "validation Recall@20 among the rows with all their seeds, marked *; "
            "a row still running its seeds takes no part) and against "
            f"`{EXTENDS}`, the baseline MDE's default extends: relative "
            "difference of the means, and the two-sided p-value of Welch's "
            "t-test over seeds.",
            "",
            "| dataset | model | against | val R@20 gain | p | test R@20 gain | p "
            "| test N@20 gain | p |",
            "|---|---|---|---:|---:|---:|---:|---:|---:|",
        ]
        lines += [
            f"| {g['dataset']} | {g['model']} | "
            f"{g['baseline']}{' *' if g['best_on_val'] else ''} | "
            + " | ".join(
                f"{g[f'{m} gain %']:+.1f}% | {p_value(g[f'{m} p'])}"
                for m in ("val", "recall@20", "ndcg@20")
            )
            + " |"
            for g in gains
        ]
    capped = [
        f"{r['dataset']} / {r['model']} / {tag(tuple(r['setting']))} / seed "
        f"{r['seed']} (best epoch {r['best_epoch']} of {r['epochs_run']})"
        for r in runs
        if not r.get("stopped_early", True)
    ]
    if capped:
        lines += [
            "",
            "Runs ended by the epoch cap rather than by early stopping (they "
            "might have improved further): " + "; ".join(capped) + ".",
        ]
    points = [r for r in runs if r["seed"] == 0 and r["setting"]]
    if points:
        lines += ["", "Grid (seed 0, validation Recall@20):", ""]
        lines += [
            f"- {r['dataset']} / {r['model']} / {tag(tuple(r['setting']))}: "
            f"{r['val'][MONITOR]:.4f} (best epoch {r['best_epoch']})"
            for r in sorted(points, key=lambda r: (r["dataset"], r["model"]))
        ]
    lines += ["", f"![accuracy]({args.plot_name})", ""]
    (out / f"{args.report_name}.md").write_text("\n".join(lines))
    plot(rows, out / args.plot_name)
    print("\n".join(lines))


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    fig, axes = plt.subplots(
        1, len(datasets), figsize=(4.5 * len(datasets), 3.6), squeeze=False
    )
    for ax, dataset in zip(axes[0], datasets):
        mine = [r for r in rows if r["dataset"] == dataset]
        x = np.arange(len(mine))
        for offset, metric in ((-0.2, "recall@20"), (0.2, "ndcg@20")):
            means = [r["test"][metric][0] for r in mine]
            stds = [r["test"][metric][1] for r in mine]
            ax.bar(x + offset, means, 0.4, yerr=stds, capsize=3, label=metric)
        ax.set_xticks(x, [r["model"] for r in mine], rotation=30, ha="right")
        ax.set_title(f"{dataset} (test, mean ± std)")
    axes[0][0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# -------------------------------------------------------------------- plan
def plan(args, out: Path) -> None:
    """Times two epochs (training + validation) of each (dataset, model) in a
    subprocess, estimates the suite's cost from the epoch caps and writes
    both to ``out/plan.md``."""
    lines = [
        *report_header(args, "Accuracy suite: per-epoch times and cost estimate"),
        "- Time of the second of two epochs (training + full-ranking "
        "validation) of the first grid point, seed 0, in a subprocess.",
        "",
        "```",
    ]
    total = 0.0
    for dataset, model in product(args.datasets, args.models):
        points = grid(model, not args.no_grid)
        epoch = epoch_seconds(Run(dataset, model, points[0], 0), args)
        if epoch is None:
            lines.append(f"{dataset} / {model}: failed")
            continue
        cap = args.caps[dataset]
        # Typical runs stop well before the cap; half the cap is the planning guess.
        runs = len(points) + len(seeds_of(args, dataset)) - 1
        estimate = runs * epoch * cap / 2
        total += estimate
        lines.append(
            f"{dataset:16s} {model:10s} {epoch:6.2f} s/epoch (train + eval), "
            f"{runs} runs x cap {cap} / 2 -> {estimate / 3600:.2f} h"
        )
        print(lines[-1], flush=True)
    total_line = f"total (one worker): {total / 3600:.1f} h"
    print(total_line)
    lines += [total_line, "```", ""]
    (out / "plan.md").write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=list(EPOCH_CAPS))
    parser.add_argument(
        "--models",
        nargs="+",
        default=list(DEFAULT_MODELS),
    )
    parser.add_argument(
        "--seeds", type=int, nargs="+", help="default: 0-4 (capability: 0-2)"
    )
    parser.add_argument("--no-grid", action="store_true", help="package defaults only")
    parser.add_argument("--title", default="Accuracy: MDE and the baselines")
    parser.add_argument("--report-name", default="accuracy")
    parser.add_argument("--plan", action="store_true")
    add_run_arguments(parser, "accuracy")
    args = parser.parse_args(argv)
    args.command = shlex.join(["python", "benchmarks/accuracy.py", *sys.argv[1:]])
    args.plot_name = f"{args.report_name}.png"

    out = setup(args, parser, EPOCH_CAPS, "synthetic", RESULTS / "accuracy", "accuracy")

    if args.plan:
        plan(args, out)
        return
    run_then_report(args, argv, __file__, out, pending, write_report)


if __name__ == "__main__":
    main()
