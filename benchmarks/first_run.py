r"""How long a new user waits for the README's main job, ``mde-pyg train``
(MDE on the built-in dataset), and what it reaches.

::

    python benchmarks/first_run.py            # -> benchmarks/results/first_run.md
    python benchmarks/first_run.py --runs 3   # median of 3
    python benchmarks/first_run.py --quick    # trainer=quick, to a temporary folder

Each run is a fresh ``mde-pyg train`` process (imports, data, graphs,
training with early stopping on validation, test evaluation), timed from
start to exit; the installation itself is not timed. The report gives the
median wall time against the 2-minute target, the load average around the
runs (the machine may be shared), the epochs run and the test metrics.
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

TARGET_S = 120.0


def entry_point() -> str:
    """The ``mde-pyg`` command of this interpreter's environment (else the
    one on the ``PATH``)."""
    script = Path(sys.executable).with_name("mde-pyg")
    return str(script) if script.is_file() else "mde-pyg"


def run_once(overrides: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as out:
        command = [entry_point(), "train", *overrides, f"hydra.run.dir={out}"]
        load = os.getloadavg()[0]
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"error: {shlex.join(command)} failed:\n{done.stderr}")
        payload = json.loads((Path(out) / "results.json").read_text())
    result = payload["result"]
    return {
        "seconds": seconds,
        "load_before": load,
        "epochs": result["epochs_run"],
        "best_epoch": result["best_epoch"],
        "mean_epoch_s": result["mean_epoch_time"],
        "test_recall@20": result["test"]["recall@20"],
        "test_ndcg@20": result["test"]["ndcg@20"],
        "device": payload["device"],
        "command": shlex.join(["mde-pyg", *command[1:-1]]),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--out", type=Path, help="results folder")
    parser.add_argument(
        "--quick", action="store_true", help="trainer=quick, to a temporary folder"
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
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "first_run.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
