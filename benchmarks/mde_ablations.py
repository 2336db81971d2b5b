"""MDE, its four ablations and LightGCN on the built-in synthetic dataset, over
seeds: validation and test Recall@20 (test at the best validation epoch),
mean ± std.

    python benchmarks/mde_ablations.py [--seeds 0 1 2] [--models ...] [--summary]

Resumable: each finished (model, seed) run is written to
``benchmarks/results/mde_ablations/runs/<model>_seed<k>.json`` and skipped
next time, so several processes can split the work. ``--summary`` writes
``mde_ablations.md`` / ``.csv`` from the finished runs.
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import time
from pathlib import Path

import torch
from hydra import compose, initialize_config_module

from mde_pyg.cli import build_dataset, build_model, versions
from mde_pyg.training import Trainer, format_summary, seed_everything, summarize

OUT = Path(__file__).resolve().parent / "results" / "mde_ablations"
MODELS = [
    "mde",
    "mde_no_diff",
    "mde_no_align",
    "mde_fixed_tradeoff",
    "mde_no_user_graph",
    "lightgcn",
]


def run(model_name: str, seed: int) -> dict:
    with initialize_config_module("mde_pyg.conf", version_base="1.3"):
        cfg = compose("config", overrides=[f"model={model_name}", f"seed={seed}"])
    seed_everything(seed)
    data = build_dataset(cfg)
    model = build_model(cfg, data)
    start = time.perf_counter()
    result = Trainer(model, data, seed=seed, verbose=False).fit()
    return {
        "model": model_name,
        "seed": seed,
        "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
        "mean_epoch_time": result.mean_epoch_time,
        "wall_time": time.perf_counter() - start,
        "val": result.best_val,
        "test": result.test,
    }


def write_summary() -> None:
    runs = [json.loads(p.read_text()) for p in sorted((OUT / "runs").glob("*.json"))]
    rows = []
    for name in MODELS:
        mine = [r for r in runs if r["model"] == name]
        if not mine:
            continue
        val = summarize([{"recall@20": r["val"]["recall@20"]} for r in mine])
        test = summarize(
            [{k: r["test"][k] for k in ("recall@20", "ndcg@20")} for r in mine]
        )
        rows.append(
            {
                "model": name,
                "seeds": " ".join(str(r["seed"]) for r in mine),
                "val_recall@20": format_summary(val).split("=")[1],
                "test_recall@20": "{:.4f}±{:.4f}".format(*test["recall@20"]),
                "test_ndcg@20": "{:.4f}±{:.4f}".format(*test["ndcg@20"]),
                "best_epochs": " ".join(str(r["best_epoch"]) for r in mine),
                "epoch_s": "{:.2f}".format(
                    sum(r["mean_epoch_time"] for r in mine) / len(mine)
                ),
            }
        )
    with open(OUT / "mde_ablations.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    lines = [
        "# MDE ablations on the synthetic dataset",
        "",
        "- Command: `python benchmarks/mde_ablations.py` (then `--summary`)",
        f"- Machine: {platform.machine()}, {torch.get_num_threads()} torch threads; "
        f"versions: {versions()}",
        "- Data: `make_synthetic` defaults (conf/dataset/synthetic.yaml); protocol "
        "defaults (conf/trainer/default.yaml): early stopping on validation "
        "Recall@20, test reported at the best validation epoch; mean ± sample std "
        "over seeds. Model settings: conf/model/<model>.yaml, untuned.",
        "",
        "| " + " | ".join(rows[0]) + " |",
        "|" + "---|" * len(rows[0]),
    ]
    lines += ["| " + " | ".join(str(v) for v in row.values()) + " |" for row in rows]
    (OUT / "mde_ablations.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--models", nargs="+", default=MODELS, choices=MODELS)
    parser.add_argument("--summary", action="store_true")
    args = parser.parse_args()
    if args.summary:
        write_summary()
        return
    (OUT / "runs").mkdir(parents=True, exist_ok=True)
    for seed in args.seeds:
        for name in args.models:
            path = OUT / "runs" / f"{name}_seed{seed}.json"
            if path.exists():
                continue
            record = run(name, seed)
            path.write_text(json.dumps(record, indent=2))
            print(
                f"{name} seed {seed}: val R@20 {record['val']['recall@20']:.4f} "
                f"test R@20 {record['test']['recall@20']:.4f} "
                f"({record['wall_time']:.0f}s)",
                flush=True,
            )


if __name__ == "__main__":
    main()
