"""``mde-pyg info [OVERRIDES]``: versions, and the statistics of the composed
dataset."""

from __future__ import annotations

import torch
import torch_geometric

from mde_pyg.data.hetero import (
    ITEM,
    USER,
    feature_masks,
    item_features,
    split_edge_index,
)
from mde_pyg.data.layout import FEATURE_SUFFIX
from mde_pyg.pipeline import build_dataset, compose_config, versions


def main(argv: list[str]) -> None:
    for name, version in versions().items():
        print(f"{name:16s} {version}")
    print(f"{'cuda':16s} {torch.cuda.is_available()}")
    print(f"{'torch_sparse':16s} {torch_geometric.typing.WITH_TORCH_SPARSE}")
    print(f"{'torch_scatter':16s} {torch_geometric.typing.WITH_TORCH_SCATTER}")
    cfg = compose_config(argv)
    data = build_dataset(cfg)
    print(f"dataset: {cfg.dataset._target_}")
    print(f"  users {data[USER].num_nodes}  items {data[ITEM].num_nodes}")
    for split in ("train", "val", "test"):
        print(f"  {split:5s} pairs {split_edge_index(data, split).size(1)}")
    features = item_features(data)
    masks = feature_masks(data)
    fill = cfg.dataset.get("missing_features", "mean")
    skip = (cfg.model.get("graphs") or {}).get("skip_missing")
    graphs = "" if skip is None else "; item graphs: " + ("skip" if skip else "link")
    for modality, x in features.items():
        missing = int((~masks[modality]).sum())
        rows = f", {missing} items without it (filled: {fill}{graphs})"
        rows = rows if missing else ""
        print(f"  modality {modality}: {tuple(x.shape)}{rows}")
    if not features:
        print(
            f"  no item feature modality (no <modality>{FEATURE_SUFFIX} file): "
            "only model=lightgcn can train on it; MDE, MGCN, LATTICE, FREEDOM, "
            "MMGCN, VBPR, BM3, DRAGON, LGMRec and SMORE need one"
        )
