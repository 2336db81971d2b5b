r"""The backward pass of the user-item propagation: the stored transpose
(:func:`mde_pyg.nn.functional.spmm_with_transpose`, what the layers use)
against ``torch.sparse.mm``'s own backward, side by side on the CPU.

::

    python benchmarks/prepare_data.py --quick       # the placeholder folders
    python benchmarks/sparse_backward.py            # -> results/sparse_backward.md
    python benchmarks/sparse_backward.py --quick    # smoke test, to a temporary folder

On each graph: the symmetric-normalised user-item adjacency of LightGCN
(``LightGCN.graph_transform``), and two LightGCN layers over 64 features
(item -> user and user -> item products, as
:class:`~mde_pyg.nn.UserItemPropagation` runs them), forward and backward.
The two ways alternate call by call, so both see the same load; the report
gives the median of each and their ratio.
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import torch
from torch_geometric.utils import spmm

import benchmark_datasets
from common import RESULTS, machine, scratch, train_as_the_cli
from mde_pyg.data.hetero import INTERACTS, ITEM, REV_INTERACTS, USER
from mde_pyg.models import LightGCN
from mde_pyg.nn.functional import spmm_with_transpose

DATASETS = ("baby_placeholder", "sports_placeholder")
DIM = 64
LAYERS = 2


def propagate(data, users, items, stored_transpose: bool) -> torch.Tensor:
    """``LAYERS`` bipartite LightGCN layers; the sum of the last layer."""
    to_users, to_items = data[REV_INTERACTS], data[INTERACTS]
    for _ in range(LAYERS):
        if stored_transpose:
            users, items = (
                spmm_with_transpose(to_users.adj_t, items, to_users.adj),
                spmm_with_transpose(to_items.adj_t, users, to_items.adj),
            )
        else:
            users, items = spmm(to_users.adj_t, items), spmm(to_items.adj_t, users)
    return users.sum() + items.sum()


def measure(name: str, repeats: int) -> dict:
    data = LightGCN.graph_transform()(benchmark_datasets.load(name))
    generator = torch.Generator().manual_seed(0)
    users = torch.randn(data[USER].num_nodes, DIM, generator=generator)
    items = torch.randn(data[ITEM].num_nodes, DIM, generator=generator)
    times: dict[bool, list[float]] = {True: [], False: []}
    grads = {}
    for _ in range(repeats + 1):  # the first round warms up
        for stored in (True, False):
            u = users.clone().requires_grad_()
            i = items.clone().requires_grad_()
            start = time.perf_counter()
            propagate(data, u, i, stored).backward()
            times[stored].append(time.perf_counter() - start)
            grads[stored] = (u.grad, i.grad)
    same = all(
        torch.allclose(a, b, rtol=1e-4, atol=1e-5)
        for a, b in zip(grads[True], grads[False])
    )
    stored, autograd = (statistics.median(times[s][1:]) for s in (True, False))
    return {
        "dataset": name,
        "users": data[USER].num_nodes,
        "items": data[ITEM].num_nodes,
        "nonzeros": int(data[INTERACTS].edge_index.size(1)),
        "stored": stored,
        "autograd": autograd,
        "same": same,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, help="results folder")
    parser.add_argument("--quick", action="store_true", help="Baby, 2 repeats")
    args = parser.parse_args(argv)
    if args.quick:
        args.datasets, args.repeats = list(DATASETS[:1]), 2
    out = args.out or (scratch("sparse_backward") if args.quick else RESULTS)
    missing = benchmark_datasets.missing(args.datasets)
    if missing:
        parser.error(
            f"{', '.join(missing)} not prepared: run "
            "`python benchmarks/prepare_data.py --quick` first"
        )
    train_as_the_cli(args.threads)
    rows = [measure(name, args.repeats) for name in args.datasets]
    info = machine(threads=args.threads)
    lines = [
        "# The user-item propagation's backward: stored transpose vs autograd",
        "",
        f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- Machine: {info['machine']}",
        f"- Versions: {info['versions']}",
        f"- Command: `{shlex.join(['python', *sys.argv])}`",
        f"- What: {LAYERS} LightGCN layers (item -> user and user -> item CSR "
        f"products, {DIM} features) forward and backward; `stored`: "
        "`spmm_with_transpose` with the graph's stored CSR transpose (what the "
        "package's layers run), `autograd`: `torch.sparse.mm`'s own backward. "
        f"Median of {args.repeats} calls each, alternating, after one warm-up.",
        "",
        "| dataset | users | items | non-zeros | stored s | autograd s "
        "| autograd / stored | same gradients |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    lines += [
        f"| {r['dataset']} | {r['users']} | {r['items']} | {r['nonzeros']} | "
        f"{r['stored']:.4f} | {r['autograd']:.4f} | "
        f"{r['autograd'] / r['stored']:.2f} | {'yes' if r['same'] else 'NO'} |"
        for r in rows
    ]
    out.mkdir(parents=True, exist_ok=True)
    (out / "sparse_backward.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
