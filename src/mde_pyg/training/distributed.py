r"""Data-parallel training with :mod:`torch.distributed`, launched by
``torchrun``.

Every rank holds the whole dataset and its normalised graphs (they are
replicated, as in PyG's multi-GPU recommender example); what is split is the
work that grows with the training pairs and the users:

* **training**: every rank draws the *same* global epoch (permutation and
  negatives from the run's seeded stream), and rank :math:`r` of :math:`W`
  takes the :math:`r`-th of :math:`W` near-equal slices of every global batch
  (:func:`shard_batch`). Its loss is weighted by its share of the batch, so
  that :class:`~torch.nn.parallel.DistributedDataParallel`'s gradient average
  is the gradient of the pair-weighted mean of the shard losses: for a loss
  that is a mean over pairs (LATTICE's, FREEDOM's), the gradient of the
  one-process batch; for the others (the contrastive terms of MDE and MGCN
  compare the batch's nodes with each other, LightGCN's regulariser is the
  unsquared norm of the batch's embeddings, as MMRec's), a close variant.
  The sampled epoch is the same for any world size, so a checkpoint
  resumes with another one.
* **evaluation**: the blocks of target users are dealt out round-robin, and
  the per-block metric sums are combined in block order
  (:func:`~mde_pyg.evaluation.evaluate_embeddings` with ``distributed``), so
  the metrics equal the one-process ones bit for bit; early stopping, which
  only reads them, decides identically on every rank.
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

from mde_pyg.data.sampler import BPRBatch
from mde_pyg.errors import DistributedError

#: The environment variable ``torchrun`` sets in every process it starts.
WORLD_SIZE_ENV = "WORLD_SIZE"


def is_communication_error(error: BaseException) -> bool:
    """Whether ``error`` says that a collective lost a peer process. A
    collective raises :class:`torch.distributed.DistError`; one inside DDP's
    backward surfaces as a plain :class:`RuntimeError` from the backend."""
    if isinstance(error, dist.DistError):
        return True
    text = str(error)
    return any(marker in text for marker in ("gloo", "NCCL", "Connection"))


def launched_by_torchrun() -> bool:
    """Whether this process was started by ``torchrun`` (or sets its
    environment variables)."""
    return WORLD_SIZE_ENV in os.environ and "RANK" in os.environ


def wants_distributed(distributed: bool | str) -> bool:
    r"""Resolves ``trainer.distributed``: :obj:`True` (an error outside
    ``torchrun``), :obj:`False`, or ``"auto"`` (distributed when launched by
    ``torchrun``)."""
    if distributed == "auto":
        return launched_by_torchrun()
    if distributed not in (True, False):
        raise ValueError(
            f"'distributed' must be true, false or 'auto' (got {distributed!r})"
        )
    if distributed and not launched_by_torchrun():
        raise DistributedError(
            "distributed=true but this process was not started by torchrun (no "
            "RANK/WORLD_SIZE in the environment): launch it as `torchrun "
            "--nproc-per-node=N -m mde_pyg train ...`, or set distributed=false"
        )
    return bool(distributed)


def is_distributed() -> bool:
    """Whether a process group with more than one process is running."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def get_rank() -> int:
    """This process's rank; 0 without a process group."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def get_world_size() -> int:
    """The number of processes; 1 without a process group."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def is_main_process() -> bool:
    """Rank 0, the one process that writes files and prints."""
    return get_rank() == 0


def rank_device(device: torch.device) -> torch.device:
    """The device of this process: ``cuda:LOCAL_RANK`` on GPUs (one GPU per
    process, as ``torchrun`` places them), else ``device`` unchanged."""
    if device.type == "cuda" and device.index is None and launched_by_torchrun():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return device


def init_distributed(device: torch.device, timeout_s: float = 600.0) -> None:
    r"""Joins the process group of a ``torchrun`` launch, once per process:
    NCCL on GPUs, gloo on the CPU. :obj:`timeout_s` bounds how long a
    collective waits for a process that stopped answering."""
    if dist.is_initialized():
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend, timeout=timedelta(seconds=timeout_s))
    atexit.register(_destroy)


def setup_distributed(distributed: bool | str, device: torch.device) -> torch.device:
    r"""Joins the ``torchrun`` process group if :obj:`distributed` asks for it
    (:func:`wants_distributed`) and returns this process's device
    (:func:`rank_device`)."""
    if not wants_distributed(distributed):
        return device
    device = rank_device(device)
    init_distributed(device)
    return device


def _destroy() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def broadcast_object(value: Any) -> Any:
    """``value`` of rank 0 on every rank (e.g. the run folder)."""
    if not is_distributed():
        return value
    holder = [value]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]


def barrier() -> None:
    if is_distributed():
        dist.barrier()


@contextmanager
def main_process_first() -> Iterator[None]:
    """Rank 0 runs the body first (building caches and processed files), the
    others after it has finished (reading them), so that no two processes
    write the same file."""
    if not is_main_process():
        barrier()
    yield
    if is_main_process():
        barrier()


def shard_batch(batch: BPRBatch, shard: int, num_shards: int) -> tuple[BPRBatch, float]:
    r"""Slice :obj:`shard` of :obj:`num_shards` near-equal contiguous slices
    of a global batch, and the weight :math:`W n_r / n` of its loss, with which
    the average over the :math:`W` shards of the weighted losses is the
    pair-weighted mean :math:`\sum_r n_r \mathcal{L}_r / n`.

    A batch smaller than :obj:`num_shards` leaves some slices empty; those
    get the batch's first pair with weight 0, so that every process still
    runs the same backward (the gradient all-reduce needs all of them)."""
    total = batch.user.numel()
    parts = [field.tensor_split(num_shards)[shard] for field in batch]
    if parts[0].numel() == 0:
        return BPRBatch(*(field[:1] for field in batch)), 0.0
    return BPRBatch(*parts), num_shards * parts[0].numel() / total


class BatchLoss(torch.nn.Module):
    """The model's training loss as a module's ``forward``, the call that
    :class:`~torch.nn.parallel.DistributedDataParallel` synchronises."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, data: Any, batch: BPRBatch) -> Tensor:
        return self.model.loss(data, batch)


def all_reduce_sum(value: Tensor) -> Tensor:
    """The sum of :obj:`value` over the ranks (itself without a group)."""
    if is_distributed():
        value = value.clone()
        dist.all_reduce(value)
    return value
