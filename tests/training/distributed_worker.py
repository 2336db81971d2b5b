"""One process of the 2-process gloo runs of ``test_distributed.py``, started
by ``torchrun --standalone --nproc-per-node=2``: trains every model for a few
epochs with ``distributed=True`` and evaluates fixed embeddings sharded;
rank ``r`` saves what it got to ``OUT/rank<r>.pt``."""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from distributed_cases import MODELS, eval_case, train_case

from mde_pyg.evaluation import evaluate_embeddings
from mde_pyg.training.distributed import get_rank, get_world_size


def main(out: Path) -> None:
    results = {"models": {}}
    for name in MODELS:
        model, result = train_case(name, distributed=True)
        results["models"][name] = {
            "state": model.state_dict(),
            "val": result.best_val,
            "test": result.test,
            "losses": [record["loss"] for record in result.history],
        }
    user_emb, item_emb, exclude, target, chunk_size = eval_case()
    results["eval"] = evaluate_embeddings(
        user_emb, item_emb, exclude, target, chunk_size=chunk_size, distributed=True
    )
    results["world_size"] = get_world_size()
    torch.save(results, out / f"rank{get_rank()}.pt")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
