"""``mde-pyg encode-images IMAGES --out DIR/image_feat.npy``: item images
into a feature matrix, row ``i`` for item ``i`` of the folder's
``i_id_mapping.csv``."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from mde_pyg.cli.options import device_option
from mde_pyg.data.id_maps import ID_MAP_FILES, read_id_map
from mde_pyg.data.images import (
    DEFAULT_IMAGE_MODEL,
    IMAGE_SUFFIXES,
    encode_images,
    image_paths,
    load_image_model,
)
from mde_pyg.data.layout import FEATURE_SUFFIX, mask_path
from mde_pyg.data.manifest import (
    MANIFEST,
    read_manifest,
    save_array_atomic,
    write_atomic,
)
from mde_pyg.errors import ConfigError

#: The manifest key of the image features' record.
MANIFEST_KEY = "images"
IMAGES_HELP = (
    "a folder of images named by item ID (<ID>"
    + "|".join(IMAGE_SUFFIXES[:3])
    + "|...), or a table (CSV/TSV/JSON lines/Parquet) of item ID and image path"
)


def add_model_options(parser: argparse.ArgumentParser, prefix: str = "") -> None:
    """The options of the image model, named ``--<prefix>model`` etc."""
    parser.add_argument(
        f"--{prefix}model",
        default=DEFAULT_IMAGE_MODEL,
        help="transformers model (Hub name or folder) with an image tower "
        f"(default: {DEFAULT_IMAGE_MODEL}, CLIP ViT-B/32, 512-d; weights from "
        "the Hugging Face cache)",
    )
    parser.add_argument(
        f"--{prefix}batch-size", type=int, default=32, help="images at once (32)"
    )
    parser.add_argument(
        "--device",
        default="auto",
        help="where the model runs: auto (CUDA when available), cpu, cuda:N",
    )
    parser.add_argument(
        "--workers", type=int, default=4, help="threads decoding images (4)"
    )


def encode_item_images(
    source: str | Path,
    item_ids: list[str],
    out: Path,
    *,
    id_column: str,
    path_column: str,
    sep: str | None,
    model: str,
    batch_size: int,
    device: str,
    workers: int,
) -> dict[str, Any]:
    """Encodes the image of each of ``item_ids`` into ``out``, keeping the
    progress in ``<out>.partial/`` until ``out`` is written (a rerun of the
    same command continues from it), and returns the manifest record:
    counts, and the items given the mean vector."""
    for name, value in (("batch size", batch_size), ("--workers", workers)):
        if value < 1:
            raise ConfigError(f"{name} must be a positive integer (got {value})")
    paths, unmatched = image_paths(source, item_ids, id_column, path_column, sep)
    try:
        encoder = load_image_model(
            model, device_option(device), show_progress=sys.stderr.isatty()
        )
    except ImportError as error:
        raise ConfigError(str(error)) from None
    work_dir = out.with_name(out.name + ".partial")
    start = time.perf_counter()
    bar = tqdm(
        total=len(paths),
        unit="image",
        desc="encoding images",
        disable=not sys.stderr.isatty(),
        dynamic_ncols=True,
    )

    def progress(done: int, total: int) -> None:
        bar.n = done
        bar.refresh()

    with bar:
        result = encode_images(
            paths,
            encoder,
            batch_size=batch_size,
            work_dir=work_dir,
            num_workers=workers,
            progress=progress,
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    # The mask marks the encoded rows (the loader's x_image_mask).
    mask_out = mask_path(out.parent, out.name[: -len(FEATURE_SUFFIX)])
    save_array_atomic(mask_out, result.mask)
    save_array_atomic(out, result.features)
    shutil.rmtree(work_dir)
    num_items, dims = result.features.shape
    record = {
        "source": str(Path(source).expanduser().resolve()),
        "model": encoder.name,
        "file": out.name,
        "mask_file": mask_out.name,
        "dims": dims,
        "items": num_items,
        "encoded": num_items - result.missing.size,
        "no_image": int(result.no_image.size),
        "unreadable": int(result.unreadable.size),
        "unmatched": unmatched,
        "fill": "mean of the encoded items",
        "missing_items": result.missing.tolist(),
    }
    print(
        f"{out}: {num_items} items x {dims} dims by {encoder.name} on "
        f"{encoder.device}: {record['encoded']} encoded, {record['no_image']} "
        f"without an image, {record['unreadable']} unreadable (both get the mean "
        f"vector), {unmatched} images of other items skipped; "
        f"{time.perf_counter() - start:.1f}s"
    )
    unreadable = [str(paths[i]) for i in result.unreadable[:5]]
    if unreadable:
        more = result.unreadable.size - len(unreadable)
        print(
            f"unreadable: {', '.join(unreadable)}"
            + (f" and {more} more" if more else ""),
            file=sys.stderr,
        )
    return record


def _item_ids(out: Path, num_items: int | None) -> list[str]:
    """The IDs images are named by: the raw IDs of the folder's
    ``i_id_mapping.csv``, else the internal IDs ``0..num_items-1``."""
    id_map = out.parent / ID_MAP_FILES["item"][0]
    if id_map.is_file():
        raw_ids = read_id_map(id_map, "item")
        if num_items is not None and num_items != len(raw_ids):
            raise ConfigError(
                f"--num-items {num_items} but {id_map} maps {len(raw_ids)} items"
            )
        return raw_ids
    if num_items is None:
        raise ConfigError(
            f"{out.parent} has no {id_map.name}: pass --num-items N to name the "
            "images by internal item ID (0..N-1)"
        )
    if num_items < 1:
        raise ConfigError(f"--num-items must be positive (got {num_items})")
    return [str(i) for i in range(num_items)]


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="mde-pyg encode-images",
        description="Encode item images into DIR/<modality>_feat.npy (row i = "
        "item i) with a pretrained image model. Images are named by the raw "
        "item IDs of DIR/i_id_mapping.csv (written by `mde-pyg import`), or "
        "by internal item ID with --num-items. Items without a readable image "
        "get the mean vector and are listed in DIR/manifest.json. An "
        "interrupted run continues when rerun.",
    )
    parser.add_argument("images", metavar="IMAGES", help=IMAGES_HELP)
    parser.add_argument(
        "--out",
        required=True,
        help=f"output DIR/<modality>{FEATURE_SUFFIX} (e.g. DIR/image_feat.npy)",
    )
    parser.add_argument(
        "--num-items",
        type=int,
        help="items of the dataset, when DIR has no i_id_mapping.csv",
    )
    parser.add_argument("--id-column", default="item", help="table: item ID column")
    parser.add_argument("--path-column", default="path", help="table: path column")
    parser.add_argument("--sep", help="table: field separator (default: by suffix)")
    add_model_options(parser)
    args = parser.parse_args(argv)

    out = Path(args.out).expanduser()
    if not out.name.endswith(FEATURE_SUFFIX):
        raise ConfigError(
            f"--out must be named <modality>{FEATURE_SUFFIX} so that loaders "
            f"find it, got '{out.name}'"
        )
    record = encode_item_images(
        args.images,
        _item_ids(out, args.num_items),
        out,
        id_column=args.id_column,
        path_column=args.path_column,
        sep=args.sep,
        model=args.model,
        batch_size=args.batch_size,
        device=args.device,
        workers=args.workers,
    )
    manifest = read_manifest(out.parent)
    manifest[MANIFEST_KEY] = record
    write_atomic(out.parent / MANIFEST, json.dumps(manifest, indent=2) + "\n")
