r"""Accuracy of MDE, LightGCN, LATTICE, MGCN and FREEDOM under one protocol:
hyperparameters chosen on validation from a small grid, then several seeds at
the chosen setting, test metrics at the best validation epoch, mean ± std.

::

    python benchmarks/prepare_data.py                # the ml100k and baby folders
    python benchmarks/accuracy.py --plan             # time 2 epochs of each run kind
    python benchmarks/accuracy.py                    # the full suite (resumable)
    python benchmarks/accuracy.py --workers 2        # two runs at a time
    python benchmarks/accuracy.py --report-only      # tables and plot from the runs
    python benchmarks/accuracy.py --quick            # smoke test, to /tmp

Protocol (``protocol.md``): Adam, batch 2048, early stopping on validation
Recall@20 with patience 20, test metrics of the best validation epoch. Epochs
are capped per dataset (``DATASETS``), early stopping still decides within
the cap. For every (dataset, model) the grid of ``GRIDS`` is searched with
seed 0 only; the setting with the best validation Recall@20 (never a test
score) is then run with the remaining seeds, reusing its seed-0 run.

Resumable: every finished run is one JSON file under
``<out>/runs/<dataset>/<model>/<setting>_seed<k>.json`` and is skipped when
present; an unfinished run resumes from its per-epoch checkpoint (kept outside
the repository, under ``--work-dir``). Several processes (``--workers``) can
share the work: a run is claimed through a lock file.

``mde`` is the package default chosen by the design study
(``benchmarks/mde_study.py``), ``mde_paper`` the full reconstruction of the
abstract that was the default before it. The ablation study of ``mde_paper``
uses the same runner on the synthetic data with its ablation configs
(``conf/study/no_*.yaml`` and ``fixed_tradeoff.yaml``, recorded under the
names of :data:`STUDY_CONFIGS`) and no grid::

    python benchmarks/accuracy.py --datasets synthetic --no-grid --seeds 0 1 2 \
        --models mde_paper mde_no_diff mde_no_align mde_fixed_tradeoff \
        mde_no_user_graph lightgcn --out benchmarks/results/mde_ablations
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import shlex
import shutil
import subprocess
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hydra import compose, initialize_config_module

from common import machine
from mde_pyg.pipeline import train_one
from mde_pyg.pipeline.renamed_keys import RenamedKeyWarning, rename_overrides
from mde_pyg.training import summarize

RESULTS = Path(__file__).resolve().parent / "results" / "accuracy"
QUICK_RESULTS = Path("/tmp/mde_pyg_accuracy")
CACHE = Path("~/.cache/mde_pyg").expanduser()
METRICS = ("recall@10", "recall@20", "ndcg@10", "ndcg@20")
MONITOR = "recall@20"
BASELINES = ("lightgcn", "lattice", "mgcn", "freedom")
#: MDE's default and the full design of the paper (``model=mde_paper``).
OURS = ("mde", "mde_paper")
MDE_GRID = {"model.lambda_align": [1e-2, 1e-1]}


@dataclass(frozen=True)
class DatasetSpec:
    """A benchmark dataset: Hydra overrides and the epoch cap of its runs."""

    overrides: tuple[str, ...]
    max_epochs: int
    description: str


def prepared(name: str) -> tuple[str, ...]:
    """Overrides loading a folder of ``benchmarks/prepare_data.py``."""
    folder = CACHE / "benchmarks" / name
    return ("dataset=mmrec", f"dataset.folder={folder}", f"dataset.name={name}")


DATASETS = {
    "synthetic": DatasetSpec(
        ("dataset=synthetic",),
        300,
        "built-in planted generator, 2,000 users x 1,000 items (image 64-d, text 32-d)",
    ),
    "synthetic_large": DatasetSpec(
        ("dataset=synthetic", "dataset.num_users=8000", "dataset.num_items=4000"),
        200,
        "built-in planted generator, 8,000 users x 4,000 items",
    ),
    "ml100k": DatasetSpec(
        prepared("ml100k"),
        400,
        "MovieLens-100K (real), title text (MiniLM, 384-d) and genre/decade metadata",
    ),
    "baby": DatasetSpec(
        prepared("baby"),
        150,
        "Amazon Baby interactions (real, published split) with the text "
        "modality only (MiniLM on titles + descriptions, 3,416 of 7,050 items "
        "have text, the others get the mean vector); the original image "
        "features are not available, so no image modality",
    ),
}
QUICK_DATASETS = {
    "synthetic": DatasetSpec(
        ("dataset=synthetic", "dataset.num_users=200", "dataset.num_items=100"),
        2,
        "tiny synthetic (smoke test)",
    )
}

#: Record name -> ``conf/study/`` config: the candidates and ablations of
#: MDE's design study (``benchmarks/mde_study.py``) and of ``mde_paper``,
#: recorded under their former ``conf/model/`` names.
STUDY_CONFIGS = {
    "mde_mgcn": "mgcn",
    "mde_mgcn_user_graph": "mgcn_user_graph",
    "mde_mgcn_node_alpha": "mgcn_node_alpha",
    "mde_mgcn_orthogonal": "mgcn_orthogonal",
    "mde_mgcn_club": "mgcn_club",
    "mde_mgcn_specific": "mgcn_specific",
    "mde_tradeoff_orthogonal": "tradeoff_orthogonal",
    "mde_tradeoff_club": "tradeoff_club",
    "mde_regularised": "regularised",
    "mde_fixed_tradeoff": "fixed_tradeoff",
    "mde_no_align": "no_align",
    "mde_no_diff": "no_enhancement",
    "mde_no_user_graph": "no_user_graph",
}
#: Record name -> Hydra overrides selecting it (otherwise ``model=<name>``).
MODEL_OVERRIDES = {name: (f"study={study}",) for name, study in STUDY_CONFIGS.items()}
# Small validation grids (subsets of the published ones, budgeted for 2 cores),
# in the keys the records were made with (their file names and settings):
# MGCN's model.cl_loss and FREEDOM's model.reg_weight are model.lambda_align
# and model.lambda_modality_bpr now, which overrides_of passes to the config.
GRIDS: dict[str, dict[str, list[Any]]] = {
    "lightgcn": {"model.reg_weight": [1e-4, 1e-3]},
    "lattice": {"trainer.lr": [5e-4, 1e-3]},
    "mde": MDE_GRID,
    "mde_paper": MDE_GRID,
    # The grids of conf/experiment/{mgcn,freedom}_grid.yaml.
    "mgcn": {"model.cl_loss": [1e-3, 1e-2, 1e-1]},
    "freedom": {
        "model.dropout": [0.8, 0.9],
        "model.reg_weight": [0.0, 1e-5, 1e-4, 1e-3],
    },
}


def grid(model: str, use_grid: bool) -> list[tuple[str, ...]]:
    """The grid points of ``model`` as override tuples (one empty point
    without a grid)."""
    axes = GRIDS.get(model, {}) if use_grid else {}
    if not axes:
        return [()]
    keys = list(axes)
    return [
        tuple(f"{k}={v}" for k, v in zip(keys, values))
        for values in product(*(axes[k] for k in keys))
    ]


def tag(setting: tuple[str, ...]) -> str:
    """A file-name-safe name of a grid point."""
    name = "_".join(s.split(".", 1)[1].replace("=", "-") for s in setting)
    return name or "default"


@dataclass(frozen=True)
class Run:
    dataset: str
    model: str
    setting: tuple[str, ...]
    seed: int

    def path(self, out: Path) -> Path:
        return (
            out
            / "runs"
            / self.dataset
            / self.model
            / f"{tag(self.setting)}_seed{self.seed}.json"
        )


# ----------------------------------------------------------------- one run
def overrides_of(run: Run, datasets: dict[str, DatasetSpec], args) -> list[str]:
    spec = datasets[run.dataset]
    model = MODEL_OVERRIDES.get(run.model, (f"model={run.model}",))
    with warnings.catch_warnings():  # the grids' keys are the records' own
        warnings.simplefilter("ignore", RenamedKeyWarning)
        setting = rename_overrides([*model, *run.setting])[len(model) :]
    return [
        *spec.overrides,
        *model,
        *setting,
        f"trainer.max_epochs={args.max_epochs or spec.max_epochs}",
        f"trainer.device={args.device}",
        "trainer.verbose=false",
        "checkpoint=true",
        "resume=auto",
        f"seed={run.seed}",
    ]


def execute(run: Run, datasets: dict[str, DatasetSpec], args) -> dict[str, Any]:
    """Trains one run (resuming its checkpoint if any) and returns its
    record."""
    overrides = overrides_of(run, datasets, args)
    work = args.work_dir / run.path(Path(".")).with_suffix("")
    with initialize_config_module("mde_pyg.conf", version_base="1.3"):
        cfg = compose("config", overrides=[*overrides, f"output_dir={work}"])
    start = time.perf_counter()
    result = train_one(cfg, run.seed, work)
    return {
        "dataset": run.dataset,
        "model": run.model,
        "setting": list(run.setting),
        "seed": run.seed,
        "overrides": overrides,
        "device": args.device_name,
        "threads": args.threads,
        "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
        "stopped_early": result.stopped_early,
        "mean_epoch_time": result.mean_epoch_time,
        "mean_eval_time": float(
            np.mean([h.get("eval_time", 0.0) for h in result.history] or [0.0])
        ),
        "wall_time_this_process": time.perf_counter() - start,
        "val": result.best_val,
        "test": result.test,
    }


def claim(path: Path) -> bool:
    """Takes the lock of a run; a lock left by a dead process is taken over."""
    lock = path.with_suffix(".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        try:
            os.kill(int(lock.read_text() or 0), 0)
            return False
        except (ProcessLookupError, ValueError):
            lock.unlink(missing_ok=True)
            return claim(path)
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    return True


def save(path: Path, record: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2))
    tmp.replace(path)


# ------------------------------------------------------------ the schedule
def load_runs(out: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((out / "runs").rglob("*.json"))]


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
            todo += [Run(dataset, model, best, s) for s in args.seeds if s != 0]
    return [r for r in todo if not r.path(out).exists()]


def work(
    args,
    datasets: dict[str, DatasetSpec],
    out: Path,
    poll_s: float = 30.0,
    schedule: Callable[[Any, Path], list[Run]] = pending,
) -> None:
    """Runs the runs that ``schedule`` (default: :func:`pending`) says are
    still to do until none is left. While every pending run is claimed by
    another worker it waits rather than exits: a grid finishing there makes
    its seeds pending."""
    while True:
        todo = schedule(args, out)
        if not todo:
            return
        for run in todo:
            path = run.path(out)
            if claim(path):
                break
        else:
            time.sleep(poll_s)
            continue
        try:
            if path.exists():
                continue
            print(f"[{time.strftime('%H:%M:%S')}] {run}", flush=True)
            record = execute(run, datasets, args)
            save(path, record)
            print(
                f"  best epoch {record['best_epoch']}/{record['epochs_run']}  "
                f"val R@20 {record['val'][MONITOR]:.4f}  "
                f"{record['mean_epoch_time']:.2f} s/epoch",
                flush=True,
            )
        finally:
            path.with_suffix(".lock").unlink(missing_ok=True)


# ------------------------------------------------------------------ report
def welch(a: list[float], b: list[float]) -> float:
    """Two-sided p-value of Welch's t-test (nan with fewer than 2 runs)."""
    from scipy.stats import ttest_ind

    if len(a) < 2 or len(b) < 2:
        return float("nan")
    return float(ttest_ind(a, b, equal_var=False).pvalue)


def p_value(p: float) -> str:
    """A p-value for a table: three decimals, ``< 0.001`` below that, ``-``
    where there were too few seeds to test."""
    if math.isnan(p):
        return "-"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


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
            and r["seed"] in args.seeds
        ]
        mine.sort(key=lambda r: r["seed"])
        rows.append(
            {
                "dataset": dataset,
                "model": model,
                "setting": tag(best),
                "seeds": [r["seed"] for r in mine],
                "val": summarize([{MONITOR: r["val"][MONITOR]} for r in mine])[MONITOR],
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
    validation Recall@20 of each dataset: relative test improvement and
    Welch's p-value over seeds."""
    out = []
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        mine = {r["model"]: r for r in rows if r["dataset"] == dataset}
        baselines = [mine[b] for b in BASELINES if b in mine]
        if not baselines:
            continue
        best = max(baselines, key=lambda r: r["val"][0])
        for model in (m for m in OURS if m in mine):
            entry = {"dataset": dataset, "model": model, "baseline": best["model"]}
            for metric in ("recall@20", "ndcg@20"):
                ours, theirs = mine[model]["test"][metric][0], best["test"][metric][0]
                entry[f"{metric} gain %"] = 100 * (ours - theirs) / theirs
                entry[f"{metric} p"] = welch(
                    mine[model]["test_runs"][metric], best["test_runs"][metric]
                )
            out.append(entry)
    return out


def pm(mean_std: tuple[float, float]) -> str:
    return "{:.4f} ± {:.4f}".format(*mean_std)


def compute_hours(runs: list[dict[str, Any]]) -> float:
    """The training + per-epoch validation time the runs took, in hours
    (training only for records older than their ``mean_eval_time``)."""
    return (
        sum(
            (r["mean_epoch_time"] + r.get("mean_eval_time", 0.0)) * r["epochs_run"]
            for r in runs
        )
        / 3600
    )


def devices(runs: list[dict[str, Any]]) -> str:
    """Which device ran how many of the runs of each dataset."""
    counts = Counter((r["dataset"], r["device"]) for r in runs)
    return "; ".join(
        f"{d}: {n} on {device}" for (d, device), n in sorted(counts.items())
    )


def report_header(args, title: str, *details: str) -> list[str]:
    """The title and the Date / Machine / Versions lines of a report, then
    ``details`` and the command that made it."""
    info = machine(args.threads)
    return [
        f"# {title}",
        "",
        f"- Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        f"- Machine: {info['machine']}",
        f"- Versions: {info['versions']}",
        *details,
        f"- Command: `{args.command}`",
    ]


def write_report(args, out: Path, datasets: dict[str, DatasetSpec]) -> None:
    runs = [r for r in load_runs(out) if r["dataset"] in args.datasets]
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
                f"{m}: " + ", ".join(f"{k} in {v}" for k, v in GRIDS.get(m, {}).items())
                for m in args.models
                if m in GRIDS
            )
        ),
        "- Data:",
    ]
    lines += [
        f"  - `{name}`: {datasets[name].description}; epoch cap "
        f"{args.max_epochs or datasets[name].max_epochs}"
        for name in args.datasets
    ]
    lines += [
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
            "validation Recall@20): relative difference of the test means, and "
            "the two-sided p-value of Welch's t-test over seeds.",
            "",
            "| dataset | model | best baseline | R@20 gain | p | N@20 gain | p |",
            "|---|---|---|---:|---:|---:|---:|",
        ]
        lines += [
            f"| {g['dataset']} | {g['model']} | {g['baseline']} | "
            f"{g['recall@20 gain %']:+.1f}% | "
            f"{p_value(g['recall@20 p'])} | {g['ndcg@20 gain %']:+.1f}% | "
            f"{p_value(g['ndcg@20 p'])} |"
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
def plan(args, datasets: dict[str, DatasetSpec], out: Path) -> None:
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
        run = Run(dataset, model, grid(model, not args.no_grid)[0], 0)
        overrides = [
            o
            for o in overrides_of(run, datasets, args)
            if not o.startswith(("trainer.max_epochs", "checkpoint", "resume"))
        ]
        code = (
            "import sys, json; from hydra import compose, initialize_config_module;"
            "from mde_pyg.pipeline import train_one; from pathlib import Path;"
            "initialize_config_module('mde_pyg.conf', version_base='1.3');"
            "cfg = compose('config', overrides=sys.argv[1:]);"
            "r = train_one(cfg, 0, Path('/tmp/mde_pyg_plan'));"
            "print(json.dumps([h['train_time'] + h.get('eval_time', 0) "
            "for h in r.history]))"
        )
        cmd = [sys.executable, "-c", code, *overrides, "trainer.max_epochs=2"]
        # output_dir is Hydra's run folder by default, which only an app has.
        cmd += ["checkpoint=false", "output_dir=/tmp/mde_pyg_plan"]
        env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            lines.append(f"{dataset} / {model}: failed")
            print(f"{dataset} / {model}: failed\n{proc.stderr[-2000:]}")
            continue
        epoch = json.loads(proc.stdout.strip().splitlines()[-1])[-1]
        points = len(grid(model, not args.no_grid))
        cap = args.max_epochs or datasets[dataset].max_epochs
        # Typical runs stop well before the cap; half the cap is the planning guess.
        runs = points + len(args.seeds) - 1
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
    shutil.rmtree("/tmp/mde_pyg_plan", ignore_errors=True)


def setup(
    args,
    parser: argparse.ArgumentParser,
    datasets: dict[str, DatasetSpec] = DATASETS,
    quick_datasets: dict[str, DatasetSpec] = QUICK_DATASETS,
    results: Path = RESULTS,
    quick_results: Path = QUICK_RESULTS,
    runs_folder: str = "accuracy_runs",
) -> tuple[dict[str, DatasetSpec], Path]:
    """The datasets and the results folder of a suite run, or of a study
    built on this runner (its own datasets and folders; checkpoints under
    ``runs_folder`` of the cache), with the run-wide settings of ``args``
    filled in."""
    if args.quick:
        datasets, args.datasets = quick_datasets, list(quick_datasets)
    args.work_dir = args.work_dir or (
        quick_results / "work" if args.quick else CACHE / runs_folder
    )
    out = args.out or (quick_results if args.quick else results)
    unknown = [d for d in args.datasets if d not in datasets]
    if unknown:
        parser.error(f"unknown datasets {unknown} (choose from {list(datasets)})")
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)
    args.device_name = (
        torch.cuda.get_device_name()
        if args.device != "cpu" and torch.cuda.is_available()
        else "cpu"
    )
    return datasets, out


def run_workers(args, argv: list[str] | None, script: str) -> None:
    """Runs ``args.workers`` copies of ``script`` with ``--worker`` and waits
    for them."""
    # By default glibc returns large freed blocks to the OS, so every step
    # page-faults its large buffers (2048 x 2048 InfoNCE logits, 4096-d
    # feature gradients) again: keeping them saves that time and changes no
    # result.
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(args.threads),
        "MALLOC_MMAP_MAX_": "0",
        "MALLOC_TRIM_THRESHOLD_": str(1 << 40),
    }
    child = [*(argv if argv is not None else sys.argv[1:]), "--worker"]
    procs = [
        subprocess.Popen([sys.executable, script, *child], env=env)
        for _ in range(args.workers)
    ]
    for proc in procs:
        proc.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument(
        "--models",
        nargs="+",
        default=["lightgcn", "lattice", "mgcn", "freedom", "mde_paper", "mde"],
    )
    parser.add_argument("--seeds", type=int, nargs="+", help="default: 0 1 2 3 4")
    parser.add_argument("--no-grid", action="store_true", help="package defaults only")
    parser.add_argument("--max-epochs", type=int, help="override every epoch cap")
    parser.add_argument("--device", default="auto", help="cpu, cuda or auto")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run")
    parser.add_argument("--workers", type=int, default=1, help="parallel processes")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help="results folder")
    parser.add_argument(
        "--work-dir",
        type=Path,
        help="checkpoints of unfinished runs, outside the repository "
        "(default: ~/.cache/mde_pyg/accuracy_runs)",
    )
    parser.add_argument(
        "--title", default="Accuracy: MDE vs LightGCN, LATTICE, MGCN and FREEDOM"
    )
    parser.add_argument("--report-name", default="accuracy")
    parser.add_argument("--plan", action="store_true")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    args.command = shlex.join(["python", "benchmarks/accuracy.py", *sys.argv[1:]])
    args.plot_name = f"{args.report_name}.png"

    args.seeds = args.seeds or ([0, 1] if args.quick else [0, 1, 2, 3, 4])
    datasets, out = setup(args, parser)

    if args.plan:
        plan(args, datasets, out)
        return
    if not args.report_only:
        if args.worker:
            work(args, datasets, out)
            return
        run_workers(args, argv, __file__)
    write_report(args, out, datasets)


if __name__ == "__main__":
    main()
