r"""Data-parallel scaling: training throughput and epoch time of every model
with 1 and 2 (or more) processes, launched by ``torchrun`` as a user would.

::

    python benchmarks/prepare_data.py --datasets baby_text   # the Baby-text folder
    python benchmarks/distributed.py                # CPU, 1 and 2 processes
    python benchmarks/distributed.py --device cuda --procs 1 2 4 8
    python benchmarks/distributed.py --quick        # smoke test, to a temporary folder
    python benchmarks/distributed.py --report-only

Each (model, processes, batch) runs as ``torchrun --standalone
--nproc-per-node=N benchmarks/distributed.py --worker ...``: every process
builds the data (``--dataset``, one of :mod:`benchmark_datasets`) and the
model as ``mde-pyg train`` does, then rank 0 times
:meth:`Trainer.train_epoch` (median of ``--epochs`` after one warm-up, a
barrier before each clock read) and one validation pass. On the CPU each
process runs one torch thread, so N processes use N cores.

Two batch rules, as a user would choose:

* ``global``: ``trainer.batch_size`` 2048 split over the processes, the same
  optimisation as one process (the run's results do not change);
* ``per-process``: 2048 pairs per process, a global batch N times larger
  (fewer steps per epoch; a different optimisation that may need another
  learning rate).

Throughput is training pairs per second of the epoch (all processes
together). Peak RSS is the largest of the processes' (each holds the whole
data, graphs and model). Results: ``benchmarks/results/distributed.{md,csv}``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import benchmark_datasets
from common import RESULTS, machine, read_rows, save_row, scratch, train_as_the_cli

MODELS = ("lightgcn", "lattice", "mgcn", "freedom", "mde")
FIELDS = [
    "device",
    "dataset",
    "model",
    "procs",
    "batch_rule",
    "global_batch",
    "train_pairs",
    "epoch_s",
    "pairs_per_s",
    "speedup",
    "eval_s",
    "peak_rss_gib",
    "load",
]


def worker(args: argparse.Namespace) -> None:
    import torch

    from mde_pyg.data.hetero import split_edge_index
    from mde_pyg.pipeline import build_data, build_model, compose_config
    from mde_pyg.training import Trainer, seed_everything
    from mde_pyg.training.distributed import barrier, get_world_size, is_main_process

    if args.device == "cpu":
        train_as_the_cli(1)
    dataset = benchmark_datasets.overrides(args.dataset, args.root)
    cfg = compose_config([f"model={args.model}", *dataset])
    seed_everything(0)
    data = build_data(cfg)
    model = build_model(cfg, data)
    trainer = Trainer(
        model,
        data,
        batch_size=args.batch,
        device=args.device,
        distributed=True,
    )

    def timed(fn) -> float:
        barrier()
        if trainer.device.type == "cuda":
            torch.cuda.synchronize(trainer.device)
        start = time.perf_counter()
        fn()
        if trainer.device.type == "cuda":
            torch.cuda.synchronize(trainer.device)
        barrier()
        return time.perf_counter() - start

    trainer.train_epoch(0)
    epochs = [
        timed(lambda e=e: trainer.train_epoch(e)) for e in range(1, args.epochs + 1)
    ]
    eval_s = timed(lambda: trainer.evaluate("val"))
    rss = torch.tensor(
        [resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024.0],
        device=trainer.device,
    )
    if get_world_size() > 1:
        torch.distributed.all_reduce(rss, op=torch.distributed.ReduceOp.MAX)
    if is_main_process():
        epoch_s = statistics.median(epochs)
        pairs = split_edge_index(data, "train").size(1)
        Path(args.out).write_text(
            json.dumps(
                {
                    "train_pairs": pairs,
                    "epoch_s": epoch_s,
                    "epochs": epochs,
                    "eval_s": eval_s,
                    "peak_rss_gib": float(rss) / 2**30,
                }
            )
        )


def run(args: argparse.Namespace, csv_path: Path) -> None:
    rows = read_rows(csv_path)
    for model in args.models:
        for procs in args.procs:
            for rule in ("global", "per-process"):
                if procs == 1 and rule == "per-process":
                    continue  # the same run as "global"
                key = (args.device, args.dataset, model, str(procs), rule)
                if key in {tuple(row[f] for f in FIELDS[:5]) for row in rows}:
                    print(f"done already: {key}")
                    continue
                batch = args.batch * (procs if rule == "per-process" else 1)
                load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
                with tempfile.TemporaryDirectory() as tmp:
                    out = Path(tmp) / "result.json"
                    command = [
                        sys.executable,
                        "-m",
                        "torch.distributed.run",
                        "--standalone",
                        f"--nproc-per-node={procs}",
                        __file__,
                        "--worker",
                        f"--model={model}",
                        f"--dataset={args.dataset}",
                        *([f"--root={args.root}"] if args.root else []),
                        f"--device={args.device}",
                        f"--batch={batch}",
                        f"--epochs={args.epochs}",
                        f"--out={out}",
                    ]
                    env = {**os.environ, "OMP_NUM_THREADS": "1"}
                    proc = subprocess.run(
                        command, env=env, capture_output=True, text=True
                    )
                    if proc.returncode != 0:
                        print(proc.stderr[-3000:], file=sys.stderr)
                        raise SystemExit(f"{key} failed")
                    result = json.loads(out.read_text())
                single = next(
                    (
                        row
                        for row in rows
                        if (row["device"], row["dataset"], row["model"], row["procs"])
                        == (args.device, args.dataset, model, "1")
                    ),
                    None,
                )
                pairs_per_s = result["train_pairs"] / result["epoch_s"]
                row = {
                    "device": args.device,
                    "dataset": args.dataset,
                    "model": model,
                    "procs": procs,
                    "batch_rule": rule,
                    "global_batch": batch,
                    "train_pairs": result["train_pairs"],
                    "epoch_s": f"{result['epoch_s']:.3f}",
                    "pairs_per_s": f"{pairs_per_s:.0f}",
                    "speedup": (
                        f"{pairs_per_s / float(single['pairs_per_s']):.2f}"
                        if single
                        else "1.00"
                    ),
                    "eval_s": f"{result['eval_s']:.3f}",
                    "peak_rss_gib": f"{result['peak_rss_gib']:.2f}",
                    "load": load,
                }
                print(json.dumps(row), flush=True)
                save_row(csv_path, rows, row, FIELDS, tuple(FIELDS[:5]))
                rows = read_rows(csv_path)


def report(csv_path: Path, md_path: Path, args: argparse.Namespace) -> None:
    info = machine(threads=1)
    rows = read_rows(csv_path)
    lines = [
        "# Data-parallel scaling (torchrun, DistributedDataParallel)",
        "",
        f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- Machine: {info['machine']}",
        f"- Versions: {info['versions']}",
        "- Command: `python benchmarks/distributed.py "
        f"--device {args.device} --procs {' '.join(map(str, args.procs))}`",
        "- Protocol: each row is one `torchrun --standalone --nproc-per-node=N` "
        f"launch; epoch: median of {args.epochs} `Trainer.train_epoch` after one "
        "warm-up (barrier before each clock read); eval: one validation pass. "
        "CPU: one torch thread per process (gloo). `global`: batch 2048 split "
        "over the processes (same optimisation as one process); `per-process`: "
        "2048 pairs per process. Speedup: pairs/s over the 1-process row. "
        "`load`: the machine's load average when the row started (other jobs "
        "share this machine: compare rows measured at similar load).",
        "",
        "| device | dataset | model | procs | batch rule | global batch | epoch s "
        "| pairs/s | speedup | eval s | peak RSS GiB | load |",
        "|---|---|---|---:|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        lines.append(
            "| "
            + " | ".join(
                str(row[f])
                for f in (
                    "device",
                    "dataset",
                    "model",
                    "procs",
                    "batch_rule",
                    "global_batch",
                    "epoch_s",
                    "pairs_per_s",
                    "speedup",
                    "eval_s",
                    "peak_rss_gib",
                    "load",
                )
            )
            + " |"
        )
    md_path.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--procs", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--dataset", default="baby_text", choices=benchmark_datasets.names()
    )
    parser.add_argument("--root", help="data root (default: the registry's)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=2048)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--out", default=None, help="results folder")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    if args.quick:
        args.dataset, args.epochs = "synthetic", 1
        out = Path(args.out or scratch("distributed"))
    else:
        out = Path(args.out) if args.out else RESULTS
    out.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = out / "distributed.csv", out / "distributed.md"
    if not args.report_only:
        run(args, csv_path)
    report(csv_path, md_path, args)
    print(f"wrote {csv_path} and {md_path}")


if __name__ == "__main__":
    main()
