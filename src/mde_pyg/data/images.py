r"""Item image features: encodes each item's picture into the
``image_feat.npy`` matrix of an MMRec-format folder (row ``i`` for item
``i``) with the image tower of a pretrained vision-language model from
`Hugging Face transformers <https://huggingface.co/docs/transformers>`_.

**The default model** is OpenAI's CLIP ViT-B/32 (Radford et al., *Learning
Transferable Visual Models From Natural Language Supervision*, ICML 2021;
``openai/clip-vit-base-patch32`` on the Hugging Face Hub), whose image
embedding (512 numbers, L2-normalised) becomes an item's row. Why this one:

* *Quality.* The largest published comparison of feature extractors for
  multimodal recommendation (Attimonelli et al., *Ducho meets Elliot:
  Large-scale Benchmarks for Multimodal Recommendation*, 2024: twelve
  recommenders, among them LATTICE, FREEDOM and BM3, on five Amazon
  datasets including Baby) found that multimodal-by-design extractors such
  as CLIP improve recommendation over the ResNet50 features commonly used,
  and CLIP's embeddings are made for retrieval by cosine similarity, which
  is what the item-item k-NN graphs of LATTICE, FREEDOM, MGCN and MDE
  compute.
* *Bytes per item.* 512 ``float32`` values are 2 KiB an item: an eighth of
  the 4096-d VGG16 ``fc7`` features published with the MMRec datasets
  (16 KiB) and a quarter of ResNet50's 2048-d ones.
* *Cost.* ViT-B/32 is the cheapest CLIP image tower (about 4.4 GFLOPs an
  image at 224 x 224), so a CPU encodes a small catalogue and a GPU a large
  one quickly; decoding the image files is often the slower part.

Any Hub model with an image tower in transformers (one that has
``get_image_features``: CLIP, SigLIP, ALIGN, AltCLIP, ...) can be named
instead, e.g. ``openai/clip-vit-large-patch14`` (768-d).

**Weights** come from the Hugging Face cache (``~/.cache/huggingface``, or
``$HF_HOME``), downloaded on first use. A machine without network fetches
them once elsewhere with ``hf download openai/clip-vit-base-patch32`` (the
``hf`` command comes with ``huggingface_hub``), then copies the cache, or
passes the downloaded folder as the model. ``transformers`` and ``Pillow``
come with the ``image`` extra (``pip install 'mde-pyg[image]'``).

**Missing images.** An item whose source names no image, or whose file is
missing or cannot be decoded (truncated, corrupt, not an image), does not
stop the run: it gets the mean vector of the encoded items (as the text
features do) and is returned in :attr:`ImageFeatures.no_image` or
:attr:`ImageFeatures.unreadable`.

**Large catalogues.** :func:`encode_images` with ``work_dir`` keeps its
progress there (the rows so far and a status per item, saved every
``chunk_size`` items and when interrupted); called again with the same
images and model it continues where it stopped.

From the command line (:mod:`mde_pyg.cli`)::

    mde-pyg encode-images images/ --out shop/image_feat.npy
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import torch

from mde_pyg.data.manifest import save_array_atomic
from mde_pyg.data.raw import read_raw_table
from mde_pyg.errors import DatasetError, UserError

if TYPE_CHECKING:
    from PIL import Image

#: The Hub name of the default image model (see the module's description).
DEFAULT_IMAGE_MODEL = "openai/clip-vit-base-patch32"
IMAGE_EXTRA_HINT = "pip install 'mde-pyg[image]'"
#: File suffixes of an image folder read as images (in any letter case).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff")

#: The status of an item in :func:`encode_images`'s progress.
PENDING, ENCODED, NO_IMAGE, UNREADABLE = 0, 1, 2, 3
_FEATURES, _STATUS, _INPUTS = "features.npy", "status.npy", "inputs.json"


def prefetch_command(model: str = DEFAULT_IMAGE_MODEL) -> str:
    """The shell command that puts ``model``'s weights into the Hugging Face
    cache on a machine with network."""
    return f"hf download {model}"


class ImageEncoder(Protocol):
    """Anything that encodes a batch of images into one row each, like
    :class:`PretrainedImageEncoder`."""

    #: Names the model in the progress of :func:`encode_images`, so that a
    #: resumed run does not mix the rows of two models.
    name: str

    def encode(self, images: list[Image.Image]) -> np.ndarray | torch.Tensor: ...


class PretrainedImageEncoder:
    r"""The image tower of a pretrained vision-language model (CLIP by
    default): each image is resized and cropped by the model's own image
    processor, embedded by ``get_image_features`` and L2-normalised,

    .. math::
        \mathbf{x}_i = \frac{f(\mathrm{proc}(I_i))}{\lVert
        f(\mathrm{proc}(I_i)) \rVert_2},

    in inference mode, so that an image gives the same row in every batch.
    Built by :func:`load_image_model`.

    Args:
        model (torch.nn.Module): A transformers model with
            ``get_image_features``.
        processor (callable): Its image processor (``processor(images=...,
            return_tensors="pt")["pixel_values"]``).
        name (str): The model's Hub name or folder.
        device (torch.device): Where the model runs.

    Shapes:
        - **input:** a list of :math:`B` PIL images of any size and mode
        - **output:** :math:`(B, d)` ``float32`` NumPy array
    """

    def __init__(
        self,
        model: torch.nn.Module,
        processor: Callable[..., Any],
        name: str,
        device: torch.device,
    ) -> None:
        self.model = model.to(device).eval()
        self.processor = processor
        self.name = name
        self.device = device

    @torch.inference_mode()
    def encode(self, images: list[Image.Image]) -> np.ndarray:
        pixels = self.processor(images=images, return_tensors="pt")["pixel_values"]
        output = self.model.get_image_features(pixel_values=pixels.to(self.device))
        features = torch.nn.functional.normalize(output.pooler_output.float(), dim=-1)
        return features.cpu().numpy()

    def __repr__(self) -> str:
        return f"{type(self).__name__}('{self.name}', device={self.device})"


def load_image_model(
    model: str | Path | None = None,
    device: str | torch.device | None = None,
    local_files_only: bool = False,
    show_progress: bool = True,
) -> PretrainedImageEncoder:
    """Loads an image model and its image processor with transformers.

    Args:
        model (str or Path, optional): A Hub name (weights from the Hugging
            Face cache, downloaded if absent) or a local folder (as written
            by ``save_pretrained`` or ``hf download --local-dir``).
            (default: :obj:`None`, :data:`DEFAULT_IMAGE_MODEL`)
        device (str or torch.device, optional): Where to run it.
            (default: :obj:`None`, CUDA when available, else the CPU)
        local_files_only (bool, optional): Never download; read the cache
            or the folder only. (default: :obj:`False`)
        show_progress (bool, optional): Let transformers show its progress
            bars (download, loading the weights). (default: :obj:`True`)

    Raises:
        ImportError: without transformers or Pillow (the ``image`` extra).
        UserError: for a folder that does not exist or holds no such model;
            a Hub model neither in the cache nor downloadable (naming
            :func:`prefetch_command`); a model without an image tower.
    """
    try:
        import PIL  # noqa: F401  (the image processors decode with Pillow)
        from transformers import AutoImageProcessor, AutoModel
        from transformers.utils import logging as transformers_logging
    except ImportError as error:
        raise ImportError(
            f"Encoding item images needs transformers and Pillow: {IMAGE_EXTRA_HINT}"
        ) from error
    name = DEFAULT_IMAGE_MODEL if model is None else str(model)
    folder = Path(name).expanduser()
    is_folder = isinstance(model, Path) or folder.is_dir() or name[:1] in "./~"
    if is_folder and not folder.is_dir():
        raise UserError(f"image model folder '{folder}' not found")
    source = str(folder) if is_folder else name
    bars = transformers_logging.is_progress_bar_enabled()
    if not show_progress:
        transformers_logging.disable_progress_bar()
    try:
        processor = AutoImageProcessor.from_pretrained(
            source, local_files_only=local_files_only
        )
        network = AutoModel.from_pretrained(source, local_files_only=local_files_only)
    except (OSError, ValueError) as error:
        reason = str(error).strip().split("\n", 1)[0]
        if is_folder:
            raise UserError(
                f"'{folder}': not a transformers image model folder ({reason})"
            ) from None
        from huggingface_hub.constants import HF_HUB_CACHE

        raise UserError(
            f"image model '{name}' is not in the Hugging Face cache ({HF_HUB_CACHE}) "
            f"and could not be downloaded ({reason}); fetch it once on a machine "
            f"with network: `{prefetch_command(name)}`, then copy the cache here "
            "or pass the downloaded folder as the model"
        ) from None
    finally:
        if bars:
            transformers_logging.enable_progress_bar()
    if not hasattr(network, "get_image_features"):
        raise UserError(
            f"model '{name}' ({type(network).__name__}) has no image tower "
            f"(get_image_features): use a CLIP-style model such as "
            f"'{DEFAULT_IMAGE_MODEL}'"
        )
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return PretrainedImageEncoder(network, processor, name, torch.device(device))


def image_paths(
    source: str | Path,
    item_ids: Sequence[str],
    id_column: str = "item",
    path_column: str = "path",
    sep: str | None = None,
) -> tuple[list[Path | None], int]:
    r"""Finds the image of each item.

    ``source`` is either a folder of files named by item ID
    (``<item ID><suffix>``, a suffix of :data:`IMAGE_SUFFIXES`; other files
    are ignored), or a table (CSV/TSV, JSON lines or Parquet, read with
    :func:`~mde_pyg.data.raw.read_raw_table`) of an item ID and a path per
    row, a relative path being relative to the table's folder. Images of IDs
    that are not in ``item_ids`` (items dropped by filtering) are counted and
    skipped.

    Args:
        source (str or Path): The folder or the table.
        item_ids (Sequence[str]): Entry ``i`` is the ID of item ``i`` as
            named in ``source`` (the raw IDs of ``i_id_mapping.csv``).
        id_column (str, optional): The table's item ID column.
            (default: ``"item"``)
        path_column (str, optional): The table's image path column.
            (default: ``"path"``)
        sep (str, optional): The table's field separator (see
            :func:`~mde_pyg.data.raw.read_raw_table`). (default: :obj:`None`)

    Returns:
        ``(paths, unmatched)``: entry ``i`` of ``paths`` is item ``i``'s
        image (:obj:`None` if the source names none), and ``unmatched`` the
        number of images of IDs not in ``item_ids``.

    Raises:
        DatasetError: for a source that does not exist, a malformed table,
            or two images of one item.
    """
    source = Path(source).expanduser()
    rows = {str(item): row for row, item in enumerate(item_ids)}
    paths: list[Path | None] = [None] * len(rows)
    if source.is_dir():
        named = _folder_images(source)
    elif source.is_file():
        named = _table_images(source, id_column, path_column, sep)
    else:
        raise DatasetError(f"{source}: image folder or table not found")
    unmatched = 0
    for item, path in named:
        if item in rows:
            paths[rows[item]] = path
        else:
            unmatched += 1
    return paths, unmatched


def _folder_images(folder: Path) -> list[tuple[str, Path]]:
    found: dict[str, Path] = {}
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(".") or entry.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        if entry.stem in found:
            raise DatasetError(
                f"{folder}: item '{entry.stem}' has two images, "
                f"{found[entry.stem].name} and {entry.name} (keep one)"
            )
        found[entry.stem] = entry
    return list(found.items())


def _table_images(
    path: Path, id_column: str, path_column: str, sep: str | None
) -> list[tuple[str, Path]]:
    table, lines = read_raw_table(path, [id_column, path_column], sep)
    first: dict[str, int] = {}
    named = []
    for row, (item, file) in enumerate(zip(table[id_column], table[path_column])):
        item = str(item)
        where = f"line {lines[row]}" if lines else f"row {row}"
        if item in first:
            raise DatasetError(
                f"{path}: {where}: item '{item}' has a second image (first at "
                f"{'line' if lines else 'row'} {first[item]})"
            )
        first[item] = lines[row] if lines else row
        named.append((item, path.parent / Path(str(file)).expanduser()))
    return named


@dataclass
class ImageFeatures:
    """What :func:`encode_images` made.

    Attributes:
        features (np.ndarray): ``[num_items, d]`` ``float32``; the rows of
            :attr:`missing` items hold the mean of the encoded rows.
        no_image (np.ndarray): Items (rows) whose source names no image.
        unreadable (np.ndarray): Items whose image file is missing or could
            not be decoded.
    """

    features: np.ndarray
    no_image: np.ndarray
    unreadable: np.ndarray

    @property
    def missing(self) -> np.ndarray:
        """Every item without an encoded image, sorted: :attr:`no_image`
        and :attr:`unreadable` together."""
        return np.union1d(self.no_image, self.unreadable)

    @property
    def mask(self) -> np.ndarray:
        """``[num_items]`` boolean, ``True`` for the rows that are an
        image's encoding (``False`` for :attr:`missing`)."""
        mask = np.ones(self.features.shape[0], dtype=bool)
        mask[self.missing] = False
        return mask


def encode_images(
    paths: Sequence[str | Path | None],
    model: ImageEncoder | str | Path | None = None,
    batch_size: int = 32,
    work_dir: str | Path | None = None,
    chunk_size: int = 1024,
    num_workers: int = 4,
    progress: Callable[[int, int], None] | None = None,
) -> ImageFeatures:
    r"""Builds the ``[len(paths), d]`` image feature matrix of a catalogue.

    Images are decoded by ``num_workers`` threads and encoded
    ``batch_size`` at a time. Items without a readable image get the mean
    vector of the encoded ones (see the module's description).

    Args:
        paths (Sequence): Entry ``i`` is item ``i``'s image file, or
            :obj:`None` for none (see :func:`image_paths`).
        model (ImageEncoder or str or Path, optional): An encoder object, or
            a model name or folder for :func:`load_image_model`.
            (default: :obj:`None`, :data:`DEFAULT_IMAGE_MODEL`)
        batch_size (int, optional): Images encoded at once.
            (default: :obj:`32`)
        work_dir (str or Path, optional): Folder of the progress (created if
            missing). A run that stops (interrupted, killed, out of memory)
            continues from it when called again with the same ``paths`` and
            model; it is left in place for the caller to delete once the
            result is saved. (default: :obj:`None`, no progress kept)
        chunk_size (int, optional): Items between two saves of the progress.
            (default: :obj:`1024`)
        num_workers (int, optional): Threads decoding images.
            (default: :obj:`4`)
        progress (callable, optional): Called as ``progress(done, total)``
            at the start and after every batch, ``done`` counting the items
            finished (those of earlier runs included). (default: :obj:`None`)

    Raises:
        DatasetError: if no image at all could be read.
        UserError: if ``work_dir`` holds the progress of other images or
            another model.
    """
    if batch_size < 1 or chunk_size < 1 or num_workers < 1:
        raise ValueError(
            "batch_size, chunk_size and num_workers must be positive, got "
            f"{batch_size}, {chunk_size} and {num_workers}"
        )
    if model is None or isinstance(model, str | Path):
        model = load_image_model(model)
    paths = [None if p is None else Path(p) for p in paths]
    state = _Progress(work_dir, paths, model.name)
    status = state.status
    status[(status == PENDING) & np.array([p is None for p in paths])] = NO_IMAGE
    todo = np.flatnonzero(status == PENDING)
    total = len(paths)
    if progress is not None:
        progress(total - todo.size, total)
    unsaved = 0
    try:
        with ThreadPoolExecutor(num_workers) as pool:
            for start in range(0, todo.size, batch_size):
                rows = todo[start : start + batch_size]
                images = list(pool.map(_open_image, (paths[r] for r in rows)))
                readable = np.array([image is not None for image in images])
                if readable.any():
                    vectors = model.encode([i for i in images if i is not None])
                    state.write(rows[readable], np.asarray(vectors, np.float32))
                status[rows] = np.where(readable, ENCODED, UNREADABLE)
                if progress is not None:
                    progress(total - todo.size + start + rows.size, total)
                unsaved += rows.size
                if unsaved >= chunk_size:
                    state.save()
                    unsaved = 0
    finally:
        # Also on an interruption: every row marked done is written.
        state.save()
    encoded = status == ENCODED
    if not encoded.any():
        raise DatasetError(
            f"no image could be read: {int((status == NO_IMAGE).sum())} of "
            f"{total} items have none, {int((status == UNREADABLE).sum())} are "
            "missing or not images"
        )
    features = np.array(state.features)
    features[~encoded] = features[encoded].mean(axis=0)
    return ImageFeatures(
        features=features,
        no_image=np.flatnonzero(status == NO_IMAGE),
        unreadable=np.flatnonzero(status == UNREADABLE),
    )


def _open_image(path: Path | None) -> Image.Image | None:
    """The image at ``path`` in RGB, or :obj:`None` if it is missing or
    cannot be decoded."""
    from PIL import Image, ImageOps

    if path is None:
        return None
    try:
        with Image.open(path) as image:
            # Photos store their orientation apart from the pixels.
            return ImageOps.exif_transpose(image).convert("RGB")
    # A damaged file can make a decoder raise almost anything (OSError,
    # SyntaxError, struct.error, EOFError, DecompressionBombError, ...); each
    # only means that this image is unreadable.
    except Exception:
        return None


class _Progress:
    """The rows and per-item status of :func:`encode_images`, in memory or,
    with a work folder, in ``features.npy`` (memory-mapped, created at the
    first encoded batch) and ``status.npy``, saved in that order so that a
    row marked encoded is on disk."""

    def __init__(self, work_dir: str | Path | None, paths: list, model: str) -> None:
        self.folder = None if work_dir is None else Path(work_dir)
        self.features: np.ndarray | None = None
        self.status = np.zeros(len(paths), dtype=np.int8)
        if self.folder is None:
            return
        listing = "\n".join("" if p is None else str(p) for p in paths)
        inputs = {
            "model": model,
            "items": len(paths),
            "paths_sha256": hashlib.sha256(listing.encode()).hexdigest(),
        }
        self.folder.mkdir(parents=True, exist_ok=True)
        recorded = self.folder / _INPUTS
        if recorded.is_file():
            if json.loads(recorded.read_text()) != inputs:
                raise UserError(
                    f"{self.folder} holds the progress of encoding other images "
                    "or with another model: delete it to start afresh"
                )
            if (self.folder / _STATUS).is_file():
                self.status = np.load(self.folder / _STATUS)
            if (self.folder / _FEATURES).is_file():
                self.features = np.load(self.folder / _FEATURES, mmap_mode="r+")
        else:
            recorded.write_text(json.dumps(inputs))

    def write(self, rows: np.ndarray, vectors: np.ndarray) -> None:
        if self.features is None:
            shape = (self.status.size, vectors.shape[1])
            if self.folder is None:
                self.features = np.zeros(shape, dtype=np.float32)
            else:
                self.features = np.lib.format.open_memmap(
                    self.folder / _FEATURES, mode="w+", dtype=np.float32, shape=shape
                )
        self.features[rows] = vectors

    def save(self) -> None:
        if self.folder is None:
            return
        if isinstance(self.features, np.memmap):
            self.features.flush()
        save_array_atomic(self.folder / _STATUS, self.status)
