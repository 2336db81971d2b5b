r"""Using a finished run folder: rebuild its best model, export its
embeddings.

.. code-block:: python

    from mde_pyg import load_run

    model, data, cfg = load_run("outputs/lightgcn/baby/<run>")
    items, scores = model.recommend(data, torch.tensor([0, 5, 7]), k=20)
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig
from torch_geometric.data import HeteroData

from mde_pyg.data.id_maps import ID_MAP_FILES, id_map_text
from mde_pyg.errors import CheckpointError
from mde_pyg.models.base import Recommender
from mde_pyg.pipeline.build import build_data, build_model
from mde_pyg.pipeline.config import load_run_config
from mde_pyg.training.checkpoint import load_checkpoint
from mde_pyg.training.device import resolve_device


def load_run(
    run_dir: str | Path, device: str | torch.device = "cpu"
) -> tuple[Recommender, HeteroData, DictConfig]:
    r"""Rebuilds the data and the best model of a finished ``mde-pyg train``
    run folder.

    The folder is untrusted input, read as ``mde-pyg evaluate`` reads it: its
    ``config.yaml`` (or ``.hydra/config.yaml``) may only name the package's
    own ``_target_`` values (:func:`~mde_pyg.pipeline.load_run_config`), and
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


def raw_ids(data: HeteroData, node_type: str) -> list[str] | None:
    """The raw IDs of :obj:`node_type` (``"user"`` or ``"item"``) that the
    data carries (``data[node_type].raw_id``, read from the dataset's ID
    maps), as strings; :obj:`None` without a map."""
    ids = getattr(data[node_type], "raw_id", None)
    return None if ids is None else [str(v) for v in list(ids)]


@torch.no_grad()
def export_embeddings(
    model: Recommender, data: HeteroData, out_dir: str | Path
) -> list[Path]:
    r"""Writes the final embeddings of :obj:`model` on :obj:`data`
    (:meth:`~mde_pyg.models.Recommender.embeddings`) to :obj:`out_dir`:

    * ``user_embeddings.npy``: ``[num_users, d]``, row ``i`` is user ``i``;
    * ``item_embeddings.npy``: ``[num_items, d]``, row ``i`` is item ``i``;
    * ``u_id_mapping.csv`` and ``i_id_mapping.csv``, when the data carries
      ID maps (:mod:`mde_pyg.data.id_maps`): raw ID beside internal ID;
    * ``ids.json``: the counts, the embedding size, that rows are internal
      ids, the ID map files if any, and that items are scored by the dot
      product.

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
    maps = {t: raw_ids(data, t) for t in ("user", "item")}
    maps = {t: m for t, m in maps.items() if m is not None}
    for node_type, ids in maps.items():
        paths.append(out_dir / ID_MAP_FILES[node_type][0])
        paths[-1].write_text(id_map_text(node_type, ids))
    if maps:
        where = (
            "; the raw id of each is in "
            + " and ".join(ID_MAP_FILES[t][0] for t in maps)
            + " (raw id, internal id)"
        )
    else:
        where = " (the dataset carries no map to raw ids)"
    ids = {
        "num_users": user_emb.size(0),
        "num_items": item_emb.size(0),
        "embedding_dim": item_emb.size(1),
        "ids": "internal",
        "rows": "row i of user_embeddings.npy is user i and row i of "
        f"item_embeddings.npy is item i (internal ids){where}",
        "id_maps": {t: ID_MAP_FILES[t][0] for t in maps},
        "score": "dot product: user_embeddings @ item_embeddings.T",
        "model": type(model).__name__,
    }
    paths.append(out_dir / "ids.json")
    paths[-1].write_text(json.dumps(ids, indent=2) + "\n")
    return paths
