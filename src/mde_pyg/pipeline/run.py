"""Training a composed config into a run folder.

A run folder holds what ran and what it gave: ``config.yaml`` (the config
with every value resolved), ``results.json`` (the result, the config,
versions, data hashes), ``training_curve.png`` (with the ``plot`` extra) and
``checkpoints/`` (``last.pt`` to resume, ``best.pt`` to use). With
``seeds=[...]`` each seed gets a ``seed_<k>/`` run folder of its own.
"""

from __future__ import annotations

import json
import platform
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch_geometric
from omegaconf import DictConfig, OmegaConf

import mde_pyg
from mde_pyg.errors import (
    ConfigError,
    DivergenceError,
    RunInterrupted,
    StorageError,
    machine_fault,
)
from mde_pyg.pipeline.build import build_data, build_model, dataset_files
from mde_pyg.pipeline.config import (
    RUN_CONFIG,
    check_kwargs,
    local_path,
    rejected_values,
)
from mde_pyg.pipeline.curve import plot_training_curve, plotting_available
from mde_pyg.pipeline.renamed_keys import add_config_keys, rename_config_keys
from mde_pyg.training import Callback, Trainer, TrainResult, seed_everything
from mde_pyg.training.device import device_name, resolve_device
from mde_pyg.training.distributed import (
    broadcast_object,
    get_world_size,
    is_main_process,
    main_process_first,
    setup_distributed,
    wants_distributed,
)


def _trainer_section_options(verbose: bool = True) -> None:
    """The keys of the ``trainer`` config section that are not
    :class:`~mde_pyg.training.Trainer` arguments, which prints nothing:
    ``verbose`` tells the command line to show progress."""


#: Keys of the ``trainer`` config section that the pipeline's caller reads.
PIPELINE_TRAINER_KEYS = ("verbose",)
#: Arguments of :class:`~mde_pyg.training.Trainer` that the pipeline fills.
_FILLED_TRAINER_ARGS = (
    "model",
    "data",
    "seed",
    "checkpoint_dir",
    "resume",
    "fingerprint",
    "callbacks",
)


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


def resolved_config(cfg: DictConfig, output_dir: Path, seed: int) -> dict[str, Any]:
    """``cfg`` as plain values, interpolations resolved, with this run's
    folder and seed (so that it also resolves outside a Hydra app, whose
    ``output_dir`` interpolation it replaces)."""
    config = OmegaConf.to_container(cfg, resolve=False)
    config.update(output_dir=str(output_dir), seed=seed)
    return OmegaConf.to_container(OmegaConf.create(config), resolve=True)


def run_fingerprint(config: dict[str, Any], data_files: dict[str, str]) -> dict:
    """The entries a resumed run must share with its checkpoint on top of
    the trainer's own (:meth:`Trainer.fingerprint`, which holds both): the
    model and dataset sections of the resolved ``config`` and the content of
    the data files (by file name, so that a moved folder still resumes)."""
    dataset = {key: v for key, v in config["dataset"].items() if key != "folder"}
    return {
        "config.model": config["model"],
        "config.dataset": dataset,
        **{f"file.{Path(path).name}": digest for path, digest in data_files.items()},
    }


def trainer_settings(cfg: DictConfig) -> dict[str, Any]:
    """The :class:`~mde_pyg.training.Trainer` arguments of ``cfg.trainer``,
    checked against its signature."""
    settings = OmegaConf.to_container(cfg.trainer, resolve=True)
    own = {key: settings.pop(key) for key in PIPELINE_TRAINER_KEYS if key in settings}
    check_kwargs("trainer", own, _trainer_section_options)
    check_kwargs("trainer", settings, Trainer, provided=_FILLED_TRAINER_ARGS)
    return {**settings, "k": tuple(settings["k"])}


class RenamedKeysInCheckpoint(Callback):
    """Lets a run resume a checkpoint written before a config key was
    renamed or added: the model section of its fingerprint gets the new
    names (:func:`~mde_pyg.pipeline.renamed_keys.rename_config_keys`) and
    the added keys at their earlier behaviour
    (:func:`~mde_pyg.pipeline.renamed_keys.add_config_keys`) where the
    resuming run's model section ``model`` has them."""

    def __init__(self, model: dict[str, Any]) -> None:
        self.model = model

    def on_resume(self, trainer: Trainer, state: dict[str, Any]) -> None:
        fingerprint = state.get("fingerprint") or {}
        if isinstance(fingerprint.get("config.model"), dict):
            stored = {"model": fingerprint["config.model"]}
            rename_config_keys(stored)
            add_config_keys(stored, {"model": self.model})


def check_run_settings(cfg: DictConfig) -> None:
    """Raises a :class:`~mde_pyg.errors.ConfigError` (or
    :class:`~mde_pyg.errors.DistributedError`) for a ``trainer.device`` or
    ``trainer.distributed`` that no run could start with, so that a command
    line can be refused before its run folder is made."""
    with rejected_values("trainer"):
        resolve_device(cfg.trainer.device)
        wants_distributed(cfg.trainer.distributed)


def start_run(cfg: DictConfig) -> Path:
    """Joins the processes of a distributed run (where ``trainer.distributed``
    asks for it) and returns the run folder, the same on every process."""
    with rejected_values("trainer"):
        setup_distributed(cfg.trainer.distributed, resolve_device(cfg.trainer.device))
    # Every process writes (rank 0) or reads (resume) rank 0's run folder,
    # whose name Hydra stamps with each process's own clock.
    return Path(broadcast_object(local_path(cfg.output_dir)))


def seed_folders(cfg: DictConfig, output_dir: Path) -> list[tuple[int, Path]]:
    """``(seed, run folder)`` of every seed of ``cfg``: ``cfg.seed`` in
    ``output_dir``, or each of ``cfg.seeds`` in ``output_dir/seed_<k>``."""
    if cfg.seeds is None:
        return [(int(cfg.seed), output_dir)]
    if len(cfg.seeds) == 0:
        raise ConfigError(
            "seeds=[] lists no seed (list one or more, e.g. seeds=[0,1,2], or "
            "leave seeds unset and set seed)"
        )
    return [(int(seed), output_dir / f"seed_{seed}") for seed in cfg.seeds]


def train_one(
    cfg: DictConfig,
    seed: int,
    output_dir: str | Path,
    callbacks: Sequence[Callback] = (),
) -> TrainResult:
    """Trains one seed of the composed configuration into the run folder
    ``output_dir`` and returns the result (as one of the processes of a
    distributed run where ``trainer.distributed`` asks for it: each builds the
    data and model, rank 0 writes the run folder)."""
    output_dir = Path(output_dir)
    settings = trainer_settings(cfg)
    seed_everything(seed)
    # Rank 0 first, so that dataset and graph caches are written once.
    with main_process_first():
        data = build_data(cfg)
    model = build_model(cfg, data)
    data_files = dataset_files(cfg.dataset)
    config = resolved_config(cfg, output_dir, seed)
    if is_main_process():
        with writing(output_dir / RUN_CONFIG, output_dir):
            output_dir.mkdir(parents=True, exist_ok=True)
            OmegaConf.save(OmegaConf.create(config), output_dir / RUN_CONFIG)
    with rejected_values("trainer"):
        trainer = Trainer(
            model,
            data,
            seed=seed,
            checkpoint_dir=output_dir / "checkpoints" if cfg.checkpoint else None,
            resume=cfg.resume,
            fingerprint=run_fingerprint(config, data_files),
            callbacks=[RenamedKeysInCheckpoint(config["model"]), *callbacks],
            **settings,
        )
    try:
        result = trainer.fit()
    except (StorageError, DivergenceError, RunInterrupted) as error:
        # Say how to resume: with this run's folder.
        error.output_dir = output_dir
        raise
    if is_main_process():
        last = (
            (trainer.checkpoint_dir / "last.pt", trainer.saved_epoch)
            if trainer.checkpoint_dir is not None
            else None
        )
        with writing(output_dir / "results.json", output_dir, last):
            write_results(
                output_dir / "results.json",
                result,
                {
                    "seed": seed,
                    "device": device_name(trainer.device),
                    "world_size": get_world_size(),
                    "config": config,
                    "versions": versions(),
                    "data_files": data_files,
                    "model": repr(model),
                },
            )
        if plotting_available():
            with writing(output_dir / "training_curve.png", output_dir, last):
                plot_training_curve(
                    result.history,
                    trainer.monitor,
                    output_dir / "training_curve.png",
                    result.best_epoch,
                )
    return result


@contextmanager
def writing(
    path: Path, output_dir: Path, last: tuple[Path, int | None] | None = None
) -> Iterator[None]:
    """Turns a failure of the machine while writing ``path`` (no space, a
    read-only, missing or vanished folder) into a
    :class:`~mde_pyg.errors.StorageError` that names it and says how to
    resume from ``last`` (the last complete checkpoint and its epochs)."""
    try:
        yield
    except OSError as error:
        if machine_fault(error) is None or isinstance(error, StorageError):
            raise
        failure = StorageError.from_os_error(error, path)
        failure.output_dir = output_dir
        if last is not None and last[1] is not None:
            failure.checkpoint, failure.epoch = last
        raise failure from error


def write_results(path: Path, result: TrainResult, metadata: dict[str, Any]) -> None:
    """Writes ``results.json``: ``metadata`` and the result, with the mean
    epoch time; atomically (a reader never sees half a file)."""
    payload = {**metadata, "result": asdict(result)}
    payload["result"]["mean_epoch_time"] = result.mean_epoch_time
    tmp = path.with_suffix(".tmp")
    try:
        tmp.write_text(json.dumps(payload, indent=2, default=str))
        tmp.replace(path)
    except BaseException:
        with suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise
