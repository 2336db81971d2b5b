"""The ``mde-pyg`` command: ``train``, ``evaluate`` and ``info``.

``mde-pyg train [OVERRIDES]`` is a Hydra app composed from the package's
``conf/`` (also run by ``examples/train.py``), so every key can be overridden
and ``-m`` sweeps work. ``mde-pyg evaluate RUN_DIR`` re-evaluates the best
checkpoint of a finished run; ``mde-pyg info [OVERRIDES]`` prints versions and
the statistics of the composed dataset.

A run folder is untrusted input (users download and share them): its config
may only name ``_target_`` values that the package's own ``conf/`` names, and its
checkpoints are read without unpickling anything but tensors and plain data
(:mod:`mde_pyg.training.checkpoint`).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import warnings
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
import torch_geometric
from hydra.experimental.callback import Callback
from hydra.utils import get_method, instantiate, to_absolute_path
from omegaconf import DictConfig, OmegaConf
from torch_geometric.data import HeteroData

import mde_pyg
from mde_pyg import inference
from mde_pyg.cli_prepare import main as prepare_main
from mde_pyg.command import USAGE
from mde_pyg.config import ConfigError, check_kwargs
from mde_pyg.data import features
from mde_pyg.data.dataset import file_digest
from mde_pyg.data.errors import DatasetError
from mde_pyg.data.hetero import ITEM, USER, item_features, split_edge_index
from mde_pyg.models.base import Recommender
from mde_pyg.training import (
    CheckpointError,
    Trainer,
    format_summary,
    seed_everything,
    summarize,
)
from mde_pyg.training.distributed import (
    DistributedError,
    broadcast_object,
    is_main_process,
    launched_by_torchrun,
    main_process_first,
    setup_distributed,
)
from mde_pyg.training.memory import keep_freed_memory
from mde_pyg.training.selection import select_best
from mde_pyg.training.trainer import resolve_device

CONFIG_MODULE = "mde_pyg.conf"
_USER_ERRORS = (
    ConfigError,
    DatasetError,
    CheckpointError,
    DistributedError,
    FileNotFoundError,
    PermissionError,
)
#: The file a run folder's composed config is written to (resolved).
RUN_CONFIG = "config.yaml"


def user_error(error: BaseException) -> BaseException | None:
    """The user error (bad config, data file or checkpoint) behind ``error``,
    which Hydra's ``instantiate`` wraps in an ``InstantiationException``; or
    :obj:`None` for a bug, whose traceback should be seen."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, _USER_ERRORS):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def versions() -> dict[str, str]:
    """Versions of everything that can change a result."""
    return {
        "mde_pyg": mde_pyg.__version__,
        "torch": torch.__version__,
        "torch_geometric": torch_geometric.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
    }


def local_path(path: str) -> str:
    """``path`` with ``~`` expanded, relative to the directory the command
    was started from (not Hydra's run folder)."""
    return to_absolute_path(os.path.expanduser(path))


def _config_targets(node: Any, where: str = "") -> Iterator[tuple[str, Any]]:
    """Every ``(key path, _target_ value)`` in a config, however nested."""
    if isinstance(node, dict):
        for key, value in node.items():
            path = f"{where}.{key}" if where else str(key)
            if key == "_target_":
                yield path, value
            else:
                yield from _config_targets(value, path)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _config_targets(value, f"{where}[{i}]")


def allowed_targets() -> set[str]:
    """The ``_target_`` values a run folder's config may name: those of the
    package's own ``conf/dataset`` and ``conf/model`` files."""
    root = resources.files(CONFIG_MODULE)
    return {
        target
        for group in ("dataset", "model")
        for file in (root / group).iterdir()
        if file.name.endswith(".yaml")
        for _, target in _config_targets(
            OmegaConf.to_container(OmegaConf.create(file.read_text()))
        )
    }


def load_run_config(run_dir: Path) -> DictConfig:
    """The composed config of a run folder, after checking that it names
    only allowed ``_target_`` values (a crafted config could otherwise call any
    importable function)."""
    for path in (run_dir / RUN_CONFIG, run_dir / ".hydra" / "config.yaml"):
        if path.is_file():
            break
    else:
        raise FileNotFoundError(
            f"'{run_dir / RUN_CONFIG}' not found: RUN_DIR must be the output folder "
            "of `mde-pyg train` (it holds config.yaml and checkpoints/)"
        )
    cfg = OmegaConf.load(path)
    allowed = allowed_targets()
    for key, target in _config_targets(OmegaConf.to_container(cfg, resolve=False)):
        if target not in allowed:
            raise ConfigError(
                f"{path}: '{key}' is {target!r}, which is not one of the "
                f"package's own targets; refused to instantiate it (allowed: "
                f"{', '.join(sorted(allowed))})"
            )
    return cfg


def _dataset_files(cfg: DictConfig) -> list[Path]:
    folder = cfg.get("folder")
    if folder is None:
        return []
    folder = Path(local_path(folder))
    name = cfg.get("name") or folder.name
    return [folder / f"{name}.inter", *sorted(folder.glob("*_feat.npy"))]


def file_hashes(paths: list[Path]) -> dict[str, str]:
    """SHA-1 of each existing file."""
    return {str(path): file_digest(path) for path in paths if path.is_file()}


def run_fingerprint(cfg: DictConfig, data_files: dict[str, str]) -> dict[str, Any]:
    """The config entries a resumed run must share with its checkpoint, on
    top of the trainer's own (:meth:`Trainer.fingerprint`): the model and
    dataset sections and the content of the data files (by file name, so
    that a moved folder still resumes)."""
    dataset = OmegaConf.to_container(cfg.dataset, resolve=True)
    dataset.pop("folder", None)
    return {
        "config.model": OmegaConf.to_container(cfg.model, resolve=True),
        "config.dataset": dataset,
        **{f"file.{Path(path).name}": digest for path, digest in data_files.items()},
    }


def build_dataset(cfg: DictConfig) -> HeteroData:
    """Instantiates ``cfg.dataset`` with paths resolved against the launch
    directory."""
    section = OmegaConf.to_container(cfg.dataset, resolve=True)
    check_kwargs("dataset", section, section["_target_"])
    if section.get("folder") is not None:
        section["folder"] = local_path(section["folder"])
    return instantiate(section)


def _model_section(cfg: DictConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """``cfg.model`` without its ``graphs`` options and the trainer settings
    it asks for (``trainer``, read by ``conf/trainer``), and the ``graphs``
    options."""
    section = OmegaConf.to_container(cfg.model, resolve=True)
    section.pop("trainer", None)
    return section, section.pop("graphs", None) or {}


def add_graphs(cfg: DictConfig, data: HeteroData) -> HeteroData:
    """Precomputes onto ``data`` the graphs the model of ``cfg`` reads: its
    class's ``graph_transform`` with the options of ``cfg.model.graphs``."""
    section, options = _model_section(cfg)
    model_cls = get_method(section["_target_"]).__self__
    check_kwargs("model.graphs", options, model_cls.graph_transform)
    if options.get("cache_dir") is not None:
        options["cache_dir"] = local_path(options["cache_dir"])
    return model_cls.graph_transform(**options)(data)


def build_data(cfg: DictConfig) -> HeteroData:
    """The dataset of ``cfg`` with the graphs its model reads."""
    return add_graphs(cfg, build_dataset(cfg))


def build_model(cfg: DictConfig, data: HeteroData) -> Recommender:
    """Instantiates ``cfg.model`` on ``data`` through the model's
    ``from_data`` factory."""
    section, _ = _model_section(cfg)
    target = get_method(section["_target_"])
    check_kwargs(
        "model", section, target, provided=("num_users", "num_items", "features")
    )
    return instantiate(section, data=data, _convert_="all")


def train_one(cfg: DictConfig, seed: int, output_dir: Path) -> Any:
    """Trains one seed of the composed configuration (as one of the processes
    of a distributed run where ``trainer.distributed`` asks for it: each
    builds the data and model, rank 0 writes the run folder)."""
    trainer_kwargs = OmegaConf.to_container(cfg.trainer, resolve=True)
    check_kwargs(
        "trainer",
        trainer_kwargs,
        Trainer,
        provided=("model", "data", "seed", "checkpoint_dir", "resume", "results_path"),
    )
    seed_everything(seed)
    # Rank 0 first, so that dataset and graph caches are written once.
    with main_process_first():
        data = build_data(cfg)
    model = build_model(cfg, data)
    data_files = file_hashes(_dataset_files(cfg.dataset))
    if is_main_process():
        output_dir.mkdir(parents=True, exist_ok=True)
        # Resolved with this run's folder and seed, so that it also resolves
        # outside a Hydra app (whose output_dir interpolation it replaces).
        run_config = OmegaConf.to_container(cfg, resolve=False)
        run_config.update(output_dir=str(output_dir), seed=seed)
        OmegaConf.save(
            OmegaConf.create(
                OmegaConf.to_container(OmegaConf.create(run_config), resolve=True)
            ),
            output_dir / RUN_CONFIG,
        )
    trainer = Trainer(
        model,
        data,
        seed=seed,
        checkpoint_dir=output_dir / "checkpoints" if cfg.checkpoint else None,
        resume=cfg.resume,
        results_path=output_dir / "results.json",
        metadata={
            "config": OmegaConf.to_container(cfg, resolve=False),
            "versions": versions(),
            "data_files": data_files,
            "model": repr(model),
        },
        fingerprint=run_fingerprint(cfg, data_files),
        **{**trainer_kwargs, "k": tuple(trainer_kwargs["k"])},
    )
    return trainer.fit()


def run_train(cfg: DictConfig) -> float:
    """Trains one seed, or every seed of ``cfg.seeds``, and returns the mean
    validation Recall@20 (the value a sweep optimises: never a test score)."""
    setup_distributed(cfg.trainer.distributed, resolve_device(cfg.trainer.device))
    # Every process writes (rank 0) or reads (resume) rank 0's run folder,
    # whose name Hydra stamps with each process's own clock.
    output_dir = Path(broadcast_object(local_path(cfg.output_dir)))
    say = print if is_main_process() else _silent
    if cfg.seeds is None:
        result = train_one(cfg, int(cfg.seed), output_dir)
        say(f"run folder: {output_dir}")
        return result.best_val[cfg.trainer.monitor]
    results = []
    for i, seed in enumerate(cfg.seeds):
        say(f"== seed {seed} ({i + 1} of {len(cfg.seeds)})", flush=True)
        results.append(train_one(cfg, int(seed), output_dir / f"seed_{seed}"))
    say(f"run folder: {output_dir} (one seed_<k>/ per seed)")
    for name, metrics in (
        ("valid", [r.best_val for r in results]),
        ("test", [r.test for r in results]),
    ):
        say(
            f"{name} over seeds {list(cfg.seeds)}: {format_summary(summarize(metrics))}"
        )
    return float(np.mean([r.best_val[cfg.trainer.monitor] for r in results]))


def _silent(*args: Any, **kwargs: Any) -> None:
    """``print`` of the processes other than rank 0."""


def run_select(argv: list[str]) -> None:
    """The ``mde-pyg select`` command."""
    parser = argparse.ArgumentParser(
        prog="mde-pyg select",
        description="Print the jobs of a `mde-pyg train -m` sweep and select the "
        "best on the validation metric (test scores are shown, never used); "
        "writes SWEEP_DIR/best.json.",
    )
    parser.add_argument("sweep_dir", help="the sweep folder (multirun/<date>/<time>)")
    parser.add_argument("--monitor", default="recall@20", help="validation metric")
    args = parser.parse_args(argv)
    print_selection(args.sweep_dir, args.monitor)


def print_selection(sweep_dir: str | Path, monitor: str) -> None:
    best, _, table = select_best(sweep_dir, monitor)
    print(table)
    print(
        f"selected on validation {monitor}: job {best.job} "
        f"({' '.join(best.overrides) or 'no overrides'}), val {best.val:.4f}; "
        f"written to {Path(sweep_dir) / 'best.json'}"
    )


class SelectBestCallback(Callback):
    """Ends every ``mde-pyg train -m`` sweep by selecting its best setting on
    validation (see :func:`mde_pyg.training.selection.select_best`)."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        print_selection(config.hydra.sweep.dir, config.trainer.monitor)


@hydra.main(version_base="1.3", config_path="pkg://mde_pyg.conf", config_name="config")
def train_app(cfg: DictConfig) -> float:
    try:
        return run_train(cfg)
    except Exception as error:
        _exit_on_user_error(error)


def _exit_on_user_error(error: Exception) -> None:
    """Prints a user error as one ``error:`` line and exits with status 2;
    re-raises anything else."""
    cause = user_error(error)
    if cause is None:
        raise error
    print(f"error: {cause}", file=sys.stderr)
    sys.exit(2)


def compose_config(overrides: list[str]) -> DictConfig:
    """The package's ``conf/`` composed with ``overrides``, as ``mde-pyg
    train`` composes it (without Hydra's own ``hydra`` section)."""
    from hydra import compose, initialize_config_module

    with initialize_config_module(CONFIG_MODULE, version_base="1.3"):
        return compose("config", overrides=overrides, return_hydra_config=False)


def run_info(overrides: list[str]) -> None:
    for name, version in versions().items():
        print(f"{name:16s} {version}")
    print(f"{'cuda':16s} {torch.cuda.is_available()}")
    print(f"{'torch_sparse':16s} {torch_geometric.typing.WITH_TORCH_SPARSE}")
    print(f"{'torch_scatter':16s} {torch_geometric.typing.WITH_TORCH_SCATTER}")
    cfg = compose_config(overrides)
    data = build_dataset(cfg)
    print(f"dataset: {cfg.dataset._target_}")
    print(f"  users {data[USER].num_nodes}  items {data[ITEM].num_nodes}")
    for split in ("train", "val", "test"):
        print(f"  {split:5s} pairs {split_edge_index(data, split).size(1)}")
    for modality, x in item_features(data).items():
        print(f"  modality {modality}: {tuple(x.shape)}")


def run_evaluate(run_dir: str) -> None:
    model, data, cfg = inference.load_run(run_dir, device="auto")
    trainer = Trainer(
        model,
        data,
        seed=None,
        verbose=False,
        k=tuple(cfg.trainer.k),
        device=str(next(model.parameters()).device),
    )
    for split in ("val", "test"):
        metrics = trainer.evaluate(split)
        print(f"{split}: " + "  ".join(f"{k}={v:.4f}" for k, v in metrics.items()))


def run_encode_text(argv: list[str]) -> None:
    """The ``mde-pyg encode-text`` command."""
    parser = argparse.ArgumentParser(
        prog="mde-pyg encode-text",
        description="Encode item text into a <modality>_feat.npy feature matrix "
        "(row i = item i) with a sentence-transformers model.",
    )
    parser.add_argument("items", help="items file: .tsv or .csv with header, .jsonl")
    parser.add_argument("--id-column", required=True, help="column of item IDs")
    parser.add_argument(
        "--text-columns",
        nargs="+",
        required=True,
        help="columns of text, joined with '. ' (empty values skipped)",
    )
    parser.add_argument("--out", required=True, help="output DIR/<modality>_feat.npy")
    parser.add_argument(
        "--num-items",
        type=int,
        help="items of the dataset (default: largest ID + 1; pass it when the "
        "last items may have no text)",
    )
    parser.add_argument(
        "--model",
        help="sentence-transformers model name or folder "
        "(default: the bundled all-MiniLM-L6-v2)",
    )
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args(argv)

    out = Path(args.out)
    if not out.name.endswith(features.FEATURE_SUFFIX):
        parser.error(
            f"--out must be named <modality>{features.FEATURE_SUFFIX} so that loaders "
            f"find it, got '{out.name}'"
        )
    try:
        ids, texts = features.read_item_texts(
            args.items, args.id_column, args.text_columns, args.num_items
        )
        num_items = args.num_items
        if num_items is None:
            num_items = int(ids.max()) + 1 if len(ids) else 0
        start = time.perf_counter()
        matrix, num_missing = features.encode_items(
            ids, texts, num_items, model=args.model, batch_size=args.batch_size
        )
    # OSError: a model that is neither a local folder nor downloadable.
    except (DatasetError, ImportError, OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.save(out, matrix)
    print(
        f"{out}: {matrix.shape[0]} items x {matrix.shape[1]} dims, "
        f"{len(ids)} with text, {num_missing} without (mean vector), "
        f"encoded in {time.perf_counter() - start:.1f}s"
    )


def _device_option(name: str) -> torch.device:
    """The ``--device`` of ``recommend`` and ``export``."""
    try:
        return resolve_device(name)
    except (RuntimeError, ValueError) as error:
        raise ConfigError(f"--device {name}: {error}") from None


_IDS_NOTE = (
    "Users and items are internal ids (row i of the run's dataset): the "
    "package's datasets carry no map back to raw ids."
)


def run_recommend(argv: list[str]) -> None:
    """The ``mde-pyg recommend`` command."""
    parser = argparse.ArgumentParser(
        prog="mde-pyg recommend",
        description="Recommend items with the best checkpoint of a finished run: "
        "the exact full ranking by dot product of the final embeddings, without "
        "each user's training items, ties broken by the lower item id. " + _IDS_NOTE,
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a `mde-pyg train` run")
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--users", help="internal user ids, comma-separated: 0,5,7")
    who.add_argument(
        "--users-file",
        metavar="F",
        help="file of internal user ids, separated by commas or whitespace "
        "('#' comments)",
    )
    who.add_argument("--all", action="store_true", help="every user")
    parser.add_argument("--k", type=int, default=10, help="items per user (10)")
    parser.add_argument(
        "--out",
        required=True,
        help="recs.csv: user,rank,item,score rows; recs.jsonl: one "
        '{"user", "items", "scores"} object per user; recs.parquet: the csv '
        "rows (needs pandas and pyarrow). A user with fewer than k unseen "
        "items gets fewer.",
    )
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, auto")
    parser.add_argument(
        "--method",
        default="auto",
        choices=inference.RETRIEVAL_METHODS,
        help="dense: score every item; mips: search a faiss inner-product index "
        "(exact, needs faiss); auto (default): mips for large catalogues when "
        "faiss is installed. Both give the same lists.",
    )
    args = parser.parse_args(argv)
    source = "--users" if args.users is not None else args.users_file
    try:
        inference.output_format(args.out)
        if args.k <= 0:
            raise ValueError(f"--k must be a positive integer (got {args.k})")
        if not args.all:
            text = args.users
            if args.users_file is not None:
                text = Path(args.users_file).read_text()
            users = inference.parse_user_ids(text, source)
    except (ImportError, ValueError) as error:
        raise ConfigError(str(error)) from None
    model, data, _ = inference.load_run(args.run_dir, _device_option(args.device))
    if args.all:
        users = torch.arange(model.num_users, device="cpu")
    else:
        try:
            users = inference.check_users(users, model.num_users)
        except ValueError as error:
            raise ConfigError(f"{source}: {error}") from None

    def progress(done: int, total: int) -> None:
        print(f"\rrecommend: {done}/{total} users", end="", file=sys.stderr)

    show_progress = args.all and sys.stderr.isatty()
    user_emb, item_emb = model.embeddings(data)
    try:
        items, scores = inference.recommend_from_embeddings(
            user_emb,
            item_emb,
            users,
            k=args.k,
            exclude_index=split_edge_index(data, "train"),
            progress=progress if show_progress else None,
            method=args.method,
        )
    except ImportError as error:  # --method mips without faiss
        raise ConfigError(str(error)) from None
    if show_progress:
        print(file=sys.stderr)
    rows = inference.write_recommendations(args.out, users, items, scores)
    print(
        f"{args.out}: {rows} recommendations for {users.numel()} users "
        f"(top {args.k}, internal ids)"
    )


def run_export(argv: list[str]) -> None:
    """The ``mde-pyg export`` command."""
    parser = argparse.ArgumentParser(
        prog="mde-pyg export",
        description="Write the final embeddings of a finished run's best "
        "checkpoint: DIR/user_embeddings.npy and DIR/item_embeddings.npy (row i "
        "is id i; items are scored by the dot product) and DIR/ids.json. " + _IDS_NOTE,
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a `mde-pyg train` run")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, auto")
    args = parser.parse_args(argv)
    model, data, _ = inference.load_run(args.run_dir, _device_option(args.device))
    paths = inference.export_embeddings(model, data, args.out)
    print(
        f"{args.out}: {model.num_users} users and {model.num_items} items "
        f"({', '.join(path.name for path in paths)})"
    )


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        sys.exit(0 if argv else 2)
    command, rest = argv[0], argv[1:]
    # torch flags every CSR adjacency as a beta feature; a user can do nothing
    # about it, so the command line does not show it.
    warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
    if command == "train":
        keep_freed_memory()
        if launched_by_torchrun() and os.environ["RANK"] != "0":
            # Rank 0 writes the run folder; the others' Hydra writes nothing
            # and creates no folder of its own (they use rank 0's).
            rest = [
                *rest,
                "hydra.run.dir=.",
                "hydra.output_subdir=null",
                "hydra/job_logging=disabled",
            ]
        sys.argv = [f"{sys.argv[0]} train", *rest]
        train_app()
        return
    try:
        if command == "info":
            run_info(rest)
        elif command == "evaluate":
            if len(rest) != 1:
                raise ConfigError("usage: mde-pyg evaluate RUN_DIR")
            run_evaluate(rest[0])
        elif command == "select":
            run_select(rest)
        elif command == "prepare":
            prepare_main(rest)
        elif command == "encode-text":
            run_encode_text(rest)
        elif command == "recommend":
            run_recommend(rest)
        elif command == "export":
            run_export(rest)
        else:
            print(f"error: unknown command '{command}'\n{USAGE}", file=sys.stderr)
            sys.exit(2)
    except Exception as error:
        _exit_on_user_error(error)


if __name__ == "__main__":
    main()
