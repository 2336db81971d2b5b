"""Early stopping on a validation metric."""

from __future__ import annotations


class EarlyStopping:
    r"""Stops training after ``patience`` evaluations without a strict
    improvement of the monitored (higher-is-better) metric, as the MMRec
    protocol does: with ``patience=20`` training stops at the 21st
    evaluation in a row that does not beat the best.

    Args:
        patience (int, optional): Evaluations without improvement tolerated.
            (default: :obj:`20`)
    """

    def __init__(self, patience: int = 20) -> None:
        if patience < 0:
            raise ValueError(f"'patience' must be >= 0 (got {patience})")
        self.patience = patience
        self.best: float = float("-inf")
        self.best_epoch: int = -1
        self.bad_evaluations = 0

    def step(self, value: float, epoch: int) -> bool:
        """Records ``value`` of ``epoch``; returns whether it is a new best."""
        if value > self.best:
            self.best, self.best_epoch, self.bad_evaluations = value, epoch, 0
            return True
        self.bad_evaluations += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.bad_evaluations > self.patience

    def state_dict(self) -> dict:
        return {
            "best": self.best,
            "best_epoch": self.best_epoch,
            "bad_evaluations": self.bad_evaluations,
        }

    def load_state_dict(self, state: dict) -> None:
        self.best = state["best"]
        self.best_epoch = state["best_epoch"]
        self.bad_evaluations = state["bad_evaluations"]

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(patience={self.patience})"
