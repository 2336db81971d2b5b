"""``mde-pyg train [OVERRIDES] [-m]``: a Hydra app composed from the
package's ``conf/`` (also run by ``examples/train.py``), so every key can be
overridden and ``-m`` sweeps work; it prints progress and the result of the
run that :mod:`mde_pyg.pipeline` trains."""

from __future__ import annotations

import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import hydra
import numpy as np
from hydra.experimental.callback import Callback as HydraCallback
from omegaconf import DictConfig, OmegaConf
from tqdm.auto import tqdm

from mde_pyg.cli.select import print_selection
from mde_pyg.cli.user_errors import exit_on_user_error
from mde_pyg.errors import DivergenceError, RunInterrupted, StorageError
from mde_pyg.pipeline import check_run_settings, seed_folders, start_run, train_one
from mde_pyg.pipeline.config import check_overrides, local_path
from mde_pyg.pipeline.lock import hold_run_folder
from mde_pyg.pipeline.renamed_keys import rename_overrides
from mde_pyg.training import (
    Callback,
    Trainer,
    TrainResult,
    device_name,
    format_summary,
    keep_freed_memory,
    summarize,
)
from mde_pyg.training.distributed import is_main_process, launched_by_torchrun


def format_result(result: TrainResult, k: tuple[int, ...]) -> str:
    """A two-line summary: validation and test Recall/NDCG at every K."""
    lines = [f"best epoch {result.best_epoch} (of {result.epochs_run})"]
    for name, metrics in (("val", result.best_val), ("test", result.test)):
        parts = [
            f"{metric}@{cut}={metrics[f'{metric}@{cut}']:.4f}"
            for metric in ("recall", "ndcg")
            for cut in k
        ]
        lines.append(f"{name}: " + "  ".join(parts))
    return "\n".join(lines)


class ProgressPrinter(Callback):
    """Shows a run's progress: a bar over the epochs (validation metric,
    best so far, time left at most) on a terminal, one line per epoch
    otherwise, and the result at the end."""

    def on_fit_start(self, trainer: Trainer) -> None:
        model = trainer.model.__class__.__name__
        start = f" from epoch {trainer.start_epoch}" if trainer.start_epoch else ""
        print(f"training {model} on {device_name(trainer.device)}{start}", flush=True)
        # A bar where someone watches; log-friendly lines where output is kept.
        self.bar = tqdm(
            total=trainer.max_epochs,
            initial=trainer.start_epoch,
            unit="epoch",
            disable=not sys.stderr.isatty(),
            dynamic_ncols=True,
        )

    def on_epoch_end(
        self, trainer: Trainer, record: dict[str, Any], improved: bool
    ) -> None:
        val = record["val"][trainer.monitor]
        stopping = trainer.early_stopping
        if not self.bar.disable:
            self.bar.set_postfix(
                loss=f"{record['loss']:.4f}",
                val=f"{val:.4f}",
                best=f"{stopping.best:.4f}@{stopping.best_epoch}",
                refresh=False,
            )
            self.bar.update(1)
            return
        print(
            f"epoch {record['epoch']:4d} | loss {record['loss']:.4f} | "
            f"val {trainer.monitor} {val:.4f}{' *' if improved else '  '} | "
            f"train {record['train_time']:.2f}s eval {record['eval_time']:.2f}s",
            flush=True,
        )

    def on_fit_end(self, trainer: Trainer, result: TrainResult) -> None:
        self.bar.close()
        print(format_result(result, trainer.k))


def run_train(cfg: DictConfig) -> float:
    """Trains one seed, or every seed of ``cfg.seeds``, prints the results
    and returns the mean validation ``trainer.monitor`` (the value a sweep
    optimises: never a test score)."""
    output_dir = start_run(cfg)
    main = is_main_process()
    callbacks = [ProgressPrinter()] if cfg.trainer.verbose and main else []
    results = []
    with hold_run_folder(output_dir, created=_created_root(output_dir)):
        runs = seed_folders(cfg, output_dir)
        try:
            for i, (seed, folder) in enumerate(runs):
                if main and cfg.seeds is not None:
                    print(f"== seed {seed} ({i + 1} of {len(runs)})", flush=True)
                results.append(train_one(cfg, seed, folder, callbacks))
        except (StorageError, DivergenceError, RunInterrupted) as error:
            # Resumed with the command's output_dir (with seeds=[...] the
            # error is about a seed's folder inside it).
            error.output_dir = output_dir
            raise
    if main:
        print_run_summary(cfg, output_dir, results)
    return float(np.mean([r.best_val[cfg.trainer.monitor] for r in results]))


def print_run_summary(cfg: DictConfig, output_dir: Any, results: list) -> None:
    if cfg.seeds is None:
        print(f"run folder: {output_dir}")
        return
    print(f"run folder: {output_dir} (one seed_<k>/ per seed)")
    for name, metrics in (
        ("val", [r.best_val for r in results]),
        ("test", [r.test for r in results]),
    ):
        print(
            f"{name} over seeds {list(cfg.seeds)}: {format_summary(summarize(metrics))}"
        )


class SelectBestCallback(HydraCallback):
    """Ends every ``mde-pyg train -m`` sweep by selecting its best setting on
    validation (see :func:`mde_pyg.pipeline.select_best`)."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        print_selection(config.hydra.sweep.dir, config.trainer.monitor)


#: The run folders that ``mde-pyg train`` found absent before Hydra made
#: them, by absolute path, with the topmost folder it creates for them (a
#: failed start removes them again); ``"default"`` stands for Hydra's
#: default folder, whose name is new by construction.
_NEW_RUN_DIRS: dict[str, Path | None] = {}


def _created_root(output_dir: Path) -> Path | None:
    """The topmost folder this run created for ``output_dir``, if any."""
    if str(output_dir) in _NEW_RUN_DIRS:
        return _NEW_RUN_DIRS[str(output_dir)]
    if "default" in _NEW_RUN_DIRS and _is_hydra_run_dir(output_dir):
        root = _NEW_RUN_DIRS["default"]
        return output_dir if root is None or root not in output_dir.parents else root
    return None


def _is_hydra_run_dir(folder: Path) -> bool:
    from hydra.core.hydra_config import HydraConfig

    try:
        return Path(HydraConfig.get().runtime.output_dir).resolve() == folder.resolve()
    except (ValueError, AttributeError):
        return False


def _topmost_missing(folder: Path) -> Path | None:
    """The topmost folder of ``folder``'s path that does not exist."""
    missing = None
    for path in (folder, *folder.parents):
        if path.exists():
            break
        missing = path
    return missing


def _unique_suffix() -> str:
    """What makes the default run folder's name unique among the runs
    started in the same second: microseconds and the process id."""
    return f"{datetime.now():%f}-{os.getpid()}"


if not OmegaConf.has_resolver("mde_pyg.unique"):
    # conf/config.yaml names the default run folder with it.
    OmegaConf.register_new_resolver("mde_pyg.unique", _unique_suffix, use_cache=True)


@hydra.main(version_base="1.3", config_path="pkg://mde_pyg.conf", config_name="config")
def train_app(cfg: DictConfig) -> float:
    try:
        return run_train(cfg)
    except Exception as error:
        exit_on_user_error(error)


def _override(argv: list[str], key: str) -> str | None:
    """The value that ``argv`` sets ``key`` to (the last one), if any."""
    values = [a.split("=", 1)[1] for a in argv if a.split("=", 1)[0] == key]
    return values[-1] if values else None


def hydra_argv(argv: list[str]) -> list[str]:
    """``argv`` for the Hydra app, checked first (a bad override is one
    ``error:`` line, not Hydra's text), with ``hydra.run.dir`` set to
    ``output_dir`` where only the latter is given (one run, one folder);
    notes which run folder the run creates."""
    multirun = "-m" in argv or "--multirun" in argv
    flags = [a for a in argv if a.startswith("-") and a not in ("-m", "--multirun")]
    if flags:  # Hydra's own options (--cfg, --help, ...): Hydra parses them
        return argv
    overrides = [a for a in argv if not a.startswith("-")]
    composed = check_overrides(overrides, multirun)
    check_run_settings(composed)
    _NEW_RUN_DIRS.clear()
    if multirun:
        return argv
    output_dir = _override(overrides, "output_dir")
    run_dir = _override(overrides, "hydra.run.dir")
    if output_dir is not None and "${" not in output_dir and run_dir is None:
        argv = [*argv, f"hydra.run.dir={output_dir}"]
        run_dir = output_dir
    folder = output_dir if output_dir is not None else run_dir
    if folder is None:
        choices = composed.hydra.runtime.choices
        default = Path("outputs", choices.model, choices.dataset).absolute()
        _NEW_RUN_DIRS["default"] = _topmost_missing(default)
    elif "${" not in folder:
        path = Path(local_path(folder))
        if not path.exists():
            _NEW_RUN_DIRS[str(path)] = _topmost_missing(path)
    return argv


def main(argv: list[str]) -> None:
    """``mde-pyg train ARGV``: runs the Hydra app on ``argv``."""
    keep_freed_memory()
    argv = rename_overrides(argv)
    if launched_by_torchrun() and os.environ["RANK"] != "0":
        # Rank 0 writes the run folder; the others' Hydra writes nothing
        # and creates no folder of its own (they use rank 0's).
        argv = [
            *argv,
            "hydra.run.dir=.",
            "hydra.output_subdir=null",
            "hydra/job_logging=disabled",
        ]
        check_overrides([a for a in argv if not a.startswith("-")], "-m" in argv)
        _NEW_RUN_DIRS.clear()
    else:
        argv = hydra_argv(argv)
    sys.argv = [f"{sys.argv[0]} train", *argv]
    # Hydra's own failures (a run folder it cannot write) reach the caller,
    # which prints them as one line, instead of Hydra's traceback.
    full_error = os.environ.get("HYDRA_FULL_ERROR")
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        train_app()
    finally:
        if full_error is None:
            del os.environ["HYDRA_FULL_ERROR"]
        else:
            os.environ["HYDRA_FULL_ERROR"] = full_error
        _NEW_RUN_DIRS.clear()
