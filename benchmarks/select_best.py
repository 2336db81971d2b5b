"""Pick the best configuration of a Hydra sweep on validation Recall@20.

    python benchmarks/select_best.py multirun/<date> [--monitor recall@20]

Reads every ``results.json`` under the sweep folder, prints one row per job
(overrides, validation metric, and the test metric of that job's best
validation epoch) and marks the job selected on validation. Test scores are
shown for reporting only; they never take part in the selection.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def load_jobs(sweep_dir: Path) -> list[dict]:
    jobs = []
    for path in sorted(sweep_dir.rglob("results.json")):
        payload = json.loads(path.read_text())
        overrides_file = path.parent / ".hydra" / "overrides.yaml"
        overrides = (
            " ".join(
                line.removeprefix("- ").strip()
                for line in overrides_file.read_text().splitlines()
            )
            if overrides_file.is_file()
            else str(path.parent)
        )
        jobs.append({"overrides": overrides, **payload["result"]})
    return jobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dir", type=Path)
    parser.add_argument("--monitor", default="recall@20")
    args = parser.parse_args()
    jobs = load_jobs(args.sweep_dir)
    if not jobs:
        raise SystemExit(f"error: no results.json under {args.sweep_dir}")
    best = max(jobs, key=lambda job: job["best_val"][args.monitor])
    print(f"| job | val {args.monitor} | test {args.monitor} | best epoch |")
    print("|---|---|---|---|")
    for job in jobs:
        mark = " (selected)" if job is best else ""
        print(
            f"| {job['overrides']}{mark} | {job['best_val'][args.monitor]:.4f} | "
            f"{job['test'][args.monitor]:.4f} | {job['best_epoch']} |"
        )


if __name__ == "__main__":
    main()
