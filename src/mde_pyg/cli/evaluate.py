"""``mde-pyg evaluate RUN_DIR``: the metrics of a finished run's best
checkpoint."""

from __future__ import annotations

import argparse

from mde_pyg.cli.options import device_option
from mde_pyg.pipeline import load_run
from mde_pyg.training import Trainer


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="mde-pyg evaluate",
        description="Print the validation and test metrics of a finished run's "
        "best checkpoint (full ranking, the run's cut-offs).",
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a `mde-pyg train` run")
    parser.add_argument(
        "--device", default="auto", help="auto (default: CUDA if present), cpu, cuda"
    )
    args = parser.parse_args(argv)
    model, data, cfg = load_run(args.run_dir, device=device_option(args.device))
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
