r"""Cold-start items: how well models with a content path rank items they
never saw an interaction of
(:meth:`~mde_pyg.models.Recommender.cold_item_embeddings`), against a
popularity-free random baseline and a plain feature-similarity baseline.

::

    python benchmarks/cold_start.py                   # synthetic, ~ 10 minutes
    python benchmarks/cold_start.py --dataset baby_text   # Baby-text, ~ 1 hour
    python benchmarks/cold_start.py --quick           # seconds, to a temporary folder
    python benchmarks/cold_start.py --dataset baby_text --epochs 1 --seeds 0 --out DIR
    python benchmarks/cold_start.py [--dataset baby_text] --report-only

Results: ``results/cold_start.{csv,md}`` (synthetic) and
``results/cold_start_<dataset>.{csv,md}`` (e.g. Baby-text). The runs are resumable: a
(model, scoring, seed) row already in the CSV is not measured again (the
model is not retrained; ``--redo`` measures it anew), and rows are written
as they finish, so an interrupted run continues where it stopped.

Protocol:

* data: a dataset of :mod:`benchmark_datasets`, built as ``mde-pyg train
  dataset=<name>`` builds it. ``--dataset synthetic`` (default): the
  built-in generator (2,000 users x 1,000 items, image 64-d and text 32-d
  features), seed 0. ``--dataset baby_text``: the Baby-text folder of
  ``benchmarks/prepare_data.py`` (``<data_root>/baby_text``):
  Amazon Baby, 19,445 users x 7,050 items, the MMRec split, one modality:
  text, all-MiniLM-L6-v2 (384-d) of title and description. Only 3,416 items
  have text; the other 3,634 get the mean vector, so those items all have
  the *same* features and, cold, cannot be told apart from content (the
  ``own text`` column restricts the cold targets to the cold items with
  text). Preparing it (``prepare_data.py --datasets baby_text``) encodes the
  text in about half a minute on this 2-core machine.
* cold items: 10% of the items, drawn at random (per seed). *All* their
  interactions leave the data (training, validation and test): the model
  never sees a pair with them. They stay in the catalogue with their
  features, as items with features but no interaction do
  (``load_mmrec(num_items=...)``), so the item graphs include them and BPR
  may draw them as negatives.
* models: MDE, MGCN, FREEDOM, LATTICE and LightGCN, each ``model=<name>``
  of the package's config (its settings and graphs, built by
  :mod:`mde_pyg.pipeline`: ``add_graphs``, ``build_model``), trained with
  the package's :class:`~mde_pyg.training.Trainer` (lr 1e-3, batch 2048,
  Adam, no lr schedule) for a fixed number of epochs, the weights of the
  best *warm* validation epoch kept; one thread (``torch.set_num_threads(1)``).
* cold evaluation: every user with an interaction with a cold item; the
  cold items are ranked **among the cold items only** (the question "which
  of the new items to show this user"; the content-only scores are not on
  the scale of the trained items' scores, so a ranking among all items
  would mostly measure that scale), Recall@20 and NDCG@20 over the user's
  cold items. A random ranking has Recall@20 = 20 / (cold items) in
  expectation; it is measured here with random scores (mean of 20 draws),
  which do not favour popular items (none of the cold items has a
  popularity the models could learn anyway).
* rows: ``cold_item_embeddings`` (the models' content path, ID embeddings
  of cold items zeroed); a model without it (LightGCN: no content path;
  FREEDOM: not implemented) raises and the row keeps the message; ``id
  rows`` (the rows of ``model.embeddings`` for the cold items, i.e. with
  their untrained ID embeddings, to show why they are left out; for
  FREEDOM and LATTICE, whose item embeddings add the item-graph aggregate
  of the feature neighbours' ID embeddings, and for MDE/MGCN, whose views
  do, these rows carry that content signal too, next to the cold item's
  own untrained ID embedding); ``feature
  knn`` scores an item by the cosine similarity of its (concatenated,
  standardised) features to the mean features of the user's training
  items; ``random``. ``warm recall@20`` is the usual full-ranking test
  metric of the warm items (training items masked), to show the models
  trained.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

import benchmark_datasets
from common import RESULTS, machine, num, read_rows, save_row, scratch, train_as_the_cli

CSV = RESULTS / "cold_start.csv"
MD = RESULTS / "cold_start.md"
COMMAND = "python benchmarks/cold_start.py"
COLD_FRACTION = 0.1
K = 20
RANDOM_DRAWS = 20
MODELS = ("MDE", "MGCN", "FREEDOM", "LATTICE", "LightGCN")
COLD = "cold_item_embeddings"
ID_ROWS = "id rows (untrained ID embeddings kept)"
#: What the report adds to a dataset's description.
REMARKS = {
    "synthetic": "seed 0; not Amazon Baby (see `cold_start_baby_text.md` for "
    "Baby-text)",
    "baby_text": "the folder of `prepare_data.py --datasets baby_text` (Amazon "
    "Baby 2014 5-core, 19,445 users x 7,050 items, 118,551 training pairs). "
    "The 3,634 items without text share identical features, so a cold item "
    "without text cannot be told apart from the others by its content: `own text` "
    "restricts the cold targets to the cold items with text (ranked among all "
    "cold items all the same)",
}
FIELDS = [
    "model",
    "scoring",
    "epochs",
    "best_epoch",
    "cold_items",
    "cold_items_shared_feat",
    "cold_users",
    "cold_pairs",
    "cold_recall@20",
    "cold_ndcg@20",
    "cold_recall@20_own_feat",
    "warm_recall@20",
    "train_s",
    "seed",
    "note",
]


def stem(dataset: str) -> str:
    """The file name of the results of ``dataset`` (without suffix)."""
    return "cold_start" if dataset == "synthetic" else f"cold_start_{dataset}"


def shared_features(data) -> torch.Tensor:
    r"""``[num_items]`` mask of the items whose features (all modalities)
    are the most frequent feature row, when more than one item has it: the
    fill-in vector of items without content (Baby-text's 3,634 items without
    text); all :obj:`False` when every row is distinct."""
    from mde_pyg.data.hetero import item_features

    x = torch.cat(list(item_features(data).values()), dim=1)
    _, inverse, counts = torch.unique(x, dim=0, return_inverse=True, return_counts=True)
    if int(counts.max()) < 2:
        return torch.zeros(x.size(0), dtype=torch.bool)
    return inverse == int(counts.argmax())


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


def cold_metrics(
    user_emb, cold_emb, cold, cold_pairs, own: torch.Tensor | None = None
) -> dict[str, float]:
    r"""Recall/NDCG@20 of ranking the cold items (scores ``user_emb @
    cold_emb.T``) for the users with cold pairs; nothing is masked (no user
    has a training pair with a cold item). With :obj:`own` (a ``[num_items]``
    mask), also the Recall@20 over the pairs of the cold items it marks
    (still ranked among all cold items)."""
    from mde_pyg.evaluation.metrics import evaluate_scores

    position = torch.full((int(cold.max()) + 1,), -1, dtype=torch.long)
    position[cold] = torch.arange(cold.numel())
    target = torch.stack([cold_pairs[0], position[cold_pairs[1]]])
    scores = user_emb @ cold_emb.t()
    empty = torch.empty(2, 0, dtype=torch.long)
    out = evaluate_scores(scores, empty, target, k=(K,))
    metrics = {"cold_recall@20": out["recall@20"], "cold_ndcg@20": out["ndcg@20"]}
    if own is not None:
        keep = own[cold_pairs[1]]
        out = evaluate_scores(scores, empty, target[:, keep], k=(K,))
        metrics["cold_recall@20_own_feat"] = out["recall@20"]
    return metrics


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


def formatted(metrics: dict[str, float]) -> dict[str, str]:
    return {key: f"{value:.4f}" for key, value in metrics.items()}


def run(
    dataset: str,
    epochs: int,
    scale: list[str],
    csv_path: Path,
    seed: int,
    redo: bool = False,
    root: str | None = None,
) -> None:
    from mde_pyg.pipeline import add_graphs, build_model, compose_config
    from mde_pyg.training import Trainer

    train_as_the_cli(1)
    rows = read_rows(csv_path)
    full = benchmark_datasets.load(dataset, *scale, root=root)
    shared = shared_features(full)
    own = ~shared if bool(shared.any()) else None
    data, cold, cold_pairs = cold_split(full, seed=seed)
    common_row = {
        "cold_items": cold.numel(),
        "cold_items_shared_feat": int(shared[cold].sum()) if own is not None else "",
        "cold_users": int(cold_pairs[0].unique().numel()),
        "cold_pairs": cold_pairs.size(1),
        "seed": seed,
    }

    def done(model: str, scoring: str) -> bool:
        return not redo and any(
            r["model"] == model and r["scoring"] == scoring and r["seed"] == str(seed)
            for r in rows
        )

    def save(row: dict[str, Any]) -> None:
        nonlocal rows
        row = {**common_row, **row}
        print(json.dumps(row), flush=True)
        save_row(csv_path, rows, row, FIELDS, ("model", "scoring", "seed"))
        rows = read_rows(csv_path)

    def metrics_of(user_emb, cold_emb) -> dict[str, float]:
        return cold_metrics(user_emb, cold_emb, cold, cold_pairs, own)

    random_scoring = f"random scores (mean of {RANDOM_DRAWS} draws)"
    if not done("random", random_scoring):
        generator = torch.Generator().manual_seed(seed)
        num_users = data["user"].num_nodes
        draws = [
            metrics_of(
                torch.randn(num_users, 8, generator=generator),
                torch.randn(cold.numel(), 8, generator=generator),
            )
            for _ in range(RANDOM_DRAWS)
        ]
        save(
            {
                "model": "random",
                "scoring": random_scoring,
                **formatted(
                    {key: sum(m[key] for m in draws) / RANDOM_DRAWS for key in draws[0]}
                ),
                "note": f"expected recall@20 = {K}/{cold.numel()} "
                f"= {K / cold.numel():.3f}",
            }
        )
    knn_scoring = "cosine(user's mean training-item features, item features)"
    if not done("feature knn", knn_scoring):
        user_x, cold_x = feature_knn(data, cold)
        save(
            {
                "model": "feature knn",
                "scoring": knn_scoring,
                **formatted(metrics_of(user_x, cold_x)),
            }
        )

    for name in MODELS:
        if done(name, COLD) and done(name, ID_ROWS):
            print(f"{name} seed {seed}: already in {csv_path.name}, skipped")
            continue
        cfg = compose_config([f"model={name.lower()}"])
        torch.manual_seed(seed)
        graphs = add_graphs(cfg, data.clone())
        model = build_model(cfg, graphs)
        start = time.perf_counter()
        trainer = Trainer(
            model,
            graphs,
            max_epochs=epochs,
            patience=epochs,
            seed=seed,
            device="cpu",
        )
        result = trainer.fit()
        train_s = time.perf_counter() - start
        model.eval()
        user_emb, item_emb = model.embeddings(graphs)
        trained = {
            "model": name,
            "epochs": epochs,
            "best_epoch": result.best_epoch,
            "warm_recall@20": f"{result.test['recall@20']:.4f}",
            "train_s": f"{train_s:.1f}",
        }
        try:
            cold_emb = model.cold_item_embeddings(graphs, cold)
        except NotImplementedError as error:
            save({**trained, "scoring": COLD, "note": str(error)})
        else:
            metrics = formatted(metrics_of(user_emb, cold_emb))
            save({**trained, "scoring": COLD, **metrics})
        save(
            {
                **trained,
                "scoring": ID_ROWS,
                **formatted(metrics_of(user_emb, item_emb[cold])),
            }
        )


def values(rows: list[dict[str, Any]], key: str) -> list[float]:
    return [v for v in (num(r, key) for r in rows) if v == v]


def mean_std(rows: list[dict[str, Any]], key: str, digits: int = 4) -> str:
    """``mean ± std`` of a column over rows (``-`` where it is empty)."""
    found = values(rows, key)
    if not found:
        return "-"
    if len(found) == 1:
        return f"{found[0]:.{digits}f}"
    mean, std = statistics.mean(found), statistics.stdev(found)
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def conclusions(groups: dict[tuple[str, str], list[dict[str, Any]]]) -> list[str]:
    r"""A sentence per model, written from the numbers of :obj:`groups`
    (``(model, scoring)`` -> per-seed rows)."""

    def stats(model: str, scoring: str, key: str) -> tuple[float, float] | None:
        found = values(groups.get((model, scoring), []), key)
        if not found:
            return None
        std = statistics.stdev(found) if len(found) > 1 else 0.0
        return statistics.mean(found), std

    random_scoring = next((s for m, s in groups if m == "random"), "")
    knn_scoring = next((s for m, s in groups if m == "feature knn"), "")
    rand = stats("random", random_scoring, "cold_recall@20")
    knn = stats("feature knn", knn_scoring, "cold_recall@20")
    rand_own = stats("random", random_scoring, "cold_recall@20_own_feat")
    knn_own = stats("feature knn", knn_scoring, "cold_recall@20_own_feat")
    if rand is None:
        return []

    def pm(value: tuple[float, float]) -> str:
        return f"{value[0]:.4f} ± {value[1]:.4f}" if value[1] else f"{value[0]:.4f}"

    def versus(value: tuple[float, float], base: tuple[float, float]) -> str:
        ratio = value[0] / base[0] if base[0] > 0 else float("nan")
        return f"{ratio:.2f}x"

    def per_seed(model: str, scoring: str) -> dict[str, float]:
        return {
            r["seed"]: num(r, "cold_recall@20")
            for r in groups.get((model, scoring), [])
            if r.get("cold_recall@20")
        }

    def compare(value, base, name, pair=None) -> str:
        r"""``value`` against ``base`` (mean, std): above/below where the
        gap exceeds the two standard deviations together or, with ``pair``
        (the two per-seed dicts), where every common seed agrees."""
        gap = value[0] - base[0]
        where = f"{name} ({base[0]:.4f}"
        if pair is not None:
            seeds = sorted(set(pair[0]) & set(pair[1]))
            wins = sum(pair[0][s] > pair[1][s] for s in seeds)
            if len(seeds) > 1 and wins in (0, len(seeds)):
                side = "above" if wins else "below"
                return f"{side} {where}) in each of the {len(seeds)} seeds"
            if len(seeds) > 1:
                return f"level with {where}; higher in {wins} of {len(seeds)} seeds)"
        if abs(gap) <= value[1] + base[1]:
            return f"level with {where}, within the seed spread)"
        return f"{'above' if gap > 0 else 'below'} {where})"

    seeds_rand = per_seed("random", random_scoring)
    seeds_knn = per_seed("feature knn", knn_scoring)
    lines = ["## Conclusion (generated from the numbers above)", ""]
    lines.append(
        f"- **random** (uniform scores, no popularity): {pm(rand)}, the "
        "chance level every ratio below is taken against."
    )
    if knn is not None:
        text = f"- **feature knn** (no training): {pm(knn)}, {versus(knn, rand)} random"
        if knn_own is not None and rand_own is not None:
            text += (
                f"; on the cold items with their own text {knn_own[0]:.4f} vs "
                f"random's {rand_own[0]:.4f} ({versus(knn_own, rand_own)})"
            )
        lines.append(text + ".")
    ranked = []
    for model in MODELS:
        if not any(m == model for m, _ in groups):
            continue
        cold = stats(model, COLD, "cold_recall@20")
        ids = stats(model, ID_ROWS, "cold_recall@20")
        warm = stats(model, COLD, "warm_recall@20")
        seeds_cold, seeds_ids = per_seed(model, COLD), per_seed(model, ID_ROWS)
        if cold is None:
            notes = sorted({r.get("note", "") for r in groups.get((model, COLD), [])})
            text = f"- **{model}** cannot score cold items: {'; '.join(notes) or '?'}."
            if ids is not None:
                text += (
                    f" Its embedding rows of the never-seen items (`id "
                    f"rows`) give {pm(ids)}, {versus(ids, rand)} random, "
                    f"{compare(ids, rand, 'random', (seeds_ids, seeds_rand))}."
                )
        else:
            ranked.append((cold[0], model))
            text = (
                f"- **{model}**: cold Recall@20 {pm(cold)} from its content "
                f"path, {versus(cold, rand)} random"
            )
            if knn is not None:
                text += (
                    f", {compare(cold, knn, 'feature knn', (seeds_cold, seeds_knn))}"
                )
            own = stats(model, COLD, "cold_recall@20_own_feat")
            if own is not None and rand_own is not None:
                text += (
                    f"; on the cold items with their own text {own[0]:.4f} "
                    f"({versus(own, rand_own)} random)"
                )
            if ids is not None:
                text += (
                    f". Keeping the untrained ID rows gives {pm(ids)}: the "
                    "content path is "
                    f"{compare(cold, ids, 'them', (seeds_cold, seeds_ids))}"
                )
            text += "."
        if warm is not None:
            text += f" Warm test Recall@20 {pm(warm)}."
        lines.append(text)
    if ranked:
        order = ", ".join(
            f"{model} {value:.4f}" for value, model in sorted(ranked, reverse=True)
        )
        lines.append(
            f"- Order by mean cold Recall@20: {order}. Gaps smaller than the "
            "seed standard deviations in the table are not meaningful."
        )
    return lines + [""]


def report(
    csv_path: Path, md_path: Path, command: str, dataset: str = "synthetic"
) -> None:
    rows = read_rows(csv_path)
    info = machine(threads=1)
    first = rows[0] if rows else {}
    epochs = sorted({r["epochs"] for r in rows if r.get("epochs")}) or ["?"]
    has_own = any(r.get("cold_recall@20_own_feat") for r in rows)
    shared = ""
    if has_own:
        shared = (
            f" {first.get('cold_items_shared_feat', '?')} of the "
            f"{first.get('cold_items', '?')} cold items of seed "
            f"{first.get('seed', '?')} have no text (the shared mean vector)."
        )
    data_line = f"`{dataset}`, {benchmark_datasets.describe(dataset)}"
    if dataset in REMARKS:
        data_line += f"; {REMARKS[dataset]}"
    title = "# Cold-start items: ranking items without interactions"
    if dataset != "synthetic":
        title += f" ({dataset})"
    lines = [
        title,
        "",
        f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- Machine: {info['machine']} (shared with other jobs)",
        f"- Versions: {info['versions']}",
        f"- Reproduce: `{command}` (`--report-only` rewrites this page from the CSV)",
        f"- Data: {data_line}.",
        f"- Cold items: {first.get('cold_items', '?')} items (10%, random) "
        "with *all* their interactions removed from training, validation and "
        "test; they stay in the catalogue with their features. Their "
        "(user, cold item) pairs are the cold test set (seed "
        f"{first.get('seed', '?')}: {first.get('cold_pairs', '?')} pairs of "
        f"{first.get('cold_users', '?')} users).{shared}",
        f"- Training: `Trainer` (lr 1e-3, batch 2048, Adam), {', '.join(epochs)} "
        "epochs, the best warm-validation epoch kept, each model's "
        "`model=<name>` settings; one thread.",
        "- Cold metrics: the cold items ranked **among the cold items only** "
        "for every user with a cold pair (Recall@20, NDCG@20). Random: "
        f"expected Recall@20 = 20 / {first.get('cold_items', '?')}.",
        "- `cold_item_embeddings`: the content path with the ID embeddings of "
        "items without training interactions zeroed (see the models' "
        "docstrings); `id rows`: the rows of `model.embeddings(data)` for "
        "the cold items (their untrained ID embeddings kept).",
    ]
    if has_own:
        lines.append(
            "- `own text`: Recall@20 over the cold pairs of the cold items "
            "with their own text only (the ranking is the same, among all "
            "cold items)."
        )
    own_head, own_rule = ("", "")
    if has_own:
        own_head, own_rule = (" cold Recall@20, own text |", "---:|")
    lines += [
        "",
        f"| model | scoring | cold Recall@20 | cold NDCG@20 |{own_head} "
        "warm Recall@20 | best epochs | train s | note |",
        f"|---|---|---:|---:|{own_rule}---:|---:|---:|---|",
    ]
    order = ["random", "feature knn", *MODELS]
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in sorted(
        rows,
        key=lambda r: order.index(r["model"]) if r["model"] in order else len(order),
    ):
        groups.setdefault((row["model"], row["scoring"]), []).append(row)
    for (model, scoring), group in groups.items():
        notes = sorted({r.get("note", "") for r in group} - {""})
        own = f" {mean_std(group, 'cold_recall@20_own_feat')} |" if has_own else ""
        lines.append(
            f"| {model} | {scoring} | {mean_std(group, 'cold_recall@20')} | "
            f"{mean_std(group, 'cold_ndcg@20')} |{own} "
            f"{mean_std(group, 'warm_recall@20')} | "
            f"{', '.join(r.get('best_epoch') or '-' for r in group)} | "
            f"{mean_std(group, 'train_s', 1)} | {'; '.join(notes)} |"
        )
    seeds = sorted({int(r["seed"]) for r in rows})
    lines += [
        "",
        f"Mean ± standard deviation over the seeds {seeds} (each seed draws "
        "the cold items and initialises the models); best epoch per seed. "
        f"Per-seed values are in `{csv_path.name}`.",
        "",
        *(CONCLUSION if csv_path == CSV else conclusions(groups)),
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
    parser.add_argument(
        "--dataset", choices=benchmark_datasets.names(), default="synthetic"
    )
    parser.add_argument("--root", help="data root (default: the registry's)")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=[0, 1, 2],
        help="each seed draws the cold items and initialises the models",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder of the CSV and report (default: benchmarks/results; "
        "with --quick a temporary folder)",
    )
    parser.add_argument(
        "--redo",
        action="store_true",
        help="measure rows already in the CSV again (default: skip them)",
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()
    out, scale, epochs = RESULTS, [], args.epochs
    if args.quick:  # a small generated dataset, or one epoch of a real one
        out, epochs = scratch("cold_start"), 1
        if benchmark_datasets.folder(args.dataset, args.root) is None:
            scale, epochs = ["dataset.num_users=300", "dataset.num_items=300"], 2
    out = args.out or out
    csv_path = out / f"{stem(args.dataset)}.csv"
    md_path = csv_path.with_suffix(".md")
    if not args.report_only:
        for seed in args.seeds:
            redo = args.redo or args.quick  # a smoke test measures afresh
            run(args.dataset, epochs, scale, csv_path, seed, redo, args.root)
    argv = [a for a in sys.argv[1:] if a != "--report-only"]
    report(csv_path, md_path, " ".join([COMMAND, *argv]), args.dataset)
    print(f"wrote {csv_path} and {md_path}")


if __name__ == "__main__":
    main()
