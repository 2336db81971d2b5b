"""Hooks through which a :class:`~mde_pyg.training.Trainer` reports progress
to its caller (a progress bar, a log, an experiment tracker)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mde_pyg.training.trainer import Trainer, TrainResult


class Callback:
    """Base class of the trainer's callbacks: override the hooks you need.

    The trainer calls them on every process of a distributed run; a callback
    that prints or writes should check
    :func:`~mde_pyg.training.distributed.is_main_process`.
    """

    def on_resume(self, trainer: Trainer, state: dict[str, Any]) -> None:  # noqa: B027
        """The checkpoint ``state`` was loaded to resume from, before its
        fingerprint is checked: a caller may upgrade in place what an older
        version of it wrote (a renamed config key, say)."""

    def on_fit_start(self, trainer: Trainer) -> None:  # noqa: B027
        """Training starts (at ``trainer.start_epoch``, after a resume)."""

    def on_epoch_end(  # noqa: B027
        self, trainer: Trainer, record: dict[str, Any], improved: bool
    ) -> None:
        """An epoch ended: ``record`` holds its ``epoch``, ``loss``, ``val``
        metrics and ``train_time``/``eval_time``; ``improved`` says whether
        it is the best so far (and was checkpointed as ``best.pt``)."""

    def on_fit_end(self, trainer: Trainer, result: TrainResult) -> None:  # noqa: B027
        """Training ended; ``result`` is what :meth:`Trainer.fit` returns."""
