"""Train and evaluate a recommender from Python, without Hydra: data, graphs,
model and :class:`~mde_pyg.training.Trainer`, the steps ``mde-pyg train``
composes from ``conf/``.

    python examples/train_python.py                 # MDE on the built-in data
    python examples/train_python.py --model lightgcn
    python examples/train_python.py --quick         # a few seconds
"""

from __future__ import annotations

import argparse

from mde_pyg.data import make_synthetic
from mde_pyg.models import LATTICE, MDE, LightGCN
from mde_pyg.training import Trainer, seed_everything

MODELS = {"mde": MDE, "lightgcn": LightGCN, "lattice": LATTICE}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="mde")
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", help="cpu, cuda or auto")
    parser.add_argument("--quick", action="store_true", help="tiny data, 2 epochs")
    args = parser.parse_args(argv)

    # The global random streams fix the data split and the initialisation.
    seed_everything(args.seed)
    size = {"num_users": 300, "num_items": 150} if args.quick else {}
    data = make_synthetic(seed=args.seed, **size)
    # Graphs are data: the model says which ones it reads, built once here.
    model_cls = MODELS[args.model]
    data = model_cls.graph_transform()(data)
    model = model_cls.from_data(data)

    trainer = Trainer(
        model,
        data,
        max_epochs=2 if args.quick else args.epochs,
        seed=args.seed,
        device=args.device,
    )
    result = trainer.fit()  # early-stops on validation, reports test there
    print(f"best epoch {result.best_epoch} (of {result.epochs_run})")
    for split, metrics in (("val", result.best_val), ("test", result.test)):
        shown = [f"{m}@{k}" for m in ("recall", "ndcg") for k in trainer.k]
        print(f"{split}: " + "  ".join(f"{key}={metrics[key]:.4f}" for key in shown))


if __name__ == "__main__":
    main()
