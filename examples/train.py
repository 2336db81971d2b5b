"""Train and evaluate any model on any dataset (a Hydra app).

    python examples/train.py model=lightgcn dataset=baby
    python examples/train.py -m model=lightgcn model.num_layers=1,2,3

Composes the same ``conf/`` as ``mde-pyg train``.
"""

from mde_pyg.cli.train import train_app

if __name__ == "__main__":
    train_app()
