"""The checks of MMRec's published folders (:mod:`mde_pyg.data.published`),
on tiny generated folders: the published counts are those of the tiny
folder where a test says so."""

import numpy as np
import pytest

from dataset_files import write_published_folder
from mde_pyg.data import DatasetError, published
from mde_pyg.data.published import PublishedCounts


@pytest.fixture
def tiny_baby(monkeypatch):
    """The published Baby's counts, made those of the tiny folder."""
    counts = PublishedCounts("Baby", users=12, items=9, interactions=60)
    monkeypatch.setitem(published.PUBLISHED, "baby", counts)
    return counts


def test_the_published_counts_are_the_papers(monkeypatch):
    # One table: users, items, interactions of each dataset.
    assert {
        "baby": PublishedCounts("Baby", 19_445, 7_050, 160_792),
        "sports": PublishedCounts("Sports", 35_598, 18_357, 296_337),
        "clothing": PublishedCounts("Clothing", 39_387, 23_033, 278_677),
    } == published.PUBLISHED
    assert published.FEATURE_DIMS == {"image": 4096, "text": 384}


def test_a_good_folder_lists_its_files(tmp_path, tiny_baby):
    folder = write_published_folder(tmp_path / "baby", "baby")
    files = published.check_published("baby", folder)
    assert [p.name for p in files] == [
        "baby.inter",
        "image_feat.npy",
        "text_feat.npy",
        "u_id_mapping.csv",
        "i_id_mapping.csv",
    ]
    # The ID maps are optional.
    (folder / "u_id_mapping.csv").unlink()
    assert "u_id_mapping.csv" not in {
        p.name for p in published.check_published("baby", folder)
    }


def test_the_folder_or_its_subfolder_is_found(tmp_path, tiny_baby):
    folder = write_published_folder(tmp_path / "data" / "baby", "baby")
    assert published.find_published("baby", folder) == folder
    assert published.find_published("baby", tmp_path / "data") == folder
    with pytest.raises(DatasetError) as error:
        published.find_published("baby", tmp_path)
    message = str(error.value)
    assert message.startswith(f"{tmp_path / 'baby.inter'}: file not found")
    assert published.DOWNLOAD_URL in message


def test_wrong_counts_name_the_file_field_and_value(tmp_path, tiny_baby):
    path = write_published_folder(tmp_path / "a", "baby", num_users=11) / "baby.inter"
    with pytest.raises(DatasetError) as error:
        published.check_published("baby", path.parent)
    assert str(error.value) == (
        f"{path}: distinct userID values is 11, but MMRec's published Baby has "
        "12: is this the published Baby folder?"
    )
    # Right users and items, one interaction too few.
    folder = write_published_folder(tmp_path / "b", "baby")
    lines = (folder / "baby.inter").read_text().splitlines(keepends=True)
    (folder / "baby.inter").write_text("".join(lines[:-1]))
    with pytest.raises(DatasetError, match=r"interactions \(rows\) is 59, .* has 60"):
        published.check_published("baby", folder)


def test_item_ids_must_fill_the_feature_rows(tmp_path, tiny_baby):
    # 9 distinct items, but IDs up to 9: item 0 never rated, 10 rows needed.
    folder = write_published_folder(tmp_path / "a", "baby")
    text = (folder / "baby.inter").read_text()
    lines = text.splitlines()
    shifted = [lines[0]] + [
        "\t".join([u, str(int(i) + 1), lab])
        for u, i, lab in (li.split("\t") for li in lines[1:])
    ]
    (folder / "baby.inter").write_text("\n".join(shifted) + "\n")
    with pytest.raises(DatasetError, match=r"largest itemID \+ 1 is 10, .* has 9"):
        published.check_published("baby", folder)


def test_wrong_feature_shapes_are_named(tmp_path, tiny_baby):
    folder = write_published_folder(
        tmp_path / "a", "baby", dims={"image": 4095, "text": 384}
    )
    with pytest.raises(DatasetError) as error:
        published.check_published("baby", folder)
    assert str(error.value) == (
        f"{folder / 'image_feat.npy'}: shape (9, 4095), but MMRec's published Baby "
        "has (9, 4096) (9 items x 4096-d image features)"
    )
    np.save(folder / "image_feat.npy", np.zeros((8, 4096), np.float32))
    with pytest.raises(DatasetError, match=r"shape \(8, 4096\)"):
        published.check_published("baby", folder)
    (folder / "text_feat.npy").write_text("not an array")
    np.save(folder / "image_feat.npy", np.zeros((9, 4096), np.float32))
    with pytest.raises(DatasetError, match="text_feat.npy: not a readable .npy array"):
        published.check_published("baby", folder)
    (folder / "text_feat.npy").unlink()
    with pytest.raises(DatasetError, match="text_feat.npy: file not found"):
        published.check_published("baby", folder)


def test_a_malformed_id_map_is_named(tmp_path, tiny_baby):
    folder = write_published_folder(tmp_path / "a", "baby")
    lines = (folder / "i_id_mapping.csv").read_text().splitlines(keepends=True)
    (folder / "i_id_mapping.csv").write_text("".join(lines[:-1]))
    with pytest.raises(DatasetError, match="i_id_mapping.csv"):
        published.check_published("baby", folder)
