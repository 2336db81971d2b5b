import hashlib
import warnings

import numpy as np
import pytest
import torch

from mde_pyg.data.dataset import MMRecDataset
from mde_pyg.data.files import file_digest
from mde_pyg.data.hetero import item_features, split_edge_index
from mde_pyg.data.inter import write_inter
from mde_pyg.data.mmrec import load_mmrec
from mde_pyg.data.synthetic import make_synthetic
from mde_pyg.errors import ConfigError, DatasetError

SPLITS = ("train", "val", "test")


@pytest.fixture
def folder(tmp_path):
    data = make_synthetic(num_users=50, num_items=30, seed=0)
    index = [split_edge_index(data, s) for s in SPLITS]
    pairs = torch.cat(index, dim=1)
    labels = torch.cat([i.new_full((i.size(1),), s) for s, i in enumerate(index)])
    folder = tmp_path / "toy"
    folder.mkdir()
    write_inter(folder / "toy.inter", pairs[0], pairs[1], labels)
    np.save(folder / "text_feat.npy", data["item"].x_text.numpy())
    np.save(folder / "image_feat.npy", data["item"].x_image.numpy())
    return folder


def cached_files(folder):
    return sorted((folder / "processed").glob("data_*.pt"))


def assert_same_graph(data, expected):
    assert list(item_features(data)) == list(item_features(expected))
    for split in SPLITS:
        assert torch.equal(
            split_edge_index(data, split), split_edge_index(expected, split)
        )
    for modality, x in item_features(expected).items():
        assert torch.equal(item_features(data)[modality], x)
    assert data["user"].num_nodes == expected["user"].num_nodes
    assert data["item"].num_nodes == expected["item"].num_nodes


def forbid_processing(monkeypatch):
    def fail(self):
        raise AssertionError("process() must not run on a cache hit")

    monkeypatch.setattr(MMRecDataset, "process", fail)


def test_matches_load_mmrec(folder):
    dataset = MMRecDataset(str(folder.parent), "toy")
    assert len(dataset) == 1 and repr(dataset) == "MMRecDataset(toy)"
    assert list(item_features(dataset[0])) == ["image", "text"]
    assert_same_graph(dataset[0], load_mmrec(folder))


def test_processes_once_then_loads_from_cache(folder, monkeypatch):
    first = MMRecDataset(str(folder.parent), "toy")
    assert len(cached_files(folder)) == 1
    forbid_processing(monkeypatch)
    second = MMRecDataset(str(folder.parent), "toy")
    assert torch.equal(second[0]["item"].x_text, first[0]["item"].x_text)
    monkeypatch.undo()
    # force_reload processes again into the same file.
    mtime = cached_files(folder)[0].stat().st_mtime_ns
    MMRecDataset(str(folder.parent), "toy", force_reload=True)
    assert cached_files(folder)[0].stat().st_mtime_ns > mtime


def test_changed_raw_file_is_reprocessed(folder):
    MMRecDataset(str(folder.parent), "toy")
    np.save(folder / "text_feat.npy", np.ones((30, 32), dtype=np.float32))
    changed = MMRecDataset(str(folder.parent), "toy")
    assert len(cached_files(folder)) == 2
    assert bool((changed[0]["item"].x_text == 1).all())


def test_modality_list_is_part_of_the_key(folder):
    both = MMRecDataset(str(folder.parent), "toy")
    text = MMRecDataset(str(folder.parent), "toy", modalities=["text"])
    assert list(item_features(text[0])) == ["text"]
    reordered = MMRecDataset(str(folder.parent), "toy", modalities=["text", "image"])
    assert list(item_features(reordered[0])) == ["text", "image"]
    assert list(item_features(both[0])) == ["image", "text"]
    assert len(cached_files(folder)) == 3


def test_mask_file_and_missing_rule_are_part_of_the_key(folder):
    full = MMRecDataset(str(folder.parent), "toy")
    assert full[0]["item"].x_text_mask.all()
    has_text = np.arange(30) % 4 != 0
    np.save(folder / "text_mask.npy", has_text)
    masked = MMRecDataset(str(folder.parent), "toy")
    zeros = MMRecDataset(str(folder.parent), "toy", missing_features="zeros")
    assert len(cached_files(folder)) == 3
    assert masked[0]["item"].x_text_mask.tolist() == has_text.tolist()
    x = zeros[0]["item"].x_text
    assert (x[~torch.from_numpy(has_text)] == 0).all()
    assert_same_graph(zeros[0], load_mmrec(folder, missing_features="zeros"))
    with pytest.raises(ConfigError, match="'ones'"):
        MMRecDataset(str(folder.parent), "toy", missing_features="ones")


def test_pre_transform_is_applied_once(folder):
    calls = []

    def mark(data):
        calls.append(1)
        data["item"].marked = torch.ones(1)
        return data

    MMRecDataset(str(folder.parent), "toy", pre_transform=mark)
    again = MMRecDataset(str(folder.parent), "toy", pre_transform=mark)
    assert len(calls) == 1 and "marked" in again[0]["item"]


def test_missing_files_are_errors(tmp_path, folder):
    with pytest.raises(DatasetError, match="absent.inter: file not found .*download"):
        MMRecDataset(str(tmp_path), "absent")
    with pytest.raises(
        DatasetError, match="audio_feat.npy: file not found .*nothing is downloaded"
    ):
        MMRecDataset(str(folder.parent), "toy", modalities=["audio"])


def test_unreadable_raw_file_is_an_error(folder):
    (folder / "audio_feat.npy").mkdir()
    with pytest.raises(DatasetError, match=r"audio_feat.npy: cannot read \(Is a dir"):
        MMRecDataset(str(folder.parent), "toy")


@pytest.mark.parametrize(
    ("plant", "reason"),
    [
        (lambda path, plant_code: plant_code(path), "Unsupported global: GLOBAL"),
        (
            lambda path, _: path.write_bytes(path.read_bytes()[:100]),
            "PytorchStreamReader failed",
        ),
        (
            lambda path, _: torch.save({"x": torch.ones(2)}, path),
            r"expected the \(dict, slices, HeteroData\) tuple .* got dict",
        ),
    ],
)
def test_bad_processed_file_is_rebuilt_never_unpickled(
    folder, plant_code, monkeypatch, plant, reason
):
    expected = MMRecDataset(str(folder.parent), "toy")[0]
    (path,) = cached_files(folder)
    plant(path, plant_code)
    with pytest.warns(
        UserWarning,
        match=f"{path.name}: not using the processed graph \\({reason}.*\\) and "
        "refusing to unpickle it with weights_only=False, .* rebuilding it",
    ):
        rebuilt = MMRecDataset(str(folder.parent), "toy")
    assert not plant_code.ran
    assert_same_graph(rebuilt[0], expected)
    # The rebuilt file is a plain cache hit again.
    forbid_processing(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert_same_graph(MMRecDataset(str(folder.parent), "toy")[0], expected)
    assert cached_files(folder) == [path]


@pytest.mark.parametrize("name", ["pre_transform.pt", "pre_filter.pt"])
def test_planted_pyg_repr_file_is_deleted_unread(folder, plant_code, monkeypatch, name):
    expected = MMRecDataset(str(folder.parent), "toy")[0]
    path = folder / "processed" / name
    plant_code(path)
    forbid_processing(monkeypatch)
    with pytest.warns(
        UserWarning,
        match=f"{name}: refused to let PyG unpickle it with weights_only=False "
        r"\(Unsupported global.*deleted it",
    ):
        again = MMRecDataset(str(folder.parent), "toy")
    assert not plant_code.ran and not path.exists()
    assert_same_graph(again[0], expected)


def test_file_digest_streams_large_files(tmp_path):
    path = tmp_path / "blob"
    path.write_bytes(b"ab" * (1 << 20))  # two 1 MiB blocks
    assert file_digest(path) == hashlib.sha1(b"ab" * (1 << 20)).hexdigest()
    assert file_digest(path, "md5") == hashlib.md5(b"ab" * (1 << 20)).hexdigest()
