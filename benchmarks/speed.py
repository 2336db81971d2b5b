r"""Training and evaluation speed, and peak memory, of every model of
:mod:`mde_pyg.models` on the Baby- and Sports-sized graphs, side by side.

::

    python benchmarks/prepare_data.py --quick     # the placeholder folders
    python benchmarks/speed.py                    # -> benchmarks/results/speed.{md,csv}
    python benchmarks/speed.py --quick            # smoke test, to a temporary folder
    python benchmarks/speed.py --device cuda --models LightGCN LATTICE MDE MDE-MGCN

Data: the ``baby_placeholder`` and ``sports_placeholder`` datasets of
:mod:`benchmark_datasets` (folders of ``benchmarks/prepare_data.py --quick``
under the data root): the real interaction graphs with random features of
the published shapes (4096-d image, 384-d text). The features carry no
information, so the numbers say nothing about accuracy.

Each (dataset, model) runs in its own subprocess, so the peak RSS (and, on a
GPU, the peak of allocated GPU memory) is that model's (data included).
Models (:data:`MODELS`): every model of the package, each
``model=<name>`` of the package's config (what ``mde-pyg train model=<name>``
builds), and ``MDE-MGCN`` / ``MDE-paper``, ``model=mde`` with the options of
its MGCN reduction / of the paper's full design (:data:`VARIANTS`; no
user-user graph is built for the reduction). Each run is built by
:mod:`mde_pyg.pipeline` and measured through the public
:class:`~mde_pyg.training.Trainer` API on ``--device`` (CUDA timings wait for
the GPU to finish):

* load: :func:`~mde_pyg.pipeline.build_dataset`;
* build: :func:`~mde_pyg.pipeline.add_graphs` (the model's
  ``graph_transform`` with its config's ``graphs:`` options: the normalised
  user-item graph, the frozen item k-NN graphs, the user-user graph, whatever
  the model reads) plus :func:`~mde_pyg.pipeline.build_model` (the
  parameters), once;
* epoch: :meth:`Trainer.train_epoch` (``on_epoch_start``, e.g. a learned-graph
  rebuild, then one pass over the shuffled training pairs, batch 2048, Adam),
  median of ``--epochs`` after one warm-up epoch;
* evaluation: :meth:`Trainer.evaluate` on the validation split (embeddings
  plus full ranking of all items for every validation user), median of
  ``--evals`` after one warm-up.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shlex
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

import benchmark_datasets
from common import (
    RESULTS,
    describe_graph,
    fmt,
    machine,
    peak_rss_gib,
    print_result,
    rss_gib,
    run_worker,
    scratch,
    timed,
    train_as_the_cli,
)
from mde_pyg.data.registry import data_root
from mde_pyg.models import MGCN_OPTIONS, PAPER_OPTIONS
from mde_pyg.training import Trainer, device_name, seed_everything

DATASETS = ("baby_placeholder", "sports_placeholder")
MODELS = (
    "LightGCN",
    "VBPR",
    "LATTICE",
    "MGCN",
    "FREEDOM",
    "BM3",
    "MMGCN",
    "DRAGON",
    "LGMRec",
    "SMORE",
    "MDE",
    "MDE-MGCN",
    "MDE-paper",
)
BASELINE = "LightGCN"
#: Models measured as a package model config with other options: (config,
#: options).
VARIANTS = {
    "MDE-MGCN": ("mde", MGCN_OPTIONS),
    "MDE-paper": ("mde", PAPER_OPTIONS),
}
CSV_FIELDS = [
    "dataset",
    "model",
    "status",
    "users",
    "items",
    "train_pairs",
    "modalities",
    "threads",
    "device",
    "config",
    "load_s",
    "build_s",
    "epoch_s",
    "epoch_ratio",
    "eval_s",
    "eval_ratio",
    "data_rss_gib",
    "peak_rss_gib",
    "peak_ratio",
    "gpu_peak_gib",
    "epoch_times",
    "eval_times",
    "note",
]


def model_overrides(name: str) -> tuple[list[str], str]:
    """The overrides selecting model ``name`` (``model=<config>`` and a
    variant's options), and where its settings come from."""
    config, options = VARIANTS.get(name, (name.lower(), {}))
    overrides = [f"model={config}", *(f"model.{k}={v}" for k, v in options.items())]
    source = " + ".join([f"conf/model/{config}.yaml", *overrides[1:]])
    return overrides, source


def timed_on(device: torch.device, fn, *args: Any) -> float:
    """:func:`timed`, waiting for the GPU's queued work before and after."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        elapsed = timed(fn, *args)
        start = time.perf_counter()
        torch.cuda.synchronize(device)
        return elapsed + time.perf_counter() - start
    return timed(fn, *args)


def worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Measures one model on one dataset (run in a subprocess)."""
    from mde_pyg.pipeline import add_graphs, build_dataset, build_model, compose_config

    train_as_the_cli(spec["threads"])
    seed_everything(0)
    cfg = compose_config(spec["overrides"])
    start = time.perf_counter()
    data = build_dataset(cfg)
    load_s = time.perf_counter() - start
    data_rss = rss_gib()

    # Build: the graphs the model reads, precomputed onto the data, then the
    # model itself.
    start = time.perf_counter()
    data = add_graphs(cfg, data)
    model = build_model(cfg, data)
    build_s = time.perf_counter() - start
    trainer = Trainer(model, data, seed=0, device=spec["device"])
    device = trainer.device
    trainer.train_epoch(0)
    epoch_times = [
        timed_on(device, trainer.train_epoch, e + 1) for e in range(spec["epochs"])
    ]
    trainer.evaluate("val")
    eval_times = [
        timed_on(device, trainer.evaluate, "val") for _ in range(spec["evals"])
    ]
    gpu_peak = (
        torch.cuda.max_memory_allocated(device) / 2**30
        if device.type == "cuda"
        else float("nan")
    )
    return {
        **describe_graph(data, "train_pairs"),
        "threads": torch.get_num_threads(),
        "device": device_name(device),
        "load_s": load_s,
        "build_s": build_s,
        "epoch_s": statistics.median(epoch_times),
        "eval_s": statistics.median(eval_times),
        "data_rss_gib": data_rss,
        "peak_rss_gib": peak_rss_gib(),
        "gpu_peak_gib": gpu_peak,
        "epoch_times": " ".join(f"{t:.3f}" for t in epoch_times),
        "eval_times": " ".join(f"{t:.3f}" for t in eval_times),
    }


def add_ratios(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        base = next(
            (
                r
                for r in rows
                if r["dataset"] == row["dataset"]
                and r["model"] == BASELINE
                and r["status"] == "ok"
            ),
            None,
        )
        if base is None or row["status"] != "ok":
            continue
        for key, ratio in (
            ("epoch_s", "epoch_ratio"),
            ("eval_s", "eval_ratio"),
            ("peak_rss_gib", "peak_ratio"),
        ):
            row[ratio] = row[key] / base[key]


def write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}
            )


def write_markdown(
    rows: list[dict[str, Any]],
    args: argparse.Namespace,
    load: tuple[float, float],
    path: Path,
) -> None:
    info = machine()
    devices = ", ".join(sorted({r["device"] for r in rows if r.get("device")})) or "-"
    lines = [
        "# Speed: training epoch and full-ranking evaluation",
        "",
        f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- Machine: {info['cpu']}, {info['memory']} RAM, shared with other jobs "
        f"(1-min load average {load[0]:.2f} at the start, {load[1]:.2f} at the "
        "end: timings are noisy).",
        f"- Versions: {info['versions']}",
        f"- Threads: {args.threads} torch thread(s) per run, one run at a time.",
        f"- Device: {devices}.",
        f"- Command: `{shlex.join(['python', *sys.argv])}`",
        "- Data: "
        + "; ".join(
            f"`{name}`, {benchmark_datasets.describe(name)}" for name in args.datasets
        )
        + f" (data root `{args.root}`).",
        f"- Epoch: `Trainer.train_epoch` (`on_epoch_start` + one pass over all "
        f"training pairs, batch 2048, fused Adam), median of {args.epochs} after 1 "
        f"warm-up. Eval: `Trainer.evaluate('val')` (embeddings + full ranking of "
        f"every validation user), median of {args.evals} after 1 warm-up.",
        "- Models: the package's settings ("
        + "; ".join(sorted({f"{r['model']}: {r['config']}" for r in rows}))
        + "), each (dataset, model) in its own subprocess, built by "
        "`mde_pyg.pipeline`. `build` = the graph transform (`add_graphs`: the "
        "user-item, frozen item k-NN and user-user graphs the model reads) + "
        "model construction (`build_model`). Peak RSS = whole worker process; "
        "`data RSS` = after "
        "loading the folder, before the graphs and the model. Ratios are to "
        f"{BASELINE} on the same graph.",
        "",
        "| dataset | model | users | items | train pairs | build s | epoch s | "
        f"epoch x{BASELINE} | eval s | eval x{BASELINE} | data RSS GiB | "
        f"peak RSS GiB | peak x{BASELINE} | GPU peak GiB | status |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        status = row["status"] + (f": {row['note']}" if row.get("note") else "")
        lines.append(
            f"| {row['dataset']} | {row['model']} | {row.get('users', '-')} | "
            f"{row.get('items', '-')} | {row.get('train_pairs', '-')} | "
            f"{fmt(row, 'build_s')} | {fmt(row, 'epoch_s')} | "
            f"{fmt(row, 'epoch_ratio')} | {fmt(row, 'eval_s')} | "
            f"{fmt(row, 'eval_ratio')} | {fmt(row, 'data_rss_gib')} | "
            f"{fmt(row, 'peak_rss_gib')} | {fmt(row, 'peak_ratio')} | "
            f"{fmt(row, 'gpu_peak_gib')} | {status} |"
        )
    lines += ["", "Per-run epoch and evaluation times: `speed.csv`."]
    path.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument(
        "--root",
        type=Path,
        help="data root of the prepared folders (default: "
        "$MDE_PYG_DATA, else ~/.cache/mde_pyg/datasets)",
    )
    parser.add_argument(
        "--datasets", nargs="+", default=DATASETS, choices=benchmark_datasets.names()
    )
    parser.add_argument("--models", nargs="+", choices=MODELS, default=MODELS)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--evals", type=int, default=5)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default 1: steadier on a shared machine)",
    )
    parser.add_argument("--timeout", type=float, default=1800, help="s per run")
    parser.add_argument(
        "--device", default="cpu", help="cpu, cuda or auto (default: cpu)"
    )
    parser.add_argument("--out", type=Path, help="results folder")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="Baby only, 1 timed epoch / evaluation, to a temporary folder",
    )
    args = parser.parse_args(argv)
    if args.worker:
        print_result(worker(json.loads(args.worker)))
        return
    if args.quick:
        args.datasets, args.epochs, args.evals = DATASETS[:1], 1, 1
    out = args.out or (scratch("speed") if args.quick else RESULTS)
    args.root = data_root(args.root)
    missing = benchmark_datasets.missing(args.datasets, args.root)
    if missing:
        parser.error(
            f"{', '.join(missing)} not in '{args.root}': run "
            f"`python benchmarks/prepare_data.py --quick --root {args.root}` first"
        )

    load_start = os.getloadavg()[0]
    rows = []
    for dataset in args.datasets:
        for name in args.models:
            overrides, config = model_overrides(name)
            spec = {
                "overrides": [
                    *benchmark_datasets.overrides(dataset, args.root),
                    *overrides,
                ],
                "device": args.device,
                "epochs": args.epochs,
                "evals": args.evals,
                "threads": args.threads,
            }
            row = {
                "dataset": dataset,
                "model": name,
                **run_worker(__file__, spec, args.timeout),
                "config": config,
            }
            print(
                f"{dataset} {name}: {row['status']} "
                + (
                    f"epoch {row['epoch_s']:.2f}s eval {row['eval_s']:.2f}s "
                    f"peak {row['peak_rss_gib']:.2f} GiB"
                    if row["status"] == "ok"
                    else row.get("note", "")
                ),
                flush=True,
            )
            rows.append(row)
    add_ratios(rows)
    out.mkdir(parents=True, exist_ok=True)
    write_csv(rows, out / "speed.csv")
    write_markdown(rows, args, (load_start, os.getloadavg()[0]), out / "speed.md")
    print(f"wrote {out / 'speed.md'} and {out / 'speed.csv'}")


if __name__ == "__main__":
    main()
