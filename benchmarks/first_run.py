r"""How long a new user waits for the README's main job, ``mde-pyg train``
(MDE on the built-in dataset), and what it reaches.

::

    python benchmarks/first_run.py            # -> benchmarks/results/first_run.md
    python benchmarks/first_run.py --runs 3   # median of 3
    python benchmarks/first_run.py --quick    # trainer=quick, to a temporary folder
    python benchmarks/first_run.py --no-sharing  # the main job alone only

Each run is a fresh ``mde-pyg train`` process (imports, data, graphs,
training with early stopping on validation, test evaluation), timed from
start to exit; the installation itself is not timed. The report gives the
median wall time against the 1-minute target, the load average around the
runs (the machine may be shared), the epochs run and the test metrics.

Then the shared machine: the first ``--sharing-epochs`` epochs of the main
job with ``trainer.threads`` auto (the default), 1 and 2, alone, beside one
busy process (a Python loop on one core) and as two main jobs at once; each
scenario's median epoch time (training and validation) against the main
job's on one thread alone.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from common import RESULTS, machine, scratch

TARGET_S = 60.0
#: Beside one busy process, the main job's epochs may take at most this many
#: times their time on one thread alone.
SHARED_TARGET = 1.1
#: A process that keeps one core busy.
BUSY_LOOP = [sys.executable, "-c", "while True: pass"]
#: (label, threads of each main job, main jobs at once, busy processes).
SCENARIOS = [
    ("alone", "1", 1, 0),
    ("alone", "2", 1, 0),
    ("alone", "auto", 1, 0),
    ("beside one busy process", "2", 1, 1),
    ("beside one busy process", "auto", 1, 1),
    ("two main jobs at once", "2", 2, 0),
    ("two main jobs at once", "auto", 2, 0),
]


def entry_point() -> str:
    """The ``mde-pyg`` command of this interpreter's environment (else the
    one on the ``PATH``)."""
    script = Path(sys.executable).with_name("mde-pyg")
    return str(script) if script.is_file() else "mde-pyg"


def run_once(overrides: list[str]) -> dict:
    return run_together([overrides])[0]


def run_together(jobs: list[list[str]]) -> list[dict]:
    """Runs one ``mde-pyg train`` process per override list at the same
    time and returns each one's timing and result."""
    with tempfile.TemporaryDirectory() as out:
        commands = [
            [entry_point(), "train", *overrides, f"hydra.run.dir={out}/{i}"]
            for i, overrides in enumerate(jobs)
        ]
        load = os.getloadavg()[0]
        start = time.perf_counter()
        processes = [
            subprocess.Popen(
                command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
            )
            for command in commands
        ]
        errors = [process.communicate()[1] for process in processes]
        seconds = time.perf_counter() - start
        for command, process, error in zip(commands, processes, errors):
            if process.returncode != 0:
                raise SystemExit(f"error: {shlex.join(command)} failed:\n{error}")
        payloads = [
            json.loads((Path(out) / str(i) / "results.json").read_text())
            for i in range(len(jobs))
        ]
    return [
        summary(payload, seconds, load, command)
        for payload, command in zip(payloads, commands)
    ]


def summary(payload: dict, seconds: float, load: float, command: list[str]) -> dict:
    result = payload["result"]
    epochs = [h["train_time"] + h["eval_time"] for h in result["history"]]
    return {
        "seconds": seconds,
        "load_before": load,
        "epochs": result["epochs_run"],
        "best_epoch": result["best_epoch"],
        "mean_epoch_s": result["mean_epoch_time"],
        "median_epoch_s": statistics.median(epochs),
        "threads": sorted({h["threads"] for h in result["history"]}),
        "test_recall@20": result["test"]["recall@20"],
        "test_ndcg@20": result["test"]["ndcg@20"],
        "device": payload["device"],
        "command": shlex.join(["mde-pyg", *command[1:-1]]),
    }


def sharing_study(overrides: list[str], epochs: int) -> list[dict]:
    """The main job's first ``epochs`` epochs in each of :data:`SCENARIOS`."""
    rows = []
    for label, threads, jobs, busy in SCENARIOS:
        job = [*overrides, f"trainer.max_epochs={epochs}", f"trainer.threads={threads}"]
        loops = [subprocess.Popen(BUSY_LOOP) for _ in range(busy)]
        try:
            time.sleep(1.0 if busy else 0.0)  # the loop is running
            runs = run_together([job] * jobs)
        finally:
            for loop in loops:
                loop.kill()
                loop.wait()
        rows.append(
            {
                "scenario": label,
                "threads": threads,
                "epoch_s": statistics.median(r["median_epoch_s"] for r in runs),
                "used": sorted({t for r in runs for t in r["threads"]}),
                "load": runs[0]["load_before"],
            }
        )
        print(rows[-1], flush=True)
    return rows


def sharing_lines(rows: list[dict], epochs: int) -> list[str]:
    one_thread = next(
        r["epoch_s"] for r in rows if r["scenario"] == "alone" and r["threads"] == "1"
    )
    beside = next(
        r["epoch_s"]
        for r in rows
        if r["scenario"].startswith("beside") and r["threads"] == "auto"
    )
    ratio = beside / one_thread
    verdict = "met" if ratio <= SHARED_TARGET else "NOT met"
    lines = [
        "",
        "## A shared machine",
        "",
        f"The first {epochs} epochs of the same job (`trainer.max_epochs={epochs}`), "
        "each scenario in fresh processes; median epoch time (training and "
        "validation) of each process, the median over the processes of a "
        "scenario. Beside one busy process with the default `trainer.threads=auto`:"
        f" **{ratio:.2f}x** its time on one thread alone (target "
        f"{SHARED_TARGET}x: {verdict}).",
        "",
        "| scenario | trainer.threads | threads used | s/epoch | x 1 thread alone "
        "| 1-min load before |",
        "|---|---|---|---:|---:|---:|",
    ]
    lines += [
        f"| {r['scenario']} | {r['threads']} | {', '.join(map(str, r['used']))} | "
        f"{r['epoch_s']:.2f} | {r['epoch_s'] / one_thread:.2f} | {r['load']:.2f} |"
        for r in rows
    ]
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--out", type=Path, help="results folder")
    parser.add_argument(
        "--quick", action="store_true", help="trainer=quick, to a temporary folder"
    )
    parser.add_argument(
        "--sharing-epochs",
        type=int,
        default=10,
        help="epochs per shared-machine scenario",
    )
    parser.add_argument(
        "--no-sharing", action="store_true", help="skip the shared-machine scenarios"
    )
    parser.add_argument("overrides", nargs="*", help="extra `mde-pyg train` overrides")
    args = parser.parse_args(argv)
    if args.quick:
        args.overrides = ["trainer=quick", *args.overrides]
    args.out = args.out or (scratch("first_run") if args.quick else RESULTS)
    runs = [run_once(args.overrides) for _ in range(args.runs)]
    median = statistics.median(run["seconds"] for run in runs)
    info = machine()
    lines = [
        "# First run: the README's main job",
        "",
        f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- Machine: {info['machine']}",
        f"- Versions: {info['versions']}",
        f"- Command: `{shlex.join(['python', *sys.argv])}`, which times "
        f"`{runs[0]['command']}` in a fresh process per run.",
        f"- Median wall time: **{median:.0f} s** over {len(runs)} run(s) "
        f"(target {TARGET_S:.0f} s: {'met' if median <= TARGET_S else 'NOT met'}).",
        "",
        "| run | wall s | 1-min load before | device | epochs | best epoch | "
        "s/epoch | test R@20 | test N@20 |",
        "|---:|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {i} | {r['seconds']:.1f} | {r['load_before']:.2f} | {r['device']} | "
        f"{r['epochs']} | {r['best_epoch']} | {r['mean_epoch_s']:.2f} | "
        f"{r['test_recall@20']:.4f} | {r['test_ndcg@20']:.4f} |"
        for i, r in enumerate(runs)
    ]
    if not args.no_sharing:
        rows = sharing_study(args.overrides, args.sharing_epochs)
        lines += sharing_lines(rows, args.sharing_epochs)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "first_run.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
