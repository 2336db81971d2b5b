r"""Cold-start items: how well models with a content path rank items they
never saw an interaction of
(:meth:`~mde_pyg.models.Recommender.cold_item_embeddings`), against
random and a plain feature-similarity baseline.

::

    python benchmarks/cold_start.py               # ~ a few minutes
    python benchmarks/cold_start.py --quick       # seconds, written to /tmp
    python benchmarks/cold_start.py --report-only

Protocol:

* data: :func:`mde_pyg.data.make_synthetic` (2,000 users x 1,000 items, image
  64-d and text 32-d features), seed 0. (The Amazon Baby text features would
  first need a long sentence-encoding step on this 2-core machine.)
* cold items: 10% of the items, drawn at random (seed 0). *All* their
  interactions leave the data (training, validation and test): the model
  never sees a pair with them. They stay in the catalogue with their
  features, as items with features but no interaction do
  (``load_mmrec(num_items=...)``), so the item graphs include them and BPR
  may draw them as negatives.
* training: the package's :class:`~mde_pyg.training.Trainer`
  (lr 1e-3, batch 2048, Adam, each model's default settings and graphs)
  for a fixed number of epochs, the weights of the best *warm* validation
  epoch kept; one thread (``torch.set_num_threads(1)``).
* cold evaluation: every user with an interaction with a cold item; the
  cold items are ranked **among the cold items only** (the question "which
  of the new items to show this user"; the content-only scores are not on
  the scale of the trained items' scores, so a ranking among all items
  would mostly measure that scale), Recall@20 and NDCG@20 over the user's
  cold items. A random ranking has Recall@20 = 20 / (cold items) in
  expectation; it is measured here with random scores (mean of 20 draws).
* rows: ``cold_item_embeddings`` (the models' content path, ID embeddings
  of cold items zeroed); ``id rows`` (the rows of ``model.embeddings`` for
  the cold items, i.e. with their untrained ID embeddings, to show why they
  are left out); LightGCN has no content path (it raises); ``feature knn``
  scores an item by the cosine similarity of its (concatenated,
  standardised) features to the mean features of the user's training items;
  ``random``. ``warm recall@20`` is the usual full-ranking test metric of
  the warm items (training items masked), to show the models trained.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from common import machine, num, read_rows, save_row

RESULTS = Path(__file__).resolve().parent / "results"
CSV = RESULTS / "cold_start.csv"
MD = RESULTS / "cold_start.md"
COMMAND = "python benchmarks/cold_start.py"
COLD_FRACTION = 0.1
K = 20
RANDOM_DRAWS = 20
FIELDS = [
    "model",
    "scoring",
    "epochs",
    "best_epoch",
    "cold_items",
    "cold_users",
    "cold_pairs",
    "cold_recall@20",
    "cold_ndcg@20",
    "warm_recall@20",
    "train_s",
    "seed",
    "note",
]


def cold_split(data, fraction: float = COLD_FRACTION, seed: int = 0):
    r"""Removes every interaction of a random :obj:`fraction` of the items from
    :obj:`data`'s splits; returns the new data (same catalogue and features),
    the cold item ids (ascending) and their ``[2, E]`` (user, item) pairs."""
    from mde_pyg.data.hetero import build_heterodata, item_features, split_edge_index

    num_users, num_items = data["user"].num_nodes, data["item"].num_nodes
    generator = torch.Generator().manual_seed(seed)
    cold = (
        torch.randperm(num_items, generator=generator)[: round(fraction * num_items)]
        .sort()
        .values
    )
    splits, pairs = [], []
    for split in ("train", "val", "test"):
        index = split_edge_index(data, split)
        is_cold = torch.isin(index[1], cold)
        splits.append(index[:, ~is_cold])
        pairs.append(index[:, is_cold])
    warm = build_heterodata(num_users, num_items, *splits, features=item_features(data))
    return warm, cold, torch.cat(pairs, dim=1)


def cold_metrics(user_emb, cold_emb, cold, cold_pairs) -> dict[str, float]:
    r"""Recall/NDCG@20 of ranking the cold items (scores ``user_emb @
    cold_emb.T``) for the users with cold pairs; nothing is masked (no user
    has a training pair with a cold item)."""
    from mde_pyg.evaluation.metrics import evaluate_scores

    position = torch.full((int(cold.max()) + 1,), -1, dtype=torch.long)
    position[cold] = torch.arange(cold.numel())
    target = torch.stack([cold_pairs[0], position[cold_pairs[1]]])
    scores = user_emb @ cold_emb.t()
    empty = torch.empty(2, 0, dtype=torch.long)
    out = evaluate_scores(scores, empty, target, k=(K,))
    return {"cold_recall@20": out["recall@20"], "cold_ndcg@20": out["ndcg@20"]}


def feature_knn(data, cold) -> tuple[torch.Tensor, torch.Tensor]:
    r"""User and cold-item vectors of the feature baseline: standardised,
    concatenated features; a user is the mean of the training items'."""
    from mde_pyg.data.hetero import item_features, split_edge_index

    x = torch.cat(
        [
            (f - f.mean(0)) / f.std(0).clamp(min=1e-6)
            for f in item_features(data).values()
        ],
        dim=1,
    )
    x = torch.nn.functional.normalize(x, dim=1)
    train = split_edge_index(data, "train")
    num_users = data["user"].num_nodes
    profile = torch.zeros(num_users, x.size(1)).index_add_(0, train[0], x[train[1]])
    return torch.nn.functional.normalize(profile, dim=1), x[cold]


def run(epochs: int, scale: dict[str, int], csv_path: Path, seed: int) -> None:
    from mde_pyg.data import make_synthetic
    from mde_pyg.models import LATTICE, MDE, LightGCN
    from mde_pyg.training import Trainer

    torch.set_num_threads(1)
    rows = read_rows(csv_path)
    data, cold, cold_pairs = cold_split(make_synthetic(seed=0, **scale), seed=seed)
    common_row = {
        "cold_items": cold.numel(),
        "cold_users": int(cold_pairs[0].unique().numel()),
        "cold_pairs": cold_pairs.size(1),
        "seed": seed,
    }

    def save(row: dict[str, Any]) -> None:
        nonlocal rows
        row = {**common_row, **row}
        print(json.dumps(row), flush=True)
        save_row(csv_path, rows, row, FIELDS, ("model", "scoring", "seed"))
        rows = read_rows(csv_path)

    generator = torch.Generator().manual_seed(seed)
    num_users = data["user"].num_nodes
    random_metrics = [
        cold_metrics(
            torch.randn(num_users, 8, generator=generator),
            torch.randn(cold.numel(), 8, generator=generator),
            cold,
            cold_pairs,
        )
        for _ in range(RANDOM_DRAWS)
    ]
    save(
        {
            "model": "random",
            "scoring": f"random scores (mean of {RANDOM_DRAWS} draws)",
            **{
                key: f"{sum(m[key] for m in random_metrics) / RANDOM_DRAWS:.4f}"
                for key in ("cold_recall@20", "cold_ndcg@20")
            },
            "note": f"expected recall@20 = {K}/{cold.numel()} = {K / cold.numel():.3f}",
        }
    )
    user_x, cold_x = feature_knn(data, cold)
    save(
        {
            "model": "feature knn",
            "scoring": "cosine(user's mean training-item features, item features)",
            **{
                key: f"{value:.4f}"
                for key, value in cold_metrics(user_x, cold_x, cold, cold_pairs).items()
            },
        }
    )

    for model_cls in (MDE, LATTICE, LightGCN):
        torch.manual_seed(seed)
        graphs = model_cls.graph_transform()(data.clone())
        model = model_cls.from_data(graphs)
        start = time.perf_counter()
        trainer = Trainer(
            model,
            graphs,
            max_epochs=epochs,
            patience=epochs,
            seed=seed,
            device="cpu",
            verbose=False,
        )
        result = trainer.fit()
        train_s = time.perf_counter() - start
        model.eval()
        user_emb, item_emb = model.embeddings(graphs)
        trained = {
            "model": model_cls.__name__,
            "epochs": epochs,
            "best_epoch": result.best_epoch,
            "warm_recall@20": f"{result.test['recall@20']:.4f}",
            "train_s": f"{train_s:.1f}",
        }
        try:
            cold_emb = model.cold_item_embeddings(graphs, cold)
        except NotImplementedError as error:
            save({**trained, "scoring": "cold_item_embeddings", "note": str(error)})
        else:
            metrics = cold_metrics(user_emb, cold_emb, cold, cold_pairs)
            save(
                {
                    **trained,
                    "scoring": "cold_item_embeddings",
                    **{key: f"{value:.4f}" for key, value in metrics.items()},
                }
            )
        metrics = cold_metrics(user_emb, item_emb[cold], cold, cold_pairs)
        save(
            {
                **trained,
                "scoring": "id rows (untrained ID embeddings kept)",
                **{key: f"{value:.4f}" for key, value in metrics.items()},
            }
        )


def mean_std(rows: list[dict[str, Any]], key: str, digits: int = 4) -> str:
    """``mean ± std`` of a column over rows (``-`` where it is empty)."""
    values = [num(r, key) for r in rows]
    values = [v for v in values if v == v]
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    mean, std = statistics.mean(values), statistics.stdev(values)
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def report(csv_path: Path, md_path: Path, command: str, epochs: int) -> None:
    rows = read_rows(csv_path)
    info = machine(threads=1)
    first = rows[0] if rows else {}
    lines = [
        "# Cold-start items: ranking items without interactions",
        "",
        f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- Machine: {info['machine']} (shared with other jobs)",
        f"- Versions: {info['versions']}",
        f"- Reproduce: `{command}` (`--report-only` rewrites this page from the CSV)",
        "- Data: `make_synthetic()` (2,000 users x 1,000 items, image 64-d + "
        "text 32-d features, seed 0), not Amazon Baby: its text features "
        "need a long sentence-encoding step on this 2-core machine.",
        f"- Cold items: {first.get('cold_items', '?')} items (10%, random) "
        "with *all* their interactions removed from training, validation and "
        "test; they stay in the catalogue with their features. Their "
        "(user, cold item) pairs are the cold test set (seed "
        f"{first.get('seed', '?')}: {first.get('cold_pairs', '?')} pairs of "
        f"{first.get('cold_users', '?')} users).",
        f"- Training: `Trainer` (lr 1e-3, batch 2048, Adam), {epochs} epochs, "
        "the best warm-validation epoch kept, each model's default settings; "
        "one thread.",
        "- Cold metrics: the cold items ranked **among the cold items only** "
        "for every user with a cold pair (Recall@20, NDCG@20). Random: "
        f"expected Recall@20 = 20 / {first.get('cold_items', '?')}.",
        "- `cold_item_embeddings`: the content path with the ID embeddings of "
        "items without training interactions zeroed (see the models' "
        "docstrings); `id rows`: the rows of `model.embeddings(data)` for "
        "the cold items (their untrained ID embeddings kept).",
        "",
        "| model | scoring | cold Recall@20 | cold NDCG@20 | warm Recall@20 "
        "| best epochs | train s | note |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["model"], row["scoring"]), []).append(row)
    for (model, scoring), group in groups.items():
        notes = sorted({r.get("note", "") for r in group} - {""})
        lines.append(
            f"| {model} | {scoring} | {mean_std(group, 'cold_recall@20')} | "
            f"{mean_std(group, 'cold_ndcg@20')} | "
            f"{mean_std(group, 'warm_recall@20')} | "
            f"{', '.join(r.get('best_epoch') or '-' for r in group)} | "
            f"{mean_std(group, 'train_s', 1)} | {'; '.join(notes)} |"
        )
    seeds = sorted({int(r["seed"]) for r in rows})
    lines += [
        "",
        f"Mean ± standard deviation over the seeds {seeds} (each seed draws "
        "the cold items and initialises the models); best epoch per seed. "
        "Per-seed values are in `cold_start.csv`.",
        "",
        *(CONCLUSION if csv_path == CSV else []),
    ]
    md_path.write_text("\n".join(lines) + "\n")


#: Written after reading the committed numbers (kept with --report-only).
CONCLUSION = [
    "## Conclusion",
    "",
    "- **MDE** ranks the cold items well above random from its content path "
    "alone: Recall@20 0.396 ± 0.025 against 0.201 (2.0x), NDCG@20 0.204 "
    "against 0.092. Leaving out the untrained ID embeddings is what "
    "`cold_item_embeddings` does, and it helps: keeping them (`id rows`) "
    "gives 0.349 ± 0.034.",
    "- **LATTICE** is only modestly above random: 0.239 ± 0.017 (1.2x). Its "
    "one content path for an item is the item-graph term "
    "h = S E0, the ID embeddings of its feature neighbours, and after 30 "
    "epochs it is the weaker model on the warm items too (warm Recall@20 "
    "0.166 vs MDE's 0.208). Keeping the untrained ID rows is erratic "
    "(0.196 ± 0.074: 0.278, 0.172, 0.137 per seed).",
    "- **LightGCN** cannot score them (`cold_item_embeddings` raises); its "
    "rows for never-seen items are at the random level (0.186 ± 0.014): "
    "they were only ever drawn as negatives.",
    "- **Both models stay below the plain feature baseline** (0.594 ± "
    "0.008): `make_synthetic`'s features are a noisy linear view of the "
    "very latents that generate the interactions, so matching raw features "
    "is close to ideal here, and the models train briefly (lr 1e-3, 30 "
    "epochs; MDE's best epoch is the last, 29, in every seed). Real "
    "features (Amazon Baby/Sports image and text embeddings) are far less "
    "aligned with behaviour; this benchmark shows that the content path "
    "carries signal and that the ID embeddings of cold items are best left "
    "out, not how a model compares with content matching on real data.",
    "- Caveats: synthetic data; the cold items are a uniform 10% (not the "
    "newest items); they were in the catalogue during training, so BPR drew "
    "them as negatives (as for items listed but not yet bought).",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=[0, 1, 2],
        help="each seed draws the cold items and initialises the models",
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()
    if args.quick:
        out = Path(tempfile.gettempdir()) / "mde_pyg_cold_start"
        csv_path, md_path = out / "cold_start.csv", out / "cold_start.md"
        scale, epochs = {"num_users": 300, "num_items": 200}, 2
    else:
        csv_path, md_path = CSV, MD
        scale, epochs = {"num_users": 2000, "num_items": 1000}, args.epochs
    if not args.report_only:
        for seed in args.seeds:
            run(epochs, scale, csv_path, seed)
    command = " ".join([COMMAND, *sys.argv[1:]]) if not args.report_only else COMMAND
    report(csv_path, md_path, command, epochs)
    print(f"wrote {csv_path} and {md_path}")


if __name__ == "__main__":
    main()
