r"""Parity of our models with the published code
(MMRec, through ``../shared/tools/mmrec_ref``) on the same MMRec-format
folder, one fixed configuration each: ``mmrec_ref/run.py``'s settings (one
point of each published grid), everything else MMRec's yaml defaults. Our side
sets the same values explicitly (:data:`MODELS`), on top of our
``conf/model/<model>.yaml``.

::

    mde-pyg prepare ml100k                            # under the data root
    MMREC_GIT=<git dir of enoche/MMRec> bash ../shared/tools/mmrec_ref/setup.sh
    python benchmarks/parity.py                       # every model, 3 seeds (resumable)
    python benchmarks/parity.py --models lightgcn lattice   # some of them
    python benchmarks/parity.py --models mmgcn --epochs 10  # both sides capped
    python benchmarks/parity.py --report-only

Ours runs through :func:`mde_pyg.pipeline.train_one` (the ``mde-pyg train`` path,
with ``dataset=mmrec``), theirs as a subprocess of ``mmrec_ref/run.py``; both
at ``OMP_NUM_THREADS=1`` on the CPU, early stopping on validation Recall@20
(patience 20), test metrics of the best validation epoch. MMRec reads only
``image_feat.npy`` and ``text_feat.npy``: a folder with other modalities
(``ml100k``: ``meta`` and ``text``) is copied to ``--work-dir`` with the
non-text modality as ``image_feat.npy``. Our FREEDOM then weighs ``meta``
0.1 and ``text`` 0.9 (:func:`mde_pyg.models.freedom_modality_weights`), as
MMRec weighs its "image" and text graphs; our LATTICE, as MMRec's, mixes the
two modalities with learned softmax weights (both starting equal). LightGCN
uses no features. LGMRec (run.py's grid point, the published Baby setting)
anchors its contrast on the non-text modality as MMRec on its image, and
draws Gumbel noise in evaluation too, as the published code does, for the
parity run only (``model.sample_at_eval=true``; our default evaluates
without noise).

The slow published models (MMGCN, DRAGON, LGMRec and SMORE: 10 to 49 s per
MMRec epoch on one CPU thread) are compared at an epoch cap on both sides
(``--epochs N``): each side trains N epochs, still selecting its best epoch
on validation, and the verdict compares capped runs only with capped runs of
the same cap. SMORE at the published learning rate (1e-3) scores best after
its first epoch on ml100k in both implementations; ``smore_lr1e-2`` compares
the two where SMORE trains, at 1e-2 on both sides (:data:`MMREC_SET`).

Resumable: every finished run is
``<out>/parity_runs/<dataset>_<model>_<impl>_seed<k>[_cap<N>].json`` and is skipped
when present; an unfinished run of ours resumes from its per-epoch
checkpoint under ``--work-dir`` (MMRec's restarts). Rows are appended to
``<out>/parity.csv`` as runs finish and ``<out>/parity.md`` is rewritten
from all finished runs. Two processes can share the work, e.g. ``--impls
mde_pyg`` and ``--impls mmrec`` side by side (one core each).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from common import (  # noqa: E402
    RESULTS,
    cpu_model,
    machine,
    read_rows,
    save_row,
    train_as_the_cli,
)
from mde_pyg.data.registry import data_root  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MMREC_REF = ROOT.parent / "shared" / "tools" / "mmrec_ref"
#: Where ``mmrec_ref/setup.sh`` puts its venv (``$TMPDIR``, else ``/tmp``).
TMP = Path(tempfile.gettempdir())
#: model -> (our conf/model option and overrides, MMRec model name). The
#: overrides spell out MMRec's values (overall.yaml, configs/model/<MODEL>.yaml
#: and run.py's FIXED) so that neither side's defaults can drift apart.
MODELS = {
    "lightgcn": (
        [
            "model=lightgcn",
            "model.embedding_dim=64",  # embedding_size
            "model.num_layers=2",  # n_layers (fixed)
            "model.reg_weight=1e-4",  # reg_weight (fixed)
            "trainer.lr=1e-3",  # learning_rate
            "trainer.lr_decay=1.0",  # learning_rate_scheduler [1.0, 50]
        ],
        "LightGCN",
    ),
    "lattice": (
        [
            "model=lattice",
            "model.embedding_dim=64",  # embedding_size
            "model.feat_embed_dim=64",  # feat_embed_dim
            "model.k=10",  # knn_k (learned graphs)
            "model.graphs.k=10",  # knn_k (frozen graphs)
            "model.lambda_coeff=0.9",  # lambda_coeff
            "model.num_item_layers=1",  # n_layers (item-item graph)
            "model.num_layers=2",  # len(weight_size) (user-item, cf_model lightgcn)
            "model.reg_weight=1e-4",  # reg_weight (fixed)
            "model.freeze_features=false",  # from_pretrained(..., freeze=False)
            "trainer.lr=1e-3",  # learning_rate (fixed)
            "trainer.lr_decay=0.96",  # learning_rate_scheduler [0.96, 50]
            "trainer.lr_decay_every=50",
        ],
        "LATTICE",
    ),
    "mgcn": (["model=mgcn", "model.lambda_align=0.01"], "MGCN"),  # cl_loss
    "freedom": (
        # dropout, reg_weight
        ["model=freedom", "model.dropout=0.8", "model.lambda_modality_bpr=1e-4"],
        "FREEDOM",
    ),
    "vbpr": (["model=vbpr", "model.reg_weight=1e-4"], "VBPR"),  # reg_weight
    "bm3": (
        # n_layers, reg_weight, dropout
        [
            "model=bm3",
            "model.num_layers=1",
            "model.reg_weight=0.1",
            "model.dropout=0.5",
        ],
        "BM3",
    ),
    "mmgcn": (
        [
            "model=mmgcn",
            "model.reg_weight=1e-4",  # reg_weight (fixed)
            "trainer.lr=1e-3",  # learning_rate (fixed)
            # MMRec projects its "image" modality (here ml100k's meta) to 256.
            "~model.latent_dims",
            "+model.latent_dims={meta:256}",
            # MMRec never trains MMGCN's ID embeddings and user preferences.
            "model.freeze_embeddings=true",
        ],
        "MMGCN",
    ),
    "lgmrec": (
        [
            "model=lgmrec",
            "model.embedding_dim=64",  # embedding_size (= feat_embed_dim 64)
            "model.num_ui_layers=2",  # n_ui_layers (fixed; cf_model lightgcn)
            "model.num_mm_layers=2",  # n_mm_layers (fixed)
            "model.num_hyper_layers=1",  # n_hyper_layer (fixed)
            "model.num_hyperedges=4",  # hyper_num (fixed)
            "model.keep_rate=0.5",  # keep_rate (fixed)
            "model.alpha=0.3",  # alpha (fixed)
            "model.cl_weight=1e-4",  # cl_weight (fixed)
            "model.reg_weight=1e-6",  # reg_weight (fixed)
            "model.tau=0.2",  # self.tau in the code
            "model.freeze_features=true",  # from_pretrained(..., freeze=True)
            # Published behaviour matched for the parity run only: Gumbel noise
            # in evaluation too (our default evaluates without noise).
            "model.sample_at_eval=true",
            "trainer.lr=1e-3",  # learning_rate
            "trainer.lr_decay=1.0",  # learning_rate_scheduler [1.0, 50]
        ],
        "LGMRec",
    ),
    "smore": (
        [
            "model=smore",
            "model.embedding_dim=64",  # embedding_size
            "model.num_layers=3",  # n_ui_layers (fixed)
            "model.num_item_layers=1",  # n_layers
            "model.graphs.image_k=10",  # image_knn_k (fixed; ml100k's meta as image)
            "model.graphs.text_k=10",  # text_knn_k (fixed)
            "model.reg_weight=1e-4",  # reg_weight (fixed)
            "model.dropout=0.0",  # dropout_rate (fixed)
            "model.lambda_align=0.01",  # cl_loss
            "model.tau=0.2",  # InfoNCE temperature (0.2 in its code)
            "model.freeze_features=false",  # from_pretrained(..., freeze=False)
            "trainer.lr=1e-3",  # learning_rate
            "trainer.lr_decay=0.96",  # learning_rate_scheduler [0.96, 50]
            "trainer.lr_decay_every=50",
        ],
        "SMORE",
    ),
    "dragon": (
        [
            "model=dragon",
            "model.embedding_dim=64",  # dim_latent (fixed; embedding_size unread)
            "model.num_layers=2",  # the GCN's two convolutions (n_layers unread)
            "model.num_item_layers=1",  # n_mm_layers
            "model.reg_weight=1e-3",  # reg_weight (fixed)
            "model.freeze_features=true",  # v_feat / t_feat read raw
            "model.graphs.k=10",  # knn_k
            "model.graphs.user_k=40",  # self.k of topk_sample (fixed)
            "model.graphs.mm_image_weight=0.1",  # mm_image_weight
            # aggr_mode add (fixed): the symmetric normalisation, DRAGON's only one
            "trainer.lr=1e-3",  # learning_rate (fixed)
            "trainer.lr_decay=1.0",  # learning_rate_scheduler [1.0, 50]
        ],
        "DRAGON",
    ),
}
# SMORE at the published lr (1e-3) scores best after its first epoch on
# ml100k, in both implementations, so its parity is also measured where it
# trains: at lr 1e-2 on both sides.
MODELS["smore_lr1e-2"] = ([*MODELS["smore"][0], "trainer.lr=1e-2"], "SMORE")
#: Extra MMRec settings of a model (``mmrec_ref/run.py --set``).
MMREC_SET = {"smore_lr1e-2": ["learning_rate=0.01"]}
#: Parity holds when the means of test Recall@20 over at least this many
#: seeds per side differ by at most :data:`TOLERANCE` (relative).
MIN_SEEDS = 3
TOLERANCE = 0.03
IMPLS = ("mde_pyg", "mmrec")
FIELDS = [
    "dataset",
    "model",
    "impl",
    "seed",
    "test_recall@10",
    "test_recall@20",
    "test_ndcg@10",
    "test_ndcg@20",
    "valid_recall@20",
    "best_epoch",
    "epochs_run",
    "s_per_epoch",
    "s_per_eval",
    "wall_s",
    "load",
    "note",
]
METRICS = ("recall@10", "recall@20", "ndcg@10", "ndcg@20")


def run_stem(name: str, model: str, impl: str, seed: int, epochs: int | None) -> str:
    """The file name (without suffix) of a run of ``impl``:
    ``<dataset>_<model>_<impl>_seed<k>``, plus ``_cap<N>`` at an epoch cap."""
    cap = f"_cap{epochs}" if epochs else ""
    return f"{name}_{model}_{impl}_seed{seed}{cap}"


def mmrec_folder(data: Path, name: str, work_dir: Path) -> Path:
    """``data`` itself if it holds MMRec's feature names, else a copy in
    ``work_dir`` with the non-text modality as ``image_feat.npy``."""
    feats = sorted(p.name for p in data.glob("*_feat.npy"))
    if set(feats) <= {"image_feat.npy", "text_feat.npy"}:
        return data
    others = [f for f in feats if f != "text_feat.npy"]
    if len(others) != 1:
        sys.exit(f"MMRec takes one non-text modality; {data} has {others}")
    folder = work_dir / f"{name}_mmrec"
    folder.mkdir(parents=True, exist_ok=True)
    for src, dst in [
        (f"{name}.inter", f"{name}.inter"),
        (others[0], "image_feat.npy"),
        ("text_feat.npy", "text_feat.npy"),
    ]:
        if (data / src).is_file() and not (folder / dst).is_file():
            shutil.copy(data / src, folder / dst)
    return folder


def run_ours(
    model: str, data: Path, name: str, seed: int, epochs: int | None, work_dir: Path
) -> dict[str, Any]:
    train_as_the_cli(1)
    from mde_pyg.pipeline import compose_config, train_one

    overrides, _ = MODELS[model]
    run_dir = work_dir / run_stem(name, model, "mde_pyg", seed, epochs)
    cfg = compose_config(
        [
            *overrides,
            "dataset=mmrec",
            f"dataset.folder={data}",
            f"dataset.name={name}",
            "trainer.device=cpu",
            "trainer.verbose=false",
            "checkpoint=true",
            "resume=auto",
            f"output_dir={run_dir}",
            *([f"trainer.max_epochs={epochs}"] if epochs else []),
        ]
    )
    start = time.time()
    result = train_one(cfg, seed, run_dir)
    history = result.history
    return {
        "test": {k: result.test[k] for k in METRICS},
        "valid_recall@20": result.best_val["recall@20"],
        "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
        "s_per_epoch": sum(h["train_time"] for h in history) / len(history),
        "s_per_eval": sum(h["eval_time"] for h in history) / len(history),
        "wall_s": time.time() - start,
    }


def run_theirs(
    model: str,
    data: Path,
    name: str,
    seed: int,
    epochs: int | None,
    work_dir: Path,
    python: str,
) -> dict[str, Any]:
    folder = mmrec_folder(data, name, work_dir)
    out = work_dir / f"{run_stem(name, model, 'mmrec', seed, epochs)}.json"
    cmd = [
        python,
        str(MMREC_REF / "run.py"),
        "--model",
        MODELS[model][1],
        "--data",
        str(folder),
        "--inter",
        f"{name}.inter",
        "--seed",
        str(seed),
        "--out",
        str(out),
        *(["--epochs", str(epochs)] if epochs else []),
        *(["--set", *MMREC_SET[model]] if model in MMREC_SET else []),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    res = json.loads(out.read_text())
    return {
        "test": res["test"],
        "valid_recall@20": res["best_valid_recall@20"],
        "best_epoch": res["best_epoch"],
        "epochs_run": res["epochs_run"],
        "s_per_epoch": res["mean_train_s_per_epoch"],
        "s_per_eval": res["mean_valid_eval_s"],
        "wall_s": res["wall_s"],
    }


def row_of(run: dict[str, Any]) -> dict[str, Any]:
    row = {k: run[k] for k in ("dataset", "model", "impl", "seed", "load", "note")}
    row.update({f"test_{k}": f"{run['test'][k]:.4f}" for k in METRICS})
    row["valid_recall@20"] = f"{run['valid_recall@20']:.4f}"
    row.update({k: run[k] for k in ("best_epoch", "epochs_run")})
    row.update({k: f"{run[k]:.3f}" for k in ("s_per_epoch", "s_per_eval")})
    row["wall_s"] = f"{run['wall_s']:.0f}"
    return row


def cpus(runs: list[dict[str, Any]]) -> str:
    """How many of ``runs`` each CPU ran."""
    counts = Counter(run.get("cpu", "not recorded") for run in runs)
    return "; ".join(f"{cpu}: {n} runs" for cpu, n in sorted(counts.items()))


def parity_summary(runs: list[dict[str, Any]]) -> list[str]:
    """The verdict table: per dataset and model, the mean test Recall@20 of
    each side over its runs at one epoch cap (or none; capped runs are
    compared only with capped runs) and their relative difference, parity
    when both sides have :data:`MIN_SEEDS` seeds and differ by at most
    :data:`TOLERANCE`."""
    recalls: dict[tuple[str, str, str], dict[str, list[float]]] = {}
    for run in runs:
        key = (run["dataset"], run["model"], run["note"] or "none")
        sides = recalls.setdefault(key, {})
        sides.setdefault(run["impl"], []).append(run["test"]["recall@20"])
    lines = [
        f"Parity (test Recall@20, mean over seeds; within ±{TOLERANCE:.0%} "
        f"with at least {MIN_SEEDS} seeds per side):",
        "",
        "| dataset | model | epoch cap | seeds ours | seeds MMRec | ours | MMRec "
        "| difference | verdict |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for (dataset, model, cap), sides in sorted(recalls.items()):
        ours, theirs = sides.get("mde_pyg", []), sides.get("mmrec", [])
        if not ours or not theirs:
            continue
        mean_ours, mean_theirs = sum(ours) / len(ours), sum(theirs) / len(theirs)
        difference = mean_ours / mean_theirs - 1
        if min(len(ours), len(theirs)) < MIN_SEEDS:
            verdict = "too few seeds"
        elif abs(difference) <= TOLERANCE:
            verdict = "parity"
        else:
            verdict = "OUTSIDE"
        lines.append(
            f"| {dataset} | {model} | {cap.removeprefix('epoch cap ')} "
            f"| {len(ours)} | {len(theirs)} | {mean_ours:.4f} "
            f"| {mean_theirs:.4f} | {difference:+.1%} | {verdict} |"
        )
    return lines


def write_report(out: Path, runs: list[dict[str, Any]], info: dict[str, str]) -> None:
    configs = "; ".join(
        f"{model} ({theirs}"
        + (f", `--set {' '.join(MMREC_SET[model])}`" if model in MMREC_SET else "")
        + f"): `{' '.join(overrides)}`"
        for model, (overrides, theirs) in MODELS.items()
    )
    lines = [
        "# Parity with the published code",
        "",
        f"- Machine (this report): {info['machine']}",
        f"- CPUs of the runs: {cpus(runs)}",
        f"- Versions (ours): {info['versions']}",
        "- Reference: MMRec (github.com/enoche/MMRec, commit e775373) through "
        "`../shared/tools/mmrec_ref/run.py` (compatibility patch only).",
        "- Command: `python benchmarks/parity.py [--models M ...] [--seeds K ...]` "
        "(the two implementations draw different random numbers, so single runs "
        "differ by seed noise, early stopping on a flat validation curve "
        "included, as well as by any real difference; hence the means over "
        f"at least {MIN_SEEDS} seeds per side below).",
        "- Times: wall-clock on a shared machine (the load average at each run's "
        "start is in parity.csv); the two implementations ran as two processes "
        "side by side (`--impls mde_pyg` and `--impls mmrec`, one core each): "
        "compare speeds roughly, row by row, not across rows. Parity runs share "
        "the machine with other work and may be paused for it: speed is "
        "measured by `benchmarks/speed.py`, not here.",
        "- Fixed configs (ours, as `mde-pyg train` overrides; MMRec's side: "
        "`mmrec_ref/run.py`'s FIXED values, the rest its yaml defaults): "
        f"{configs}. Everywhere: embedding size 64, Adam lr 1e-3 unless set, "
        "batch 2048, patience 20 on validation Recall@20, test metrics at the "
        "best validation epoch; OMP_NUM_THREADS=1 on the CPU. s/epoch: training "
        "only; s/eval: one full-ranking validation pass.",
        "",
        *parity_summary(runs),
        "",
        "| dataset | model | impl | seed | test R@10 | test R@20 | test N@10 "
        "| test N@20 | valid R@20 | best epoch | epochs | s/epoch | s/eval | note |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in sorted(
        runs, key=lambda r: (r["dataset"], r["model"], r["impl"], r["seed"])
    ):
        r = row_of(run)
        lines.append(
            f"| {r['dataset']} | {r['model']} | {r['impl']} | {r['seed']} | "
            f"{r['test_recall@10']} | {r['test_recall@20']} | {r['test_ndcg@10']} | "
            f"{r['test_ndcg@20']} | {r['valid_recall@20']} | {r['best_epoch']} | "
            f"{r['epochs_run']} | {r['s_per_epoch']} | {r['s_per_eval']} | "
            f"{r['note']} |"
        )
    groups: dict[tuple[str, str, str, str], list[dict[str, Any]]] = {}
    for run in runs:
        key = (run["dataset"], run["model"], run["impl"], run["note"])
        groups.setdefault(key, []).append(run)
    means = {key: group for key, group in sorted(groups.items()) if len(group) > 1}
    if means:
        lines += [
            "",
            "Mean over the seeds run (one value per seed in the table above):",
            "",
            "| dataset | model | impl | note | seeds | test R@10 | test R@20 "
            "| test N@10 | test N@20 | valid R@20 |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for (dataset, model, impl, note), group in means.items():
            cells = [
                f"{sum(r['test'][k] for r in group) / len(group):.4f}" for k in METRICS
            ]
            valid = sum(r["valid_recall@20"] for r in group) / len(group)
            seeds = " ".join(str(r["seed"]) for r in group)
            lines.append(
                f"| {dataset} | {model} | {impl} | {note} | {seeds} "
                f"| {' | '.join(cells)} "
                f"| {valid:.4f} |"
            )
    (out / "parity.md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--models", nargs="+", choices=sorted(MODELS), default=list(MODELS)
    )
    parser.add_argument("--impls", nargs="+", choices=IMPLS, default=list(IMPLS))
    parser.add_argument(
        "--data",
        type=Path,
        help="MMRec-format folder (<name>.inter and <modality>_feat.npy; "
        "default: ml100k under the data root)",
    )
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=[999, 0, 1],
        help="seeds, run in turn (999: MMRec's default)",
    )
    parser.add_argument(
        "--epochs", type=int, default=None, help="epoch cap, on both sides"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--work-dir", type=Path, default=TMP / "mde_pyg_parity")
    parser.add_argument(
        "--mmrec-python", default=str(TMP / "mmrec-venv" / "bin" / "python")
    )
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args(argv)

    data = (args.data or data_root() / "ml100k").resolve()
    name = data.name
    runs_dir = args.out / "parity_runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    info = machine(threads=1)
    csv_path = args.out / "parity.csv"
    if not args.report_only:
        for model, seed, impl in itertools.product(args.models, args.seeds, args.impls):
            path = runs_dir / f"{run_stem(name, model, impl, seed, args.epochs)}.json"
            if path.is_file():
                print(f"done already: {path.name}")
                continue
            print(f"running {model} ({impl}) on {name} ...", flush=True)
            load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
            if impl == "mde_pyg":
                res = run_ours(model, data, name, seed, args.epochs, args.work_dir)
            else:
                res = run_theirs(
                    model,
                    data,
                    name,
                    seed,
                    args.epochs,
                    args.work_dir,
                    args.mmrec_python,
                )
            note = f"epoch cap {args.epochs}" if args.epochs else ""
            run = {
                "dataset": name,
                "model": model,
                "impl": impl,
                "seed": seed,
                "load": f"start {load}",
                "cpu": cpu_model(),
                "note": note,
                **res,
            }
            path.write_text(json.dumps(run, indent=1))
            save_row(
                csv_path,
                read_rows(csv_path),
                row_of(run),
                FIELDS,
                ("dataset", "model", "impl", "seed", "note"),
            )
            print(json.dumps(row_of(run)), flush=True)
    runs = [json.loads(p.read_text()) for p in sorted(runs_dir.glob("*.json"))]
    # Rebuilt from the finished runs (several processes may share the work).
    rows: list[dict[str, Any]] = []
    for run in runs:
        save_row(
            csv_path,
            rows,
            row_of(run),
            FIELDS,
            ("dataset", "model", "impl", "seed", "note"),
        )
        rows = read_rows(csv_path)
    write_report(args.out, runs, info)
    print(f"wrote {args.out / 'parity.md'}")


if __name__ == "__main__":
    main()
