"""What a trained MDE leans on: the distribution of the node-level trade-off
alpha (high: the modalities' shared part; low: their specific parts) and the
mean modality attention beta, for users and items. The node-level trade-off
is part of the paper's full design (``PAPER_OPTIONS``, ``model=mde_paper``);
the package default, chosen on validation, has one fixed alpha for all nodes.

    python examples/explain_alpha.py --out alpha.png
    python examples/explain_alpha.py --quick --out alpha.png   # seconds
"""

from __future__ import annotations

import argparse

from mde_pyg.data import make_synthetic
from mde_pyg.models import MDE, PAPER_OPTIONS
from mde_pyg.training import Trainer, seed_everything


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="alpha.png")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--quick", action="store_true", help="tiny data, 3 epochs")
    args = parser.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seed_everything(0)
    size = {"num_users": 300, "num_items": 150} if args.quick else {}
    data = MDE.graph_transform(user_graph=True)(make_synthetic(seed=0, **size))
    model = MDE.from_data(data, **PAPER_OPTIONS)
    Trainer(
        model, data, lr=1e-2, max_epochs=3 if args.quick else args.epochs
    ).fit()  # the best validation epoch's weights are restored
    explained = model.explain(data)

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
    for node in ("user", "item"):
        alpha = explained[node]["alpha"].cpu().numpy()
        left.hist(alpha, bins=50, alpha=0.6, label=f"{node}s")
        beta = explained[node]["beta"].mean(0).cpu().numpy()
        print(
            f"{node}s: alpha mean {alpha.mean():.3f} (min {alpha.min():.3f}, max "
            f"{alpha.max():.3f}); mean beta "
            + ", ".join(f"{m} {b:.3f}" for m, b in zip(explained["modalities"], beta))
        )
    left.set(xlabel="alpha (shared vs modality-specific)", ylabel="nodes")
    left.legend()
    modalities = explained["modalities"]
    for offset, node in ((-0.2, "user"), (0.2, "item")):
        beta = explained[node]["beta"].mean(0).cpu().numpy()
        right.bar(
            [i + offset for i in range(len(modalities))], beta, 0.4, label=f"{node}s"
        )
    right.set_xticks(range(len(modalities)), modalities)
    right.set(ylabel="mean attention beta")
    right.legend()
    fig.tight_layout()
    fig.savefig(args.out, dpi=100)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
