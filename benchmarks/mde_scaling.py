r"""How :class:`mde_pyg.models.MDE` scales: training epoch time and peak
memory against the number of training interactions, on synthetic data of
four sizes spanning 32x, with a log-log plot and fitted power laws.

::

    python benchmarks/mde_scaling.py                # -> benchmarks/results/mde_scaling/
    python benchmarks/mde_scaling.py --users 40000  # one size (resumable)
    python benchmarks/mde_scaling.py --report-only  # .md/.png from the CSV
    python benchmarks/mde_scaling.py --quick        # tiny, to a temporary folder

Data: :func:`mde_pyg.data.make_synthetic` with users and items scaled
together (``items = users / 2``, the generator's default ratio) and the
interactions per user fixed (mean 20, of which ~16.4 go to training after the
MMRec per-user split), so the training interactions grow in proportion to
the users; two modalities as the generator makes them (image 64-d, text
32-d). The data of a size is generated in the parent process and handed to
the worker as a file, so the generator's buffers are not in the peak.

Each size runs in its own subprocess, so its peak RSS is that size's (imports,
data, graphs, model and training). Model: ``model=mde`` of the package's
config, built by :mod:`mde_pyg.pipeline`; ``build`` is
:func:`~mde_pyg.pipeline.add_graphs` (the user-item graph, item k-NN graphs
and user-user graph precomputed onto the data) and
:func:`~mde_pyg.pipeline.build_model` (the parameters). Training:
:class:`~mde_pyg.training.Trainer` defaults (batch 2048, fused Adam); an epoch
is :meth:`Trainer.train_epoch`, timed as the median of ``--epochs`` after one
warm-up epoch, with ``--threads`` torch threads (default 1: steadier on a
shared machine).

Results are appended to ``mde_scaling.csv``; a size (number of users) already
measured is skipped unless ``--force``. The report ``mde_scaling.md`` and the
plot ``mde_scaling.png`` are rewritten from the whole CSV after every size.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from common import (
    RESULTS,
    describe_graph,
    fit_power_law,
    fmt,
    machine,
    num,
    peak_rss_gib,
    print_result,
    read_rows,
    rss_gib,
    run_worker,
    save_row,
    scratch,
    style_log_log,
    timed,
    train_as_the_cli,
)

NAME = "mde_scaling"
#: The model, as ``mde-pyg train`` composes it.
MODEL = ["model=mde"]
# Numbers of users; ~16.4 training interactions each: ~20k to ~660k.
USERS = (1_250, 4_000, 12_500, 40_000)
QUICK_USERS = (250, 500, 1_000)
ITEMS_PER_USER = 0.5
INTERACTIONS_PER_USER = 20.0
CSV_FIELDS = [
    "users",
    "items",
    "train_interactions",
    "modalities",
    "status",
    "threads",
    "epochs",
    "batches",
    "data_s",
    "build_s",
    "warmup_s",
    "epoch_s",
    "epoch_times",
    "base_rss_gib",
    "data_rss_gib",
    "peak_rss_gib",
    "load_avg",
    "date",
    "command",
    "note",
]


# --------------------------------------------------------------- worker
def worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Builds and trains MDE on the dataset file of one size (run in a
    subprocess)."""
    from mde_pyg.pipeline import add_graphs, build_model, compose_config
    from mde_pyg.training import Trainer, seed_everything

    train_as_the_cli(spec["threads"])
    cfg = compose_config(MODEL)
    base_rss = rss_gib()
    data = torch.load(spec["data"], weights_only=False)
    data_rss = rss_gib()

    seed_everything(0)
    start = time.perf_counter()
    data = add_graphs(cfg, data)
    model = build_model(cfg, data)
    build_s = time.perf_counter() - start
    trainer = Trainer(model, data, seed=0)
    warmup_s = timed(trainer.train_epoch, 0)
    epoch_times = [timed(trainer.train_epoch, e + 1) for e in range(spec["epochs"])]
    return {
        **describe_graph(data, "train_interactions"),
        "threads": torch.get_num_threads(),
        "batches": len(trainer.sampler),
        "build_s": build_s,
        "warmup_s": warmup_s,
        "epoch_s": statistics.median(epoch_times),
        "epoch_times": epoch_times,
        "base_rss_gib": base_rss,
        "data_rss_gib": data_rss,
        "peak_rss_gib": peak_rss_gib(),
    }


# ---------------------------------------------------------------- parent
def run_size(args: argparse.Namespace, users: int, command: str) -> dict[str, Any]:
    """Generates the data of ``users`` users, measures it in a subprocess
    and returns the CSV row (a failure or timeout is recorded in it)."""
    from mde_pyg.data import make_synthetic

    items = max(round(ITEMS_PER_USER * users), 5)
    row: dict[str, Any] = {
        "users": users,
        "items": items,
        "threads": args.threads,
        "epochs": args.epochs,
        "load_avg": f"{os.getloadavg()[0]:.2f}",
        "date": f"{datetime.now(UTC):%Y-%m-%d %H:%M}",
        "command": command,
    }
    train_as_the_cli(args.threads)
    with tempfile.TemporaryDirectory(prefix="mde_scaling_") as tmp:
        start = time.perf_counter()
        data = make_synthetic(
            num_users=users,
            num_items=items,
            interactions_per_user=INTERACTIONS_PER_USER,
            seed=0,
        )
        row["data_s"] = f"{time.perf_counter() - start:.2f}"
        path = Path(tmp) / "data.pt"
        torch.save(data, path)
        del data
        spec = {"data": str(path), "epochs": args.epochs, "threads": args.threads}
        result = run_worker(__file__, spec, args.timeout)
    if result["status"] != "ok":
        return {**row, **result}
    row.update(
        {key: result[key] for key in ("users", "items", "train_interactions")},
        modalities=result["modalities"],
        status="ok",
        threads=result["threads"],
        batches=result["batches"],
        build_s=f"{result['build_s']:.3f}",
        warmup_s=f"{result['warmup_s']:.3f}",
        epoch_s=f"{result['epoch_s']:.3f}",
        epoch_times=" ".join(f"{t:.3f}" for t in result["epoch_times"]),
        base_rss_gib=f"{result['base_rss_gib']:.3f}",
        data_rss_gib=f"{result['data_rss_gib']:.3f}",
        peak_rss_gib=f"{result['peak_rss_gib']:.3f}",
    )
    return row


# ---------------------------------------------------------------- report
def ok_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(
        (r for r in rows if r["status"] == "ok"),
        key=lambda r: int(r["train_interactions"]),
    )


def fits(rows: list[dict[str, Any]]) -> dict[str, tuple[float, float]]:
    """Power laws of epoch time, peak RSS and peak RSS above the import
    baseline against the training interactions (sizes measured ok, at least
    two)."""
    done = ok_rows(rows)
    if len({r["train_interactions"] for r in done}) < 2:
        return {}
    x = [num(r, "train_interactions") for r in done]
    return {
        "epoch_s": fit_power_law(x, [num(r, "epoch_s") for r in done]),
        "peak_rss_gib": fit_power_law(x, [num(r, "peak_rss_gib") for r in done]),
        "above_base_gib": fit_power_law(
            x, [num(r, "peak_rss_gib") - num(r, "base_rss_gib") for r in done]
        ),
    }


def local_exponent(rows: list[dict[str, Any]], row: dict[str, Any], key: str) -> str:
    """The slope in log-log space from the next smaller size measured ok."""
    done = ok_rows(rows)
    if row not in done or done.index(row) == 0:
        return "-"
    prev = done[done.index(row) - 1]
    dx = math.log(num(row, "train_interactions") / num(prev, "train_interactions"))
    return f"{math.log(num(row, key) / num(prev, key)) / dx:.2f}"


def write_report(out: Path, rows: list[dict[str, Any]]) -> None:
    threads = sorted({int(r["threads"]) for r in rows if r.get("threads")})
    info = machine(threads[0] if len(threads) == 1 else None)
    done = ok_rows(rows)
    fitted = fits(rows)
    sizes = [int(r["train_interactions"]) for r in done]
    span = f", a {max(sizes) / min(sizes):.0f}x span" if len(sizes) > 1 else ""
    commands = sorted({r["command"] for r in rows if r.get("command")})
    lines = [
        "# MDE scaling: epoch time and peak memory vs training interactions",
        "",
        f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC (report); every "
        "size's own start is in the CSV (`date`).",
        f"- Machine: {info['machine']}; shared with other jobs (timings are "
        "noisy; `load` is the 1-min load average when the size started).",
        f"- Versions: {info['versions']}",
        "- Threads: "
        + (" / ".join(map(str, threads)) or "-")
        + " torch thread(s) per run (`torch.set_num_threads`), one size at a time.",
        "- Reproduce: `python benchmarks/mde_scaling.py` (all sizes; resumable: "
        "sizes in the CSV are skipped, `--force` measures them again). Commands "
        "that produced these rows: "
        + (", ".join(f"`{c}`" for c in commands) or "-")
        + ".",
        "- Data: `mde_pyg.data.make_synthetic(num_users=U, num_items=U/2, "
        f"interactions_per_user={INTERACTIONS_PER_USER:g}, seed=0)`: users and "
        "items scaled together at a fixed number of interactions per user "
        "(long-tailed, MMRec per-user split, so ~16.4 training interactions per "
        "user), two modalities ("
        + (", ".join(sorted({r["modalities"] for r in done})) or "-")
        + f"); {len(sizes)} sizes, {', '.join(f'{s:,}' for s in sizes) or '-'} "
        f"training interactions{span}.",
        f"- Model: `{' '.join(MODEL)}` of the package's config, built by "
        "`mde_pyg.pipeline`; trainable features. `build` = `add_graphs` (the "
        "user-item, item k-NN and user-user graphs precomputed onto the data) "
        "+ `build_model` (the parameters). Data generation is "
        "timed in the parent (`data s`) and not part of the worker.",
        "- Epoch: `Trainer(model, data).train_epoch` (one pass over "
        "all training pairs, batch 2048, fused Adam), median of "
        + ", ".join(sorted({f"{r['epochs']}" for r in done}))
        + " epoch(s) after 1 warm-up epoch. Each size in its own subprocess: "
        "peak RSS is that process's (imports, data, model, training); `base` = "
        "RSS after the imports, `data` = after loading the data.",
        "",
        "| users | items | train interactions | batches | data s | build s | "
        "warm-up s | epoch s | ms / batch | us / interaction | local exp. epoch | "
        "base RSS GiB | data RSS GiB | peak RSS GiB | local exp. peak | load | "
        "status |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        "---:|---:|---|",
    ]
    for r in sorted(rows, key=lambda r: int(r["users"])):
        ok = r["status"] == "ok"
        epoch = num(r, "epoch_s")
        per_batch = {"v": epoch / num(r, "batches") * 1e3 if ok else math.nan}
        per_pair = {"v": epoch / num(r, "train_interactions") * 1e6 if ok else math.nan}
        pairs = f"{int(r['train_interactions']):,}" if ok else "-"
        status = r["status"] + (f": {r['note']}" if r.get("note") else "")
        lines.append(
            f"| {int(r['users']):,} | {int(r['items']):,} | {pairs} | "
            f"{r.get('batches') or '-'} | {fmt(r, 'data_s')} | "
            f"{fmt(r, 'build_s')} | {fmt(r, 'warmup_s')} | {fmt(r, 'epoch_s')} | "
            f"{fmt(per_batch, 'v', 1)} | {fmt(per_pair, 'v', 1)} | "
            f"{local_exponent(rows, r, 'epoch_s')} | {fmt(r, 'base_rss_gib')} | "
            f"{fmt(r, 'data_rss_gib')} | {fmt(r, 'peak_rss_gib')} | "
            f"{local_exponent(rows, r, 'peak_rss_gib')} | {r.get('load_avg', '')} | "
            f"{status} |"
        )
    lines += ["", "## Fitted power laws (least squares in log-log space)", ""]
    if fitted:
        labels = {
            "epoch_s": "epoch time (s)",
            "peak_rss_gib": "peak RSS (GiB)",
            "above_base_gib": "peak RSS above the import baseline (GiB)",
        }
        lines += [
            f"- {labels[key]} = {a:.3g} x n^**{b:.2f}**, n = training interactions"
            for key, (b, a) in fitted.items()
        ]
        lines += [
            "",
            "An exponent of 1 is linear in the interactions. The peak RSS "
            "includes a fixed ~"
            + f"{statistics.median(num(r, 'base_rss_gib') for r in done):.2f}"
            + " GiB of imports (Python, torch, PyG), which flattens its exponent "
            "at small sizes; the third line fits what is above it. `local exp.` "
            "is the slope from the next smaller size.",
        ]
    else:
        lines.append("Needs at least two sizes measured ok.")
    lines += ["", f"![scaling]({NAME}.png)", ""]
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{NAME}.md").write_text("\n".join(lines))
    plot(out / f"{NAME}.png", rows, fitted)


def plot(
    path: Path, rows: list[dict[str, Any]], fitted: dict[str, tuple[float, float]]
) -> None:
    """Log-log plot of epoch time and peak RSS against training
    interactions, with the fitted power laws."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = ok_rows(rows)
    if not done:
        return
    x = [num(r, "train_interactions") for r in done]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    series = [
        (axes[0], "epoch_s", [num(r, "epoch_s") for r in done], "tab:blue", "epoch"),
        (
            axes[1],
            "peak_rss_gib",
            [num(r, "peak_rss_gib") for r in done],
            "tab:red",
            "peak RSS",
        ),
        (
            axes[1],
            "above_base_gib",
            [num(r, "peak_rss_gib") - num(r, "base_rss_gib") for r in done],
            "tab:orange",
            "peak RSS above imports",
        ),
    ]
    grid = [min(x) * (max(x) / min(x)) ** (i / 50) for i in range(51)]
    for ax, key, y, color, label in series:
        ax.plot(x, y, "o", color=color, label=label)
        if key in fitted:
            b, a = fitted[key]
            ax.plot(
                grid,
                [a * v**b for v in grid],
                "--",
                color=color,
                lw=1,
                label=f"fit: {a:.2g} n^{b:.2f}",
            )
    xlabel = "training interactions n"
    style_log_log(axes[0], xlabel, "epoch time (s)", "MDE epoch time")
    style_log_log(axes[1], xlabel, "GiB", "MDE peak memory")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ------------------------------------------------------------------ main
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument(
        "--users",
        type=int,
        nargs="+",
        help=f"sizes as numbers of users, items = users x {ITEMS_PER_USER} "
        f"(default {' '.join(map(str, USERS))})",
    )
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default 1: steadier on a shared machine)",
    )
    parser.add_argument("--timeout", type=float, default=3600, help="s per size")
    parser.add_argument("--force", action="store_true", help="re-measure sizes")
    parser.add_argument(
        "--report-only", action="store_true", help="rewrite .md/.png from the CSV"
    )
    parser.add_argument("--out", type=Path, help="results folder")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny sizes, 1 timed epoch, to a temporary folder",
    )
    args = parser.parse_args(argv)
    if args.worker:
        print_result(worker(json.loads(args.worker)))
        return
    if args.quick:
        args.epochs = 1
    out = args.out or (scratch(NAME) if args.quick else RESULTS / NAME)
    if args.quick and out.resolve().is_relative_to(RESULTS):
        parser.error(f"--quick never writes under {RESULTS}")
    users = args.users or (QUICK_USERS if args.quick else USERS)
    path = out / f"{NAME}.csv"
    command = shlex.join(["python", "benchmarks/mde_scaling.py", *sys.argv[1:]])
    rows = read_rows(path)
    if not args.report_only:
        for size in sorted(users):
            if not args.force and any(
                int(r["users"]) == size and r["status"] == "ok" for r in rows
            ):
                print(f"[{size} users] already in {path}, skipped")
                continue
            print(f"[{size} users] ...", flush=True)
            row = run_size(args, size, command)
            print(
                f"[{size} users] {row['status']}: "
                + (
                    f"{row['train_interactions']} train interactions, "
                    f"{row['batches']} batches, build {row['build_s']} s, "
                    f"epoch {row['epoch_s']} s, peak {row['peak_rss_gib']} GiB"
                    if row["status"] == "ok"
                    else row.get("note", "")
                ),
                flush=True,
            )
            save_row(path, rows, row, CSV_FIELDS, ("users",))
            rows = read_rows(path)
    if not rows:
        parser.error(f"no rows in {path}")
    write_report(out, rows)
    for key, (b, a) in fits(rows).items():
        print(f"{key} = {a:.3g} x n^{b:.2f}")
    print(f"wrote {out / NAME}.md, .csv, .png")


if __name__ == "__main__":
    main()
