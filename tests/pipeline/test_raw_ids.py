"""Raw ids in the pipeline: load_run carries the maps, recommendations and
exports write them beside the internal ids."""

import csv
import json

import numpy as np
import torch

from mde_pyg.pipeline import (
    export_embeddings,
    format_recommendations,
    load_run,
    raw_ids,
    write_recommendations,
)

USERS = torch.tensor([1, 0])
ITEMS = torch.tensor([[2, 0], [1, -1]])
SCORES = torch.tensor([[0.5, 0.25], [1.0, float("-inf")]])


def test_load_run_keeps_its_return_and_carries_the_maps(raw_id_run):
    folder, run = raw_id_run
    model, data, cfg = load_run(run)
    assert cfg.dataset.folder == str(folder)
    assert raw_ids(data, "user") == data["user"].raw_id
    assert len(data["user"].raw_id) == model.num_users == 24
    assert len(data["item"].raw_id) == model.num_items == 15


def test_table_and_files_with_raw_ids(tmp_path):
    user_ids, item_ids = ["ann", "bob"], ["p,1", "q", "r"]
    table = format_recommendations(USERS, ITEMS, SCORES, user_ids, item_ids)
    assert [line.split() for line in table.splitlines()] == [
        ["user", "raw_user", "rank", "item", "raw_item", "score"],
        ["1", "bob", "1", "2", "r", "0.5"],
        ["1", "bob", "2", "0", "p,1", "0.25"],
        ["0", "ann", "1", "1", "q", "1.0"],
    ]
    path = tmp_path / "recs.csv"
    assert write_recommendations(path, USERS, ITEMS, SCORES, user_ids, item_ids) == 3
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["user", "raw_user", "rank", "item", "raw_item", "score"]
    assert rows[2] == ["1", "bob", "2", "0", "p,1", "0.25"]
    path = tmp_path / "recs.jsonl"
    write_recommendations(path, USERS, ITEMS, SCORES, user_ids, item_ids)
    first, second = (json.loads(line) for line in path.read_text().splitlines())
    assert first == {
        "user": 1,
        "raw_user": "bob",
        "items": [2, 0],
        "raw_items": ["r", "p,1"],
        "scores": [0.5, 0.25],
    }
    assert second["raw_items"] == ["q"]


def test_without_maps_the_formats_are_unchanged(tmp_path):
    path = tmp_path / "recs.csv"
    write_recommendations(path, USERS, ITEMS, SCORES)
    assert path.read_text().splitlines() == [
        "user,rank,item,score",
        "1,1,2,0.5",
        "1,2,0,0.25",
        "0,1,1,1.0",
    ]
    assert format_recommendations(USERS, ITEMS, SCORES).splitlines()[0].split() == [
        "user",
        "rank",
        "item",
        "score",
    ]


def test_export_writes_the_maps(raw_id_run, tmp_path):
    folder, run = raw_id_run
    model, data, _ = load_run(run)
    paths = export_embeddings(model, data, tmp_path / "emb")
    names = [p.name for p in paths]
    assert "u_id_mapping.csv" in names and "i_id_mapping.csv" in names
    for name in ("u_id_mapping.csv", "i_id_mapping.csv"):
        assert (tmp_path / "emb" / name).read_text() == (folder / name).read_text()
    ids = json.loads((tmp_path / "emb" / "ids.json").read_text())
    assert ids["id_maps"] == {"user": "u_id_mapping.csv", "item": "i_id_mapping.csv"}
    assert np.load(tmp_path / "emb" / "user_embeddings.npy").shape[0] == 24
