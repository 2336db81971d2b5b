import numpy as np
import pytest
import torch

from mde_pyg.data import DatasetError, MMRecDataset, make_synthetic, write_inter
from mde_pyg.data.hetero import split_edge_index


@pytest.fixture
def folder(tmp_path):
    data = make_synthetic(num_users=50, num_items=30, seed=0)
    index = [split_edge_index(data, s) for s in ("train", "val", "test")]
    pairs = torch.cat(index, dim=1)
    labels = torch.cat([i.new_full((i.size(1),), s) for s, i in enumerate(index)])
    folder = tmp_path / "toy"
    folder.mkdir()
    write_inter(folder / "toy.inter", pairs[0], pairs[1], labels)
    np.save(folder / "text_feat.npy", data["item"].x_text.numpy())
    return folder


def test_processes_once_then_loads_from_cache(folder, monkeypatch):
    first = MMRecDataset(str(folder.parent), "toy")
    assert first[0]["item"].x_text.shape == (30, 32)
    cached = list((folder / "processed").glob("data_*.pt"))
    assert len(cached) == 1

    def fail(self):
        raise AssertionError("process() must not run on a cache hit")

    monkeypatch.setattr(MMRecDataset, "process", fail)
    second = MMRecDataset(str(folder.parent), "toy")
    assert torch.equal(second[0]["item"].x_text, first[0]["item"].x_text)


def test_changed_raw_file_is_reprocessed(folder):
    MMRecDataset(str(folder.parent), "toy")
    np.save(folder / "text_feat.npy", np.ones((30, 32), dtype=np.float32))
    changed = MMRecDataset(str(folder.parent), "toy")
    assert len(list((folder / "processed").glob("data_*.pt"))) == 2
    assert bool((changed[0]["item"].x_text == 1).all())


def test_missing_dataset_is_an_error(tmp_path):
    with pytest.raises(DatasetError, match="nothing is downloaded"):
        MMRecDataset(str(tmp_path), "absent")
