from mde_pyg.errors import CheckpointError
from mde_pyg.training.callback import Callback
from mde_pyg.training.checkpoint import load_checkpoint, save_checkpoint
from mde_pyg.training.device import device_name, resolve_device
from mde_pyg.training.early_stopping import EarlyStopping
from mde_pyg.training.memory import keep_freed_memory
from mde_pyg.training.multiseed import format_summary, summarize
from mde_pyg.training.seed import seed_everything
from mde_pyg.training.trainer import Trainer, TrainResult

__all__ = [
    "Callback",
    "CheckpointError",
    "EarlyStopping",
    "Trainer",
    "TrainResult",
    "device_name",
    "format_summary",
    "keep_freed_memory",
    "load_checkpoint",
    "resolve_device",
    "save_checkpoint",
    "seed_everything",
    "summarize",
]
