"""Choosing the best setting of a validation sweep (``mde-pyg train -m``),
on the validation metric only."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mde_pyg.errors import ConfigError


@dataclass
class SweepJob:
    """One setting of a sweep: its overrides and, over its seeds, the mean
    validation and test metrics of the best validation epochs."""

    job: str
    overrides: list[str]
    seeds: int
    val: float
    test: float
    best_epochs: list[int]


def _job_overrides(folder: Path) -> list[str]:
    path = folder / ".hydra" / "overrides.yaml"
    if not path.is_file():
        return []
    return [
        line.removeprefix("- ").strip()
        for line in path.read_text().splitlines()
        if line.strip()
    ]


def _job_key(name: str) -> tuple[int, int | str]:
    # Hydra numbers the jobs 0, 1, ..., 10: sort them as numbers, not text.
    return (0, int(name)) if name.isdigit() else (1, name)


def load_sweep(sweep_dir: str | Path, monitor: str = "recall@20") -> list[SweepJob]:
    """Reads every ``results.json`` under ``sweep_dir``; the results of one
    job folder (one per seed with ``seeds=[...]``) are averaged.

    Raises:
        FileNotFoundError: if the folder holds no ``results.json``.
        ConfigError: if it is not the folder of a sweep: a folder with
            results is not a job of one (it has no ``.hydra/overrides.yaml``),
            so unrelated runs are never averaged as if they were seeds.
    """
    sweep_dir = Path(sweep_dir)
    groups: dict[str, list[dict[str, Any]]] = {}
    for path in sweep_dir.rglob("results.json"):
        job = path.relative_to(sweep_dir).parts[0]
        groups.setdefault(job, []).append(json.loads(path.read_text())["result"])
    if not groups:
        raise FileNotFoundError(
            f"'{sweep_dir}' holds no results.json: pass the folder of a finished "
            "`mde-pyg train -m` sweep (multirun/<date>/<time>)"
        )
    strays = [
        job
        for job in groups
        if not (sweep_dir / job / ".hydra" / "overrides.yaml").is_file()
    ]
    if strays:
        raise ConfigError(
            f"{sweep_dir}: not a sweep folder: {', '.join(sorted(strays)[:5])} "
            "holds results but is not a job of a `mde-pyg train -m` sweep (no "
            ".hydra/overrides.yaml); pass the sweep's folder (multirun/<date>/"
            "<time>), which holds one numbered folder per job"
        )
    return [
        SweepJob(
            job=job,
            overrides=_job_overrides(sweep_dir / job),
            seeds=len(runs),
            val=float(np.mean([run["best_val"][monitor] for run in runs])),
            test=float(np.mean([run["test"][monitor] for run in runs])),
            best_epochs=sorted(run["best_epoch"] for run in runs),
        )
        for job, runs in sorted(groups.items(), key=lambda item: _job_key(item[0]))
    ]


def select_best(
    sweep_dir: str | Path, monitor: str = "recall@20"
) -> tuple[SweepJob, list[SweepJob]]:
    """The job with the best mean validation ``monitor`` (the first on
    ties), and every job of the sweep. Test scores are reported, never
    used."""
    jobs = load_sweep(sweep_dir, monitor)
    return max(jobs, key=lambda job: job.val), jobs


def write_selection(sweep_dir: str | Path, best: SweepJob, monitor: str) -> Path:
    """Writes the selected job to ``<sweep_dir>/best.json`` and returns its
    path."""
    path = Path(sweep_dir, "best.json")
    path.write_text(
        json.dumps(
            {"monitor": monitor, "selected_on": "validation", **asdict(best)}, indent=2
        )
        + "\n"
    )
    return path
