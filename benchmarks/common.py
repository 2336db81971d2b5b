r"""Helpers shared by the scripts of ``benchmarks/``: memory, timing, machine
description, CSV rows, output folders, worker subprocesses, power-law fits and
log-log axes.

The scripts run as ``python benchmarks/<script>.py``, which puts
``benchmarks/`` on :obj:`sys.path`, so they import this module as
``from common import ...``. It imports nothing heavy at module level (torch
and :mod:`mde_pyg` only inside :func:`machine`), so a worker subprocess that
imports it measures its own memory, not this module's.
"""

from __future__ import annotations

import csv
import json
import math
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import psutil

GIB = 1024**3
#: Prefix of the line a worker subprocess prints its JSON result on.
RESULT_PREFIX = "RESULT "
#: The folder of the committed results.
RESULTS = Path(__file__).resolve().parent / "results"


def scratch(name: str) -> Path:
    r"""The folder a smoke run (``--quick``) writes to: ``mde_pyg_<name>`` in
    the temporary folder (:func:`tempfile.gettempdir`), never under
    :data:`RESULTS`."""
    return Path(tempfile.gettempdir()) / f"mde_pyg_{name}"


# --------------------------------------------------------------- memory
def rss_gib() -> float:
    r"""The current resident set size of this process, in GiB."""
    return psutil.Process().memory_info().rss / GIB


def peak_rss_gib() -> float:
    r"""The peak resident set size of this process so far, in GiB.

    On Linux this is ``VmHWM`` of ``/proc/self/status``: :obj:`ru_maxrss`
    carries over the peak of the parent a worker was forked from (the kernel
    keeps it across ``exec``), so every worker of a large parent would report
    at least the parent's peak. Elsewhere :obj:`ru_maxrss` (KiB on Linux,
    bytes on macOS)."""
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / GIB
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / GIB if sys.platform == "darwin" else peak * 1024 / GIB


# ------------------------------------------------------------- process
def train_as_the_cli(threads: int) -> None:
    r"""Sets up this process as ``mde-pyg train`` sets up its own: ``threads``
    torch threads, and :func:`~mde_pyg.training.keep_freed_memory` (without
    it, glibc page-faults a step's large buffers in again at every step: the
    main job's epochs take about a fifth longer in-process)."""
    import torch

    from mde_pyg.training import keep_freed_memory

    torch.set_num_threads(threads)
    keep_freed_memory()


# --------------------------------------------------------------- timing
def timed(fn: Callable[..., Any], *args: Any) -> float:
    r"""Calls ``fn(*args)`` and returns its wall-clock time in seconds."""
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def step_time(
    data: Any, batches: Sequence[Any], optimizer: Any, loss_fn: Callable[..., Any]
) -> float:
    r"""Seconds per training step over ``batches``, as the trainer runs a
    step: ``loss_fn(data, batch)``, backward, ``optimizer.step()``."""
    start = time.perf_counter()
    for batch in batches:
        optimizer.zero_grad(set_to_none=True)
        loss_fn(data, batch).backward()
        optimizer.step()
    return (time.perf_counter() - start) / len(batches)


# -------------------------------------------------------------- machine
def cpu_model() -> str:
    r"""The CPU model name of :obj:`/proc/cpuinfo` (else
    :func:`platform.processor`)."""
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.is_file() else []
    return next(
        (
            line.split(":", 1)[1].strip()
            for line in lines
            if line.startswith("model name")
        ),
        platform.processor(),
    )


def machine(threads: int | None = None) -> dict[str, str]:
    r"""Describes the machine a benchmark runs on.

    Args:
        threads (int, optional): The torch threads of the runs, added to the
            one-line description. (default: :obj:`None`)

    Returns:
        dict: ``"cpu"`` (``"<model>, <n> cores"``), ``"cpu_model"``,
        ``"cores"``, ``"memory"`` (``"<x> GiB"`` of RAM), ``"load"`` (the
        1-, 5- and 15-minute load averages now), ``"versions"`` (those of
        :func:`mde_pyg.pipeline.versions`, as ``"name version, ..."``) and
        ``"machine"`` (all but the versions on one line).
    """
    from mde_pyg.pipeline import versions

    model, cores = cpu_model(), os.cpu_count()
    memory = f"{psutil.virtual_memory().total / GIB:.1f} GiB"
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    line = f"{model}, {cores} cores, {memory} RAM, load average {load}"
    if threads is not None:
        line += f"; torch.set_num_threads({threads}) per run"
    return {
        "cpu": f"{model}, {cores} cores",
        "cpu_model": model,
        "cores": str(cores),
        "memory": memory,
        "load": load,
        "versions": ", ".join(
            f"{name} {version}"
            for name, version in versions().items()
            if name != "machine"
        ),
        "machine": line,
    }


def describe_graph(data: Any, pairs_column: str) -> dict[str, Any]:
    r"""The size of a recommendation :class:`~torch_geometric.data.HeteroData`
    as result columns: ``users``, ``items``, the number of training pairs
    under ``pairs_column`` (each script keeps the column name its committed
    CSV already uses) and ``modalities`` as ``name:dim`` pairs."""
    from mde_pyg.data.hetero import ITEM, USER, item_features, split_edge_index

    return {
        "users": data[USER].num_nodes,
        "items": data[ITEM].num_nodes,
        pairs_column: split_edge_index(data, "train").size(1),
        "modalities": " ".join(
            f"{name}:{x.size(1)}" for name, x in item_features(data).items()
        ),
    }


# ----------------------------------------------------------------- rows
def num(row: dict[str, Any], key: str) -> float:
    r"""``row[key]`` as a :obj:`float` (:obj:`nan` where it is missing or
    empty), for rows read back from a CSV file as strings."""
    value = row.get(key, "")
    return float(value) if value not in ("", None) else float("nan")


def fmt(row: dict[str, Any], key: str, digits: int = 2) -> str:
    r"""``row[key]`` with ``digits`` decimals, or ``"-"`` where it is missing,
    empty or :obj:`nan`."""
    value = num(row, key)
    return "-" if math.isnan(value) else f"{value:.{digits}f}"


def read_rows(path: Path) -> list[dict[str, Any]]:
    r"""The rows of the CSV file ``path`` (none where it does not exist)."""
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def save_row(
    path: Path,
    rows: Iterable[dict[str, Any]],
    row: dict[str, Any],
    fields: Sequence[str],
    key: Sequence[str],
) -> None:
    r"""Rewrites the CSV file ``path`` (atomically) with ``rows`` and ``row``
    appended, dropping any earlier row with the same ``key`` values (an
    unfinished or superseded attempt at the same measurement).

    Args:
        path (pathlib.Path): The CSV file; its folder is created.
        rows (iterable of dict): The rows already there (as read by
            :func:`read_rows`).
        row (dict): The new row.
        fields (sequence of str): The columns, in order.
        key (sequence of str): The columns that identify a measurement
            (compared as strings).
    """

    def ident(r: dict[str, Any]) -> tuple[str, ...]:
        return tuple(str(r.get(k, "")) for k in key)

    kept = [r for r in rows if ident(r) != ident(row)]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(fields))
        writer.writeheader()
        for r in [*kept, row]:
            writer.writerow({k: r.get(k, "") for k in fields})
    tmp.replace(path)


# ------------------------------------------------------------ subprocess
def run_worker(script: str | Path, spec: dict[str, Any], timeout: float) -> dict:
    r"""Runs ``python <script> --worker <spec as JSON>`` in a fresh
    interpreter (so its peak memory is its own) and returns its result, the
    JSON object it printed on its last line starting with
    :obj:`RESULT_PREFIX`, under ``"status": "ok"``. A failure or timeout is
    returned as ``"status": "failed"`` / ``"timeout"`` with a ``"note"``
    rather than raised, so that a benchmark goes on with its other runs.

    Args:
        script (str or pathlib.Path): The benchmark script.
        spec (dict): The JSON-able settings of the run.
        timeout (float): Seconds before the run is killed.
    """
    try:
        done = subprocess.run(
            [sys.executable, str(script), "--worker", json.dumps(spec)],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return {"status": "timeout", "note": f"over {timeout:.0f}s"}
    results = [
        line[len(RESULT_PREFIX) :]
        for line in done.stdout.splitlines()
        if line.startswith(RESULT_PREFIX)
    ]
    if done.returncode != 0 or not results:
        last = ((done.stderr or done.stdout).strip().splitlines() or ["?"])[-1]
        return {"status": "failed", "note": f"rc={done.returncode}: {last[:200]}"}
    return {"status": "ok", **json.loads(results[-1])}


def print_result(result: dict[str, Any]) -> None:
    r"""Prints a worker's ``result`` the way :func:`run_worker` reads it."""
    print(RESULT_PREFIX + json.dumps(result), flush=True)


# ------------------------------------------------------------------ fits
def fit_power_law(x: Sequence[float], y: Sequence[float]) -> tuple[float, float]:
    r"""Least-squares fit of :math:`y = a x^b` in log-log space, i.e. of the
    line :math:`\log y = \log a + b \log x`.

    Args:
        x (sequence of float): Positive sizes, at least two distinct ones.
        y (sequence of float): Positive measurements, one per size.

    :rtype: (:obj:`float`, :obj:`float`): the exponent :math:`b` and the
        prefactor :math:`a`.
    """
    if len(x) != len(y):
        raise ValueError(f"'x' and 'y' differ in length ({len(x)} vs {len(y)})")
    if any(v <= 0 or not math.isfinite(v) for v in (*x, *y)):
        raise ValueError("'x' and 'y' must be positive and finite")
    log_x, log_y = [math.log(v) for v in x], [math.log(v) for v in y]
    mean_x = sum(log_x) / max(len(log_x), 1)
    mean_y = sum(log_y) / max(len(log_y), 1)
    var_x = sum((v - mean_x) ** 2 for v in log_x)
    if var_x == 0:
        raise ValueError("a power-law fit needs at least two distinct 'x' values")
    cov = sum((u - mean_x) * (v - mean_y) for u, v in zip(log_x, log_y))
    exponent = cov / var_x
    return exponent, math.exp(mean_y - exponent * mean_x)


def style_log_log(ax: Any, xlabel: str, ylabel: str, title: str) -> None:
    r"""Gives a matplotlib axis of a scaling plot log-log scales, labels, a
    grid and a legend (call it after plotting)."""
    from matplotlib.ticker import NullFormatter

    ax.set(xscale="log", yscale="log", xlabel=xlabel, ylabel=ylabel, title=title)
    # Minor-tick labels of a log axis overlap at the plots' widths.
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
