r"""The resumable runner shared by the accuracy suite (``accuracy.py``) and
the MDE design study (``mde_study.py``), and the parts of their reports they
share.

A run is one (dataset, model, setting, seed): the overrides of the dataset
(:mod:`benchmark_datasets`), the model config, the setting (a grid point) and
the run-wide settings, trained by :func:`mde_pyg.pipeline.train_one` as
``mde-pyg train`` trains it. Every finished run is one JSON record under
``<out>/runs/<dataset>/<model>/<setting>_seed<k>.json`` and is skipped when
present; an unfinished run resumes from its per-epoch checkpoint (kept
outside the repository, under ``--work-dir``). Several processes
(``--workers``) share the work: a run is claimed through a lock file.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import benchmark_datasets
from common import cpu_model, machine, scratch, train_as_the_cli

MONITOR = "recall@20"
#: Where the checkpoints of unfinished runs go by default.
CACHE = Path("~/.cache/mde_pyg").expanduser()
#: The epoch cap of a smoke run (``--quick``).
QUICK_EPOCHS = 2
#: Record name -> ``conf/study/`` config: the candidates and ablations of
#: MDE's design study (``benchmarks/mde_study.py``) and of ``mde_paper``,
#: recorded under their former ``conf/model/`` names.
STUDY_CONFIGS = {
    "mde_mgcn": "mgcn",
    "mde_mgcn_user_graph": "mgcn_user_graph",
    "mde_mgcn_node_alpha": "mgcn_node_alpha",
    "mde_mgcn_orthogonal": "mgcn_orthogonal",
    "mde_mgcn_club": "mgcn_club",
    "mde_mgcn_specific": "mgcn_specific",
    "mde_tradeoff_orthogonal": "tradeoff_orthogonal",
    "mde_tradeoff_club": "tradeoff_club",
    "mde_regularised": "regularised",
    "mde_fixed_tradeoff": "fixed_tradeoff",
    "mde_no_align": "no_align",
    "mde_no_diff": "no_enhancement",
    "mde_no_user_graph": "no_user_graph",
}
#: Record name -> Hydra overrides selecting it (default: ``model=<name>``).
MODEL_OVERRIDES = {name: (f"study={study}",) for name, study in STUDY_CONFIGS.items()}


def record_keys(model: str) -> dict[str, str]:
    """Current config key -> the name the records of ``model`` were made
    with, for its keys renamed since (:data:`~mde_pyg.pipeline.renamed_keys.
    RENAMED_KEYS`, e.g. MGCN's ``model.cl_loss``): the records keep their
    names, :func:`overrides_of` passes the current ones to the config."""
    from mde_pyg.pipeline.renamed_keys import RENAMED_KEYS

    return {
        new: old.split(":", 1)[1]
        for old, new in RENAMED_KEYS.items()
        if old.split(":", 1)[0].lower() == model
    }


def tag(setting: tuple[str, ...]) -> str:
    """A file-name-safe name of a grid point."""
    name = "_".join(s.split(".", 1)[1].replace("=", "-") for s in setting)
    return name or "default"


@dataclass(frozen=True)
class Run:
    """One training run: ``setting`` names its record (:meth:`path`);
    ``pinned`` holds overrides it runs with that its name leaves out (a
    package default it was measured under, which has changed since)."""

    dataset: str
    model: str
    setting: tuple[str, ...]
    seed: int
    pinned: tuple[str, ...] = ()

    def path(self, out: Path) -> Path:
        return (
            out
            / "runs"
            / self.dataset
            / self.model
            / f"{tag(self.setting)}_seed{self.seed}.json"
        )


# ----------------------------------------------------------------- one run
def overrides_of(run: Run, args) -> list[str]:
    """The overrides of ``run`` (``args.caps``: the epoch cap of every
    dataset, as :func:`setup` fills it)."""
    from mde_pyg.pipeline.renamed_keys import RenamedKeyWarning, rename_overrides

    model = MODEL_OVERRIDES.get(run.model, (f"model={run.model}",))
    with warnings.catch_warnings():  # the settings' keys are the records' own
        warnings.simplefilter("ignore", RenamedKeyWarning)
        setting = rename_overrides([*model, *run.setting])[len(model) :]
    return [
        *benchmark_datasets.overrides(run.dataset),
        *(benchmark_datasets.quick_overrides(run.dataset) if args.quick else ()),
        *model,
        *setting,
        *run.pinned,
        f"trainer.max_epochs={args.caps[run.dataset]}",
        f"trainer.device={args.device}",
        "trainer.verbose=false",
        "checkpoint=true",
        "resume=auto",
        f"seed={run.seed}",
    ]


def execute(run: Run, args) -> dict[str, Any]:
    """Trains one run (resuming its checkpoint if any) and returns its
    record."""
    from mde_pyg.pipeline import compose_config, train_one

    overrides = overrides_of(run, args)
    work = args.work_dir / run.path(Path(".")).with_suffix("")
    cfg = compose_config([*overrides, f"output_dir={work}"])
    start = time.perf_counter()
    result = train_one(cfg, run.seed, work)
    return {
        "dataset": run.dataset,
        "model": run.model,
        "setting": list(run.setting),
        "seed": run.seed,
        "overrides": overrides,
        "device": args.device_name,
        "cpu": cpu_model(),
        "threads": args.threads,
        "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
        "stopped_early": result.stopped_early,
        "mean_epoch_time": result.mean_epoch_time,
        "mean_eval_time": float(
            np.mean([h.get("eval_time", 0.0) for h in result.history] or [0.0])
        ),
        "wall_time_this_process": time.perf_counter() - start,
        "val": result.best_val,
        "test": result.test,
    }


#: Times the last of the epochs of a config in a fresh interpreter.
_EPOCH_CODE = """
import json, sys, tempfile
from mde_pyg.pipeline import compose_config, train_one
with tempfile.TemporaryDirectory() as work:
    cfg = compose_config([*sys.argv[1:], f"output_dir={work}"])
    last = train_one(cfg, 0, work).history[-1]
print(json.dumps(last["train_time"] + last.get("eval_time", 0.0)))
"""


def epoch_seconds(run: Run, args) -> float | None:
    """Seconds of the second of two epochs (training + full-ranking
    validation) of ``run`` with seed 0, in a subprocess with ``args.threads``
    threads; :obj:`None` (and its error printed) where it failed."""
    overrides = [
        o
        for o in overrides_of(run, args)
        if not o.startswith(("trainer.max_epochs", "checkpoint", "resume"))
    ]
    command = [sys.executable, "-c", _EPOCH_CODE, *overrides]
    command += ["trainer.max_epochs=2", "checkpoint=false"]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    proc = subprocess.run(command, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        print(f"{run.dataset} / {run.model}: failed\n{proc.stderr[-2000:]}")
        return None
    return float(proc.stdout.strip().splitlines()[-1])


def claim(path: Path) -> bool:
    """Takes the lock of a run; a lock left by a dead process is taken over."""
    lock = path.with_suffix(".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        try:
            os.kill(int(lock.read_text() or 0), 0)
            return False
        except (ProcessLookupError, ValueError):
            lock.unlink(missing_ok=True)
            return claim(path)
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    return True


def save(path: Path, record: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2))
    tmp.replace(path)


def load_runs(out: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((out / "runs").rglob("*.json"))]


def work(
    args,
    out: Path,
    schedule: Callable[[Any, Path], list[Run]],
    poll_s: float = 30.0,
) -> None:
    """Runs the runs that ``schedule`` says are still to do until none is
    left. While every pending run is claimed by another worker it waits
    rather than exits: a run finishing there may make others pending (the
    seeds of a finished grid, say)."""
    while True:
        todo = schedule(args, out)
        if not todo:
            return
        for run in todo:
            path = run.path(out)
            if claim(path):
                break
        else:
            time.sleep(poll_s)
            continue
        try:
            if path.exists():
                continue
            print(f"[{time.strftime('%H:%M:%S')}] {run}", flush=True)
            record = execute(run, args)
            save(path, record)
            print(
                f"  best epoch {record['best_epoch']}/{record['epochs_run']}  "
                f"val R@20 {record['val'][MONITOR]:.4f}  "
                f"{record['mean_epoch_time']:.2f} s/epoch",
                flush=True,
            )
        finally:
            path.with_suffix(".lock").unlink(missing_ok=True)


def run_workers(args, argv: list[str] | None, script: str) -> None:
    """Runs ``args.workers`` copies of ``script`` with ``--worker`` and waits
    for them."""
    # Each worker keeps its freed memory (setup: train_as_the_cli).
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    child = [*(argv if argv is not None else sys.argv[1:]), "--worker"]
    procs = [
        subprocess.Popen([sys.executable, script, *child], env=env)
        for _ in range(args.workers)
    ]
    for proc in procs:
        proc.wait()


def add_run_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    """The options every study on this runner has: epoch cap, device,
    threads and workers, the results and checkpoint folders, ``--report-only``
    and ``--quick``."""
    parser.add_argument("--max-epochs", type=int, help="override every epoch cap")
    parser.add_argument("--device", default="auto", help="cpu, cuda or auto")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run")
    parser.add_argument("--workers", type=int, default=1, help="parallel processes")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help="results folder")
    parser.add_argument(
        "--work-dir",
        type=Path,
        help="checkpoints of unfinished runs, outside the repository "
        f"(default: {CACHE / f'{name}_runs'})",
    )
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument(
        "--quick", action="store_true", help="smoke test, to a temporary folder"
    )


def run_then_report(
    args,
    argv: list[str] | None,
    script: str,
    out: Path,
    pending: Callable[[Any, Path], list[Run]],
    write_report: Callable[[Any, Path], None],
) -> None:
    """A study's main: the worker runs what ``pending`` returns; the parent
    starts the workers, waits for them and writes the report (only the report
    with ``--report-only``)."""
    if not args.report_only:
        if args.worker:
            work(args, out, pending)
            return
        # Worker processes even for one: OMP_NUM_THREADS must be set before
        # torch starts its thread pool.
        run_workers(args, argv, script)
    write_report(args, out)
    print(f"[{time.strftime('%H:%M:%S')}] report in {out}")


def setup(
    args,
    parser: argparse.ArgumentParser,
    caps: dict[str, int],
    quick_dataset: str,
    results: Path,
    name: str,
) -> Path:
    """Fills in the run-wide settings of ``args`` and returns the results
    folder: the datasets (``quick_dataset`` at the smoke size for
    ``--quick``), their epoch caps (``caps``, or ``--max-epochs``), the
    checkpoint folder (``<cache>/<name>_runs``) and the device."""
    import torch

    if args.quick:
        args.datasets, caps = [quick_dataset], {quick_dataset: QUICK_EPOCHS}
    unknown = [d for d in args.datasets if d not in caps]
    if unknown:
        parser.error(f"unknown datasets {unknown} (choose from {list(caps)})")
    args.caps = {d: args.max_epochs or caps[d] for d in args.datasets}
    args.work_dir = args.work_dir or (
        scratch(name) / "work" if args.quick else CACHE / f"{name}_runs"
    )
    out = args.out or (scratch(name) if args.quick else results)
    out.mkdir(parents=True, exist_ok=True)
    train_as_the_cli(args.threads)
    args.device_name = (
        torch.cuda.get_device_name()
        if args.device != "cpu" and torch.cuda.is_available()
        else "cpu"
    )
    return out


# ------------------------------------------------------------------ report
def welch(a: list[float], b: list[float]) -> float:
    """Two-sided p-value of Welch's t-test (nan with fewer than 2 runs)."""
    from scipy.stats import ttest_ind

    if len(a) < 2 or len(b) < 2:
        return float("nan")
    return float(ttest_ind(a, b, equal_var=False).pvalue)


def p_value(p: float) -> str:
    """A p-value for a table: three decimals, ``< 0.001`` below that, ``-``
    where there were too few seeds to test."""
    if math.isnan(p):
        return "-"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def pm(mean_std: tuple[float, float]) -> str:
    return "{:.4f} ± {:.4f}".format(*mean_std)


def compute_hours(runs: list[dict[str, Any]]) -> float:
    """The training + per-epoch validation time the runs took, in hours
    (training only for records older than their ``mean_eval_time``)."""
    return (
        sum(
            (r["mean_epoch_time"] + r.get("mean_eval_time", 0.0)) * r["epochs_run"]
            for r in runs
        )
        / 3600
    )


def devices(runs: list[dict[str, Any]]) -> str:
    """Which device (and, where recorded, which CPU) ran how many of the runs
    of each dataset."""
    counts = Counter(
        (r["dataset"], r["device"], r.get("cpu", "CPU not recorded")) for r in runs
    )
    return "; ".join(
        f"{d}: {n} on {device} ({cpu})"
        for (d, device, cpu), n in sorted(counts.items())
    )


def report_header(args, title: str, *details: str) -> list[str]:
    """The title and the Date / Machine / Versions lines of a report, then
    ``details`` and the command that made it."""
    info = machine(args.threads)
    return [
        f"# {title}",
        "",
        f"- Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        f"- Machine (this report): {info['machine']}",
        f"- Versions: {info['versions']}",
        *details,
        f"- Command: `{args.command}`",
    ]


def report_scope(
    args, runs: list[dict[str, Any]], caps: dict[str, int], models: Sequence[str]
) -> argparse.Namespace:
    """``args`` with the datasets and models of every finished run in the
    results folder too, not only those this invocation ran, in the order of
    ``caps`` and ``models``: a job over some models rewrites the whole
    report, not a table of its own models."""
    found_datasets = {r["dataset"] for r in runs}
    found_models = {r["model"] for r in runs}
    scope = argparse.Namespace(**vars(args))
    scope.datasets = [
        d
        for d in dict.fromkeys([*caps, *args.datasets])
        if d in found_datasets or d in args.datasets
    ]
    scope.caps = {
        d: args.caps.get(d) or args.max_epochs or caps[d] for d in scope.datasets
    }
    scope.models = [
        m
        for m in dict.fromkeys([*models, *args.models, *sorted(found_models)])
        if m in found_models or m in args.models
    ]
    return scope


def data_lines(args, remarks: dict[str, str] | None = None) -> list[str]:
    """The ``- Data:`` lines of a report: each dataset's description (and
    ``remarks`` on it), the smoke size of ``--quick``, its epoch cap."""

    def quick(name: str) -> str:
        if not args.quick:
            return ""
        size = ", ".join(benchmark_datasets.quick_overrides(name))
        return f" with {size} (smoke test)" if size else " (smoke test)"

    return ["- Data:"] + [
        f"  - `{name}`: {benchmark_datasets.describe(name)}{quick(name)}"
        + (f"; {remarks[name]}" if remarks and name in remarks else "")
        + f"; epoch cap {args.caps[name]}"
        for name in args.datasets
    ]
