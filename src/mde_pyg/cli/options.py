"""Options shared by the commands that read a finished run folder."""

from __future__ import annotations

import torch

from mde_pyg.errors import ConfigError
from mde_pyg.training import resolve_device


def device_option(name: str) -> torch.device:
    """The ``--device`` of ``evaluate``, ``recommend`` and ``export``."""
    try:
        return resolve_device(name)
    except ValueError as error:
        raise ConfigError(f"--device {name}: {error}") from None


IDS_NOTE = (
    "Users and items are internal ids (row i of the run's dataset); when the "
    "dataset folder has ID maps (u_id_mapping.csv, i_id_mapping.csv, written "
    "by `mde-pyg import`), raw ids are used beside them."
)
