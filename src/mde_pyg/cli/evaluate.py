"""``mde-pyg evaluate RUN_DIR``: the metrics of a finished run's best
checkpoint."""

from __future__ import annotations

from mde_pyg.errors import ConfigError
from mde_pyg.pipeline import load_run
from mde_pyg.training import Trainer


def main(argv: list[str]) -> None:
    if len(argv) != 1 or argv[0].startswith("-"):
        raise ConfigError("usage: mde-pyg evaluate RUN_DIR")
    model, data, cfg = load_run(argv[0], device="auto")
    trainer = Trainer(
        model,
        data,
        seed=None,
        k=tuple(cfg.trainer.k),
        device=str(next(model.parameters()).device),
    )
    for split in ("val", "test"):
        metrics = trainer.evaluate(split)
        print(f"{split}: " + "  ".join(f"{k}={v:.4f}" for k, v in metrics.items()))
