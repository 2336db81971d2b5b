r"""Use a trained model: load a run folder, recommend items, export embeddings.

.. code-block:: python

    from mde_pyg import load_run

    model, data, cfg = load_run("outputs/lightgcn/baby/<run>")
    items, scores = model.recommend(data, torch.tensor([0, 5, 7]), k=20)

Recommendations are the exact full ranking of
:meth:`~mde_pyg.models.Recommender.embeddings` by dot product, with the
masking and tie-breaking of the evaluation
(:mod:`mde_pyg.evaluation.metrics`): a user's training items are never
recommended, and among equal scores the lower item id ranks first.

IDs are the datasets' internal ids (row ``i`` of the embeddings is user or
item ``i``): the package's datasets carry no map back to raw ids.

This module imports nothing of :mod:`mde_pyg.data`, :mod:`mde_pyg.models`,
:mod:`mde_pyg.training` or :mod:`mde_pyg.cli` at import time (the package
root imports it, and :mod:`mde_pyg.nn` must stay free of them).
"""

from __future__ import annotations

import json
import numbers
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from mde_pyg.evaluation.metrics import (
    exclude_csr,
    mask_exclude_,
    resolve_chunk_size,
    stable_topk,
)

if TYPE_CHECKING:
    from omegaconf import DictConfig
    from torch_geometric.data import HeteroData

    from mde_pyg.models.base import Recommender

__all__ = [
    "OUTPUT_FORMATS",
    "check_users",
    "export_embeddings",
    "load_run",
    "output_format",
    "parse_user_ids",
    "recommend_from_embeddings",
    "write_recommendations",
]

#: File suffixes :func:`write_recommendations` writes, and their format.
OUTPUT_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".parquet": "parquet"}


def check_users(users: Tensor | Sequence[int], num_users: int) -> Tensor:
    r"""Validates user ids and returns them as a ``long`` tensor.

    Args:
        users (torch.Tensor or Sequence[int]): 1-D integer user ids.
        num_users (int): Number of users; valid ids are
            ``0..num_users - 1``.

    Raises:
        ValueError: if :obj:`users` is not 1-D or not integer, or holds an id
            out of range (the message names the first such id).
    """
    if not isinstance(users, Tensor):
        array = np.asarray(users)
        if array.size == 0:
            array = array.astype(np.int64)
        if array.dtype.kind not in "iu":
            raise ValueError(
                f"'users' must hold integer user ids (got {array.dtype} values)"
            )
        users = torch.from_numpy(array.astype(np.int64, copy=False))
    if users.dim() != 1:
        raise ValueError(
            f"'users' must be a 1-D tensor of user ids (got shape {list(users.shape)})"
        )
    if (
        users.dtype.is_floating_point
        or users.dtype.is_complex
        or users.dtype in (torch.bool,)
    ):
        raise ValueError(f"'users' must be an integer tensor (got {users.dtype})")
    bad = (users < 0) | (users >= num_users)
    if bool(bad.any()):
        value = int(users[bad][0])
        raise ValueError(
            f"user id {value} is out of range for {num_users} users "
            f"(valid: 0..{num_users - 1})"
        )
    return users.long()


def _check_k(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k <= 0:
        raise ValueError(f"'k' must be a positive integer (got {k!r})")
    return int(k)


@torch.no_grad()
def recommend_from_embeddings(
    user_emb: Tensor,
    item_emb: Tensor,
    users: Tensor | Sequence[int],
    k: int = 10,
    exclude_index: Tensor | None = None,
    chunk_size: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[Tensor, Tensor]:
    r"""The top-:math:`K` items of :obj:`users` by the scores
    :math:`\mathbf{S} = \mathbf{U} \mathbf{I}^{\top}`, ranked exactly over
    all items in blocks of :obj:`chunk_size` users, with the masking and
    top-:math:`K` of the evaluation
    (:func:`~mde_pyg.evaluation.metrics.mask_exclude_`,
    :func:`~mde_pyg.evaluation.metrics.stable_topk`): the items of
    :obj:`exclude_index` are never recommended, and among equal scores the
    lower item id ranks first. :meth:`Recommender.recommend
    <mde_pyg.models.Recommender.recommend>` calls it on a model's
    embeddings.

    A user with fewer than :math:`K` recommendable items gets them all,
    followed by padding: item id ``-1`` with score :math:`-\infty` (an item
    whose own score is :math:`-\infty` is never recommended either).

    Args:
        user_emb (torch.Tensor): ``[num_users, d]`` user embeddings.
        item_emb (torch.Tensor): ``[num_items, d]`` item embeddings. The
            ranking runs on its device.
        users (torch.Tensor or Sequence[int]): ``[B]`` user ids to rank for
            (duplicates allowed).
        k (int, optional): Items per user. (default: :obj:`10`)
        exclude_index (torch.Tensor, optional): ``[2, E]`` (user, item) pairs
            never recommended, e.g. the training interactions.
            (default: :obj:`None`)
        chunk_size (int, optional): Users scored at once; by default a block
            of at most 8 MiB of scores on CPU and 256 MiB elsewhere
            (:func:`~mde_pyg.evaluation.metrics.resolve_chunk_size`).
            (default: :obj:`None`)
        progress (Callable, optional): Called as ``progress(done, total)``
            after every block of users. (default: :obj:`None`)

    Returns:
        (torch.Tensor, torch.Tensor): item ids (``long``) and their scores,
        best first, on :obj:`item_emb`'s device.

    Shapes:
        - **input:** user embeddings :math:`(|\mathcal{U}|, d)`, item
          embeddings :math:`(|\mathcal{I}|, d)`, users :math:`(B)`
        - **output:** item ids :math:`(B, K)`, scores :math:`(B, K)`
    """
    for name, emb in (("user_emb", user_emb), ("item_emb", item_emb)):
        if not isinstance(emb, Tensor) or emb.dim() != 2:
            raise ValueError(
                f"'{name}' must be a 2-D tensor (got shape "
                f"{list(getattr(emb, 'shape', []))})"
            )
    if user_emb.size(1) != item_emb.size(1):
        raise ValueError(
            f"'user_emb' and 'item_emb' must have the same embedding size "
            f"(got {user_emb.size(1)} and {item_emb.size(1)})"
        )
    k = _check_k(k)
    num_users, num_items = user_emb.size(0), item_emb.size(0)
    device = item_emb.device
    users = check_users(users, num_users).to(device)
    total = users.numel()
    items = torch.full((total, k), -1, dtype=torch.long, device=device)
    scores = torch.full((total, k), float("-inf"), dtype=item_emb.dtype, device=device)
    if total == 0 or num_items == 0:
        return items, scores
    user_emb = user_emb.to(device)
    seen = None
    if exclude_index is not None:
        seen = exclude_csr(exclude_index.to(device), num_users, num_items)
    width = min(k, num_items)
    chunk_size = resolve_chunk_size(
        chunk_size, total, num_items, device, item_emb.element_size()
    )
    item_t = item_emb.t()
    for start in range(0, total, chunk_size):
        block = users[start : start + chunk_size]
        block_scores = user_emb[block] @ item_t
        if seen is not None:
            mask_exclude_(block_scores, block, *seen)
        index = stable_topk(block_scores, width)
        value = block_scores.gather(1, index)
        del block_scores
        # Masked items only reach the list when fewer than K are left; they
        # (and items scored -inf) are the padding.
        pad = torch.isneginf(value)
        rows = slice(start, start + block.numel())
        items[rows, :width] = index.masked_fill_(pad, -1)
        scores[rows, :width] = value
        if progress is not None:
            progress(start + block.numel(), total)
    return items, scores


def load_run(
    run_dir: str | Path, device: str | torch.device = "cpu"
) -> tuple[Recommender, HeteroData, DictConfig]:
    r"""Rebuilds the data and the best model of a finished ``mde-pyg train``
    run folder.

    The folder is untrusted input, read as ``mde-pyg evaluate`` reads it: its
    ``config.yaml`` (or ``.hydra/config.yaml``) may only name the package's
    own ``_target_`` values (:func:`mde_pyg.cli.load_run_config`), and
    ``checkpoints/best.pt`` is loaded with ``torch.load(weights_only=True)``
    (:func:`mde_pyg.training.load_checkpoint`). A checkpoint written on a
    GPU loads on the CPU. The dataset is rebuilt from the config, so a file
    dataset must still be at the config's ``dataset.folder`` (relative paths
    are resolved against the current directory).

    Args:
        run_dir (str or Path): The run folder (``output_dir`` of the run).
        device (str or torch.device, optional): Where the model and the data
            are put: ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or ``"auto"`` (CUDA
            when available). (default: :obj:`"cpu"`)

    Returns:
        (Recommender, HeteroData, DictConfig): the model in eval mode with
        the weights of ``best.pt``, the data with the model's graphs, and the
        run's config.

    Raises:
        FileNotFoundError: if the folder has no config.
        ConfigError: if the config names a foreign ``_target_``.
        CheckpointError: if ``best.pt`` is missing, damaged, unsafe, or does
            not fit the config's model.
        ValueError: if :obj:`device` is CUDA and CUDA is not available.
    """
    # Imported here: they import the whole pipeline, which the package root
    # (that imports this module) must not.
    from mde_pyg.cli import build_data, build_model, load_run_config
    from mde_pyg.training import CheckpointError, load_checkpoint
    from mde_pyg.training.trainer import resolve_device

    run_dir = Path(run_dir)
    device = resolve_device(str(device))
    cfg = load_run_config(run_dir)
    path = run_dir / "checkpoints" / "best.pt"
    best = load_checkpoint(path, map_location="cpu")
    if not isinstance(best, dict) or not isinstance(best.get("model"), dict):
        raise CheckpointError(f"{path} holds no model state ('model' entry)")
    data = build_data(cfg)
    model = build_model(cfg, data)
    try:
        model.load_state_dict(best["model"])
    except RuntimeError as error:
        raise CheckpointError(
            f"{path} does not fit the model of {run_dir}'s config: "
            f"{str(error).splitlines()[0]}"
        ) from None
    return model.to(device).eval(), data.to(device), cfg


@torch.no_grad()
def export_embeddings(
    model: Recommender, data: HeteroData, out_dir: str | Path
) -> list[Path]:
    r"""Writes the final embeddings of :obj:`model` on :obj:`data`
    (:meth:`~mde_pyg.models.Recommender.embeddings`) to :obj:`out_dir`:

    * ``user_embeddings.npy``: ``[num_users, d]``, row ``i`` is user ``i``;
    * ``item_embeddings.npy``: ``[num_items, d]``, row ``i`` is item ``i``;
    * ``ids.json``: the counts, the embedding size, that rows are internal
      ids, and that items are scored by the dot product.

    Args:
        model (Recommender): A trained model.
        data (HeteroData): Its data (with the model's graphs).
        out_dir (str or Path): Output folder, created if needed.

    Returns:
        list[Path]: the files written.
    """
    user_emb, item_emb = model.embeddings(data)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "user_embeddings.npy", out_dir / "item_embeddings.npy"]
    for path, emb in zip(paths, (user_emb, item_emb)):
        np.save(path, emb.detach().cpu().numpy())
    ids = {
        "num_users": user_emb.size(0),
        "num_items": item_emb.size(0),
        "embedding_dim": item_emb.size(1),
        "ids": "internal",
        "rows": "row i of user_embeddings.npy is user i and row i of "
        "item_embeddings.npy is item i (internal ids: the dataset carries no "
        "map to raw ids)",
        "score": "dot product: user_embeddings @ item_embeddings.T",
        "model": type(model).__name__,
    }
    paths.append(out_dir / "ids.json")
    paths[-1].write_text(json.dumps(ids, indent=2) + "\n")
    return paths


def parse_user_ids(text: str, source: str = "users") -> list[int]:
    """Integer user ids separated by commas and/or whitespace; ``#`` starts a
    comment that runs to the end of the line.

    Raises:
        ValueError: naming :obj:`source` and the first token that is not an
            integer, or if there is no id at all.
    """
    tokens = re.split(r"[\s,]+", re.sub(r"#[^\n]*", "", text).strip())
    tokens = [token for token in tokens if token]
    if not tokens:
        raise ValueError(f"{source}: no user ids given")
    ids = []
    for token in tokens:
        try:
            ids.append(int(token))
        except ValueError:
            raise ValueError(f"{source}: {token!r} is not an integer user id") from None
    return ids


def output_format(path: str | Path) -> str:
    """The format :func:`write_recommendations` writes to :obj:`path`, from
    its suffix.

    Raises:
        ValueError: for a suffix other than ``.csv``, ``.jsonl`` or
            ``.parquet``.
        ImportError: for ``.parquet`` when pandas or pyarrow is missing.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        raise ValueError(
            f"'{path}': the output must end in {', '.join(OUTPUT_FORMATS)} "
            f"(got {suffix or 'no suffix'!r})"
        )
    if OUTPUT_FORMATS[suffix] == "parquet":
        import importlib.util

        missing = [m for m in ("pandas", "pyarrow") if not importlib.util.find_spec(m)]
        if missing:
            raise ImportError(
                f"'{path}': writing .parquet needs pandas and pyarrow "
                f"({' and '.join(missing)} not installed: pip install pandas "
                "pyarrow), or write .csv or .jsonl"
            )
    return OUTPUT_FORMATS[suffix]


def write_recommendations(
    path: str | Path, users: Tensor, items: Tensor, scores: Tensor
) -> int:
    r"""Writes recommendations (as returned by :func:`recommend_from_embeddings`)
    to :obj:`path`, in the format of its suffix:

    * ``.csv``: header ``user,rank,item,score``, one row per recommended
      item, ``rank`` from 1;
    * ``.jsonl``: one ``{"user": u, "items": [...], "scores": [...]}`` object
      per user, best first;
    * ``.parquet`` (needs pandas and pyarrow): the rows of the ``.csv``.

    Padding (item ``-1``) is not written, so a user with fewer than
    :math:`K` recommendable items has fewer rows. Scores are written with
    the shortest decimal form that reads back to the same ``float32``.

    Args:
        path (str or Path): Output file.
        users (torch.Tensor): ``[B]`` user ids.
        items (torch.Tensor): ``[B, K]`` item ids, ``-1`` for padding.
        scores (torch.Tensor): ``[B, K]`` scores.

    Returns:
        int: the number of (user, item) recommendations written.
    """
    fmt = output_format(path)
    path = Path(path)
    users = users.cpu().numpy()
    items = items.cpu().numpy()
    scores = scores.float().cpu().numpy()
    keep = items >= 0
    ranks = np.broadcast_to(np.arange(1, items.shape[1] + 1), items.shape)
    row_user = np.broadcast_to(users[:, None], items.shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        import pandas as pd

        pd.DataFrame(
            {
                "user": row_user[keep],
                "rank": ranks[keep],
                "item": items[keep],
                "score": scores[keep],
            }
        ).to_parquet(path, index=False)
        return int(keep.sum())
    text = scores.astype(str)  # shortest round-trip float32 decimals
    with open(path, "w", newline="") as f:
        if fmt == "csv":
            f.write("user,rank,item,score\n")
            f.writelines(
                f"{u},{r},{i},{s}\n"
                for u, r, i, s in zip(
                    row_user[keep].tolist(),
                    ranks[keep].tolist(),
                    items[keep].tolist(),
                    text[keep].tolist(),
                )
            )
        else:
            for u, row_items, row_text, row_keep in zip(
                users.tolist(), items.tolist(), text.tolist(), keep
            ):
                n = int(row_keep.sum())
                record = {
                    "user": u,
                    "items": row_items[:n],
                    "scores": [float(s) for s in row_text[:n]],
                }
                f.write(json.dumps(record) + "\n")
    return int(keep.sum())
