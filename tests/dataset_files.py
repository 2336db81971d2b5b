"""Tiny stand-ins for the downloads that ``mde-pyg prepare`` reads: a
``recbole`` wheel holding MovieLens-format atomic files, and MMRec's
published folders. Generated here, so tests never touch the network."""

import zipfile
from pathlib import Path

import numpy as np
import torch

from mde_pyg.data import write_inter
from mde_pyg.data.movielens import MEMBER_PREFIX, RECBOLE_VERSION, WHEEL_NAME

#: The items of the tiny MovieLens: raw ID -> (title, release year, genres).
MOVIES = {
    "7": ("Heat (1995)", "1995", "Action Crime Thriller"),
    "3": ("Four Rooms", "1995", "Thriller"),
    "12": ("Nosferatu (1922)", "1922", "Horror"),
    "5": ("Intolerance", "1916", "Drama"),
    "9": ("Some Film", "unknown", "unknown"),
    "21": ("Metropolis", "1927", "Drama Sci-Fi"),
    "30": ("Toy Story", "1995", "Animation Children's Comedy"),
    "44": ("Aliens", "1986", "Action Sci-Fi War"),
    # Rated by 3 users only: removed by the 5-core filter.
    "50": ("Rare Film", "1990", "Documentary"),
}
#: The users rating every kept movie; user "999" rates two and is removed.
USERS = [str(u) for u in range(100, 110)]
KEPT_MOVIES = [m for m in MOVIES if m != "50"]


def movielens_rows(seed: int = 0) -> list[tuple[str, str, int, int]]:
    """``(user, item, rating, time)`` rows, in a shuffled order."""
    rows = [(u, m) for u in USERS for m in KEPT_MOVIES]
    rows += [(u, "50") for u in USERS[:3]] + [("999", "7"), ("999", "3")]
    rng = np.random.default_rng(seed)
    rows = [rows[i] for i in rng.permutation(len(rows))]
    return [(u, m, 1 + i % 5, 880_000_000 + i) for i, (u, m) in enumerate(rows)]


def write_recbole_wheel(folder: Path, rows=None, movies=None) -> Path:
    """Writes a wheel named like the ``recbole`` one (with the metadata pip
    checks) holding ``ml-100k.inter``, ``.item`` and ``.user`` made of
    ``rows`` (:func:`movielens_rows`) and ``movies`` (:data:`MOVIES`)."""
    rows = movielens_rows() if rows is None else rows
    movies = MOVIES if movies is None else movies
    inter = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
    inter += "".join(f"{u}\t{m}\t{r}\t{t}\n" for u, m, r, t in rows)
    item = "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
    item += "".join(f"{m}\t{t}\t{y}\t{g}\n" for m, (t, y, g) in movies.items())
    user = "user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token\n"
    user += "".join(f"{u}\t30\tF\tother\t00000\n" for u in {r[0] for r in rows})
    dist_info = f"recbole-{RECBOLE_VERSION}.dist-info/"
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / WHEEL_NAME
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(MEMBER_PREFIX + "ml-100k.inter", inter)
        archive.writestr(MEMBER_PREFIX + "ml-100k.item", item)
        archive.writestr(MEMBER_PREFIX + "ml-100k.user", user)
        archive.writestr(
            dist_info + "METADATA",
            f"Metadata-Version: 2.1\nName: recbole\nVersion: {RECBOLE_VERSION}\n",
        )
        archive.writestr(
            dist_info + "WHEEL",
            "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        archive.writestr(dist_info + "RECORD", "")
    return wheel


def write_published_folder(
    folder: Path,
    name: str,
    num_users: int = 12,
    num_items: int = 9,
    dims: dict[str, int] | None = None,
) -> Path:
    """Writes a folder laid out as MMRec's published ones: ``<name>.inter``
    (every user rates 5 items: 3 train, 1 validation, 1 test; every item is
    rated), ``image_feat.npy``/``text_feat.npy`` of ``dims`` columns
    (default: the published 4096 and 384) and the two ID maps."""
    dims = {"image": 4096, "text": 384} if dims is None else dims
    user = torch.arange(num_users).repeat_interleave(5)
    item = (user + torch.arange(5).repeat(num_users)) % num_items
    label = torch.tensor([0, 0, 0, 1, 2]).repeat(num_users)
    folder.mkdir(parents=True, exist_ok=True)
    write_inter(folder / f"{name}.inter", user, item, label)
    rng = np.random.default_rng(0)
    for modality, dim in dims.items():
        features = rng.random((num_items, dim), dtype=np.float32)
        np.save(folder / f"{modality}_feat.npy", features)
    (folder / "u_id_mapping.csv").write_text(
        "user_id\tuserID\n" + "".join(f"A{u}\t{u}\n" for u in range(num_users))
    )
    (folder / "i_id_mapping.csv").write_text(
        "asin\titemID\n" + "".join(f"B{i}\t{i}\n" for i in range(num_items))
    )
    return folder
