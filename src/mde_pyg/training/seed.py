"""Seeding: one integer fixes a run."""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int) -> torch.Generator:
    """Seeds Python, NumPy and PyTorch (call it before building the data and
    the model) and returns :func:`run_generator` of ``seed``."""
    random.seed(seed)
    # The legacy global stream is seeded for third-party code that draws from it.
    np.random.seed(seed % 2**32)  # noqa: NPY002
    torch.manual_seed(seed)
    return run_generator(seed)


def run_generator(seed: int) -> torch.Generator:
    """A :class:`torch.Generator` seeded with ``seed`` for a run's own random
    streams (negative sampling), so that they do not depend on how many
    random numbers model construction consumed."""
    return torch.Generator().manual_seed(seed)


def rng_state(generator: torch.Generator) -> dict:
    """Captures every random stream a training run draws from, as tensors and
    plain Python values only, so that a checkpoint holding it loads with
    ``torch.load(weights_only=True)``."""
    kind, keys, pos, has_gauss, cached_gaussian = np.random.get_state()  # noqa: NPY002
    return {
        "python": random.getstate(),
        "numpy": (
            kind,
            torch.from_numpy(keys.astype(np.int64)),
            pos,
            has_gauss,
            cached_gaussian,
        ),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "generator": generator.get_state(),
    }


def set_rng_state(state: dict, generator: torch.Generator) -> None:
    """Restores the streams captured by :func:`rng_state`. The CUDA streams
    are restored when the run resumes on as many GPUs as it was saved from
    (a GPU run resumed on the CPU needs none of them).

    The state may come from a checkpoint loaded onto any device (a run
    resumed on the GPU maps its checkpoint there); every generator takes its
    state as a CPU tensor, so the tensors are brought back first."""
    random.setstate(state["python"])
    kind, keys, pos, has_gauss, cached_gaussian = state["numpy"]
    np.random.set_state(  # noqa: NPY002
        (kind, keys.cpu().numpy().astype(np.uint32), pos, has_gauss, cached_gaussian)
    )
    torch.set_rng_state(state["torch"].cpu())
    cuda = state.get("cuda", [])
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu() for s in cuda])
    generator.set_state(state["generator"].cpu())
