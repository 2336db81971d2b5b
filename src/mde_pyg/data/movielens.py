r"""MovieLens-100K from pip alone: the RecBole atomic files of MovieLens-100K
ship inside the ``recbole`` wheel on PyPI (``recbole/dataset_example/ml-100k/``).
:func:`fetch_wheel` downloads that wheel with pip (nothing is installed or
imported), :func:`read_atomic_files` reads ``ml-100k.inter`` (user, item,
rating, time) and ``ml-100k.item`` (title, release year, genres) out of it,
and :func:`convert` turns them into the rows of the ``ml100k`` folder.

MovieLens' terms forbid redistribution, so the package carries no copy: the
data reaches the user's machine through pip, as a wheel the user could have
downloaded themselves.

The conversion:

* every rating is an interaction (implicit feedback);
* iterative 5-core filtering of users and items
  (:func:`~mde_pyg.data.raw.k_core_filter`);
* users and items re-indexed ``0..n-1`` in order of first appearance in
  ``ml-100k.inter``;
* the published per-user random split (:func:`~mde_pyg.data.raw.label_by_rank`)
  with seed :data:`SEED`, drawn user by user from NumPy's ``RandomState``, as
  the ``ml100k`` folder of the published benchmarks was split;
* ``meta``: a 27-d categorical modality, the 19 genres (multi-hot) and the
  release decade (one-hot, 1920s and earlier .. 1990s; none for an unknown
  year);
* the titles, encoded into ``text_feat.npy`` by :mod:`mde_pyg.data.prepare`.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mde_pyg.data.raw import k_core_filter, label_by_rank, parse_numbers
from mde_pyg.errors import DatasetError

#: The ``recbole`` release whose wheel the data is read from.
RECBOLE_VERSION = "1.2.1"
#: Its wheel's file name on PyPI.
WHEEL_NAME = f"recbole-{RECBOLE_VERSION}-py3-none-any.whl"
#: Where the atomic files are inside the wheel.
MEMBER_PREFIX = "recbole/dataset_example/ml-100k/"
#: The atomic files read, and the columns read from each (RecBole's
#: ``name:type`` headers).
ATOMIC_COLUMNS = {
    "ml-100k.inter": (
        "user_id:token",
        "item_id:token",
        "rating:float",
        "timestamp:float",
    ),
    "ml-100k.item": (
        "item_id:token",
        "movie_title:token_seq",
        "release_year:token",
        "class:token_seq",
    ),
}
#: Seed of the split.
SEED = 999
#: Minimum interactions per user and item.
K_CORE = 5
#: The release decades of the ``meta`` modality: the first also holds every
#: earlier year, the last every later one.
DECADES = tuple(range(1920, 2000, 10))


def pip_download_command(directory: str | Path) -> list[str]:
    """The pip command that downloads the wheel into ``directory``."""
    return [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--disable-pip-version-check",
        "--quiet",
        "--dest",
        str(directory),
        f"recbole=={RECBOLE_VERSION}",
    ]


def fetch_wheel(cache: str | Path) -> Path:
    """The ``recbole`` wheel in folder ``cache``, downloaded with pip (as
    :func:`pip_download_command`) unless it is already there. The download
    goes to a temporary folder first, so an interrupted one leaves nothing.

    Args:
        cache (str or Path): The folder the wheel is kept in.

    Raises:
        DatasetError: if pip fails (no network, no pip), with pip's last
            error line and how to download the wheel elsewhere.
    """
    cache = Path(cache)
    wheel = cache / WHEEL_NAME
    if wheel.is_file():
        return wheel
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache, prefix=".tmp_") as tmp:
        done = subprocess.run(pip_download_command(tmp), capture_output=True, text=True)
        downloaded = Path(tmp) / WHEEL_NAME
        if done.returncode != 0 or not downloaded.is_file():
            lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
            said = lines[-1] if lines else f"exit status {done.returncode}"
            raise DatasetError(
                f"could not download the recbole {RECBOLE_VERSION} wheel with pip "
                f"(it holds MovieLens-100K; pip: {said}). On a machine with "
                "network access run `python -m pip download --no-deps "
                f"recbole=={RECBOLE_VERSION} -d DIR`, copy DIR/{WHEEL_NAME} to "
                f"this one and pass it: mde-pyg prepare ml100k --wheel "
                f"PATH/{WHEEL_NAME} (or put it in {cache})"
            )
        os.replace(downloaded, wheel)
    return wheel


def read_atomic_files(wheel: str | Path) -> dict[str, str]:
    """The text of the atomic files of :data:`ATOMIC_COLUMNS` inside the
    ``recbole`` wheel ``wheel``, by file name.

    Raises:
        DatasetError: if ``wheel`` is missing, not a zip file, or lacks a
            file.
    """
    wheel = Path(wheel)
    if not wheel.is_file():
        raise DatasetError(f"{wheel}: file not found (the recbole wheel)")
    try:
        with zipfile.ZipFile(wheel) as archive:
            names = set(archive.namelist())
            files = {}
            for name in ATOMIC_COLUMNS:
                if MEMBER_PREFIX + name not in names:
                    raise DatasetError(
                        f"{wheel}: has no {MEMBER_PREFIX + name} (is it the "
                        f"recbole {RECBOLE_VERSION} wheel?)"
                    )
                files[name] = archive.read(MEMBER_PREFIX + name).decode("utf-8")
    except (zipfile.BadZipFile, UnicodeDecodeError) as error:
        raise DatasetError(f"{wheel}: not a readable wheel ({error})") from None
    return files


def read_atomic_table(
    source: str, text: str, columns: tuple[str, ...]
) -> list[list[str]]:
    """The rows (lists of fields, in the order of ``columns``) of a RecBole
    atomic file: tab-separated, no quoting, a header of ``name:type``.

    Raises:
        DatasetError: naming ``source`` (the file) and the line, for a header
            without one of ``columns`` or a row of another width.
    """
    reader = csv.reader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE)
    header = next(reader, [])
    missing = [c for c in columns if c not in header]
    if missing:
        raise DatasetError(
            f"{source}: missing column '{missing[0]}' (found columns: {header})"
        )
    positions = [header.index(c) for c in columns]
    rows = []
    for row in reader:
        if len(row) != len(header):
            raise DatasetError(
                f"{source}: line {reader.line_num} has {len(row)} fields, expected "
                f"{len(header)} ({header})"
            )
        rows.append([row[p] for p in positions])
    if not rows:
        raise DatasetError(f"{source}: no rows after the header")
    return rows


@dataclass
class MovieLens:
    """The ``ml100k`` folder's rows, as :func:`convert` makes them.

    Attributes:
        user (np.ndarray): ``[E]`` user ID of each interaction.
        item (np.ndarray): ``[E]`` item ID.
        rating (np.ndarray): ``[E]`` rating (1 to 5).
        timestamp (np.ndarray): ``[E]`` time (Unix seconds).
        label (np.ndarray): ``[E]`` split (``0`` train, ``1`` validation,
            ``2`` test).
        titles (list of str): Entry ``i`` is the title of item ``i``.
        meta (np.ndarray): ``[num_items, 27]`` float32, the genre multi-hot
            and the release-decade one-hot of each item.
        raw_users (list of str): Entry ``u`` is the MovieLens ID of user
            ``u``.
        raw_items (list of str): Entry ``i`` is the MovieLens ID of item
            ``i``.
    """

    user: np.ndarray
    item: np.ndarray
    rating: np.ndarray
    timestamp: np.ndarray
    label: np.ndarray
    titles: list[str]
    meta: np.ndarray
    raw_users: list[str]
    raw_items: list[str]

    def inter_text(self) -> str:
        """The ``ml100k.inter`` file: ``userID itemID rating timestamp
        x_label``, tab-separated."""
        rows = zip(
            self.user.tolist(),
            self.item.tolist(),
            self.rating.tolist(),
            self.timestamp.tolist(),
            self.label.tolist(),
        )
        body = "".join(f"{u}\t{i}\t{r:g}\t{t}\t{lab}\n" for u, i, r, t, lab in rows)
        return "userID\titemID\trating\ttimestamp\tx_label\n" + body

    def item_text(self) -> str:
        """The ``item_text.tsv`` file: ``itemID title``, tab-separated."""
        body = "".join(f"{i}\t{title}\n" for i, title in enumerate(self.titles))
        return "itemID\ttitle\n" + body


def convert(files: dict[str, str], seed: int = SEED) -> MovieLens:
    """Turns the atomic files (:func:`read_atomic_files`) into the rows of the
    ``ml100k`` folder (see the module's description).

    Args:
        files (dict): The text of ``ml-100k.inter`` and ``ml-100k.item``.
        seed (int, optional): Seed of the split. (default: :obj:`999`)

    Raises:
        DatasetError: for a malformed file, a rating or time that is not a
            number, an item without a row in ``ml-100k.item``, or nothing
            left after filtering.
    """
    inter = np.asarray(
        read_atomic_table(
            "ml-100k.inter", files["ml-100k.inter"], ATOMIC_COLUMNS["ml-100k.inter"]
        ),
        dtype=object,
    )
    lines = list(range(2, len(inter) + 2))
    rating = parse_numbers("ml-100k.inter", "rating", inter[:, 2].tolist(), lines)
    timestamp = parse_numbers("ml-100k.inter", "timestamp", inter[:, 3].tolist(), lines)
    user, _ = first_appearance_ids(inter[:, 0].astype(str))
    item, _ = first_appearance_ids(inter[:, 1].astype(str))
    keep = k_core_filter(torch.from_numpy(user), torch.from_numpy(item), K_CORE)
    keep = keep.numpy()
    if not keep.any():
        raise DatasetError(
            f"ml-100k.inter: no interaction survives {K_CORE}-core filtering"
        )
    user, raw_users = first_appearance_ids(inter[keep, 0].astype(str))
    item, raw_items = first_appearance_ids(inter[keep, 1].astype(str))
    titles, meta = item_features(files["ml-100k.item"], raw_items)
    return MovieLens(
        user=user,
        item=item,
        rating=rating[keep],
        timestamp=timestamp[keep].astype(np.int64),
        label=split_labels(user, seed),
        titles=titles,
        meta=meta,
        raw_users=raw_users.tolist(),
        raw_items=raw_items.tolist(),
    )


def first_appearance_ids(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Maps IDs to ``0..n-1`` in order of first appearance.

    Returns:
        ``(new_ids, raw_ids)``: the ``[E]`` new IDs and the ``[n]`` raw IDs,
        ``raw_ids[new_ids] == values``.
    """
    unique, first, inverse = np.unique(values, return_index=True, return_inverse=True)
    order = np.argsort(first)
    new_id = np.empty_like(order)
    new_id[order] = np.arange(order.size)
    return new_id[inverse.reshape(-1)], unique[order]


def split_labels(user: np.ndarray, seed: int) -> np.ndarray:
    """The split of :func:`~mde_pyg.data.raw.label_by_rank`, the held-out
    interactions of each user the last of a random permutation of its
    interactions.

    The permutations are drawn user after user (users in ID order, each
    user's interactions in row order) from one ``RandomState(seed)``: this
    stream, not a vectorised draw, is what the published ``ml100k`` folder
    was split with. A one-off loop over 943 users.
    """
    count = np.bincount(user)
    rows_by_user = np.split(np.argsort(user, kind="stable"), np.cumsum(count)[:-1])
    rng = np.random.RandomState(seed)
    order = np.concatenate([rng.permutation(rows) for rows in rows_by_user])
    start = np.cumsum(count) - count
    position = np.arange(user.size) - start[user[order]]
    # The last positions are held out: count them from the end.
    rank = np.empty_like(order)
    rank[order] = count[user[order]] - 1 - position
    label = label_by_rank(
        torch.from_numpy(user),
        torch.from_numpy(rank),
        torch.from_numpy(count),
        test_first=True,
    )
    return label.numpy()


def item_features(text: str, raw_items: np.ndarray) -> tuple[list[str], np.ndarray]:
    """The titles and the ``[len(raw_items), 19 + 8]`` genre and decade
    matrix of the items ``raw_items`` (raw IDs, in new ID order), from
    ``ml-100k.item``. The genres are those of the whole file, sorted.

    Raises:
        DatasetError: naming the first item without a row in the file.
    """
    rows = read_atomic_table("ml-100k.item", text, ATOMIC_COLUMNS["ml-100k.item"])
    by_id = {row[0]: row for row in rows}
    absent = [raw for raw in raw_items.tolist() if raw not in by_id]
    if absent:
        raise DatasetError(
            f"ml-100k.item: no row for item_id '{absent[0]}' of ml-100k.inter "
            f"({len(absent)} items have none)"
        )
    genres = sorted({genre for row in rows for genre in row[3].split()})
    items = [by_id[raw] for raw in raw_items.tolist()]
    meta = np.zeros((len(items), len(genres) + len(DECADES)), dtype=np.float32)
    genre_column = {genre: c for c, genre in enumerate(genres)}
    marks = [
        (i, genre_column[g]) for i, row in enumerate(items) for g in row[3].split()
    ]
    decade_column = {decade: len(genres) + c for c, decade in enumerate(DECADES)}
    marks += [
        (i, decade_column[min(max(int(row[2]) // 10 * 10, DECADES[0]), DECADES[-1])])
        for i, row in enumerate(items)
        if row[2].isdigit()
    ]
    rows_index, columns = zip(*marks) if marks else ((), ())
    meta[list(rows_index), list(columns)] = 1.0
    return [row[1] for row in items], meta
