r"""The run pipeline: config :math:`\rightarrow` data :math:`\rightarrow`
graphs :math:`\rightarrow` model :math:`\rightarrow` trainer
:math:`\rightarrow` run folder, and back from a run folder to a model.

``mde-pyg`` (:mod:`mde_pyg.cli`) only parses arguments and prints; every
program that builds a run (the benchmarks, the examples, a user's script)
calls these functions.
"""

from mde_pyg.pipeline.build import (
    add_graphs,
    build_data,
    build_dataset,
    build_model,
    dataset_files,
)
from mde_pyg.pipeline.config import (
    RUN_CONFIG,
    check_kwargs,
    check_overrides,
    compose_config,
    config_names,
    load_run_config,
)
from mde_pyg.pipeline.lock import RunLock, hold_run_folder
from mde_pyg.pipeline.recommendations import (
    format_recommendations,
    output_format,
    write_recommendations,
)
from mde_pyg.pipeline.run import (
    check_run_settings,
    resolved_config,
    seed_folders,
    start_run,
    train_one,
    versions,
)
from mde_pyg.pipeline.run_folder import export_embeddings, load_run, raw_ids
from mde_pyg.pipeline.sweep import SweepJob, load_sweep, select_best, write_selection

__all__ = [
    "RUN_CONFIG",
    "RunLock",
    "SweepJob",
    "add_graphs",
    "build_data",
    "build_dataset",
    "build_model",
    "check_kwargs",
    "check_overrides",
    "check_run_settings",
    "compose_config",
    "config_names",
    "dataset_files",
    "export_embeddings",
    "format_recommendations",
    "hold_run_folder",
    "load_run",
    "load_run_config",
    "raw_ids",
    "load_sweep",
    "output_format",
    "resolved_config",
    "seed_folders",
    "select_best",
    "start_run",
    "train_one",
    "versions",
    "write_recommendations",
    "write_selection",
]
