"""Records the behaviour that a refactoring of the models must keep:
per-epoch training losses and validation metrics, and the final test metrics,
of every model config (every ``conf/model/*.yaml`` and ``conf/study/*.yaml``:
the models, the MDE ablations and the MDE study variants, plus MDE's other
encoder and difference paths) on small built-in data.

    python tests/models/record_reference.py            # all -> reference.json
    python tests/models/record_reference.py mgcn mde   # only these; the others
                                                       # keep their numbers

Run it only when a change is *meant* to alter the models' numbers (or to
record a new entry of ``RUNS``), and say so in the commit;
``test_reference.py`` checks the code against the file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from mde_pyg.data import make_synthetic
from mde_pyg.pipeline import add_graphs, build_model, compose_config
from mde_pyg.training import Trainer, seed_everything

REFERENCE = Path(__file__).with_name("reference.json")
#: name -> Hydra overrides: every conf/model file (named as the file) and
#: every conf/study file (named as the conf/model file it was before, mde_<...>;
#: the test checks that none is missing), and MDE's other encoder and
#: difference paths.
RUNS = {
    "lightgcn": ["model=lightgcn"],
    "lattice": ["model=lattice"],
    "mgcn": ["model=mgcn"],
    "freedom": ["model=freedom"],
    "mmgcn": ["model=mmgcn"],
    "vbpr": ["model=vbpr"],
    "bm3": ["model=bm3"],
    "lgmrec": ["model=lgmrec"],
    "smore": ["model=smore"],
    "dragon": ["model=dragon"],
    "mde": ["model=mde"],
    "mde_paper": ["model=mde_paper"],
    # The ablations of mde_paper.
    "mde_fixed_tradeoff": ["study=fixed_tradeoff"],
    "mde_no_align": ["study=no_align"],
    "mde_no_diff": ["study=no_enhancement"],
    "mde_no_user_graph": ["study=no_user_graph"],
    # The variants of the MDE design study (benchmarks/mde_study.py).
    "mde_regularised": ["study=regularised"],
    "mde_mgcn": ["study=mgcn"],
    "mde_mgcn_club": ["study=mgcn_club"],
    "mde_mgcn_node_alpha": ["study=mgcn_node_alpha"],
    "mde_mgcn_orthogonal": ["study=mgcn_orthogonal"],
    "mde_mgcn_specific": ["study=mgcn_specific"],
    "mde_mgcn_user_graph": ["study=mgcn_user_graph"],
    "mde_tradeoff_club": ["study=tradeoff_club"],
    "mde_tradeoff_orthogonal": ["study=tradeoff_orthogonal"],
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
        device="cpu",
    )
    result = trainer.fit()
    return {
        "loss": [h["loss"] for h in result.history],
        "val": [h["val"] for h in result.history],
        "test": result.test,
    }


def main(names: list[str]) -> None:
    """Records the runs ``names`` (all of ``RUNS`` if empty) into
    ``REFERENCE``; the other runs keep their recorded numbers."""
    unknown = set(names) - set(RUNS)
    if unknown:
        raise SystemExit(f"not in RUNS: {sorted(unknown)}")
    recorded = json.loads(REFERENCE.read_text()) if names else {}
    for name in names or RUNS:
        recorded[name] = run(RUNS[name])
    missing = set(RUNS) - set(recorded)
    if missing:
        raise SystemExit(f"record these too: {sorted(missing)}")
    REFERENCE.write_text(
        json.dumps({name: recorded[name] for name in RUNS}, indent=1) + "\n"
    )
    print(f"wrote {REFERENCE}")


if __name__ == "__main__":
    main(sys.argv[1:])
