r"""The README main job's training step on the CPU: how much of it is the
in-batch contrast, and what ``torch.compile`` buys it (issue 28).

::

    python benchmarks/main_job_step.py              # -> results/main_job_step.md
    python benchmarks/main_job_step.py --quick      # smoke test, to a temporary folder

The main job is ``mde-pyg train`` with the defaults: MDE on the built-in
dataset. Its model and batches are built here as the trainer builds them
(``mde_pyg.pipeline``, seed 0), and one step is what the trainer runs per
batch: ``model.loss``, backward, Adam. Timed on the full batches of the
first epoch, median of ``--repeats`` passes:

* ``eager``: the step as the package runs it;
* ``compiled``: the same loss module under ``torch.compile`` (Inductor,
  static shapes), after its compilation in a fresh cache (the time a new
  user's first run pays), reported apart; eager and compiled passes
  alternate, so both see the same load;
* ``contrast``: the loss's in-batch InfoNCE alone
  (:func:`mde_pyg.models.losses.info_nce` on ``[2, B, d]`` views, forward
  and backward), the part of the step that is three ``B x B x d`` matrix
  products and one ``B x B`` softmax, however the rest is fused.

The report also gives the compiled loss against the eager one on the same
batch and parameters, the number of epochs after which compiling pays for
itself, and the eager step in two fresh processes, with glibc's allocator as
it comes and with :func:`mde_pyg.training.keep_freed_memory` (which every
benchmark process calls, as ``mde-pyg train`` does), with the page faults of
a step.
"""

from __future__ import annotations

import os
import tempfile

# A fresh compilation cache: the compile time a new user's first run meets.
os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="inductor-")

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import shlex  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from argparse import SUPPRESS  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

from common import (  # noqa: E402
    RESULTS,
    machine,
    scratch,
    step_time,
    train_as_the_cli,
)
from mde_pyg.models.losses import info_nce  # noqa: E402
from mde_pyg.pipeline import build_data, build_model, compose_config  # noqa: E402
from mde_pyg.training import Trainer, keep_freed_memory  # noqa: E402


def contrast_time(batch_size: int, dim: int, repeats: int) -> float:
    """Median seconds of one in-batch InfoNCE over two ``[batch_size, dim]``
    problems, forward and backward."""
    generator = torch.Generator().manual_seed(0)
    times = []
    for _ in range(repeats + 1):  # the first warms up
        a = torch.randn(2, batch_size, dim, generator=generator, requires_grad=True)
        b = torch.randn(2, batch_size, dim, generator=generator, requires_grad=True)
        start = time.perf_counter()
        info_nce(a, b).backward()
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def main_job(threads: int):
    """The main job's config, data, trainer and full batches."""
    cfg = compose_config(["trainer.device=cpu"])
    data = build_data(cfg)
    model = build_model(cfg, data)
    trainer = Trainer(
        model,
        data,
        lr=cfg.trainer.lr,
        batch_size=cfg.trainer.batch_size,
        max_epochs=1,
        device="cpu",
        threads=threads,
        seed=0,
    )
    batches = list(trainer.sampler)
    full = [b for b in batches if b.user.numel() == cfg.trainer.batch_size]
    model.train()
    return cfg, data, trainer, batches, full


def allocator_worker(threads: int, repeats: int, keep: bool) -> dict:
    """The eager step and its page faults in this (fresh) process, with or
    without :func:`~mde_pyg.training.keep_freed_memory`."""
    torch.set_num_threads(threads)
    if keep:
        keep_freed_memory()
    _, data, trainer, _, full = main_job(threads)
    times, faults = [], []
    for _ in range(repeats + 1):  # the first warms up
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        times.append(step_time(data, full, trainer.optimizer, trainer.batch_loss))
        after = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        faults.append((after - before) / len(full))
    return {"step": statistics.median(times[1:]), "faults": faults[-1]}


def in_fresh_process(threads: int, repeats: int, keep: bool) -> dict:
    command = [sys.executable, __file__, "--allocator-worker"]
    command += ["--threads", str(threads), "--repeats", str(repeats)]
    command += ["--keep"] if keep else []
    output = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(output.stdout.splitlines()[-1])


def measure(repeats: int, threads: int) -> dict:
    allocator = {
        keep: in_fresh_process(threads, repeats, keep) for keep in (False, True)
    }
    train_as_the_cli(threads)
    cfg, data, trainer, batches, full = main_job(threads)
    # The trainer's own loss module and (fused) Adam.
    optimizer, eager = trainer.optimizer, trainer.batch_loss

    # The compiled loss against the eager one, before any step moves them.
    with torch.no_grad():
        eager_loss = eager(data, full[0]).item()
    compiled = torch.compile(eager, dynamic=False)
    start = time.perf_counter()
    with torch.no_grad():
        compiled_loss = compiled(data, full[0]).item()
    step_time(data, full[:1], optimizer, compiled)  # the backward graph
    compile_s = time.perf_counter() - start

    times: dict[str, list[float]] = {"eager": [], "compiled": []}
    for _ in range(repeats + 1):  # the first round warms up
        times["eager"].append(step_time(data, full, optimizer, eager))
        times["compiled"].append(step_time(data, full, optimizer, compiled))
    slow, fast = (statistics.median(times[k][1:]) for k in ("eager", "compiled"))
    dim = cfg.model.embedding_dim
    return {
        "threads": threads,
        "batches": len(batches),
        "batch_size": cfg.trainer.batch_size,
        "dim": dim,
        "eager": slow,
        "compiled": fast,
        "compile_s": compile_s,
        "contrast": contrast_time(cfg.trainer.batch_size, dim, repeats),
        "eager_loss": eager_loss,
        "compiled_loss": compiled_loss,
        "allocator": allocator,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, help="results folder")
    parser.add_argument("--quick", action="store_true", help="1 repeat")
    parser.add_argument("--allocator-worker", action="store_true", help=SUPPRESS)
    parser.add_argument("--keep", action="store_true", help=SUPPRESS)
    args = parser.parse_args(argv)
    if args.allocator_worker:
        print(json.dumps(allocator_worker(args.threads, args.repeats, args.keep)))
        return
    if args.quick:
        args.repeats = 1
    out = args.out or (scratch("main_job_step") if args.quick else RESULTS)
    r = measure(args.repeats, args.threads)
    info = machine(threads=args.threads)
    saved = r["eager"] - r["compiled"]
    epoch_saving = saved * r["batches"]
    break_even = (
        f"{r['compile_s'] / epoch_saving:.0f} epochs"
        if epoch_saving > 0
        else "never (no step is faster)"
    )
    difference = abs(r["compiled_loss"] / r["eager_loss"] - 1)
    lines = [
        "# The main job's training step on the CPU",
        "",
        f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- Machine: {info['machine']}",
        f"- Versions: {info['versions']}",
        f"- Command: `{shlex.join(['python', *sys.argv])}`",
        "- What: `mde-pyg train`'s default job (MDE on the built-in dataset), "
        f"{r['batches']} batches of {r['batch_size']} per epoch; one step = "
        "loss, backward, Adam; median over "
        f"{args.repeats} passes over the full batches of the first epoch, "
        "eager and compiled alternating, after one warm-up pass.",
        "",
        "| | ms per step | share of the eager step |",
        "|---|---:|---:|",
        f"| eager step | {1000 * r['eager']:.1f} | 100% |",
        f"| compiled step (`torch.compile` of the loss) | "
        f"{1000 * r['compiled']:.1f} | {r['compiled'] / r['eager']:.0%} |",
        f"| in-batch InfoNCE alone ([2, {r['batch_size']}, {r['dim']}] views, "
        f"forward and backward) | {1000 * r['contrast']:.1f} | "
        f"{r['contrast'] / r['eager']:.0%} |",
        "",
        f"- Compilation: {r['compile_s']:.1f} s; it saves "
        f"{1000 * epoch_saving:.0f} ms per epoch, so it pays for itself after "
        f"{break_even}.",
        f"- Loss on the first batch: eager {r['eager_loss']:.6f}, compiled "
        f"{r['compiled_loss']:.6f} (relative difference {difference:.1e}).",
        "",
        "The eager step in two fresh processes, one after the other: glibc's "
        "allocator as it comes, and with `mde_pyg.training.keep_freed_memory()` "
        "(what `mde-pyg train` and every benchmark call first):",
        "",
        "| allocator | ms per step | page faults per step |",
        "|---|---:|---:|",
        *(
            f"| {label} | {1000 * r['allocator'][keep]['step']:.1f} | "
            f"{r['allocator'][keep]['faults']:.0f} |"
            for keep, label in (
                (False, "glibc default"),
                (True, "keep_freed_memory"),
            )
        ),
    ]
    out.mkdir(parents=True, exist_ok=True)
    (out / "main_job_step.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
