r"""Recommend-all retrieval: the dense path against the faiss index
(``method="dense"`` vs ``method="mips"`` of
:func:`mde_pyg.evaluation.retrieval.recommend_from_embeddings`), wall time and peak
extra memory, and where ``method="auto"`` should switch.

::

    python benchmarks/retrieval.py              # all cases (a few minutes)
    python benchmarks/retrieval.py --quick      # seconds, to a temporary folder
    python benchmarks/retrieval.py --report-only

Cases: random 64-d embeddings (``torch.randn``; the timing of both exact
methods depends on the sizes only) with training items to exclude, per user
:math:`4 + \text{Geometric}` items (mean ~6.7, long tail: the Amazon Sports
training split has 35,598 users, 18,357 items and ~237k training pairs),
uniform over the items.

* ``sports``: the Amazon Sports graph size, 35,598 users x 18,357 items;
* ``synthetic-320k``: 20,000 users x 320,000 items;
* ``sweep-<n>``: 20,000 users x n items, n from 1,000 to 100,000, to find the
  catalogue size from which ``"mips"`` is faster (:data:`MIPS_MIN_ITEMS`);
* ``few-users-320k``: 500 users x 320,000 items (a small batch of users);
* ``users-<n>-100k``: n users x 100,000 items, n from 1,000 to 8,000, to
  find the batch size from which ``"mips"`` is faster
  (:data:`MIPS_MIN_USERS`).

Every (case, method) runs in its own subprocess with
``torch.set_num_threads(1)`` and ``faiss.omp_set_num_threads(1)``; time is
the whole call (for ``"mips"`` including building the index), the fastest
of 3 calls where one takes under 20 s (the shared machine's noise only adds
time), else of 1; peak extra
memory is the largest resident set size during the call (sampled every
2 ms, and ``ru_maxrss``) minus the resident set size before it. Each
worker saves its recommendations, and the ``mips`` row says how many users'
lists equal the dense path's, and the largest score difference.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common import (
    RESULTS,
    fmt,
    machine,
    num,
    peak_rss_gib,
    print_result,
    read_rows,
    rss_gib,
    run_worker,
    save_row,
    scratch,
)

CSV = RESULTS / "retrieval.csv"
MD = RESULTS / "retrieval.md"
DIM = 64
K = 20
SEEN_MIN, SEEN_P = 4, 0.27  # 4 + Geometric(p) failures: mean ~6.7 training items
CASES = {
    "sports": (35_598, 18_357),
    "synthetic-320k": (20_000, 320_000),
    **{f"sweep-{n}": (20_000, n) for n in (1_000, 3_000, 10_000, 30_000, 100_000)},
    "few-users-320k": (500, 320_000),
    **{f"users-{n}-100k": (n, 100_000) for n in (1_000, 2_000, 4_000, 8_000)},
}
#: A call faster than this is repeated (REPEATS times in all) and the fastest
#: kept: the shared machine's noise only ever adds time.
REPEAT_BELOW_S = 20.0
REPEATS = 3
QUICK_CASES = {"quick-a": (500, 2_000), "quick-b": (500, 8_000)}
METHODS = ("dense", "mips")
#: Score gap below which two items count as tied up to float32 rounding.
NEAR_TIE = 1e-4
FIELDS = [
    "case",
    "method",
    "users",
    "items",
    "seen_pairs",
    "k",
    "time_s",
    "repeats",
    "peak_extra_mib",
    "users_per_s",
    "equal_rows",
    "max_score_diff",
    "near_ties_only",
    "load",
    "status",
    "note",
]
COMMAND = "python benchmarks/retrieval.py"


# ---------------------------------------------------------------- worker
class PeakSampler:
    """The largest resident set size (GiB) seen while it runs, sampled every
    ``interval`` seconds in a thread."""

    def __init__(self, interval: float = 0.002) -> None:
        self.interval = interval
        self.peak = rss_gib()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_gib())
            time.sleep(self.interval)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_gib())


def make_problem(num_users: int, num_items: int, seed: int = 0):
    import torch

    generator = torch.Generator().manual_seed(seed)
    user_emb = torch.randn(num_users, DIM, generator=generator)
    item_emb = torch.randn(num_items, DIM, generator=generator)
    # 4 + Geometric(p) training items per user, at most a tenth of the items.
    uniform = torch.rand(num_users, generator=generator, dtype=torch.float64)
    extra = torch.floor(torch.log1p(-uniform) / torch.log1p(torch.tensor(-SEEN_P)))
    count = (SEEN_MIN + extra.long()).clamp(max=max(1, num_items // 10))
    user = torch.repeat_interleave(torch.arange(num_users), count)
    item = torch.randint(num_items, (user.numel(),), generator=generator)
    return user_emb, item_emb, torch.stack([user, item])


def worker(spec: dict[str, Any]) -> None:
    import faiss
    import numpy as np
    import torch

    from mde_pyg.evaluation.retrieval import recommend_from_embeddings

    torch.set_num_threads(1)
    faiss.omp_set_num_threads(1)
    user_emb, item_emb, exclude = make_problem(spec["users"], spec["items"])
    users = torch.arange(spec["users"])
    # Warm-up on a few users: imports, allocator, faiss' first call.
    recommend_from_embeddings(
        user_emb[:64], item_emb[:1000], users[:8], k=K, method=spec["method"]
    )
    peak_before = peak_rss_gib()
    before = rss_gib()
    times = []
    with PeakSampler() as sampler:
        while not times or (len(times) < REPEATS and times[0] < REPEAT_BELOW_S):
            start = time.perf_counter()
            items, scores = recommend_from_embeddings(
                user_emb,
                item_emb,
                users,
                k=K,
                exclude_index=exclude,
                method=spec["method"],
            )
            times.append(time.perf_counter() - start)
            del items, scores  # the next call's output is not on top of it
    peak = sampler.peak
    if peak_rss_gib() > peak_before:
        peak = max(peak, peak_rss_gib())
    items, scores = recommend_from_embeddings(
        user_emb, item_emb, users, k=K, exclude_index=exclude, method=spec["method"]
    )
    np.save(spec["out"] + ".items.npy", items.numpy())
    np.save(spec["out"] + ".scores.npy", scores.numpy())
    print_result(
        {
            "time_s": min(times),
            "repeats": len(times),
            "peak_extra_mib": max(0.0, peak - before) * 1024,
            "seen_pairs": exclude.size(1),
        }
    )


# ---------------------------------------------------------------- driver
def compare(out_dir: Path, case: str, num_users: int, num_items: int) -> dict:
    """How far the ``mips`` lists are from the ``dense`` ones: the users with
    identical lists, the largest score difference, and whether every
    difference is a swap of items whose exact scores differ by at most
    :data:`NEAR_TIE` (rounding), checked against the recomputed dense
    scores."""
    import numpy as np
    import torch

    loaded = {
        m: (
            np.load(out_dir / f"{case}-{m}.items.npy"),
            np.load(out_dir / f"{case}-{m}.scores.npy"),
        )
        for m in METHODS
    }
    (items_d, scores_d), (items_m, scores_m) = loaded["dense"], loaded["mips"]
    equal = (items_d == items_m).all(axis=1)
    diff = np.abs(scores_d - scores_m)
    diff = diff[np.isfinite(diff)]
    # The dense scores of the items mips picked, for the users that differ:
    # equal (up to NEAR_TIE) to the dense lists' scores means the lists only
    # swap near-equal items.
    user_emb, item_emb, _ = make_problem(num_users, num_items)
    rows = torch.from_numpy(np.flatnonzero(~equal))
    picked = torch.from_numpy(items_m[rows.numpy()]).clamp(min=0)
    rescored = (user_emb[rows].unsqueeze(1) * item_emb[picked]).sum(-1)
    gap = (rescored - torch.from_numpy(scores_d[rows.numpy()])).abs()
    gap = float(gap.max()) if gap.numel() else 0.0
    return {
        "equal_rows": f"{int(equal.sum())}/{equal.size}",
        "max_score_diff": f"{float(diff.max()) if diff.size else 0.0:.2e}",
        "near_ties_only": "yes" if gap <= NEAR_TIE else f"no ({gap:.2e})",
    }


def run(cases: dict[str, tuple[int, int]], csv_path: Path, timeout: float) -> None:
    import os

    rows = read_rows(csv_path)
    with tempfile.TemporaryDirectory() as tmp:
        for case, (num_users, num_items) in cases.items():
            results = {}
            for method in METHODS:
                spec = {
                    "users": num_users,
                    "items": num_items,
                    "method": method,
                    "out": str(Path(tmp) / f"{case}-{method}"),
                }
                load = f"{os.getloadavg()[0]:.2f}"
                result = run_worker(__file__, spec, timeout)
                results[method] = result
                row = {
                    "case": case,
                    "method": method,
                    "users": num_users,
                    "items": num_items,
                    "k": K,
                    "load": load,
                    "status": result["status"],
                    "note": result.get("note", ""),
                }
                if result["status"] == "ok":
                    row.update(
                        seen_pairs=result["seen_pairs"],
                        time_s=f"{result['time_s']:.3f}",
                        repeats=result["repeats"],
                        peak_extra_mib=f"{result['peak_extra_mib']:.1f}",
                        users_per_s=f"{num_users / result['time_s']:.0f}",
                    )
                if method == "mips" and all(
                    r["status"] == "ok" for r in results.values()
                ):
                    row.update(compare(Path(tmp), case, num_users, num_items))
                print(json.dumps(row), flush=True)
                save_row(csv_path, rows, row, FIELDS, ("case", "method"))
                rows = read_rows(csv_path)


def report(csv_path: Path, md_path: Path, command: str) -> None:
    from mde_pyg.evaluation.retrieval import MIPS_MIN_ITEMS, MIPS_MIN_USERS

    rows = read_rows(csv_path)
    info = machine(threads=1)
    by_case: dict[str, dict[str, dict[str, Any]]] = {}
    order = {case: n for n, case in enumerate([*CASES, *QUICK_CASES])}
    for row in sorted(rows, key=lambda r: order.get(r["case"], len(order))):
        by_case.setdefault(row["case"], {})[row["method"]] = row
    lines = [
        "# Retrieval: dense scoring vs the faiss index (recommend-all)",
        "",
        f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- Machine: {info['machine']} (shared with other jobs: timings are "
        "noisy; `load` is the 1-minute load average when the run started). "
        "faiss also runs single-threaded (`faiss.omp_set_num_threads(1)`).",
        f"- Versions: {info['versions']}",
        f"- Reproduce: `{command}` (`--report-only` rewrites this page from the CSV).",
        f"- Problem: random {DIM}-d embeddings (`torch.randn`), top-{K} of "
        "every user, the training items excluded: per user 4 + Geometric "
        "items (mean ~6.7, long tail, uniform over the items). `sports` has "
        "the Amazon Sports graph size (35,598 users x 18,357 items); "
        "`synthetic-320k` 20,000 users x 320,000 items; `sweep-n` 20,000 "
        "users x n items; `few-users-320k` 500 users x 320,000 items; "
        "`users-n-100k` n users x 100,000 items.",
        "- `dense`: blocks of users (8 MiB of scores each) x all items, "
        "masking, `stable_topk`. `mips`: torch_geometric's `MIPSKNNIndex` "
        "(faiss `IndexFlatIP`, exact), `exclude_links` for the training "
        "items, blocks of 4,096 users; the time includes building the index. "
        f"Time: the fastest of {REPEATS} calls where a call takes under "
        f"{REPEAT_BELOW_S:.0f} s (`repeats`), else of one. "
        "Peak extra = the largest RSS during the call minus the RSS before "
        "it (the embeddings are not counted).",
        "- `equal rows`: users whose 20 items (ids and order) are identical "
        "in both methods; `max |score diff|`: faiss and PyTorch sum the 64 "
        "products in a different order (float32 rounding); `near ties "
        "only`: every differing list holds items whose exact (dense) scores "
        f"equal the dense list's up to {NEAR_TIE:g}, i.e. only items tied "
        "up to rounding were swapped.",
        "",
        "| case | users | items | seen pairs | dense s | mips s | speed-up | "
        "dense peak extra MiB | mips peak extra MiB | equal rows | "
        "max \\|score diff\\| | near ties only | load |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---|---|",
    ]
    for case, methods in by_case.items():
        dense, mips = methods.get("dense", {}), methods.get("mips", {})
        speedup = num(dense, "time_s") / num(mips, "time_s")
        speed = "-" if speedup != speedup else f"{speedup:.1f}x"
        lines.append(
            f"| {case} | {int(num(dense or mips, 'users')):,} | "
            f"{int(num(dense or mips, 'items')):,} | "
            f"{int(num(dense or mips, 'seen_pairs') or 0):,} | "
            f"{fmt(dense, 'time_s')} | {fmt(mips, 'time_s')} | {speed} | "
            f"{fmt(dense, 'peak_extra_mib', 1)} | {fmt(mips, 'peak_extra_mib', 1)} | "
            f"{mips.get('equal_rows', '-')} | {mips.get('max_score_diff', '-')} | "
            f"{mips.get('near_ties_only', '-')} | "
            f"{dense.get('load', '-')} / {mips.get('load', '-')} |"
        )
    failed = [r for r in rows if r.get("status") != "ok"]
    for row in failed:
        lines.append(f"\n{row['case']} {row['method']}: {row['status']} {row['note']}")
    lines += [
        "",
        f'`method="auto"` uses `mips` from `MIPS_MIN_ITEMS = '
        f"{MIPS_MIN_ITEMS:,}` items and `MIPS_MIN_USERS = {MIPS_MIN_USERS:,}` "
        "users ranked at once (CPU embeddings, faiss installed), `dense` "
        "otherwise.",
        "",
        *(CONCLUSION if csv_path == CSV else []),
    ]
    md_path.write_text("\n".join(lines) + "\n")


#: Written after reading the committed numbers (kept by --report-only).
CONCLUSION = [
    "## Conclusion",
    "",
    "- **Same results.** Every user's list is identical in both methods "
    "except 1 of 20,000 (`sweep-30000`) and 1 of 8,000 (`users-8000-100k`), "
    "where two items whose exact scores agree within 1e-4 came in the other "
    "order: faiss and PyTorch sum the 64 products in a different order, so "
    "scores differ by up to 2.3e-5 (float32 rounding). Ties proper (equal "
    "scores) are broken as the evaluation does in both (tested with integer "
    "embeddings in `tests/test_retrieval.py`).",
    "- **Speed.** For 2,000 users or more the index is faster from about "
    "10k items on, and the gain grows with the catalogue: 1.2x at 10k "
    "items, 1.4x at the Sports size, 1.7x at 30k, 2.5x at 100k and 4.9x at "
    "320k (20k users: 121 s dense vs 25 s). The dense path is "
    "memory-bound on large catalogues: an 8 MiB score block holds 6 users "
    "of 320k items, so the item matrix streams from memory every 6 users, "
    "while faiss multiplies blocks of 4,096 users with tiles of 1,024 "
    "items. Below 10k items the gain is small (1.0x-1.2x), and for 1,000 "
    "users or fewer the two are at par within this machine's noise: "
    "repeated runs moved by up to 4x "
    "(`users-1000-100k` first gave mips 3.76 s vs dense 0.80 s, then 0.89 "
    "vs 0.93 s, in the table; `few-users-320k` first 2.94 vs 2.47 s, then "
    "1.88 vs 2.31 s).",
    "- **Memory.** Both stay small: dense at most 64 MiB over the "
    "embeddings (8 MiB score blocks and the output), mips up to 140 MiB at "
    "320k items (faiss' copy of the 78 MiB item matrix, and its heaps).",
    "- Hence `auto`: `mips` from 10,000 items and 2,000 users ranked at once "
    'on the CPU when faiss is installed (`pip install "mde-pyg[retrieval]"`), '
    "`dense` otherwise, and always on a GPU (not measured here).",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--cases", nargs="*", help="a subset of the cases")
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args()
    if args.worker:
        worker(json.loads(args.worker))
        return
    if args.quick:
        out = scratch("retrieval")
        csv_path, md_path = out / "retrieval.csv", out / "retrieval.md"
        cases = QUICK_CASES
    else:
        csv_path, md_path, cases = CSV, MD, CASES
    if args.cases:
        cases = {c: cases[c] for c in args.cases}
    if not args.report_only:
        run(cases, csv_path, args.timeout)
    command = " ".join([COMMAND, *sys.argv[1:]]) if not args.report_only else COMMAND
    report(csv_path, md_path, command)
    print(f"wrote {csv_path} and {md_path}")


if __name__ == "__main__":
    main()
