"""Records the behaviour that a refactoring of the models must keep:
per-epoch training losses and validation metrics, and the final test metrics,
of every model config (and two extra MDE paths) on small built-in data.

    python tests/models/record_reference.py   # -> tests/models/reference.json

Run it only when a change is *meant* to alter the models' numbers, and say so
in the commit; ``test_reference.py`` checks the code against the file.
"""

from __future__ import annotations

import json
from pathlib import Path

from mde_pyg.cli import add_graphs, build_model, compose_config
from mde_pyg.data import make_synthetic
from mde_pyg.training import Trainer, seed_everything

REFERENCE = Path(__file__).with_name("reference.json")
#: (name, overrides): every conf/model file, the ablations of conf/study,
#: and MDE's other encoder and difference paths.
RUNS = {
    "lightgcn": ["model=lightgcn"],
    "lattice": ["model=lattice"],
    "mde": ["model=mde"],
    "mde_paper": ["model=mde_paper"],
    "mde_fixed_tradeoff": ["study=fixed_tradeoff"],
    "mde_no_align": ["study=no_align"],
    "mde_no_diff": ["study=no_enhancement"],
    "mde_no_user_graph": ["study=no_user_graph"],
    "mde_feature_mlp_amplify": [
        "model=mde_paper",
        "model.encoder=feature_mlp",
        "model.enhancement=amplify",
        "model.lambda_modal=0.1",
        "model.lambda_diff=0.1",
        "model.lambda_phi=0.01",
        "model.lambda_alpha=0.1",
    ],
}
EPOCHS = 3


def data():
    return make_synthetic(num_users=200, num_items=100, seed=0)


def run(overrides: list[str]) -> dict:
    seed_everything(0)
    cfg = compose_config(overrides)
    graph = add_graphs(cfg, data())
    model = build_model(cfg, graph)
    trainer = Trainer(
        model,
        graph,
        seed=0,
        batch_size=256,
        max_epochs=EPOCHS,
        patience=EPOCHS,
        verbose=False,
        device="cpu",
    )
    result = trainer.fit()
    return {
        "loss": [h["loss"] for h in result.history],
        "val": [h["val"] for h in result.history],
        "test": result.test,
    }


def main() -> None:
    REFERENCE.write_text(
        json.dumps({name: run(o) for name, o in RUNS.items()}, indent=1) + "\n"
    )
    print(f"wrote {REFERENCE}")


if __name__ == "__main__":
    main()
