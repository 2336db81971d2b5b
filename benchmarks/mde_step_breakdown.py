r"""Where an MDE training step spends its time on the Baby graph, next to a
LightGCN step, measured side by side in one process.

::

    python benchmarks/prepare_data.py --quick      # the placeholder folders (--root)
    python benchmarks/mde_step_breakdown.py   # -> results/mde_step_breakdown.md
    python benchmarks/mde_step_breakdown.py --quick
    python benchmarks/mde_step_breakdown.py --device cuda --profile --out DIR

On CUDA every timed call ends with a synchronisation, and ``--profile``
adds, for the LightGCN and MDE steps, the number of kernel launches per step
and the operators that take the most device time (``torch.profiler``).

Each row is the median of ``--repeats`` timed calls after two warm-up calls:

* ``LightGCN step`` / ``MDE step``: one training step of the package's model
  (``model=lightgcn`` / ``model=mde``, built by :mod:`mde_pyg.pipeline`;
  ``loss``, ``backward``, the trainer's fused Adam), batch 2048, on the data
  with the graphs of ``model=mde`` (``add_graphs``) precomputed once (they
  include LightGCN's normalised user-item graph), so no step builds a graph;
* ``MDE step, frozen features``: the same with ``model.freeze_features=true``;
* the parts of MDE that LightGCN does not have and that no implementation of
  the spec can skip: the 4096-d image projection :math:`\mathbf{X}
  \mathbf{W}^{\top}` of every item (forward and backward, with the raw
  features trainable as MGCN and the spec's default, and frozen), the Adam
  update of the trainable raw features, and the two in-batch InfoNCE terms
  (2048 x 2048 logits each).

``floor`` adds those parts to the LightGCN step: no MDE step can be faster on
this machine, whatever else is optimised.
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile
from torch_geometric.data import HeteroData

import benchmark_datasets
from common import RESULTS, machine, scratch, train_as_the_cli
from mde_pyg.data.hetero import ITEM, USER, split_edge_index
from mde_pyg.data.sampler import BPRSampler
from mde_pyg.models.losses import info_nce
from mde_pyg.pipeline import add_graphs, build_model, compose_config


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_ms(fn: Callable[[], object], repeats: int, device: torch.device) -> float:
    for _ in range(2):
        fn()
    times = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def profile_lines(name: str, fn: Callable[[], None], device: torch.device) -> list[str]:
    """Kernel launches per step and the top operators by device time, over
    5 steps."""
    activities = [ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(ProfilerActivity.CUDA)
    steps = 5
    with profile(activities=activities) as prof:
        for _ in range(steps):
            fn()
        synchronize(device)
    heading = f"### {name}"
    if device.type == "cuda":
        kernels = [e for e in prof.events() if e.device_type.name == "CUDA"]
        heading += f": {len(kernels) / steps:.0f} device kernels per step"
    sort_by = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    table = prof.key_averages().table(
        sort_by=sort_by, row_limit=25, max_name_column_width=60
    )
    return [
        heading,
        "",
        "```",
        table,
        "```",
        "",
    ]


def training_step(
    model: torch.nn.Module, data: HeteroData, batches: list
) -> Callable[[], None]:
    """One step per call on the graphs of ``data``, cycling over
    ``batches``, with the trainer's optimiser settings."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    state = {"i": 0}

    def step() -> None:
        batch = batches[state["i"] % len(batches)]
        state["i"] += 1
        optimizer.zero_grad(set_to_none=True)
        model.loss(data, batch).backward()
        optimizer.step()

    return step


def projection(features: torch.Tensor, trainable: bool) -> Callable[[], None]:
    x = features.clone().requires_grad_(trainable)
    layer = torch.nn.Linear(x.size(1), 64, device=x.device)

    def run() -> None:
        layer.zero_grad(set_to_none=True)
        x.grad = None
        layer(x).sum().backward()

    return run


def adam_update(features: dict[str, torch.Tensor]) -> Callable[[], None]:
    params = [torch.nn.Parameter(x.clone()) for x in features.values()]
    for p in params:
        p.grad = torch.randn_like(p)
    return torch.optim.Adam(params, lr=1e-3, fused=True).step


def two_info_nce(batch_size: int, device: torch.device) -> Callable[[], None]:
    views = [
        torch.randn(batch_size, 64, device=device, requires_grad=True) for _ in range(4)
    ]

    def run() -> None:
        loss = info_nce(views[0], views[1]) + info_nce(views[2], views[3])
        loss.backward()

    return run


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--dataset", default="baby_placeholder", choices=benchmark_datasets.names()
    )
    parser.add_argument("--root", help="data root (default: the registry's)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    parser.add_argument(
        "--profile", action="store_true", help="kernel counts and top operators"
    )
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    command = shlex.join(["python", "benchmarks/mde_step_breakdown.py", *sys.argv[1:]])
    if args.quick:
        args.repeats, args.out = 2, scratch("breakdown")
    train_as_the_cli(args.threads)
    torch.manual_seed(0)

    data = benchmark_datasets.load(args.dataset, root=args.root)
    # Every graph the two models read, once (MDE's include LightGCN's).
    mde = compose_config(["model=mde"])
    frozen = compose_config(["model=mde", "model.freeze_features=true"])
    data = add_graphs(mde, data).to(device)
    features = {m: data[ITEM][f"x_{m}"] for m in ("image", "text")}
    sampler = BPRSampler(
        split_edge_index(data, "train"),
        data[USER].num_nodes,
        data[ITEM].num_nodes,
        batch_size=2048,
        generator=torch.Generator().manual_seed(0),
    )
    batches = [
        type(batch)(*(t.to(device) for t in batch)) for batch in list(sampler)[:8]
    ]
    image = features["image"]
    parts = {
        f"image projection {tuple(image.shape)} -> 64, trainable features": projection(
            image, trainable=True
        ),
        "Adam update of the trainable raw features": adam_update(features),
        "two in-batch InfoNCE terms (2048 x 2048)": two_info_nce(2048, device),
    }
    rows = {
        "LightGCN step": training_step(
            build_model(compose_config(["model=lightgcn"]), data).to(device),
            data,
            batches,
        ),
        "MDE step": training_step(build_model(mde, data).to(device), data, batches),
        "MDE step, frozen features": training_step(
            build_model(frozen, data).to(device), data, batches
        ),
        **parts,
        f"image projection {tuple(image.shape)} -> 64, frozen features": projection(
            image, trainable=False
        ),
    }
    times = {}
    for name, fn in rows.items():
        times[name] = median_ms(fn, args.repeats, device)
        print(f"{name}: {times[name]:.1f} ms", flush=True)
    base = times["LightGCN step"]
    floor = base + sum(times[name] for name in parts)

    info = machine(args.threads)
    lines = [
        "# MDE training step: where the time goes",
        "",
        f"- Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        f"- Machine: {info['machine']}",
        f"- Versions: {info['versions']}",
        f"- Device: {device}"
        + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""),
        f"- Threads: {args.threads}",
        f"- Command: `{command}`",
        f"- Data: `{args.dataset}`, {benchmark_datasets.describe(args.dataset)}.",
        "- Graphs: precomputed once onto the data by `add_graphs` of `model=mde` "
        "(the normalised user-item graph both models read, the item k-NN and "
        "user-user graphs), not part of any step.",
        f"- Median of {args.repeats} calls after 2 warm-up calls, one process.",
        "",
        "| what | ms | x LightGCN step |",
        "|---|---:|---:|",
    ]
    lines += [f"| {name} | {ms:.1f} | {ms / base:.2f} |" for name, ms in times.items()]
    lines += [
        f"| floor: LightGCN step + the three unavoidable parts | {floor:.1f} | "
        f"{floor / base:.2f} |",
        "",
        "The floor is what any MDE step must cost here with trainable raw "
        "features: the spec's purifier projects the 4096-d feature of every "
        "item in every step (each user's views aggregate nearly all items), "
        "so its forward and backward and the Adam update of the 29M feature "
        "values run every step, as do the two InfoNCE terms of the loss.",
    ]
    if args.profile:
        lines += ["", "## Profile (5 steps each)", ""]
        for name in ("LightGCN step", "MDE step"):
            lines += profile_lines(name, rows[name], device)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "mde_step_breakdown.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
