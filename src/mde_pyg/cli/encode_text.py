"""``mde-pyg encode-text ITEMS --out F``: item text into a feature matrix."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from mde_pyg.data import features
from mde_pyg.data.id_maps import ID_MAP_FILES, read_id_map
from mde_pyg.data.layout import FEATURE_SUFFIX, mask_path
from mde_pyg.errors import DatasetError


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="mde-pyg encode-text",
        description="Encode item text into a <modality>_feat.npy feature matrix "
        "(row i = item i) with a sentence-transformers model, and write beside "
        "it <modality>_mask.npy, the mask of the items with text (the others "
        "get the mean vector).",
    )
    parser.add_argument("items", help="items file: .tsv or .csv with header, .jsonl")
    parser.add_argument("--id-column", required=True, help="column of item IDs")
    parser.add_argument(
        "--raw-ids",
        action="store_true",
        help="the ID column holds raw item IDs, mapped to rows by DIR/"
        "i_id_mapping.csv (written by `mde-pyg import`); rows of other IDs are "
        "skipped",
    )
    parser.add_argument(
        "--text-columns",
        nargs="+",
        required=True,
        help="columns of text, joined with '. ' (empty values skipped)",
    )
    parser.add_argument("--out", required=True, help="output DIR/<modality>_feat.npy")
    parser.add_argument(
        "--num-items",
        type=int,
        help="items of the dataset (default: largest ID + 1; pass it when the "
        "last items may have no text)",
    )
    parser.add_argument(
        "--model",
        help="sentence-transformers model name or folder "
        "(default: the bundled all-MiniLM-L6-v2)",
    )
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args(argv)

    out = Path(args.out)
    if not out.name.endswith(FEATURE_SUFFIX):
        parser.error(
            f"--out must be named <modality>{FEATURE_SUFFIX} so that loaders "
            f"find it, got '{out.name}'"
        )
    item_ids = None
    if args.raw_ids:
        id_map = out.parent / ID_MAP_FILES["item"][0]
        if not id_map.is_file():
            parser.error(f"--raw-ids reads {id_map}, which does not exist")
        item_ids = read_id_map(id_map, "item", args.num_items)
        args.num_items = len(item_ids)
    try:
        ids, texts = features.read_item_texts(
            args.items, args.id_column, args.text_columns, args.num_items, item_ids
        )
        num_items = args.num_items
        if num_items is None:
            num_items = int(ids.max()) + 1 if len(ids) else 0
        start = time.perf_counter()
        matrix, mask = features.encode_items(
            ids, texts, num_items, model=args.model, batch_size=args.batch_size
        )
    # OSError: a model that is neither a local folder nor downloadable.
    except (DatasetError, ImportError, OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.save(out, matrix)
    mask_out = mask_path(out.parent, out.name[: -len(FEATURE_SUFFIX)])
    np.save(mask_out, mask)
    print(
        f"{out}: {matrix.shape[0]} items x {matrix.shape[1]} dims, "
        f"{len(ids)} with text, {int((~mask).sum())} without (mean vector, "
        f"marked in {mask_out.name}), encoded in {time.perf_counter() - start:.1f}s"
    )
