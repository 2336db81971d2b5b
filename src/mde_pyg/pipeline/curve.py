"""The training curve of a run: loss and validation metric per epoch."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any


def plotting_available() -> bool:
    """Whether matplotlib (the ``plot`` extra) is installed."""
    return importlib.util.find_spec("matplotlib") is not None


def plot_training_curve(
    history: Sequence[dict[str, Any]],
    monitor: str,
    path: str | Path,
    best_epoch: int | None = None,
) -> Path:
    """Writes a PNG with the mean training loss (left) and the validation
    ``monitor`` (right) of every epoch of ``history`` (the records of
    :attr:`Trainer.history`), marking ``best_epoch``.

    It draws on a :class:`matplotlib.figure.Figure` of its own, so the
    pyplot backend of the caller (a notebook's, say) is left as it is.

    Args:
        history (list of dict): Records with ``epoch``, ``loss`` and
            ``val[monitor]``.
        monitor (str): The validation metric, e.g. ``"recall@20"``.
        path (str or Path): The PNG file.
        best_epoch (int, optional): The selected epoch. (default: :obj:`None`)

    Raises:
        ImportError: if matplotlib is not installed
            (``pip install "mde-pyg[plot]"``).
    """
    from matplotlib.figure import Figure

    epochs = [record["epoch"] for record in history]
    fig = Figure(figsize=(9, 3.5))
    left, right = fig.subplots(1, 2)
    left.plot(epochs, [record["loss"] for record in history])
    left.set(xlabel="epoch", ylabel="training loss")
    right.plot(epochs, [record["val"][monitor] for record in history])
    right.set(xlabel="epoch", ylabel=f"validation {monitor}")
    if best_epoch is not None:
        right.axvline(best_epoch, color="grey", linestyle="--", label="best")
        right.legend()
    for ax in (left, right):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    # Written whole or not at all: a full disk leaves no half a PNG.
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        fig.savefig(tmp, dpi=100, format="png")
        os.replace(tmp, path)
    except BaseException:
        with suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise
    return path
