"""MovieLens-100K from the ``recbole`` wheel (:mod:`mde_pyg.data.movielens`),
on a tiny generated wheel: the conversion, and its errors."""

import zipfile

import numpy as np
import pytest

from dataset_files import (
    KEPT_MOVIES,
    MOVIES,
    USERS,
    movielens_rows,
    write_recbole_wheel,
)
from mde_pyg.data import DatasetError
from mde_pyg.data import movielens as ml


@pytest.fixture
def files(tmp_path):
    return ml.read_atomic_files(write_recbole_wheel(tmp_path))


def test_the_5_core_keeps_the_dense_block_in_order_of_first_appearance(files):
    rows = ml.convert(files)
    kept = [(u, m) for u, m, _, _ in movielens_rows() if u in USERS and m != "50"]
    assert rows.user.size == len(USERS) * len(KEPT_MOVIES) == len(kept)
    users = list(dict.fromkeys(u for u, _ in kept))
    movies = list(dict.fromkeys(m for _, m in kept))
    assert [users[u] for u in rows.user] == [u for u, _ in kept]
    assert [movies[i] for i in rows.item] == [m for _, m in kept]
    assert rows.titles == [MOVIES[m][0] for m in movies]
    # Ratings and times travel with their rows.
    source = {(u, m): (r, t) for u, m, r, t in movielens_rows()}
    pairs = zip(rows.user, rows.item, rows.rating, rows.timestamp)
    assert all(source[users[u], movies[i]] == (r, t) for u, i, r, t in pairs)


def test_every_user_gets_the_published_split(files):
    rows = ml.convert(files)
    # 8 interactions each (< 10): 6 train, 1 validation, 1 test.
    for user in range(len(USERS)):
        assert np.bincount(rows.label[rows.user == user]).tolist() == [6, 1, 1]
    # The seed chooses which are held out.
    other = ml.convert(files, seed=1)
    assert not np.array_equal(rows.label, other.label)
    assert np.array_equal(rows.label, ml.convert(files).label)


def test_a_user_with_ten_or_more_holds_out_a_fifth():
    user = np.repeat(np.arange(3), [10, 23, 5])
    label = ml.split_labels(user, seed=0)
    counts = [np.bincount(label[user == u], minlength=3).tolist() for u in range(3)]
    assert counts == [[8, 1, 1], [19, 2, 2], [3, 1, 1]]


def test_meta_is_the_genres_and_the_decade(files):
    rows = ml.convert(files)
    genres = sorted({g for _, _, classes in MOVIES.values() for g in classes.split()})
    assert rows.meta.shape == (len(KEPT_MOVIES), len(genres) + 8)
    for i, title in enumerate(rows.titles):
        (movie,) = [m for m in MOVIES if MOVIES[m][0] == title]
        _, year, classes = MOVIES[movie]
        expected = np.zeros(len(genres) + 8, dtype=np.float32)
        expected[[genres.index(g) for g in classes.split()]] = 1
        if year.isdigit():
            # 1916 counts as the 1920s: the first decade holds every earlier year.
            expected[len(genres) + (max(int(year), 1920) - 1920) // 10] = 1
        assert np.array_equal(rows.meta[i], expected), title
    assert rows.meta.dtype == np.float32


def test_the_files_are_written_as_mmrec_reads_them(files, tmp_path):
    from mde_pyg.data.inter import read_inter

    rows = ml.convert(files)
    (tmp_path / "ml100k.inter").write_text(rows.inter_text())
    user, item, label = read_inter(tmp_path / "ml100k.inter")
    assert np.array_equal(user.numpy(), rows.user)
    assert np.array_equal(label.numpy(), rows.label)
    header, first = rows.inter_text().splitlines()[:2]
    assert header == "userID\titemID\trating\ttimestamp\tx_label"
    # A whole rating is written without a decimal point.
    assert first.split("\t")[2] == str(int(rows.rating[0]))
    assert rows.item_text().splitlines()[1] == f"0\t{rows.titles[0]}"


def test_a_wheel_without_the_files_is_named(tmp_path):
    wheel = tmp_path / ml.WHEEL_NAME
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("recbole/__init__.py", "")
    with pytest.raises(DatasetError) as error:
        ml.read_atomic_files(wheel)
    assert str(error.value) == (
        f"{wheel}: has no recbole/dataset_example/ml-100k/ml-100k.inter "
        f"(is it the recbole {ml.RECBOLE_VERSION} wheel?)"
    )
    wheel.write_text("not a zip")
    with pytest.raises(DatasetError, match="not a readable wheel"):
        ml.read_atomic_files(wheel)
    with pytest.raises(DatasetError, match="file not found"):
        ml.read_atomic_files(tmp_path / "absent.whl")


def test_malformed_atomic_files_are_named(tmp_path):
    rows = movielens_rows()
    bad = [rows[0], (rows[1][0], rows[1][1], "five", rows[1][3]), *rows[2:]]
    files = ml.read_atomic_files(write_recbole_wheel(tmp_path / "a", bad))
    with pytest.raises(DatasetError) as error:
        ml.convert(files)
    assert str(error.value) == (
        "ml-100k.inter: column 'rating' has value 'five' at line 3, not a finite number"
    )
    movies = {m: v for m, v in MOVIES.items() if m != "7"}
    files = ml.read_atomic_files(write_recbole_wheel(tmp_path / "b", movies=movies))
    with pytest.raises(DatasetError, match="ml-100k.item: no row for item_id '7'"):
        ml.convert(files)
    files["ml-100k.item"] = files["ml-100k.item"].replace("class:token_seq", "genre")
    with pytest.raises(DatasetError, match="missing column 'class:token_seq'"):
        ml.convert(files)
