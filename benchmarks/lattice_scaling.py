r"""How LATTICE scales: our sparse :class:`mde_pyg.models.LATTICE` against a
dense implementation of the published code (MMRec's ``lattice.py``: dense
``items x items`` similarity, top-:math:`k` and normalisation matrices).

Scaling run (resumable: every finished ``(implementation, size)`` is appended
to the CSV and skipped when the command is run again)::

    python benchmarks/lattice_scaling.py                      # all sizes
    python benchmarks/lattice_scaling.py --sizes 80000 --impl ours
    python benchmarks/lattice_scaling.py --quick              # seconds, to a temp dir

Synthetic data shaped like Amazon Baby: ``users = 2.75 x items``, ~16.8
training interactions per item (long-tailed item popularity), two frozen
384-d feature modalities. Each size runs in its own subprocess, so the peak
RSS is that size's. Ours is ``model=lattice model.freeze_features=true`` of
the package's config, built by :mod:`mde_pyg.pipeline`: ``add_graphs`` (the
user-item graph and the frozen k-NN graphs, precomputed onto the data) then
``build_model``; its ``build`` is both. One
epoch = the learned-graph rebuild (``on_epoch_start``) plus one pass over all
training pairs (batch 2048, Adam).

Where a full epoch does not fit in the time budget, the epoch time is
estimated from measured components: ``rebuild + first batch + (n_batches - 1)
x median batch``, with the median over a sample of batches. Where even the
exact :math:`k`-NN searches (:math:`O(N^2 d)`) do not fit, they are replaced
by random neighbour lists of the same size (the batch cost depends on the
graph sizes only) and their time is extrapolated :math:`\propto N^2` from the
largest size where they were measured. The dense reference is skipped, with
its predicted memory recorded, where that prediction exceeds the memory cap.

Real Baby speed (the ``baby_placeholder`` dataset of
:mod:`benchmark_datasets`: the Baby interactions with random trainable
features of the published shapes 4096-d and 384-d, prepared under the data
root, ``--root``, by ``benchmarks/prepare_data.py --quick``)::

    python benchmarks/lattice_scaling.py --baby [--with-reference]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.checkpoint import checkpoint
from torch_geometric.nn.conv.gcn_conv import gcn_norm

import benchmark_datasets
from common import (
    GIB,
    RESULTS,
    fmt,
    machine,
    num,
    peak_rss_gib,
    read_rows,
    rss_gib,
    save_row,
    scratch,
    style_log_log,
    train_as_the_cli,
)

#: Our LATTICE, as ``mde-pyg train`` composes it.
OURS = ["model=lattice"]
SIZES = (5_000, 10_000, 20_000, 80_000, 320_000)
QUICK_SIZES = (1_000, 2_000)
USERS_PER_ITEM = 2.75
PAIRS_PER_ITEM = 16.8
FEATURE_DIM = 384
BATCH_SIZE = 2048
SAMPLE_BATCHES = 8
# Measurement modes in which the frozen / learned k-NN graphs were exact.
EXACT_BUILD = ("full", "sampled")
EXACT_LEARNED = ("full", "sampled", "learned")
# Dense reference: bytes per item^2 at its peak (first batch of an epoch:
# frozen, learned, normalised, mixed matrices, their diagflat products and
# gradients) before any size was measured; then the largest measured size's.
DENSE_BYTES_PER_ITEM2 = 16 * 4
MEMORY_CAP_GIB = 16.0
CSV_FIELDS = [
    "impl",
    "items",
    "users",
    "pairs",
    "status",
    "mode",
    "build_s",
    "rebuild_s",
    "first_batch_s",
    "batch_median_s",
    "n_batches",
    "epoch_s",
    "epoch_method",
    "peak_rss_gib",
    "data_rss_gib",
    "predicted_gib",
    "load_avg",
    "threads",
    "extrapolated",
    "note",
]


# ----------------------------------------------------------------- data
def scaling_data(num_items: int, seed: int = 0) -> dict[str, Any]:
    """Random interactions shaped like Amazon Baby and two frozen 384-d
    feature modalities (all as training pairs)."""
    gen = torch.Generator().manual_seed(seed)
    num_users = round(USERS_PER_ITEM * num_items)
    num_pairs = round(PAIRS_PER_ITEM * num_items)
    # Long-tailed popularity (Amazon-like), in a random item order.
    popularity = torch.arange(1, num_items + 1, dtype=torch.float64).pow(-0.7)
    popularity = popularity[torch.randperm(num_items, generator=gen)]
    draws = int(num_pairs * 1.1)
    user = torch.randint(num_users, (draws,), generator=gen)
    item = torch.multinomial(popularity, draws, replacement=True, generator=gen)
    keys = torch.unique(user * num_items + item)
    keys = keys[torch.randperm(keys.numel(), generator=gen)[:num_pairs]]
    edge_index = torch.stack([keys // num_items, keys % num_items])
    features = {
        m: torch.randn(num_items, FEATURE_DIM, generator=gen) for m in ("image", "text")
    }
    return {
        "num_users": num_users,
        "num_items": num_items,
        "edge_index": edge_index,
        "features": features,
    }


# ---------------------------------------------- dense reference (MMRec)
def build_sim(context: Tensor) -> Tensor:
    context_norm = context.div(torch.norm(context, p=2, dim=-1, keepdim=True))
    return torch.mm(context_norm, context_norm.transpose(1, 0))


def build_knn_neighbourhood(adj: Tensor, topk: int) -> Tensor:
    knn_val, knn_ind = torch.topk(adj, topk, dim=-1)
    return (torch.zeros_like(adj)).scatter_(-1, knn_ind, knn_val)


def compute_normalized_laplacian(adj: Tensor) -> Tensor:
    rowsum = torch.sum(adj, -1)
    d_inv_sqrt = torch.pow(rowsum, -0.5)
    d_inv_sqrt[torch.isinf(d_inv_sqrt)] = 0.0
    d_mat_inv_sqrt = torch.diagflat(d_inv_sqrt)
    return torch.mm(torch.mm(d_mat_inv_sqrt, adj), d_mat_inv_sqrt)


class DenseLATTICE(torch.nn.Module):
    """The published LATTICE (MMRec ``models/lattice.py``, ``cf_model:
    lightgcn``) operation for operation: dense item-item matrices rebuilt on
    the first batch of every epoch and for every evaluated user batch. Not
    product code: the reference the benchmark compares against."""

    def __init__(
        self,
        num_users: int,
        num_items: int,
        edge_index: Tensor,
        features: dict[str, Tensor],
        k: int = 10,
        lambda_coeff: float = 0.9,
        reg_weight: float = 1e-5,
        freeze_features: bool = False,
        dim: int = 64,
    ) -> None:
        from mde_pyg.data.graphs import user_item_adjacency

        super().__init__()
        self.num_users, self.num_items = num_users, num_items
        self.k, self.lambda_coeff, self.reg_weight = k, lambda_coeff, reg_weight
        self.user_embedding = torch.nn.Embedding(num_users, dim)
        self.item_id_embedding = torch.nn.Embedding(num_items, dim)
        torch.nn.init.xavier_uniform_(self.user_embedding.weight)
        torch.nn.init.xavier_uniform_(self.item_id_embedding.weight)
        # D^-1 (A + I) as the reference's torch.sparse (COO) tensor.
        index, weight = user_item_adjacency(
            edge_index, num_users, num_items, normalization="row", self_loops=True
        )
        n = num_users + num_items
        self.norm_adj = torch.sparse_coo_tensor(index.flip(0), weight, (n, n))
        self.norm_adj = self.norm_adj.coalesce()
        self.feats = torch.nn.ModuleDict(
            {
                m: torch.nn.Embedding.from_pretrained(x, freeze=freeze_features)
                for m, x in features.items()
            }
        )
        self.original_adj = {}
        with torch.no_grad():
            for m, emb in self.feats.items():
                adj = build_knn_neighbourhood(build_sim(emb.weight.detach()), k)
                self.original_adj[m] = compute_normalized_laplacian(adj)
        self.trs = torch.nn.ModuleDict(
            {m: torch.nn.Linear(x.size(1), dim) for m, x in features.items()}
        )
        self.modal_weight = torch.nn.Parameter(torch.Tensor([0.5, 0.5]))
        self.build_item_graph = True
        self.item_adj: Tensor | None = None

    def pre_epoch_processing(self) -> None:
        self.build_item_graph = True

    def forward(self, build_item_graph: bool = False) -> tuple[Tensor, Tensor]:
        feats = {m: self.trs[m](emb.weight) for m, emb in self.feats.items()}
        if build_item_graph:
            weight = torch.softmax(self.modal_weight, dim=0)
            learned = {
                m: build_knn_neighbourhood(build_sim(f), self.k)
                for m, f in feats.items()
            }
            image, text = learned["image"], learned["text"]
            learned_adj = weight[0] * image + weight[1] * text
            original_adj = (
                weight[0] * self.original_adj["image"]
                + weight[1] * self.original_adj["text"]
            )
            learned_adj = compute_normalized_laplacian(learned_adj)
            self.item_adj = None
            self.item_adj = (
                1 - self.lambda_coeff
            ) * learned_adj + self.lambda_coeff * original_adj
        else:
            self.item_adj = self.item_adj.detach()
        h = torch.mm(self.item_adj, self.item_id_embedding.weight)
        ego = torch.cat((self.user_embedding.weight, self.item_id_embedding.weight))
        layers = [ego]
        for _ in range(2):
            ego = torch.sparse.mm(self.norm_adj, ego)
            layers.append(ego)
        out = torch.stack(layers, dim=1).mean(dim=1)
        user, item = torch.split(out, [self.num_users, self.num_items])
        return user, item + F.normalize(h, p=2, dim=1)

    def loss(self, batch: Any) -> Tensor:
        user_emb, item_emb = self.forward(self.build_item_graph)
        self.build_item_graph = False
        u, p, n = user_emb[batch.user], item_emb[batch.pos], item_emb[batch.neg]
        reg = 0.5 * (u**2).sum() + 0.5 * (p**2).sum() + 0.5 * (n**2).sum()
        mf = -F.logsigmoid((u * p).sum(1) - (u * n).sum(1)).mean()
        return mf + self.reg_weight * reg / BATCH_SIZE

    @torch.no_grad()
    def full_sort_predict(self, users: Tensor) -> Tensor:
        user_emb, item_emb = self.forward(build_item_graph=True)
        return user_emb[users] @ item_emb.t()


# ------------------------------------------------- k-NN stand-in (large N)
def standin_knn_graph(
    x: Tensor,
    k: int = 10,
    chunk_size: int = 1024,
    weighted: bool = True,
    normalization: str = "sym",
    mask: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Random neighbour lists (the item itself first) weighted by the cosine
    of the chosen pairs: the same sizes, normalisation and gradient path as
    :func:`mde_pyg.data.graphs.knn_graph`, without its exact
    :math:`O(N^2 d)` search. Only used where that search exceeds the time
    budget; its time is then extrapolated. The benchmark's features have
    every row, so a ``mask`` must be all ``True``."""
    if mask is not None and not bool(mask.all()):
        raise ValueError("the stand-in k-NN search takes no missing feature rows")
    num_nodes = x.size(0)
    gen = torch.Generator().manual_seed(num_nodes)
    col = torch.randint(num_nodes, (num_nodes, k), generator=gen)
    col[:, 0] = torch.arange(num_nodes)
    col = col.view(-1)
    row = torch.arange(num_nodes).repeat_interleave(k)
    unit = F.normalize(x, dim=1)

    def cosine(c: Tensor, r: Tensor) -> Tensor:
        return (unit[c] * unit[r]).sum(-1)

    # Recomputed in the backward, so that, like knn_graph, it keeps no
    # [edges, d] tensors alive.
    weight = torch.cat(
        [
            checkpoint(cosine, c, r, use_reentrant=False)
            for c, r in zip(col.split(chunk_size * k), row.split(chunk_size * k))
        ]
    )
    edge_index = torch.stack([col, row])
    if normalization == "none":
        return edge_index, weight
    return gcn_norm(edge_index, weight, num_nodes, add_self_loops=False)


# --------------------------------------------------------------- worker
def train_steps(
    model: Any,
    sampler: Any,
    epochs: int,
    max_batches: int | None,
    data: Any = None,
):
    """Times ``epochs`` epochs (or their first ``max_batches`` batches): the
    per-epoch graph rebuild, the first batch and every further batch. A
    package model reads its graphs from ``data``; :class:`DenseLATTICE` holds
    its own."""
    dense = isinstance(model, DenseLATTICE)

    def loss(batch: Any) -> Tensor:
        return model.loss(batch) if dense else model.loss(data, batch)

    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    rebuild, first, rest, epoch_times = [], [], [], []
    for epoch in range(epochs):
        start = time.perf_counter()
        if dense:
            model.pre_epoch_processing()
        else:
            model.on_epoch_start(data, epoch)
        rebuild.append(time.perf_counter() - start)
        batches = iter(sampler)
        for i in range(len(sampler) if max_batches is None else max_batches):
            # Fetching is timed too: the first fetch samples the epoch's
            # negatives.
            tic = time.perf_counter()
            batch = next(batches)
            optimizer.zero_grad(set_to_none=True)
            loss(batch).backward()
            optimizer.step()
            (first if i == 0 else rest).append(time.perf_counter() - tic)
        epoch_times.append(time.perf_counter() - start)
    return {
        "rebuild_s": statistics.median(rebuild),
        "first_batch_s": statistics.median(first),
        "batch_median_s": statistics.median(rest) if rest else float("nan"),
        "epoch_times": epoch_times,
    }


@contextmanager
def standin_searches(mode: str) -> Iterator[None]:
    """Within the block, :func:`standin_knn_graph` replaces the exact k-NN
    search of the frozen graphs (built by ``LATTICE.graph_transform``) in
    modes ``learned`` and ``standin``, and that of the learned graphs (built
    by the model at every rebuild) in mode ``standin``."""
    import mde_pyg.data.transforms as transforms
    import mde_pyg.models.lattice as lattice

    modules = {"learned": [transforms], "standin": [transforms, lattice]}
    exact = {module: module.knn_graph for module in modules.get(mode, [])}
    for module in exact:
        module.knn_graph = standin_knn_graph
    try:
        yield
    finally:
        for module, fn in exact.items():
            module.knn_graph = fn


def worker(cfg: dict[str, Any]) -> dict[str, Any]:
    mode = cfg["mode"] if cfg["impl"] == "ours" else "full"
    with standin_searches(mode):
        return measure(cfg)


def measure(cfg: dict[str, Any]) -> dict[str, Any]:
    from mde_pyg.data.sampler import BPRSampler

    torch.manual_seed(0)
    data = scaling_data(cfg["items"])
    data_rss = rss_gib()
    num_users, num_items = data["num_users"], data["num_items"]
    edge_index = data["edge_index"]
    graph_data = None
    if cfg["impl"] == "ours":
        from mde_pyg.data.hetero import build_heterodata
        from mde_pyg.pipeline import add_graphs, build_model, compose_config

        config = compose_config([*OURS, "model.freeze_features=true"])
        empty = edge_index.new_empty(2, 0)
        graph_data = build_heterodata(
            num_users, num_items, edge_index, empty, empty, data["features"]
        )
        start = time.perf_counter()
        graph_data = add_graphs(config, graph_data)
        model = build_model(config, graph_data)
    else:
        start = time.perf_counter()
        model = DenseLATTICE(
            num_users, num_items, edge_index, data["features"], freeze_features=True
        )
    build_s = time.perf_counter() - start
    del data
    sampler = BPRSampler(
        edge_index,
        num_users,
        num_items,
        batch_size=BATCH_SIZE,
        generator=torch.Generator().manual_seed(0),
    )
    full = cfg["mode"] == "full"
    timing = train_steps(
        model,
        sampler,
        cfg["epochs"] if full else 1,
        None if full else SAMPLE_BATCHES,
        graph_data,
    )
    return {
        "users": num_users,
        "pairs": edge_index.size(1),
        "build_s": build_s,
        "n_batches": len(sampler),
        "data_rss_gib": data_rss,
        "peak_rss_gib": peak_rss_gib(),
        **timing,
    }


# ----------------------------------------------------------------- plan
def reference_row(rows, impl: str, items: int, modes: tuple[str, ...]):
    """The largest smaller size of ``impl`` measured in one of ``modes``."""
    done = [
        r
        for r in rows
        if r["impl"] == impl
        and r["status"] == "ok"
        and r["mode"] in modes
        and int(r["items"]) < items
    ]
    return max(done, key=lambda r: int(r["items"]), default=None)


def plan(rows, impl: str, items: int, epochs: int, budget_s: float) -> dict[str, Any]:
    """Chooses how to measure ``(impl, items)`` from the smaller sizes done:
    ``full`` epochs; ``sampled`` batches (exact graphs); ours only:
    ``learned`` (sampled batches, exact learned graphs, stand-in frozen
    graphs) and ``standin`` (stand-in k-NN searches everywhere); dense only:
    ``skip`` (does not fit / too slow)."""
    ref = reference_row(rows, impl, items, EXACT_BUILD)
    if impl == "dense":
        per_item2 = DENSE_BYTES_PER_ITEM2
        if ref is not None:
            per_item2 = (
                (num(ref, "peak_rss_gib") - num(ref, "data_rss_gib"))
                * GIB
                / int(ref["items"]) ** 2
            )
        data_gib = num(ref, "data_rss_gib") * items / int(ref["items"]) if ref else 0.5
        predicted = data_gib + per_item2 * items**2 / GIB
        if predicted > MEMORY_CAP_GIB:
            return {
                "mode": "skip",
                "predicted_gib": predicted,
                "note": f"does not fit (needs {predicted:.1f} GiB)",
            }
        if ref is None:
            return {"mode": "full", "predicted_gib": predicted}
        # Building a graph costs O(N^3) there (the diagflat products).
        scale = (items / int(ref["items"])) ** 3
        build, epoch = num(ref, "build_s") * scale, num(ref, "epoch_s") * scale
        if build + epochs * epoch <= budget_s:
            return {"mode": "full", "predicted_gib": predicted}
        if build + num(ref, "first_batch_s") * scale <= budget_s:
            return {"mode": "sampled", "predicted_gib": predicted}
        return {
            "mode": "skip",
            "predicted_gib": predicted,
            "note": f"too slow (predicted {epoch:.0f} s per epoch)",
        }
    # Ours: the k-NN searches cost O(N^2); a batch O(N), and there are O(N).
    ref_build = reference_row(rows, impl, items, EXACT_BUILD)
    ref = reference_row(rows, impl, items, EXACT_LEARNED)
    if ref is None:
        return {"mode": "full"}
    scale = (items / int(ref["items"])) ** 2
    learned = (num(ref, "rebuild_s") + num(ref, "first_batch_s")) * scale
    batch = num(ref, "batch_median_s") * math.sqrt(scale)
    batches = batch * num(ref, "n_batches") * math.sqrt(scale)
    build = math.inf
    if ref_build is not None:
        build = num(ref_build, "build_s") * (items / int(ref_build["items"])) ** 2
    if build + epochs * (learned + batches) <= budget_s:
        return {"mode": "full"}
    if build + learned + SAMPLE_BATCHES * batch <= 0.8 * budget_s:
        return {"mode": "sampled"}
    if learned + SAMPLE_BATCHES * batch <= 0.8 * budget_s:
        return {"mode": "learned"}
    return {"mode": "standin"}


def extrapolate(rows, items: int, modes: tuple[str, ...], keys) -> dict[str, Any]:
    """``keys`` of the largest size of ours measured in one of ``modes``,
    scaled by :math:`N^2` (``first_extra_s``: the first batch's time over a
    median batch, i.e. its backward through the exact k-NN weights)."""
    ref = reference_row(rows, "ours", items, modes)
    scale = (items / int(ref["items"])) ** 2
    values = {
        "build_s": num(ref, "build_s"),
        "rebuild_s": num(ref, "rebuild_s"),
        "first_extra_s": max(num(ref, "first_batch_s") - num(ref, "batch_median_s"), 0),
    }
    return {"items": int(ref["items"]), **{key: values[key] * scale for key in keys}}


# ---------------------------------------------------------------- parent
def run_size(args, rows, impl: str, items: int) -> dict[str, Any]:
    decision = plan(rows, impl, items, args.epochs, args.budget_s)
    row: dict[str, Any] = {
        "impl": impl,
        "items": items,
        "mode": decision["mode"],
        "predicted_gib": decision.get("predicted_gib", ""),
        "load_avg": f"{os.getloadavg()[0]:.2f}",
        "threads": args.threads,
        "note": decision.get("note", ""),
    }
    if decision["mode"] == "skip":
        return {**row, "status": "skipped"}
    cfg = {
        "impl": impl,
        "items": items,
        "mode": decision["mode"],
        "epochs": args.epochs,
        "threads": args.threads,
    }
    print(f"[{impl} {items}] mode={decision['mode']} ...", flush=True)
    try:
        proc = subprocess.run(
            [sys.executable, __file__, "--worker", json.dumps(cfg)],
            capture_output=True,
            text=True,
            timeout=args.budget_s * 1.5,
        )
    except subprocess.TimeoutExpired:
        return {**row, "status": "timeout", "note": f"over {args.budget_s * 1.5:.0f} s"}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["?"]
        return {**row, "status": "failed", "note": f"rc={proc.returncode}: {tail[0]}"}
    result = json.loads(lines[-1][len("RESULT ") :])
    row.update(
        status="ok",
        users=result["users"],
        pairs=result["pairs"],
        build_s=f"{result['build_s']:.3f}",
        rebuild_s=f"{result['rebuild_s']:.3f}",
        first_batch_s=f"{result['first_batch_s']:.3f}",
        batch_median_s=f"{result['batch_median_s']:.4f}",
        n_batches=result["n_batches"],
        peak_rss_gib=f"{result['peak_rss_gib']:.3f}",
        data_rss_gib=f"{result['data_rss_gib']:.3f}",
    )
    mode, n_rest = decision["mode"], result["n_batches"] - 1
    if mode == "full":
        row["epoch_s"] = f"{statistics.median(result['epoch_times']):.2f}"
        row["epoch_method"] = "measured"
        return row
    if mode == "learned":
        knn = extrapolate(rows, items, EXACT_BUILD, ("build_s",))
        row["build_s"] = f"{knn['build_s']:.1f}"
        row["extrapolated"] = f"build_s (x N^2 from {knn['items']})"
        row["note"] = "frozen k-NN graphs: random neighbour lists stood in"
    elif mode == "standin":
        knn = extrapolate(rows, items, EXACT_LEARNED, ("rebuild_s", "first_extra_s"))
        build = extrapolate(rows, items, EXACT_BUILD, ("build_s",))
        result["rebuild_s"] = knn["rebuild_s"]
        result["first_batch_s"] += knn["first_extra_s"]
        row.update(
            build_s=f"{build['build_s']:.1f}",
            rebuild_s=f"{knn['rebuild_s']:.1f}",
            first_batch_s=f"{result['first_batch_s']:.2f}",
            extrapolated=(
                f"build_s (x N^2 from {build['items']}), rebuild_s and the first "
                f"batch's k-NN backward (x N^2 from {knn['items']})"
            ),
            note="all k-NN searches: random neighbour lists stood in",
        )
    epoch = result["rebuild_s"] + result["first_batch_s"]
    epoch += n_rest * result["batch_median_s"]
    row["epoch_s"] = f"{epoch:.2f}"
    row["epoch_method"] = f"estimated ({SAMPLE_BATCHES} batches)"
    return row


def write_report(
    out: Path, rows: list[dict[str, Any]], command: str, threads: int
) -> None:
    info = machine(threads)
    lines = [
        "# LATTICE scaling: sparse (ours) vs dense (published code)",
        "",
        f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M UTC}",
        f"- Machine: {info['cpu']}, runs with torch.set_num_threads({threads}); "
        f"{info['memory']} RAM, shared with other jobs "
        "(timings are noisy; `load` is the 1-min load average when the size "
        "started). One thread per run because the two cores are shared: with two "
        "OpenMP threads, an epoch slowed down up to 4x whenever another job held a "
        "core.",
        f"- Versions: {info['versions']}",
        "- Reproduce: `python benchmarks/lattice_scaling.py` (all sizes; resumable: "
        "finished sizes in the CSV are skipped). To keep each invocation under ~10 "
        "minutes: `--sizes 5000 10000 20000`, then `--sizes 80000`, then "
        f"`--sizes 320000`. Last invocation: `{command}`.",
        f"- Data: synthetic, users = {USERS_PER_ITEM} x items, "
        f"~{PAIRS_PER_ITEM} training pairs per item (long-tailed popularity), two "
        f"**frozen** {FEATURE_DIM}-d feature modalities (`freeze_features=True` "
        "for both implementations), batch 2048, Adam, k = 10, 64-d.",
        "- Epoch = learned-graph rebuild + one pass over all training pairs "
        "(no evaluation). `build` = the one-off frozen-graph construction (ours: "
        "`add_graphs` of `model=lattice`, the user-item and frozen k-NN graphs, "
        "+ `build_model`). "
        "Peak RSS is the whole process (data included) of that size's subprocess.",
        "- `measured`: median of full epochs. `estimated (n batches)`: rebuild + "
        "first batch + (n_batches - 1) x median of n sampled batches (mode "
        "`sampled`: every graph exact). Where the exact k-NN searches (O(N^2 d)) "
        "did not fit the time budget, random neighbour lists of the same size "
        "stood in (mode `learned`: for the frozen graphs only; `standin`: for all), "
        "so batch times and memory are real, and the time of the searches that "
        "did not run is the largest exactly measured size's scaled by N^2 (column "
        "`extrapolated`). In `standin` mode the peak RSS misses the searches' "
        "chunk buffers (~3 x chunk_size x items x 4 B = "
        f"{3 * 1024 * 320_000 * 4 / GIB:.1f} GiB at 320k items).",
        "- Dense: as in the published code the graph is rebuilt inside the first "
        "batch of an epoch, so its rebuild time is in `first batch` (with the "
        "O(N^3) diagflat products of its normalisation and their backward). Its "
        "peak memory is predicted from the largest measured size "
        "(bytes per item^2) and the size is skipped when the prediction exceeds "
        f"{MEMORY_CAP_GIB:.0f} GiB.",
        "",
        "| impl | items | users | pairs | mode | build s | rebuild s | first batch s "
        "| batch s | batches | epoch s | epoch | peak RSS GiB | load | extrapolated "
        "| note |",
        "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---|---|",
    ]
    for r in sorted(rows, key=lambda r: (r["impl"] != "ours", int(r["items"]))):
        lines.append(
            f"| {r['impl']} | {int(r['items']):,} | {r.get('users') or '-'} | "
            f"{r.get('pairs') or '-'} | {r['mode']} | {fmt(r, 'build_s', 1)} | "
            f"{fmt(r, 'rebuild_s')} | "
            f"{fmt(r, 'first_batch_s')} | {fmt(r, 'batch_median_s', 3)} | "
            f"{r.get('n_batches') or '-'} | {fmt(r, 'epoch_s', 1)} | "
            f"{r.get('epoch_method') or r['status']} | {fmt(r, 'peak_rss_gib')} | "
            f"{r.get('load_avg', '')} | {r.get('extrapolated', '')} | "
            f"{r.get('note', '')} |"
        )
    largest = {}
    for impl in ("ours", "dense"):
        ok = [
            int(r["items"]) for r in rows if r["impl"] == impl and r["status"] == "ok"
        ]
        largest[impl] = f"{max(ok):,}" if ok else "none"
    lines += [
        "",
        f"Largest size run: ours {largest['ours']} items, dense {largest['dense']} "
        f"items (memory cap {MEMORY_CAP_GIB:.0f} GiB for the dense prediction).",
        "",
        "![scaling](lattice_scaling.png)",
        "",
    ]
    (out.with_suffix(".md")).write_text("\n".join(lines))
    plot(out, rows)


def plot(out: Path, rows: list[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not any(r["status"] == "ok" for r in rows):
        return
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    styles = {
        "ours": ("tab:blue", "sparse (ours)"),
        "dense": ("tab:red", "dense (published)"),
    }
    for impl, (color, label) in styles.items():
        mine = sorted(
            (r for r in rows if r["impl"] == impl), key=lambda r: int(r["items"])
        )
        ok = [r for r in mine if r["status"] == "ok"]
        x = [int(r["items"]) for r in ok]
        measured = [r["epoch_method"] == "measured" for r in ok]
        axes[0].plot(x, [num(r, "epoch_s") for r in ok], "-", color=color, label=label)
        for xi, yi, m in zip(x, [num(r, "epoch_s") for r in ok], measured):
            axes[0].plot(xi, yi, "o", color=color, mfc=color if m else "white")
        axes[1].plot(
            x, [num(r, "peak_rss_gib") for r in ok], "o-", color=color, label=label
        )
        skipped = [r for r in mine if r["status"] == "skipped" and r["predicted_gib"]]
        if skipped:
            axes[1].plot(
                [int(r["items"]) for r in skipped],
                [num(r, "predicted_gib") for r in skipped],
                "x--",
                color=color,
                label=f"{label}: predicted, not run",
            )
    axes[1].axhline(24, color="gray", lw=0.8, ls=":", label="machine RAM (24 GiB)")
    style_log_log(axes[0], "items", "epoch time (s)", "Epoch time (hollow: estimated)")
    style_log_log(axes[1], "items", "peak RSS (GiB)", "Peak memory")
    fig.tight_layout()
    fig.savefig(out.with_suffix(".png"), dpi=120)
    plt.close(fig)


# ------------------------------------------------------------ Baby speed
def baby_worker(cfg: dict[str, Any]) -> dict[str, Any]:
    from mde_pyg.data.hetero import ITEM, USER, split_edge_index
    from mde_pyg.evaluation import evaluate_embeddings
    from mde_pyg.pipeline import add_graphs, build_model, compose_config
    from mde_pyg.training import Trainer, seed_everything

    overrides = benchmark_datasets.overrides("baby_placeholder", cfg["root"])
    config = compose_config([*overrides, *OURS])
    data = benchmark_datasets.load("baby_placeholder", root=cfg["root"])
    num_users, num_items = data[USER].num_nodes, data[ITEM].num_nodes
    train = split_edge_index(data, "train")
    result: dict[str, Any] = {
        "users": num_users,
        "items": num_items,
        "pairs": train.size(1),
    }
    if cfg["impl"] == "ours":
        seed_everything(0)
        start = time.perf_counter()
        data = add_graphs(config, data)
        model = build_model(config, data)
        result["build_s"] = time.perf_counter() - start
        trainer = Trainer(
            model,
            data,
            max_epochs=cfg["epochs"],
            patience=10**6,
            lr_decay=0.96,
            lr_decay_every=50,
            seed=0,
        )
        fit = trainer.fit()
        result["epoch_times"] = [h["train_time"] for h in fit.history]
        evals = []
        for _ in range(2):
            start = time.perf_counter()
            trainer.evaluate("val")
            trainer.evaluate("test")
            evals.append(time.perf_counter() - start)
        result["eval_times"] = evals
        result["val_recall@20"] = fit.best_val["recall@20"]
    else:
        from mde_pyg.data.hetero import item_features
        from mde_pyg.data.sampler import BPRSampler

        torch.manual_seed(0)
        start = time.perf_counter()
        model = DenseLATTICE(num_users, num_items, train, item_features(data))
        result["build_s"] = time.perf_counter() - start
        sampler = BPRSampler(
            train, num_users, num_items, BATCH_SIZE, torch.Generator().manual_seed(0)
        )
        timing = train_steps(model, sampler, cfg["epochs"], None)
        result["epoch_times"] = timing["epoch_times"]
        start = time.perf_counter()
        with torch.no_grad():
            # MMRec's evaluation: the graph is rebuilt for every block of 4096
            # users (full_sort_predict).
            for split in ("val", "test"):
                evaluate_embeddings(
                    torch.empty(num_users, 1),
                    torch.empty(num_items, 1),
                    train,
                    split_edge_index(data, split),
                    k=(10, 20),
                    chunk_size=4096,
                    score_fn=model.full_sort_predict,
                )
        result["eval_times"] = [time.perf_counter() - start]
    result["peak_rss_gib"] = peak_rss_gib()
    return result


def run_baby(args) -> None:
    from mde_pyg.data.registry import data_root

    root = str(data_root(args.root))
    if benchmark_datasets.missing(["baby_placeholder"], root):
        sys.exit(
            f"baby_placeholder not in '{root}': run "
            f"`python benchmarks/prepare_data.py --quick --root {root}` first"
        )
    out = (args.out or RESULTS / "lattice_baby_speed").with_suffix(".md")
    # Ours with 1 and 2 threads (the published figures used the machine's
    # default, 2); the dense reference with 1 thread, in the same session.
    plans = [("ours", 1), ("ours", 2)] + ([("dense", 1)] if args.with_reference else [])
    runs = []
    for impl, threads in plans:
        cfg = {
            "baby": True,
            "impl": impl,
            "root": root,
            "epochs": args.epochs if impl == "ours" else 1,
            "threads": threads,
        }
        print(f"[baby {impl}, {threads} thread(s)] ...", flush=True)
        load = os.getloadavg()[0]
        proc = subprocess.run(
            [sys.executable, __file__, "--worker", json.dumps(cfg)],
            capture_output=True,
            text=True,
        )
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
        if proc.returncode != 0 or not lines:
            sys.exit(f"baby {impl} failed:\n{proc.stderr[-3000:]}")
        run = json.loads(lines[-1][len("RESULT ") :])
        runs.append({**run, "impl": impl, "threads": threads, "load": load})
    info = machine(1)
    ours = runs[0]
    lines = [
        "# LATTICE on Amazon Baby: speed and memory",
        "",
        f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M UTC}",
        f"- Machine: {info['cpu']}; "
        f"{info['memory']} RAM, shared with other jobs (timings are noisy; `load` "
        "is the 1-min load average when the run started: above 2, other jobs "
        "held cores)",
        f"- Versions: {info['versions']}",
        f"- Command: `{' '.join(['python', *sys.argv])}`",
        f"- Data: `baby_placeholder` under `{root}` ({ours['users']:,} users, "
        f"{ours['items']:,} items, {ours['pairs']:,} training pairs): "
        f"{benchmark_datasets.describe('baby_placeholder')}; the features are "
        "trainable (fine-tuned) as in the reference. Metrics are therefore "
        "meaningless; only speed is measured.",
        "- Ours: `model=lattice` built by `mde_pyg.pipeline` (faithful "
        f"defaults) trained by `mde_pyg.training.Trainer` for "
        f"{len(ours['epoch_times'])} epochs (epoch time = learned-graph rebuild + "
        "all 58 batches of 2048); evaluation = full-ranking val + test "
        "(`Trainer.evaluate` twice, the item graph is rebuilt once per call). "
        "`build` = the one-off graph transform (user-item graph and frozen k-NN "
        "graphs, read from disk instead with `graph_transform(cache_dir=...)`) "
        "+ model creation.",
        "",
        "| implementation | threads | epoch s (median) | eval val+test s (median) "
        "| build s | peak RSS GiB | load |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        name = "ours (sparse)" if run["impl"] == "ours" else "dense (this script)"
        epoch = statistics.median(run["epoch_times"])
        lines.append(
            f"| {name} | {run['threads']} | {epoch:.2f} "
            f"| {statistics.median(run['eval_times']):.2f} | {run['build_s']:.1f} | "
            f"{run['peak_rss_gib']:.2f} | {run['load']:.2f} |"
        )
    lines.append(
        "| published code (reference figures given for this machine kind) | default "
        "| 45-47 | 61-65 | - | 3.3 | - |"
    )
    best_epoch = min(statistics.median(r["epoch_times"]) for r in runs[:2])
    best_eval = min(statistics.median(r["eval_times"]) for r in runs[:2])
    lines += [
        "",
        f"Speed-up of ours (faster thread setting) vs the published figures: "
        f"training {45 / best_epoch:.0f}-{47 / best_epoch:.0f}x, evaluation "
        f"{61 / best_eval:.0f}-{65 / best_eval:.0f}x; peak RSS "
        f"{max(r['peak_rss_gib'] for r in runs[:2]):.2f} GiB vs 3.3 GiB.",
        "",
    ]
    for run in runs:
        lines.append(
            f"- {run['impl']}, {run['threads']} thread(s): epoch times (s) "
            f"{', '.join(f'{t:.2f}' for t in run['epoch_times'])}; eval times (s) "
            f"{', '.join(f'{t:.2f}' for t in run['eval_times'])}"
        )
    if args.with_reference:
        lines += [
            "",
            "`dense` is `DenseLATTICE` in this script (MMRec's code operation for "
            "operation; evaluation rebuilds the graph for every 4096-user block, "
            "as MMRec's `full_sort_predict`), 1 epoch, run in the same session.",
        ]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print(out.read_text())


# ------------------------------------------------------------------ main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=None)
    parser.add_argument("--impl", nargs="+", default=["ours", "dense"])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--budget-s", type=float, default=420.0)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads of every run (1: robust to other jobs on the cores)",
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--baby", action="store_true")
    parser.add_argument("--with-reference", action="store_true")
    parser.add_argument(
        "--root", help="data root of baby_placeholder (default: the registry's)"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        cfg = json.loads(args.worker)
        train_as_the_cli(cfg["threads"])
        result = baby_worker(cfg) if cfg.get("baby") else worker(cfg)
        print("RESULT " + json.dumps(result), flush=True)
        return
    if args.baby:
        run_baby(args)
        return

    if args.quick:
        sizes = args.sizes or QUICK_SIZES
        out = args.out or scratch("lattice_scaling") / "lattice_scaling"
        args.epochs = 1
    else:
        sizes = args.sizes or SIZES
        out = args.out or RESULTS / "lattice_scaling"
    path = out.with_suffix(".csv")
    command = " ".join(["python", "benchmarks/lattice_scaling.py", *sys.argv[1:]])
    rows = read_rows(path)
    if not args.report_only:
        for items in sorted(sizes):
            for impl in args.impl:
                if any(
                    r["impl"] == impl
                    and int(r["items"]) == items
                    and r["status"] in ("ok", "skipped")
                    for r in rows
                ):
                    print(f"[{impl} {items}] already in {path}, skipped")
                    continue
                row = run_size(args, rows, impl, items)
                print(f"[{impl} {items}] {row['status']}: {row}", flush=True)
                save_row(path, rows, row, CSV_FIELDS, ("impl", "items"))
                rows = read_rows(path)
    write_report(out, rows, command, args.threads)
    print(f"wrote {out.with_suffix('.md')}, .csv, .png")


if __name__ == "__main__":
    main()
