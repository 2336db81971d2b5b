r"""What ``trainer.flush_denormal`` buys every model's CPU training step.

::

    python benchmarks/prepare_data.py --datasets baby_text
    python benchmarks/flush_denormal.py             # -> results/flush_denormal.md, .csv
    python benchmarks/flush_denormal.py --models mmgcn mde --datasets ml100k
    python benchmarks/flush_denormal.py --quick     # smoke test, to a temporary folder

Each (dataset, model) is built as ``mde-pyg train`` builds it (the package's
config of the model, seed 0) and its trainer's step is timed: ``model.loss``,
backward and Adam on the first ``--batches`` full batches of the first
epoch, one torch thread. Passes with subnormals kept (torch's default) and
flushed to zero (:func:`mde_pyg.training.denormals.flush_denormals`, as
``trainer.flush_denormal=true`` runs them) alternate, so both see the same
load; medians over ``--repeats`` passes each, after one warm-up pass each.
The report also counts the feature values that are nonzero but below
:math:`10^{-30}` in magnitude: a product of one with a weight below
:math:`10^{-8}` is subnormal.
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
from datetime import UTC, datetime
from pathlib import Path

import torch

import benchmark_datasets
from common import RESULTS, machine, save_row, scratch, step_time, train_as_the_cli
from mde_pyg.data.hetero import item_features
from mde_pyg.pipeline import build_data, build_model, compose_config, config_names
from mde_pyg.training import Trainer
from mde_pyg.training.denormals import flush_denormals

#: Magnitude below which a nonzero feature value is counted as near-subnormal.
NEAR_SUBNORMAL = 1e-30
COLUMNS = (
    "dataset",
    "model",
    "near_subnormal_features",
    "kept_ms",
    "flushed_ms",
    "speedup",
)


def near_subnormal(data) -> int:
    """Nonzero feature values below :data:`NEAR_SUBNORMAL` in magnitude."""
    features = item_features(data).values()
    return sum(int(((x != 0) & (x.abs() < NEAR_SUBNORMAL)).sum()) for x in features)


def measure(dataset: str, model: str, batches: int, repeats: int) -> dict:
    cfg = compose_config(
        [
            *benchmark_datasets.overrides(dataset),
            f"model={model}",
            "trainer.device=cpu",
        ]
    )
    torch.manual_seed(0)
    data = build_data(cfg)
    trainer = Trainer(
        build_model(cfg, data),
        data,
        lr=cfg.trainer.lr,
        batch_size=cfg.trainer.batch_size,
        max_epochs=1,
        device="cpu",
        seed=0,
    )
    size = cfg.trainer.batch_size
    full = [b for b in trainer.sampler if b.user.numel() == size][:batches]
    trainer.model.train()
    times: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(repeats + 1):  # the first round warms up
        for flush in (False, True):
            with flush_denormals(flush):
                times[flush].append(
                    step_time(trainer.data, full, trainer.optimizer, trainer.batch_loss)
                )
    kept, flushed = (statistics.median(times[f][1:]) for f in (False, True))
    return {
        "dataset": dataset,
        "model": model,
        "near_subnormal_features": near_subnormal(data),
        "kept_ms": 1000 * kept,
        "flushed_ms": 1000 * flushed,
        "speedup": kept / flushed,
    }


def report(rows: list[dict], args, out: Path) -> str:
    info = machine(threads=1)
    lines = [
        "# Subnormal floats flushed to zero: the CPU training step",
        "",
        f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- Machine: {info['machine']}",
        f"- Versions: {info['versions']}",
        f"- Command: `{shlex.join(['python', *sys.argv])}`",
        f"- What: one step = loss, backward, Adam over the first {args.batches} "
        "full batches of the first epoch of each model's package config; "
        f"median of {args.repeats} passes per setting, the two settings "
        "alternating, after one warm-up pass each. `kept`: torch's default; "
        "`flushed`: `trainer.flush_denormal=true`. `near-subnormal features`: "
        f"nonzero feature values below {NEAR_SUBNORMAL:g} in magnitude.",
        "",
        "| dataset | model | near-subnormal features | ms per step, kept | "
        "ms per step, flushed | speed-up |",
        "|---|---|---:|---:|---:|---:|",
        *(
            f"| {r['dataset']} | {r['model']} | {r['near_subnormal_features']:,} "
            f"| {r['kept_ms']:.1f} | {r['flushed_ms']:.1f} | {r['speedup']:.2f}x |"
            for r in rows
        ),
    ]
    text = "\n".join(lines) + "\n"
    (out / "flush_denormal.md").write_text(text)
    return text


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["baby_text"])
    parser.add_argument("--models", nargs="+", default=config_names("model"))
    parser.add_argument("--batches", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, help="results folder")
    parser.add_argument(
        "--quick", action="store_true", help="synthetic data, 2 batches, 1 repeat"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.datasets, args.batches, args.repeats = ["synthetic"], 2, 1
    out = args.out or (scratch("flush_denormal") if args.quick else RESULTS)
    out.mkdir(parents=True, exist_ok=True)
    missing = benchmark_datasets.missing(args.datasets)
    if missing:
        parser.error(
            f"not prepared: {', '.join(missing)} (run benchmarks/prepare_data.py first)"
        )
    train_as_the_cli(threads=1)
    csv_path = out / "flush_denormal.csv"
    rows = []
    for dataset in args.datasets:
        for model in args.models:
            row = measure(dataset, model, args.batches, args.repeats)
            save_row(csv_path, rows, row, COLUMNS, key=("dataset", "model"))
            rows.append(row)
            print(
                f"{dataset} {model}: {row['kept_ms']:.1f} -> "
                f"{row['flushed_ms']:.1f} ms ({row['speedup']:.2f}x)",
                flush=True,
            )
    print(report(rows, args, out))


if __name__ == "__main__":
    main()
