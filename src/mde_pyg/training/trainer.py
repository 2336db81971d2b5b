"""A model-agnostic trainer for :class:`~mde_pyg.models.base.Recommender`
models under the MMRec protocol."""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch_geometric.data import HeteroData

from mde_pyg.data.hetero import ITEM, USER, split_edge_index
from mde_pyg.data.sampler import BPRSampler
from mde_pyg.errors import (
    CheckpointError,
    DistributedError,
    DivergenceError,
    RunInterrupted,
    StorageError,
)
from mde_pyg.evaluation import evaluate_embeddings
from mde_pyg.models.base import Recommender
from mde_pyg.training.callback import Callback
from mde_pyg.training.checkpoint import (
    load_checkpoint,
    recover_checkpoint,
    save_checkpoint,
)
from mde_pyg.training.denormals import flush_denormals
from mde_pyg.training.device import resolve_device
from mde_pyg.training.distributed import (
    BatchLoss,
    all_reduce_sum,
    broadcast_object,
    get_rank,
    get_world_size,
    is_communication_error,
    is_main_process,
    setup_distributed,
    shard_batch,
)
from mde_pyg.training.early_stopping import EarlyStopping
from mde_pyg.training.seed import rng_state, run_generator, set_rng_state
from mde_pyg.training.threads import ThreadBudget

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """What a training run produced: validation and test metrics of the best
    validation epoch, and the per-epoch history."""

    best_epoch: int
    best_val: dict[str, float]
    test: dict[str, float]
    epochs_run: int
    stopped_early: bool
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def mean_epoch_time(self) -> float:
        times = [h["train_time"] for h in self.history]
        return sum(times) / max(len(times), 1)


class Trainer:
    r"""Trains any :class:`~mde_pyg.models.base.Recommender` with BPR batches,
    Adam and early stopping on a validation metric, and reports the test
    metrics of the best validation epoch (the test split is never used to
    make a decision).

    Every epoch: :meth:`Recommender.on_epoch_start`, one pass over the
    shuffled training pairs with one sampled negative each, an optional
    learning-rate decay :math:`\text{lr} \cdot \gamma^{\,\text{epoch}/s}`,
    a full-ranking validation, and (with ``checkpoint_dir``) an atomic
    checkpoint from which ``resume=True`` continues bit-for-bit. The trainer
    writes nothing but its checkpoints and prints nothing: progress reaches
    the caller through ``callbacks``
    (:class:`~mde_pyg.training.Callback`), and :meth:`fit` returns the
    result.

    A checkpoint records the run's fingerprint (:meth:`fingerprint`: model
    class and parameter shapes, the trainer settings that shape the run, a
    hash of every split, plus the caller's ``fingerprint`` entries); resuming
    with anything else stops with a :class:`CheckpointError` that lists the
    differences. ``max_epochs``, ``device`` and ``eval_chunk_size`` may
    change between the two.

    Args:
        model (Recommender): The model to train.
        data (HeteroData): The dataset (layout of :mod:`mde_pyg.data.hetero`).
        lr (float, optional): Adam learning rate. (default: :obj:`1e-3`)
        batch_size (int, optional): Positive pairs per batch.
            (default: :obj:`2048`)
        max_epochs (int, optional): Epoch cap. (default: :obj:`1000`)
        patience (int, optional): Evaluations without strict improvement
            before stopping. (default: :obj:`20`)
        monitor (str, optional): Validation metric to select on.
            (default: :obj:`"recall@20"`)
        k (tuple of int, optional): Cut-offs reported. (default: :obj:`(10, 20)`)
        lr_decay (float, optional): :math:`\gamma`. (default: :obj:`1.0`)
        lr_decay_every (float, optional): :math:`s`. (default: :obj:`1.0`)
        weight_decay (float, optional): Adam weight decay.
            (default: :obj:`0.0`)
        seed (int, optional): Seed of the run's negative sampling and
            shuffling; seed the global streams with
            :func:`~mde_pyg.training.seed_everything` before building the
            model. (default: :obj:`0`)
        device (str, optional): ``"cpu"``, ``"cuda"``, ``"cuda:<i>"`` or
            ``"auto"`` (CUDA when available). (default: :obj:`"auto"`)
        eval_chunk_size (int, optional): Users scored at once; :obj:`None`
            picks a size bounded in memory. (default: :obj:`None`)
        checkpoint_dir (str, optional): Where ``last.pt`` (every epoch) and
            ``best.pt`` (best model) are written. (default: :obj:`None`)
        resume (bool or str, optional): :obj:`True`: continue from
            ``checkpoint_dir/last.pt`` (an error if there is none);
            :obj:`"auto"`: continue if it exists, else start afresh;
            :obj:`False`: start afresh. (default: :obj:`False`)
        fingerprint (dict, optional): Extra JSON-able facts that must match
            for a checkpoint to be resumed (e.g. the model config and the
            hashes of the data files). (default: :obj:`None`)
        callbacks (list of Callback, optional): Told when training starts,
            after every epoch and when it ends (on every process of a
            distributed run). (default: :obj:`()`)
        distributed (bool or str, optional): Data-parallel training over the
            processes of a ``torchrun`` launch (:mod:`~mde_pyg.training.
            distributed`): :obj:`True`, :obj:`False`, or :obj:`"auto"`
            (distributed when started by ``torchrun``). ``batch_size`` stays
            the global batch, split over the processes, so the run is the
            same optimisation for any number of processes; rank 0 writes the
            checkpoints. (default: :obj:`"auto"`)
        threads (int or str, optional): CPU threads of torch during
            :meth:`fit` (:class:`~mde_pyg.training.threads.ThreadBudget`):
            a number, or :obj:`"auto"` (the cores that other processes leave
            free, re-measured every epoch); :obj:`None` leaves torch's
            setting alone. (default: :obj:`None`)
        flush_denormal (bool, optional): Flush subnormal floats to zero on
            the CPU during :meth:`fit`
            (:func:`~mde_pyg.training.denormals.flush_denormals`): faster
            where features hold values near :math:`10^{-38}` (DRAGON,
            VBPR and MMGCN on MiniLM text: 1.1-1.2x on one thread), a
            different arithmetic below them. Only the thread that calls
            :meth:`fit` flushes: with ``threads=1`` that is all of it.
            (default: :obj:`False`)
    """

    def __init__(
        self,
        model: Recommender,
        data: HeteroData,
        lr: float = 1e-3,
        batch_size: int = 2048,
        max_epochs: int = 1000,
        patience: int = 20,
        monitor: str = "recall@20",
        k: tuple[int, ...] = (10, 20),
        lr_decay: float = 1.0,
        lr_decay_every: float = 1.0,
        weight_decay: float = 0.0,
        seed: int = 0,
        device: str = "auto",
        eval_chunk_size: int | None = None,
        checkpoint_dir: str | Path | None = None,
        resume: bool | str = False,
        fingerprint: dict[str, Any] | None = None,
        callbacks: Sequence[Callback] = (),
        distributed: bool | str = "auto",
        threads: int | str | None = None,
        flush_denormal: bool = False,
    ) -> None:
        _check_run_options(monitor, k, resume, checkpoint_dir, max_epochs)
        self.device = setup_distributed(distributed, resolve_device(device))
        self.rank, self.world_size = get_rank(), get_world_size()
        self.model = model.to(self.device)
        self.batch_loss = _batch_loss(self.model, self.world_size)
        # Moved once: the models read their graphs from it at every step.
        self.data = data.to(self.device)
        self.max_epochs = max_epochs
        self.monitor = monitor
        self.k = tuple(k)
        self.eval_chunk_size = eval_chunk_size
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
        self.resume = resume
        budget = [] if threads is None else [ThreadBudget(threads)]
        self.callbacks = [*budget, *callbacks]

        # The global streams are the caller's (seed_everything before the
        # model is built); the run's own stream starts from the seed here.
        self.generator = run_generator(seed) if seed is not None else None
        self.seed = seed
        self.sampler = BPRSampler(
            split_edge_index(self.data, "train"),
            data[USER].num_nodes,
            data[ITEM].num_nodes,
            batch_size=batch_size,
            generator=self.generator,
        )
        # The fused kernel is one pass over each parameter; the default
        # per-tensor CPU Adam is 6x slower on the 29M trainable feature
        # values of LATTICE and MDE on Baby.
        self.optimizer = torch.optim.Adam(
            model.parameters(),
            lr=lr,
            weight_decay=weight_decay,
            fused=self.device.type in ("cpu", "cuda"),
        )
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer,
            lambda epoch: lr_decay ** (epoch / lr_decay_every),
        )
        self.early_stopping = EarlyStopping(patience)
        self.history: list[dict[str, Any]] = []
        self.best_state: dict[str, torch.Tensor] | None = None
        self.start_epoch = 0
        #: Epochs that the last complete ``last.pt`` of this run holds.
        self.saved_epoch: int | None = None
        # The settings that shape the run, which a resumed run must share.
        self._settings = {
            "lr": lr,
            "batch_size": batch_size,
            "patience": patience,
            "monitor": monitor,
            "k": list(self.k),
            "lr_decay": lr_decay,
            "lr_decay_every": lr_decay_every,
            "weight_decay": weight_decay,
            "seed": seed,
        }
        # Only when set: checkpoints from before the option existed ran
        # without it and resume as they are.
        if flush_denormal:
            self._settings["flush_denormal"] = True
        self.flush_denormal = flush_denormal
        self._extra_fingerprint = dict(fingerprint or {})

    # ------------------------------------------------------------------ API
    def fit(self) -> TrainResult:
        """Trains until early stopping or ``max_epochs`` and returns the
        validation and test metrics of the best validation epoch."""
        with flush_denormals(self.flush_denormal):
            return self._fit()

    def _fit(self) -> TrainResult:
        if self.resume:
            self._resume()
        for callback in self.callbacks:
            callback.on_fit_start(self)
        try:
            return self._result(self._fit_epochs())
        except (StorageError, DivergenceError, RunInterrupted) as error:
            # Where the run can continue from: the last complete checkpoint.
            saved = self.checkpoint_dir is not None and self.saved_epoch is not None
            if saved and error.checkpoint is None:
                error.checkpoint = self.checkpoint_dir / "last.pt"
                error.epoch = self.saved_epoch
            raise

    def _fit_epochs(self) -> int:
        """Runs the epochs and returns the number of epochs run."""
        epoch = self.start_epoch
        while epoch < self.max_epochs and not self.early_stopping.should_stop:
            record = self._run_epoch(epoch)
            improved = self.early_stopping.step(record["val"][self.monitor], epoch)
            if improved:
                self.best_state = {
                    key: value.detach().clone()
                    for key, value in self.model.state_dict().items()
                }
                if self.checkpoint_dir is not None and is_main_process():
                    save_checkpoint(
                        {"model": self.best_state, "epoch": epoch},
                        self.checkpoint_dir / "best.pt",
                    )
            self.history.append(record)
            epoch += 1
            if self.checkpoint_dir is not None and is_main_process():
                self._save_last(epoch)
            for callback in self.callbacks:
                callback.on_epoch_end(self, record, improved)
        return epoch

    def _result(self, epoch: int) -> TrainResult:
        if self.best_state is None:
            raise RuntimeError("No epoch was run (max_epochs <= start epoch)")
        self.model.load_state_dict(self.best_state)
        result = TrainResult(
            best_epoch=self.early_stopping.best_epoch,
            best_val=self.history_at(self.early_stopping.best_epoch)["val"],
            test=self.evaluate("test"),
            epochs_run=epoch,
            stopped_early=self.early_stopping.should_stop,
            history=self.history,
        )
        for callback in self.callbacks:
            callback.on_fit_end(self, result)
        return result

    @torch.no_grad()
    def evaluate(self, split: str) -> dict[str, float]:
        """Full-ranking metrics on ``split`` (``"val"`` or ``"test"``), with
        the training items masked."""
        self.model.eval()
        user_emb, item_emb = self.model.embeddings(self.data)
        return evaluate_embeddings(
            user_emb,
            item_emb,
            exclude_index=split_edge_index(self.data, "train"),
            target_index=split_edge_index(self.data, split),
            k=self.k,
            chunk_size=self.eval_chunk_size,
            distributed=self.world_size > 1,
        )

    def history_at(self, epoch: int) -> dict[str, Any]:
        return next(record for record in self.history if record["epoch"] == epoch)

    def fingerprint(self) -> dict[str, Any]:
        """What a checkpoint must match to be resumed by this trainer: the
        model class and parameter shapes, the trainer settings that shape the
        run, the node counts and a hash of every split, and the caller's
        ``fingerprint`` entries."""
        model = {
            f"model.{name}": list(value.shape)
            for name, value in self.model.state_dict().items()
        }
        splits = {
            f"data.{split}": _tensor_digest(split_edge_index(self.data, split))
            for split in ("train", "val", "test")
        }
        return {
            "model": self.model.__class__.__name__,
            **model,
            **{f"trainer.{key}": value for key, value in self._settings.items()},
            "data.num_users": self.data[USER].num_nodes,
            "data.num_items": self.data[ITEM].num_nodes,
            **splits,
            **self._extra_fingerprint,
        }

    # -------------------------------------------------------------- private
    def train_epoch(self, epoch: int) -> float:
        """Runs one pass over the shuffled training pairs and returns the mean
        batch loss."""
        self.model.train()
        self.model.on_epoch_start(self.data, epoch)
        # The batch losses stay on the device, read once per epoch: no host
        # sync and no extra kernel per step, for the mean or the divergence
        # check.
        losses: list[torch.Tensor] = []
        for batch in self.sampler:
            self.optimizer.zero_grad(set_to_none=True)
            if self.world_size > 1:
                shard, weight = shard_batch(batch, self.rank, self.world_size)
                loss = self.batch_loss(self.data, shard) * weight
            else:
                loss = self.batch_loss(self.data, batch)
            loss.backward()
            self.optimizer.step()
            losses.append(loss.detach())
        self.scheduler.step()
        num_batches = len(losses)
        stacked = torch.stack(losses) if losses else torch.zeros(1, device=self.device)
        bad = ~torch.isfinite(stacked)
        # The first step whose loss was not finite (-1: none).
        first_bad = torch.where(bad.any(), bad.int().argmax(), -1)
        # The mean over the ranks of the weighted shard losses is the loss
        # of the global batch.
        total_loss = all_reduce_sum(stacked.sum()) / self.world_size
        bad_parameters = torch.stack(
            [~torch.isfinite(p.detach()).all() for p in self.model.parameters()]
        ).any()
        # One read for the loss and both checks.
        loss_sum, bad_step, bad_params = torch.stack(
            [total_loss.double(), first_bad.double(), bad_parameters.double()]
        ).tolist()
        loss_value = loss_sum / max(num_batches, 1)
        if bad_step >= 0 or bad_params or not math.isfinite(loss_value):
            raise self._diverged(epoch, loss_value, int(bad_step), num_batches)
        return loss_value

    def _diverged(
        self, epoch: int, loss: float, bad_step: int, num_batches: int
    ) -> DivergenceError:
        if bad_step >= 0:
            what = (
                f"the loss became non-finite at step {bad_step + 1} of {num_batches} "
                f"(epoch mean {loss})"
            )
        elif not math.isfinite(loss):
            what = f"the loss became {loss} (on another process)"
        else:
            what = "a parameter became NaN or infinite"
        best = ""
        if self.checkpoint_dir is not None and self.early_stopping.best_epoch >= 0:
            best = (
                f", the best model {self.checkpoint_dir / 'best.pt'} (epoch "
                f"{self.early_stopping.best_epoch})"
            )
        return DivergenceError(
            f"training diverged at epoch {epoch}: {what}",
            f"lower the learning rate (lr={self._settings['lr']:g}) or check "
            "the input features for extreme values, then start afresh in a new "
            "output folder (resuming would repeat the same steps)",
            best,
        )

    def _run_epoch(self, epoch: int) -> dict[str, Any]:
        threads = torch.get_num_threads()
        try:
            start = time.perf_counter()
            loss = self.train_epoch(epoch)
            train_time = time.perf_counter() - start
            start = time.perf_counter()
            val = self.evaluate("val")
        except RuntimeError as error:
            if self.world_size > 1 and is_communication_error(error):
                raise self._lost_contact(epoch) from error
            raise
        return {
            "epoch": epoch,
            "threads": threads,
            "loss": loss,
            "val": val,
            "train_time": train_time,
            "eval_time": time.perf_counter() - start,
        }

    def _save_last(self, next_epoch: int) -> None:
        save_checkpoint(
            {
                "epoch": next_epoch,
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "early_stopping": self.early_stopping.state_dict(),
                "best_state": self.best_state,
                "history": self.history,
                "rng": rng_state(self.generator),
                "fingerprint": self.fingerprint(),
            },
            self.checkpoint_dir / "last.pt",
        )
        self.saved_epoch = next_epoch

    def _lost_contact(self, epoch: int) -> DistributedError:
        last = self.checkpoint_dir / "last.pt" if self.checkpoint_dir else None
        where = (
            f"the last complete checkpoint is {last}; rerun the same command with "
            "resume=true, with any number of processes, to continue from it"
            if last is not None
            else "no checkpoint was written (checkpoint_dir is unset)"
        )
        return DistributedError(
            f"process {self.rank} of {self.world_size} lost contact with the "
            f"others during epoch {epoch}: another process failed or was killed "
            f"(its own log says why); {where}"
        )

    def _resume(self) -> None:
        # Rank 0 alone may repair an interrupted save; every rank then reads
        # the file it names (the run folder is shared between the processes).
        path = (
            recover_checkpoint(self.checkpoint_dir / "last.pt")
            if is_main_process()
            else None
        )
        path = broadcast_object(path)
        if path is None:
            if self.resume == "auto":
                return
            raise CheckpointError(
                f"resume=true but '{self.checkpoint_dir}' holds no checkpoint "
                "(last.pt) to resume: point output_dir at the folder of the "
                "run to continue, or set resume=false (or auto) to start afresh"
            )
        state = load_checkpoint(path, self.device)
        for callback in self.callbacks:
            callback.on_resume(self, state)
        check_fingerprint(state.get("fingerprint"), self.fingerprint(), path)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.early_stopping.load_state_dict(state["early_stopping"])
        self.best_state = state["best_state"]
        self.history = state["history"]
        set_rng_state(state["rng"], self.generator)
        self.start_epoch = self.saved_epoch = state["epoch"]
        log.info("Resumed from %s at epoch %d", path, self.start_epoch)


def _check_run_options(
    monitor: str,
    k: Sequence[int],
    resume: bool | str,
    checkpoint_dir: str | Path | None,
    max_epochs: int,
) -> None:
    if max_epochs < 1:
        raise ValueError(f"'max_epochs' must be >= 1 (got {max_epochs})")
    if monitor.split("@")[-1] not in {str(v) for v in k}:
        raise ValueError(f"'monitor' is '{monitor}' but its cut-off is not in k={k}")
    if resume not in (True, False, "auto"):
        raise ValueError(f"'resume' must be true, false or 'auto' (got {resume!r})")
    if resume and not checkpoint_dir:
        raise ValueError(f"'resume={resume}' needs a 'checkpoint_dir'")


def _batch_loss(model: Recommender, world_size: int) -> torch.nn.Module:
    """The module whose forward is a batch's loss: DDP synchronises gradients
    in the backward of its forward call, so the loss must be one."""
    batch_loss = BatchLoss(model)
    if world_size == 1:
        return batch_loss
    varying = getattr(model, "varying_parameter_use", False)
    return torch.nn.parallel.DistributedDataParallel(
        batch_loss,
        forward_sync_buffers=False,
        find_unused_parameters=varying,
        static_graph=not varying,
    )


def _tensor_digest(tensor: torch.Tensor) -> str:
    return hashlib.sha256(tensor.detach().cpu().contiguous().numpy()).hexdigest()[:16]


def check_fingerprint(
    stored: dict[str, Any] | None, current: dict[str, Any], path: Path
) -> None:
    """Raises :class:`CheckpointError` listing every entry on which the
    checkpoint at ``path`` and the run resuming it differ."""
    if stored is None:
        raise CheckpointError(
            f"Checkpoint '{path}' has no run fingerprint (written by an older "
            "mde_pyg): it cannot be checked against this run, so it is not resumed"
        )
    differences = [
        f"{key}: checkpoint {stored.get(key, '(absent)')!r}, "
        f"now {current.get(key, '(absent)')!r}"
        for key in sorted(set(stored) | set(current))
        if stored.get(key) != current.get(key)
    ]
    if differences:
        shown = differences[:12]
        if len(differences) > len(shown):
            shown.append(f"... and {len(differences) - len(shown)} more")
        raise CheckpointError(
            f"Checkpoint '{path}' was written by a different run and is not "
            "resumed; it differs in:\n  " + "\n  ".join(shown) + "\nStart a new "
            "run in another output_dir, or resume with the original settings "
            "(only trainer.max_epochs, device and eval_chunk_size may change)"
        )
