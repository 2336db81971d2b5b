"""``mde-pyg select SWEEP_DIR``: the best setting of a ``train -m`` sweep,
chosen on validation."""

from __future__ import annotations

import argparse
from pathlib import Path

from mde_pyg.pipeline import SweepJob, select_best, write_selection


def sweep_table(jobs: list[SweepJob], best: SweepJob, monitor: str) -> str:
    """A Markdown table of the jobs of a sweep, the selected one marked."""
    lines = [
        f"| job | overrides | seeds | val {monitor} | test {monitor} | best epochs |",
        "|---|---|---:|---:|---:|---|",
    ]
    lines += [
        f"| {job.job}{' (selected)' if job is best else ''} | "
        f"{' '.join(job.overrides) or '-'} | {job.seeds} | {job.val:.4f} | "
        f"{job.test:.4f} | {', '.join(map(str, job.best_epochs))} |"
        for job in jobs
    ]
    return "\n".join(lines)


def print_selection(sweep_dir: str | Path, monitor: str) -> None:
    """Selects the best job of ``sweep_dir`` on validation, writes
    ``best.json`` and prints the sweep's table."""
    best, jobs = select_best(sweep_dir, monitor)
    path = write_selection(sweep_dir, best, monitor)
    print(sweep_table(jobs, best, monitor))
    print(
        f"selected on validation {monitor}: job {best.job} "
        f"({' '.join(best.overrides) or 'no overrides'}), val {best.val:.4f}; "
        f"written to {path}"
    )


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="mde-pyg select",
        description="Print the jobs of a `mde-pyg train -m` sweep and select the "
        "best on the validation metric (test scores are shown, never used); "
        "writes SWEEP_DIR/best.json.",
    )
    parser.add_argument("sweep_dir", help="the sweep folder (multirun/<date>/<time>)")
    parser.add_argument("--monitor", default="recall@20", help="validation metric")
    args = parser.parse_args(argv)
    print_selection(args.sweep_dir, args.monitor)
