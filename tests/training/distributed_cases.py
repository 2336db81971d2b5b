"""The runs that ``test_distributed.py`` makes with 2 processes and with 1,
in one place so that both sides build exactly the same thing."""

from __future__ import annotations

import torch

from mde_pyg.data import make_synthetic
from mde_pyg.models import FREEDOM, LATTICE, MDE, MGCN, LightGCN
from mde_pyg.training import Trainer, seed_everything
from mde_pyg.training.distributed import shard_batch

MODELS = {
    "LightGCN": LightGCN,
    "LATTICE": LATTICE,
    "MDE": MDE,
    "MGCN": MGCN,
    "FREEDOM": FREEDOM,
}
#: Models whose loss is a mean over the pairs of the batch: their 2-process
#: step is the 1-process step of the same global batch. The others train on
#: the pair-weighted mean of the two shard losses (ShardMeanLoss), which
#: differs: MDE and MGCN contrast the batch's nodes with each other, and
#: LightGCN's regulariser (MMRec's) is the unsquared norm of the batch's
#: embeddings.
PAIR_MEAN_LOSS = ("LATTICE", "FREEDOM")
EPOCHS = 2
# 1,788 training pairs: 5 global batches of 357 and a last one of 3, split
# unevenly (2 and 1 pairs) between two processes.
BATCH_SIZE = 357


class ShardMeanLoss(torch.nn.Module):
    """The loss of a global batch as ``num_shards`` processes compute it,
    computed in one process: the mean of the weighted shard losses."""

    def __init__(self, model: torch.nn.Module, num_shards: int) -> None:
        super().__init__()
        self.model, self.num_shards = model, num_shards

    def forward(self, data, batch):
        losses = []
        for shard in range(self.num_shards):
            part, weight = shard_batch(batch, shard, self.num_shards)
            losses.append(self.model.loss(data, part) * weight)
        return torch.stack(losses).mean()


def train_case(name: str, distributed: bool, shard_mean: int | None = None):
    """Trains model ``name`` on a small synthetic graph for EPOCHS epochs."""
    torch.set_num_threads(1)
    seed_everything(0)
    data = make_synthetic(num_users=120, num_items=80, seed=0)
    model_cls = MODELS[name]
    data = model_cls.graph_transform()(data)
    model = model_cls.from_data(data)
    trainer = Trainer(
        model,
        data,
        batch_size=BATCH_SIZE,
        max_epochs=EPOCHS,
        patience=EPOCHS,
        seed=0,
        device="cpu",
        distributed=distributed,
    )
    if shard_mean is not None:
        trainer.batch_loss = ShardMeanLoss(model, shard_mean)
    return model, trainer.fit()


def eval_case():
    """Fixed embeddings and splits of an evaluation with 7 blocks of users."""
    generator = torch.Generator().manual_seed(0)
    num_users, num_items = 61, 40
    user_emb = torch.randn(num_users, 8, generator=generator)
    item_emb = torch.randn(num_items, 8, generator=generator)

    def pairs(count):
        return torch.stack(
            [
                torch.randint(num_users, (count,), generator=generator),
                torch.randint(num_items, (count,), generator=generator),
            ]
        )

    return user_emb, item_emb, pairs(400), pairs(150), 9
