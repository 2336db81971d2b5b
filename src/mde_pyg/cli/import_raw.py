"""``mde-pyg import INTERACTIONS --out DIR``: raw interactions with your own
user and item IDs into an MMRec folder with ID maps and a manifest."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mde_pyg.cli.encode_images import IMAGES_HELP, add_model_options, encode_item_images
from mde_pyg.cli.encode_images import MANIFEST_KEY as IMAGES_KEY
from mde_pyg.cli.encode_text import MANIFEST_KEY as TEXT_KEY
from mde_pyg.cli.encode_text import MODEL_HELP, TEXT_COLUMNS_HELP, encode_item_text
from mde_pyg.data.id_maps import ID_MAP_FILES, id_map_text
from mde_pyg.data.inter import write_inter
from mde_pyg.data.manifest import MANIFEST
from mde_pyg.data.raw import ID_ORDER, import_interactions
from mde_pyg.errors import ConfigError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mde-pyg import",
        description="Read interactions with raw user and item IDs (CSV, TSV, "
        "JSON lines; Parquet with pandas and pyarrow), apply the k-core filter "
        "and the per-user split, and write an MMRec folder: DIR/<name>.inter, "
        "DIR/u_id_mapping.csv and DIR/i_id_mapping.csv (tab-separated raw ID, "
        "internal ID; " + ID_ORDER + ") and DIR/manifest.json (what each step "
        "dropped); with --images and --text, DIR/image_feat.npy and "
        "DIR/text_feat.npy too. Train on it with: mde-pyg train dataset=mmrec "
        "dataset.folder=DIR",
    )
    parser.add_argument(
        "interactions", metavar="INTERACTIONS", help="the interaction file"
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument(
        "--name", help="the .inter file's name (default: the folder's name)"
    )
    parser.add_argument("--user-column", default="user", help="raw user ID column")
    parser.add_argument("--item-column", default="item", help="raw item ID column")
    parser.add_argument("--rating-column", help="rating column (for --min-rating)")
    parser.add_argument(
        "--min-rating", type=float, help="keep rows rated at least this"
    )
    parser.add_argument(
        "--timestamp-column",
        help="time column: hold out each user's latest interactions "
        "(default: a random split)",
    )
    parser.add_argument("--sep", help="field separator (default: from the suffix)")
    parser.add_argument(
        "--k-core",
        type=int,
        default=5,
        help="minimum interactions per user and item (5)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the split (0)")
    parser.add_argument(
        "--force", action="store_true", help="overwrite an existing <name>.inter"
    )
    images = parser.add_argument_group(
        "item images",
        "with --images, DIR/image_feat.npy holds each item's image features "
        "(items without a readable image get the mean vector and are listed "
        "in the manifest); an interrupted import continues when rerun",
    )
    images.add_argument("--images", metavar="IMAGES", help=IMAGES_HELP)
    images.add_argument(
        "--image-id-column",
        help="table: item ID column (default: the --item-column name)",
    )
    images.add_argument(
        "--image-path-column", default="path", help="table: image path column"
    )
    add_model_options(images, prefix="image-")
    text = parser.add_argument_group(
        "item text",
        "with --text, DIR/text_feat.npy holds each item's text features and "
        "DIR/text_mask.npy marks the items with text (the others get the mean "
        "vector and are listed in the manifest)",
    )
    text.add_argument(
        "--text",
        metavar="ITEMS",
        help="a table (CSV/TSV/JSON lines) of item ID and text columns",
    )
    text.add_argument(
        "--text-id-column",
        help="item ID column of ITEMS (default: the --item-column name)",
    )
    text.add_argument("--text-columns", nargs="+", help=TEXT_COLUMNS_HELP)
    text.add_argument("--text-model", help=MODEL_HELP)
    text.add_argument(
        "--text-batch-size", type=int, default=64, help="texts at once (64)"
    )
    return parser


def main(argv: list[str]) -> None:
    args = _parser().parse_args(argv)
    out = Path(args.out).expanduser()
    name = args.name or out.resolve().name
    inter_path = out / f"{name}.inter"
    if inter_path.exists() and not args.force:
        raise ConfigError(f"{inter_path} exists (pass --force to overwrite it)")
    if args.min_rating is not None and args.rating_column is None:
        raise ConfigError("--min-rating needs --rating-column")
    if args.k_core < 1:
        raise ConfigError(f"--k-core must be a positive integer (got {args.k_core})")
    if (args.text is None) != (args.text_columns is None):
        raise ConfigError("--text and --text-columns go together")
    result = import_interactions(
        args.interactions,
        user_column=args.user_column,
        item_column=args.item_column,
        rating_column=args.rating_column,
        min_rating=args.min_rating,
        timestamp_column=args.timestamp_column,
        sep=args.sep,
        k_core=args.k_core,
        seed=args.seed,
    )
    maps = {
        node_type: id_map_text(node_type, ids)
        for node_type, ids in (("user", result.user_ids), ("item", result.item_ids))
    }
    out.mkdir(parents=True, exist_ok=True)
    # Both before the .inter file, so that a rerun after an interruption is
    # not refused (and continues the image encoding); the text first, as a
    # bad table then stops the import before the long image encoding.
    text_record = None
    if args.text is not None:
        text_record = encode_item_text(
            args.text,
            out / "text_feat.npy",
            id_column=args.text_id_column or args.item_column,
            text_columns=args.text_columns,
            num_items=len(result.item_ids),
            item_ids=result.item_ids,
            model=args.text_model,
            batch_size=args.text_batch_size,
        )
    images = None
    if args.images is not None:
        images = encode_item_images(
            args.images,
            result.item_ids,
            out / "image_feat.npy",
            id_column=args.image_id_column or args.item_column,
            path_column=args.image_path_column,
            sep=None,
            model=args.image_model,
            batch_size=args.image_batch_size,
            device=args.device,
            workers=args.workers,
        )
    write_inter(inter_path, result.user, result.item, result.label)
    for node_type, text in maps.items():
        (out / ID_MAP_FILES[node_type][0]).write_text(text)
    manifest = {
        "command": "mde-pyg import",
        "source": str(Path(args.interactions).resolve()),
        "columns": {
            "user": args.user_column,
            "item": args.item_column,
            "rating": args.rating_column,
            "timestamp": args.timestamp_column,
        },
        "min_rating": args.min_rating,
        "k_core": args.k_core,
        "seed": args.seed,
        "split": "chronological" if args.timestamp_column else "random per user",
        "id_order": ID_ORDER,
        "files": {
            "interactions": inter_path.name,
            "user_ids": ID_MAP_FILES["user"][0],
            "item_ids": ID_MAP_FILES["item"][0],
        },
        "counts": result.counts,
    }
    for modality, record, key in (
        ("image", images, IMAGES_KEY),
        ("text", text_record, TEXT_KEY),
    ):
        if record is not None:
            manifest["files"][f"{modality}_features"] = record["file"]
            manifest["files"][f"{modality}_mask"] = record["mask_file"]
            manifest[key] = record
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    c = result.counts
    print(
        f"{out}: {c['users']} users, {c['items']} items, {c['interactions']} "
        f"interactions ({c['train']}/{c['validation']}/{c['test']} train/"
        f"validation/test) from {c['rows']} rows; dropped {c['dropped_rating']} "
        f"below the rating, {c['dropped_duplicates']} duplicates, "
        f"{c['dropped_k_core']} by the {args.k_core}-core filter"
    )
    override = "" if args.name is None else f" dataset.name={name}"
    print(
        f"train on it: mde-pyg train dataset=mmrec dataset.folder={out}{override}",
        file=sys.stdout,
    )
