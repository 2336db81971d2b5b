from mde_pyg.training.checkpoint import (
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
)
from mde_pyg.training.early_stopping import EarlyStopping
from mde_pyg.training.memory import keep_freed_memory
from mde_pyg.training.multiseed import format_summary, summarize
from mde_pyg.training.seed import seed_everything
from mde_pyg.training.trainer import Trainer, TrainResult, format_result, resolve_device

__all__ = [
    "CheckpointError",
    "EarlyStopping",
    "Trainer",
    "TrainResult",
    "format_result",
    "format_summary",
    "keep_freed_memory",
    "load_checkpoint",
    "resolve_device",
    "save_checkpoint",
    "seed_everything",
    "summarize",
]
