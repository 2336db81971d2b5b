r"""Missing modalities: what MGCN, FREEDOM and MDE should see for an item
without a feature, chosen on validation Recall@20 (issue 26).

::

    python benchmarks/prepare_data.py --datasets ml100k baby_text   # text_mask.npy too
    python benchmarks/missing_modality.py                  # the study (resumable)
    python benchmarks/missing_modality.py --workers 2      # two runs at a time
    python benchmarks/missing_modality.py --device cuda    # on a GPU
    python benchmarks/missing_modality.py --report-only    # tables from the runs
    python benchmarks/missing_modality.py --quick          # smoke test, to /tmp

The rules (``dataset.missing_features``, :mod:`mde_pyg.data.missing`):
``mean`` (the default before this study; still MGCN's and FREEDOM's),
``zeros`` (MDE's since) and ``propagate`` (the mean of the co-interacted
items' real rows in the training graph). Under these three the item-item
:math:`k`-NN graphs link no item through a missing row (the package default,
``model.graphs.skip_missing=true``); ``mean_linked`` and ``propagate_linked``
fill the rows the same way and search them as real rows in the graphs
(``skip_missing=false``; with ``zeros`` every missing row would tie with
every item). Added after the first three had run, when MGCN's Baby-text
validation Recall@20 turned out 2.8 % lower with the skipped rows than with
the linked ones on one seed.

Datasets:

* ``baby_text``: Baby-text, 3,634 of its 7,050 items without text; its
  ``text_mask.npy`` is written by ``benchmarks/prepare_data.py``.
* ``ml100k_half_text``: ml100k with the text rows of a random half of the
  items (:data:`HALF_SEED`) marked missing, derived here at run time from
  the prepared ``<data_root>/ml100k`` into ``<data_root>/ml100k_half_text``
  (:func:`derive_half_text`: ``text_mask.npy`` written, the removed rows set
  to the mean of the kept ones as the text encoder fills them, the metadata
  modality complete; a ``manifest.json`` records the inputs' hashes and the
  seed, and the folder is remade when they change). MovieLens may not be
  redistributed: the folder stays in the data root, never in the repository.

Every (dataset, model, rule) runs with seeds 0, 1, 2 at the package defaults
(no grid): Adam, batch 2048, early stopping on validation Recall@20 with
patience 20 within the epoch cap, test metrics of the best validation epoch,
mean ± sample std over seeds. Per (dataset, model) the rule with the best
mean validation Recall@20 is marked; per model, the rule with the best mean
validation rank over the datasets (ties: the one listed first, so ``mean``,
the status quo, wins a tie) is the default the study proposes. Nothing is
chosen on test. Runs, resumption, locks and workers: :mod:`runner`.
"""

from __future__ import annotations

import argparse
import csv
import shlex
import shutil
import sys
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np

import benchmark_datasets
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
    tag,
    welch,
)

MODELS = ("mgcn", "freedom", "mde")
#: Every rule: the overrides of its runs.
RULES: dict[str, tuple[str, ...]] = {
    "mean": ("dataset.missing_features=mean",),
    "zeros": ("dataset.missing_features=zeros",),
    "propagate": ("dataset.missing_features=propagate",),
    "mean_linked": ("dataset.missing_features=mean", "model.graphs.skip_missing=false"),
    "propagate_linked": (
        "dataset.missing_features=propagate",
        "model.graphs.skip_missing=false",
    ),
}
SEEDS = (0, 1, 2)
METRICS = ("recall@10", "recall@20", "ndcg@10", "ndcg@20")
#: The study's datasets and their epoch caps (those of the accuracy suite).
EPOCH_CAPS = {"baby_text": 150, "ml100k_half_text": 400}
HALF_TEXT = "ml100k_half_text"
#: The seed of the items whose text ``ml100k_half_text`` drops.
HALF_SEED = 0
#: What the report adds to a dataset's description.
REMARKS = {"baby_text": "3,634 of 7,050 items without text (text_mask.npy)"}


#: The item graphs of the rules that are not ``_linked``: they skip the
#: missing rows, as every model's did by default when those rules ran (MGCN,
#: FREEDOM and MDE link them by default since the study). Pinned rather than
#: part of the rules, so that their records keep their names.
SKIPPED = ("model.graphs.skip_missing=true",)


def setting(rule: str) -> tuple[str, ...]:
    """The grid point (override tuple) of a rule."""
    return RULES[rule]


def study_run(dataset: str, model: str, rule: str, seed: int) -> Run:
    """The run of ``rule``, its graphs pinned to skipping where it does
    not link the rows."""
    pinned = () if rule.endswith("_linked") else SKIPPED
    return Run(dataset, model, setting(rule), seed, pinned)


# ------------------------------------------------------------- the data
def derive_half_text(source: Path, target: Path, seed: int = HALF_SEED) -> Path:
    r"""Writes ``target`` (an MMRec folder named ``target.name``): the
    interactions and features of the MMRec folder ``source`` with the text
    rows of a random half of the items (``seed``) marked missing in
    ``text_mask.npy`` and set to the mean of the remaining real rows.
    Items the source's own ``text_mask.npy`` marks missing stay missing.
    Up to date (nothing written) when ``target``'s manifest records the same
    source files and seed.

    Raises:
        mde_pyg.errors.DatasetError: if ``source`` has no ``.inter`` or
            ``text_feat.npy`` (prepare it with ``mde-pyg prepare ml100k``).
    """
    from mde_pyg.data.files import file_digest
    from mde_pyg.data.layout import FEATURE_SUFFIX, MASK_SUFFIX, mask_path
    from mde_pyg.data.manifest import Folder
    from mde_pyg.data.mmrec import read_feature_mask
    from mde_pyg.errors import DatasetError

    inter = source / f"{source.name}.inter"
    text = source / f"text{FEATURE_SUFFIX}"
    for path in (inter, text):
        if not path.is_file():
            raise DatasetError(
                f"{path}: not found ({target.name} is derived from it: run "
                f"'mde-pyg prepare {source.name}' first)"
            )
    text_mask = mask_path(source, "text")
    # The other modalities (and their masks, if any) as they are.
    copies = sorted(
        p
        for p in (*source.glob(f"*{FEATURE_SUFFIX}"), *source.glob(f"*{MASK_SUFFIX}"))
        if p.name not in (text.name, text_mask.name)
    )
    read = [inter, text, *([text_mask] if text_mask.is_file() else []), *copies]
    inputs = {
        "source": str(source),
        "files": {p.name: file_digest(p) for p in read},
        "seed": seed,
    }
    outputs = [f"{target.name}.inter", text.name, text_mask.name]
    outputs += [p.name for p in copies]

    def build(tmp: Path) -> dict[str, Any]:
        x = np.load(text)
        mask = read_feature_mask(source, "text", x.shape[0]).numpy()
        drop = np.random.default_rng(seed).permutation(x.shape[0])[: x.shape[0] // 2]
        mask[drop] = False
        x[~mask] = x[mask].mean(axis=0)
        np.save(tmp / text.name, x)
        np.save(tmp / text_mask.name, mask)
        shutil.copyfile(inter, tmp / f"{target.name}.inter")
        for path in copies:
            shutil.copyfile(path, tmp / path.name)
        return {"items": int(x.shape[0]), "with_text": int(mask.sum())}

    Folder(target).run("half_text", inputs, outputs, build)
    return target


def check_data(args, parser: argparse.ArgumentParser) -> None:
    """Derives ``ml100k_half_text`` if the study reads it, and refuses to
    start on a Baby folder without its mask file."""
    for dataset in args.datasets:
        path = benchmark_datasets.folder(dataset)
        if dataset == HALF_TEXT:
            derive_half_text(path.with_name("ml100k"), path)
        elif dataset == "baby_text" and not (path / "text_mask.npy").is_file():
            parser.error(
                f"{path / 'text_mask.npy'} not found: run 'python "
                "benchmarks/prepare_data.py --datasets baby_text' "
                "(it adds the mask of the items with text without encoding again)"
            )


# ------------------------------------------------------------ the schedule
def pending(args, out: Path) -> list[Run]:
    """Every (dataset, seed, model, rule) not yet run, dataset by dataset
    and seed by seed, so that an interrupted study has whole comparisons."""
    todo = [
        study_run(dataset, model, rule, seed)
        for dataset, seed, model, rule in product(
            args.datasets, args.seeds, args.models, args.rules
        )
    ]
    return [r for r in todo if not r.path(out).exists()]


# ------------------------------------------------------------------ report
def results(runs: list[dict[str, Any]], args) -> list[dict[str, Any]]:
    """One row per (dataset, model, rule) with finished runs: its seeds and
    the mean ± std of validation Recall@20 and of the test metrics."""
    rows = []
    for dataset, model, rule in product(args.datasets, args.models, args.rules):
        mine = sorted(
            (
                r
                for r in runs
                if r["dataset"] == dataset
                and r["model"] == model
                and tuple(r["setting"]) == setting(rule)
                and r["seed"] in args.seeds
            ),
            key=lambda r: r["seed"],
        )
        if not mine:
            continue
        val = [r["val"][MONITOR] for r in mine]
        rows.append(
            {
                "dataset": dataset,
                "model": model,
                "rule": rule,
                "seeds": [r["seed"] for r in mine],
                "val_runs": val,
                "val": mean_std(val),
                "test": {m: mean_std([r["test"][m] for r in mine]) for m in METRICS},
                "best_epochs": [r["best_epoch"] for r in mine],
                "epoch_s": float(np.mean([r["mean_epoch_time"] for r in mine])),
            }
        )
    return rows


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value)."""
    std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return float(np.mean(values)), std


def complete(rows: list[dict[str, Any]], args, dataset: str, model: str) -> bool:
    """Whether every rule of (dataset, model) has all its seeds."""
    done = {
        r["rule"]
        for r in rows
        if r["dataset"] == dataset
        and r["model"] == model
        and len(r["seeds"]) == len(args.seeds)
    }
    return done == set(args.rules)


def best_rules(rows: list[dict[str, Any]], args) -> dict[tuple[str, str], str]:
    """The rule with the best mean validation Recall@20 of every complete
    (dataset, model) (ties: the rule listed first)."""
    best = {}
    for dataset, model in product(args.datasets, args.models):
        if not complete(rows, args, dataset, model):
            continue
        val = {
            r["rule"]: r["val"][0]
            for r in rows
            if r["dataset"] == dataset and r["model"] == model
        }
        best[dataset, model] = max(args.rules, key=val.__getitem__)  # ties: first
    return best


def chosen_defaults(
    rows: list[dict[str, Any]], args
) -> dict[str, tuple[str, dict[str, float]]]:
    """Per model whose every dataset is complete: the rule with the best
    mean validation rank over the datasets (ties: the rule listed first)
    and every rule's mean rank."""
    chosen = {}
    for model in args.models:
        if not all(complete(rows, args, d, model) for d in args.datasets):
            continue
        rank = dict.fromkeys(args.rules, 0.0)
        for dataset in args.datasets:
            val = {
                r["rule"]: r["val"][0]
                for r in rows
                if r["dataset"] == dataset and r["model"] == model
            }
            for place, rule in enumerate(sorted(args.rules, key=lambda g: -val[g])):
                rank[rule] += (place + 1) / len(args.datasets)
        rule = min(args.rules, key=rank.__getitem__)  # ties: the first
        chosen[model] = (rule, rank)
    return chosen


def write_report(args, out: Path) -> None:
    runs = load_runs(out)
    args = runner.report_scope(args, runs, EPOCH_CAPS, MODELS)
    runs = [r for r in runs if r["dataset"] in args.datasets]
    rows = results(runs, args)
    if not rows:
        print("no finished run yet")
        return
    best = best_rules(rows, args)
    with open(out / f"{args.report_name}.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(
            ["dataset", "model", "rule", "seeds", "val_recall@20_mean"]
            + ["val_recall@20_std"]
            + [f"test_{m}_{s}" for m in METRICS for s in ("mean", "std")]
            + ["best_on_val", "best_epochs", "epoch_s"]
        )
        for r in rows:
            writer.writerow(
                [r["dataset"], r["model"], r["rule"], " ".join(map(str, r["seeds"]))]
                + [f"{v:.6f}" for v in r["val"]]
                + [f"{v:.6f}" for m in METRICS for v in r["test"][m]]
                + [
                    best.get((r["dataset"], r["model"])) == r["rule"],
                    " ".join(map(str, r["best_epochs"])),
                    f"{r['epoch_s']:.3f}",
                ]
            )
    lines = [
        *report_header(
            args,
            args.title,
            f"- Devices of the runs: {runner.devices(runs)}; "
            f"{args.threads} torch thread(s) per run",
            f"- Compute: {len(runs)} runs, {runner.compute_hours(runs):.1f} h of "
            "training + validation",
        ),
        "- Protocol: package defaults of every model (no grid), Adam lr 1e-3, "
        "batch 2048, early stopping on validation Recall@20 (patience 20) "
        "within the epoch cap, test metrics of the best validation epoch; "
        f"seeds {args.seeds}; mean ± sample std over seeds. The rule of each "
        "(dataset, model) with the best mean validation Recall@20 is in bold; "
        "p: Welch's t-test of its validation Recall@20 against `mean` over "
        "seeds. Nothing is chosen on test.",
        *runner.data_lines(args, REMARKS),
        "",
        "| dataset | model | rule | seeds | val R@20 | p (val, vs mean) "
        "| test R@10 | test R@20 | test N@10 | test N@20 | best epochs | s/epoch |",
        "|---|---|---|---:|---|---:|---|---|---|---|---|---:|",
    ]
    for r in rows:
        chosen = best.get((r["dataset"], r["model"])) == r["rule"]
        rule = f"**{r['rule']}**" if chosen else r["rule"]
        baseline = next(
            (
                b
                for b in rows
                if b["dataset"] == r["dataset"]
                and b["model"] == r["model"]
                and b["rule"] == "mean"
            ),
            None,
        )
        p = (
            p_value(welch(r["val_runs"], baseline["val_runs"]))
            if baseline is not None and r["rule"] != "mean"
            else "-"
        )
        lines.append(
            f"| {r['dataset']} | {r['model']} | {rule} | {len(r['seeds'])} | "
            f"{pm(r['val'])} | {p} | "
            + " | ".join(pm(r["test"][m]) for m in METRICS)
            + f" | {' '.join(map(str, r['best_epochs']))} | {r['epoch_s']:.2f} |"
        )
    defaults = chosen_defaults(rows, args)
    if defaults:
        lines += [
            "",
            "Proposed default per model (`dataset.missing_features`, and "
            "`model.graphs.skip_missing=false` for a `_linked` rule): the rule "
            "with the best mean validation rank over "
            f"{', '.join(args.datasets)} (1 = best; ties: "
            f"{' < '.join(args.rules)}).",
            "",
            "| model | proposed default | "
            + " | ".join(f"mean rank `{g}`" for g in args.rules)
            + " |",
            "|---|---|" + "---:|" * len(args.rules),
        ]
        lines += [
            f"| {model} | `{rule}` | "
            + " | ".join(f"{rank[g]:.2f}" for g in args.rules)
            + " |"
            for model, (rule, rank) in defaults.items()
        ]
    capped = [
        f"{r['dataset']} / {r['model']} / {tag(tuple(r['setting']))} / seed {r['seed']}"
        for r in runs
        if not r.get("stopped_early", True)
    ]
    if capped and not args.quick:
        lines += [
            "",
            "Runs ended by the epoch cap rather than by early stopping: "
            + "; ".join(capped)
            + ".",
        ]
    lines.append("")
    (out / f"{args.report_name}.md").write_text("\n".join(lines))
    print("\n".join(lines))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=list(EPOCH_CAPS))
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--rules", nargs="+", default=list(RULES), choices=RULES)
    parser.add_argument("--seeds", type=int, nargs="+", help="default: 0 1 2")
    parser.add_argument(
        "--title",
        default="Missing modalities: mean, zeros or propagated features, "
        "skipped or linked in the item graphs",
    )
    parser.add_argument("--report-name", default="missing_modality")
    add_run_arguments(parser, "missing_modality")
    args = parser.parse_args(argv)
    script = "benchmarks/missing_modality.py"
    args.command = shlex.join(["python", script, *sys.argv[1:]])
    args.seeds = args.seeds or ([0] if args.quick else list(SEEDS))
    args.rules = list(dict.fromkeys(args.rules))
    out = setup(
        args,
        parser,
        EPOCH_CAPS,
        HALF_TEXT,
        RESULTS / "missing_modality",
        "missing_modality",
    )
    if not (args.report_only or args.worker):
        check_data(args, parser)
    run_then_report(args, argv, __file__, out, pending, write_report)


if __name__ == "__main__":
    main()
