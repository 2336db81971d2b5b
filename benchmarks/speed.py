r"""Training and evaluation speed, and peak memory, of every model of
:mod:`mde_pyg.models` on the Baby- and Sports-sized graphs, side by side.

::

    python benchmarks/prepare_data.py --quick     # the placeholder folders
    python benchmarks/speed.py                    # -> benchmarks/results/speed.{md,csv}
    python benchmarks/speed.py --quick            # smoke test, to /tmp/mde_pyg_speed
    python benchmarks/speed.py --device cuda --models LightGCN LATTICE MDE MDE-MGCN

Data: the ``baby_placeholder`` and ``sports_placeholder`` folders of
``benchmarks/prepare_data.py``: the real interaction graphs with random
features of the published shapes (4096-d image, 384-d text). The features
carry no information, so the numbers say nothing about accuracy.

Each (dataset, model) runs in its own subprocess, so the peak RSS (and, on a
GPU, the peak of allocated GPU memory) is that model's (data included).
Models: ``LightGCN``, ``LATTICE``, ``MGCN``, ``FREEDOM`` and ``MDE`` where
:mod:`mde_pyg.models` provides them (the others are listed as skipped), each
with the package's ``conf/model/<name>.yaml`` settings (the ones ``mde-pyg train
model=<name>`` uses), and ``MDE-MGCN``, MDE with the options of its
documented MGCN reduction (no user-user graph is built for it). The yaml's ``graphs:``
section holds the options of the class's ``graph_transform``, which
precomputes the graphs the model reads onto the data; the other settings go
to ``from_data``. Measured through the public :class:`~mde_pyg.training.Trainer`
API on ``--device`` (CUDA timings wait for the GPU to finish):

* build: ``graph_transform(**graphs)(data)`` (the normalised user-item graph,
  the frozen item k-NN graphs, the user-user graph: whatever the model reads)
  plus ``from_data(data, **settings)`` (the parameters), once;
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
import inspect
import json
import os
import shlex
import statistics
import sys
import time
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from omegaconf import OmegaConf

import mde_pyg.models
from common import (
    describe_graph,
    fmt,
    machine,
    peak_rss_gib,
    print_result,
    rss_gib,
    run_worker,
    timed,
)
from mde_pyg.data import load_mmrec
from mde_pyg.models import MGCN_OPTIONS, PAPER_OPTIONS
from mde_pyg.training import Trainer, device_name, seed_everything

RESULTS = Path(__file__).resolve().parent / "results"
QUICK_RESULTS = Path("/tmp/mde_pyg_speed")
DEFAULT_CACHE = "~/.cache/mde_pyg/benchmarks"
DATASETS = ("baby_placeholder", "sports_placeholder")
MODELS = ("LightGCN", "LATTICE", "MGCN", "FREEDOM", "MDE", "MDE-MGCN", "MDE-paper")
BASELINE = "LightGCN"
#: Models measured as a package model with other options: (class, options).
VARIANTS = {
    "MDE-MGCN": ("MDE", MGCN_OPTIONS),
    "MDE-paper": ("MDE", PAPER_OPTIONS),
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


def model_kwargs(name: str) -> tuple[str, dict[str, Any], dict[str, Any], str]:
    """The model class of ``name``; the settings of its
    ``conf/model/<class>.yaml`` (composed as ``mde-pyg train model=<class>``
    does, with a variant's options on top, interpolations resolved) split into
    the ``from_data`` keyword arguments and the options of the class's
    ``graph_transform`` (its ``graphs:`` section); and where they came from.
    Without such a config: the defaults, with the variant's options given to
    both where they name an argument (e.g. ``user_graph``)."""
    cls, options = VARIANTS.get(name, (name, {}))
    config = resources.files("mde_pyg.conf") / "model" / f"{cls.lower()}.yaml"
    if not config.is_file():
        transform = inspect.signature(getattr(mde_pyg.models, cls).graph_transform)
        graphs = {k: v for k, v in options.items() if k in transform.parameters}
        return cls, dict(options), graphs, "from_data defaults"
    # Imported here: the workers do not need Hydra (nor its memory).
    from mde_pyg.pipeline import compose_config

    section = OmegaConf.merge(compose_config([f"model={cls.lower()}"]).model, options)
    kwargs = OmegaConf.to_container(section, resolve=True)
    kwargs.pop("_target_", None)
    graphs = kwargs.pop("graphs", None) or {}
    kwargs.pop("trainer", None)  # the trainer settings a model asks for
    source = f"conf/model/{config.name}"
    if options:
        source += " + " + " ".join(f"{k}={v}" for k, v in options.items())
    return cls, kwargs, graphs, source


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
    """Measures one model on one dataset folder (run in a subprocess)."""
    torch.set_num_threads(spec["threads"])
    seed_everything(0)
    start = time.perf_counter()
    data = load_mmrec(spec["folder"])
    load_s = time.perf_counter() - start
    data_rss = rss_gib()

    model_cls = getattr(mde_pyg.models, spec["cls"])
    # Build: the graphs the model reads, precomputed onto the data, then the
    # model itself.
    start = time.perf_counter()
    data = model_cls.graph_transform(**spec["graphs"])(data)
    model = model_cls.from_data(data, **spec["kwargs"])
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


def available_models() -> tuple[list[str], dict[str, str]]:
    """The models :mod:`mde_pyg.models` provides, and why the others are
    skipped."""
    found, skipped = [], {}
    for name in MODELS:
        cls = VARIANTS.get(name, (name,))[0]
        model_cls = getattr(mde_pyg.models, cls, None)
        if hasattr(model_cls, "from_data") and hasattr(model_cls, "graph_transform"):
            found.append(name)
        else:
            skipped[name] = "not provided by mde_pyg.models"
    return found, skipped


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
    skipped: dict[str, str],
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
        "- Data: the real Baby / Sports interaction graphs with RANDOM "
        "placeholder features of the published shapes (image 4096-d, text 384-d) "
        "from `benchmarks/prepare_data.py`; speed and memory only, never accuracy.",
        f"- Epoch: `Trainer.train_epoch` (`on_epoch_start` + one pass over all "
        f"training pairs, batch 2048, fused Adam), median of {args.epochs} after 1 "
        f"warm-up. Eval: `Trainer.evaluate('val')` (embeddings + full ranking of "
        f"every validation user), median of {args.evals} after 1 warm-up.",
        "- Models: the package's settings ("
        + "; ".join(sorted({f"{r['model']}: {r['config']}" for r in rows}))
        + "), each (dataset, model) in its own subprocess. `build` = the graph "
        "transform (`graph_transform(**graphs)(data)`: the user-item, frozen item "
        "k-NN and user-user graphs the model reads) + model construction "
        "(`from_data`). Peak RSS = whole worker process; `data RSS` = after "
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
    if skipped:
        lines += ["", "Skipped models:"]
        lines += [f"- {name}: {reason}" for name, reason in skipped.items()]
    lines += ["", "Per-run epoch and evaluation times: `speed.csv`."]
    path.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--cache", default=DEFAULT_CACHE, help="prepare_data's folder")
    parser.add_argument("--datasets", nargs="+", default=DATASETS, choices=DATASETS)
    parser.add_argument("--models", nargs="+", choices=MODELS)
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
        help="Baby only, 1 timed epoch / evaluation, to /tmp",
    )
    args = parser.parse_args(argv)
    if args.worker:
        print_result(worker(json.loads(args.worker)))
        return
    if args.quick:
        args.datasets, args.epochs, args.evals = DATASETS[:1], 1, 1
    out = args.out or (QUICK_RESULTS if args.quick else RESULTS)
    cache_dir = Path(args.cache).expanduser()
    missing = [d for d in args.datasets if not (cache_dir / d).is_dir()]
    if missing:
        parser.error(
            f"{', '.join(missing)} not in '{cache_dir}': run "
            "`python benchmarks/prepare_data.py --quick` first"
        )

    models, skipped = available_models()
    if args.models:
        models = [m for m in models if m in args.models]
    load_start = os.getloadavg()[0]
    rows = []
    for dataset in args.datasets:
        for name in models:
            cls, kwargs, graphs, config = model_kwargs(name)
            spec = {
                "folder": str(cache_dir / dataset),
                "cls": cls,
                "device": args.device,
                "kwargs": kwargs,
                "graphs": graphs,
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
    write_markdown(
        rows, skipped, args, (load_start, os.getloadavg()[0]), out / "speed.md"
    )
    print(f"wrote {out / 'speed.md'} and {out / 'speed.csv'}")


if __name__ == "__main__":
    main()
