r"""One prepared check of the package on a GPU: every model config trains,
evaluates, checkpoints and resumes on CUDA, and the speed table of every
model of ``benchmarks/speed.py`` on the Baby and Sports placeholder graphs,
with GPU memory peaks.

::

    python benchmarks/gpu_check.py                      # -> benchmarks/results/gpu/
    python benchmarks/gpu_check.py --device cpu --quick # rehearsal on a CPU

1. **Smoke**: for every ``conf/model/<name>.yaml``, ``mde-pyg train
   model=<name>`` on the built-in synthetic data for ``--epochs`` epochs on
   ``--device`` (through :func:`mde_pyg.pipeline.train_one`, with checkpoints),
   twice with the same seed (the metrics must be identical), then one more
   epoch resumed from a checkpoint on the device and one **on the CPU** (a
   run saved on the GPU resumes on a machine without one), then
   ``load_run`` on the CPU and ``recommend``. A failure is a row with its
   error, not an abort.
2. **Speed**: ``benchmarks/speed.py`` with ``--device`` on the
   ``baby_placeholder`` and ``sports_placeholder`` folders, which
   ``benchmarks/prepare_data.py --quick`` makes under the data root
   (``--root``) from the shared data's ``derived/{baby,sports}.inter``
   (random features of the published shapes: speed and memory only, never
   accuracy); both run as subprocesses.

Writes ``gpu_check.md`` (both tables, machine, versions, command),
``smoke.csv``, ``speed.md`` and ``speed.csv`` to ``--out``.

On a lent GPU machine (nothing but the working tree travels, no internet):
copy ``../shared/data/derived/{baby,sports}.inter`` into a git-ignored
folder of the repository (``.gpu_data/derived/``), download the wheels the
machine lacks (``hydra-core``, ``omegaconf``, ``antlr4-python3-runtime``,
``psutil``) into ``.whl/`` as the device tool's README says, carry both, and
run ``pip install ... .whl/*.whl && pip install --no-deps -e . &&
MDE_PYG_SHARED_DATA=.gpu_data python benchmarks/gpu_check.py --out $OUT``
(about 4 minutes on an H100).
"""

from __future__ import annotations

import argparse
import csv
import shlex
import subprocess
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from common import RESULTS, machine
from mde_pyg import load_run
from mde_pyg.pipeline import compose_config, config_names, train_one
from mde_pyg.training import device_name, resolve_device

BENCHMARKS = Path(__file__).resolve().parent
SMOKE_FIELDS = [
    "model",
    "status",
    "device",
    "epochs",
    "epoch_s",
    "eval_s",
    "val_recall@20",
    "test_recall@20",
    "gpu_peak_gib",
    "same_seed_rerun",
    "device_resume",
    "cpu_resume",
    "note",
]


def smoke(name: str, device: str, epochs: int, work: Path) -> dict[str, Any]:
    """Trains ``model=<name>`` for ``epochs`` on ``device`` (twice), resumes
    the second run there for one more epoch, and the first on the CPU."""
    row: dict[str, Any] = {"model": name, "epochs": epochs}

    def config(output_dir: Path, *extra: str) -> Any:
        return compose_config(
            [
                f"model={name}",
                "trainer.verbose=false",
                "checkpoint=true",
                f"output_dir={output_dir}",
                *extra,
            ]
        )

    try:
        torch_device = resolve_device(device)
        if torch_device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(torch_device)
        first = (f"trainer.max_epochs={epochs}", f"trainer.device={device}")
        result = train_one(config(work, *first), 0, work)
        # Reproducible on the device: the same seed again gives the same
        # metrics, bit for bit.
        rerun_dir = work.parent / f"{work.name}_rerun"
        rerun = train_one(config(rerun_dir, *first), 0, rerun_dir)
        same = rerun.best_val == result.best_val and rerun.test == result.test
        # A checkpoint saved on the device resumes there (its tensors, the
        # random states among them, are loaded onto the device).
        more = (f"trainer.max_epochs={epochs + 1}", "resume=true")
        resumed_here = train_one(
            config(rerun_dir, *more, f"trainer.device={device}"), 0, rerun_dir
        )
        row["device_resume"] = f"ok ({resumed_here.epochs_run} epochs)"
        row.update(
            status="ok",
            device=device_name(torch_device),
            epoch_s=result.mean_epoch_time,
            eval_s=sum(h["eval_time"] for h in result.history) / len(result.history),
            **{
                "val_recall@20": result.best_val["recall@20"],
                "test_recall@20": result.test["recall@20"],
            },
            same_seed_rerun="identical" if same else "DIFFERS",
            gpu_peak_gib=(
                torch.cuda.max_memory_allocated(torch_device) / 2**30
                if torch_device.type == "cuda"
                else float("nan")
            ),
        )
        resumed = train_one(config(work, *more, "trainer.device=cpu"), 0, work)
        # The run folder loads on the CPU and recommends.
        model, data, _ = load_run(work, device="cpu")
        items, _ = model.recommend(data, torch.arange(10), k=5)
        shape = tuple(items.shape)
        row["cpu_resume"] = f"ok ({resumed.epochs_run} epochs; recommend {shape})"
    except Exception as error:  # a row per failure, so every model is tried
        row.setdefault("status", "failed")
        row.setdefault("device_resume", "-")
        row.setdefault("cpu_resume", "-")
        row["note"] = f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"
        traceback.print_exc()
    return row


def fmt(value: Any, digits: int = 3) -> str:
    if isinstance(value, float):
        return "-" if value != value else f"{value:.{digits}f}"
    return "-" if value is None else str(value)


def write_report(
    out: Path, rows: list[dict[str, Any]], args: argparse.Namespace, seconds: float
) -> None:
    with open(out / "smoke.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=SMOKE_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    info = machine()
    gpu = (
        torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device"
    )
    lines = [
        "# GPU check: every model on CUDA, and speed",
        "",
        f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- GPU: {gpu}; CUDA {torch.version.cuda}",
        f"- Machine: {info['machine']}",
        f"- Versions: {info['versions']}",
        f"- Command: `{shlex.join(['python', *sys.argv])}`",
        f"- Wall time of the whole check: {seconds:.0f} s",
        "",
        f"## 1. Every model config: {args.epochs} epochs on {args.device} "
        "(built-in synthetic data), then 1 epoch resumed on the device and "
        "1 on the CPU",
        "",
        "| model | status | device | epoch s | eval s | val R@20 | test R@20 | "
        "GPU peak GiB | same seed again | device resume | CPU resume | note |",
        "|---|---|---|---:|---:|---:|---:|---:|---|---|---|---|",
    ]
    lines += [
        f"| {r['model']} | {r['status']} | {fmt(r.get('device'))} | "
        f"{fmt(r.get('epoch_s'))} | {fmt(r.get('eval_s'))} | "
        f"{fmt(r.get('val_recall@20'), 4)} | {fmt(r.get('test_recall@20'), 4)} | "
        f"{fmt(r.get('gpu_peak_gib'), 2)} | {fmt(r.get('same_seed_rerun'))} | "
        f"{fmt(r.get('device_resume'))} | {fmt(r.get('cpu_resume'))} | "
        f"{fmt(r.get('note'))} |"
        for r in rows
    ]
    lines += ["", "## 2. Speed (placeholder graphs)", ""]
    speed_md = out / "speed.md"
    if speed_md.is_file():
        lines += speed_md.read_text().splitlines()[1:]
    (out / "gpu_check.md").write_text("\n".join(lines) + "\n")


def script(argv: list[str]) -> None:
    """Runs ``python benchmarks/<argv[0]> <argv[1:]>``; stops on a failure."""
    subprocess.run([sys.executable, str(BENCHMARKS / argv[0]), *argv[1:]], check=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="default: cuda")
    parser.add_argument("--epochs", type=int, default=2, help="smoke epochs")
    parser.add_argument("--out", type=Path, default=RESULTS / "gpu")
    parser.add_argument("--root", help="data root of the placeholder folders")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a rehearsal: Baby only, one timed epoch and evaluation",
    )
    parser.add_argument("--skip-speed", action="store_true")
    args = parser.parse_args(argv)
    resolve_device(args.device)  # no CUDA where it was asked for: an error now
    start = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)

    rows = []
    with tempfile.TemporaryDirectory() as work:
        for name in config_names("model"):
            rows.append(smoke(name, args.device, args.epochs, Path(work) / name))
            print(f"smoke {name}: {rows[-1]['status']}", flush=True)

    if not args.skip_speed:
        root = ["--root", args.root] if args.root else []
        script(["prepare_data.py", "--quick", *root])
        script(
            [
                "speed.py",
                "--device",
                args.device,
                *root,
                "--out",
                str(args.out),
                "--threads",
                str(torch.get_num_threads()),
                *(["--quick"] if args.quick else []),
            ]
        )
    write_report(args.out, rows, args, time.perf_counter() - start)
    print(f"wrote {args.out / 'gpu_check.md'}")
    if any(
        row["status"] != "ok" or row.get("same_seed_rerun") != "identical"
        for row in rows
    ):
        sys.exit(1)


if __name__ == "__main__":
    main()
