"""``mde-pyg encode-text ITEMS --out F``: item text into a feature matrix."""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mde_pyg.data import features
from mde_pyg.data.id_maps import ID_MAP_FILES, read_id_map
from mde_pyg.data.layout import FEATURE_SUFFIX, mask_path
from mde_pyg.data.manifest import save_array_atomic
from mde_pyg.errors import ConfigError, DatasetError

#: The manifest key of the text features' record.
MANIFEST_KEY = "text"
TEXT_COLUMNS_HELP = "columns of text, joined with '. ' (empty values skipped)"
MODEL_HELP = (
    "sentence-transformers model name or folder (default: the bundled all-MiniLM-L6-v2)"
)


def encode_item_text(
    source: str | Path,
    out: Path,
    *,
    id_column: str,
    text_columns: Sequence[str],
    num_items: int | None = None,
    item_ids: list[str] | None = None,
    model: str | None = None,
    batch_size: int = 64,
) -> dict[str, Any]:
    """Encodes the text of each item of the table ``source`` into ``out``
    (``<modality>_feat.npy``) and the mask of the items with text beside it,
    and returns the manifest record. With ``item_ids`` (the raw IDs of the
    items, in row order) the ID column holds raw IDs; rows of other items are
    skipped. Items without text get the mean vector."""
    if batch_size < 1:
        raise ConfigError(f"batch size must be a positive integer (got {batch_size})")
    ids, texts = features.read_item_texts(
        source, id_column, text_columns, num_items, item_ids
    )
    if not texts:
        raise DatasetError(
            f"'{source}': no row has text in {list(text_columns)}"
            + (" for an imported item" if item_ids is not None else "")
        )
    if num_items is None:
        num_items = int(ids.max()) + 1
    try:
        encoder = features.load_text_model(model)
    except ImportError as error:
        raise ConfigError(str(error)) from None
    except OSError as error:  # neither a local folder nor downloadable
        raise ConfigError(f"text model '{model}': {error}") from None
    start = time.perf_counter()
    matrix, mask = features.encode_items(ids, texts, num_items, encoder, batch_size)
    out.parent.mkdir(parents=True, exist_ok=True)
    mask_out = mask_path(out.parent, out.name[: -len(FEATURE_SUFFIX)])
    save_array_atomic(mask_out, mask)
    save_array_atomic(out, matrix)
    record = {
        "source": str(Path(source).expanduser().resolve()),
        "model": model or "all-MiniLM-L6-v2 (bundled)",
        "columns": list(text_columns),
        "file": out.name,
        "mask_file": mask_out.name,
        "dims": int(matrix.shape[1]),
        "items": num_items,
        "encoded": len(texts),
        "fill": "mean of the encoded items",
        "missing_items": np.flatnonzero(~mask).tolist(),
    }
    print(
        f"{out}: {num_items} items x {matrix.shape[1]} dims, {len(texts)} with "
        f"text, {num_items - len(texts)} without (mean vector, marked in "
        f"{mask_out.name}), encoded in {time.perf_counter() - start:.1f}s"
    )
    return record


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
        "--text-columns", nargs="+", required=True, help=TEXT_COLUMNS_HELP
    )
    parser.add_argument("--out", required=True, help="output DIR/<modality>_feat.npy")
    parser.add_argument(
        "--num-items",
        type=int,
        help="items of the dataset (default: largest ID + 1; pass it when the "
        "last items may have no text)",
    )
    parser.add_argument("--model", help=MODEL_HELP)
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
    encode_item_text(
        args.items,
        out,
        id_column=args.id_column,
        text_columns=args.text_columns,
        num_items=args.num_items,
        item_ids=item_ids,
        model=args.model,
        batch_size=args.batch_size,
    )
