"""``mde-pyg import`` and the raw ids of ``recommend``: a raw CSV with
string ids -> import -> train -> recommend in raw ids."""

import json

import numpy as np

from cli_helpers import (
    RAW_ITEMS,
    RAW_USERS,
    exit_status,
    run_cli,
    write_raw_interactions,
)
from mde_pyg.data.mmrec import load_mmrec


def test_import_writes_an_mmrec_folder_with_maps_and_manifest(raw_id_run):
    folder, _ = raw_id_run
    assert sorted(p.name for p in folder.iterdir()) == [
        "i_id_mapping.csv",
        "manifest.json",
        "shop.inter",
        "u_id_mapping.csv",
    ]
    lines = (folder / "u_id_mapping.csv").read_text().splitlines()
    assert lines[0] == "user_id\tuserID"
    # internal ids follow the raw ids sorted as text: cust-0, cust-1, cust-10
    assert lines[1:4] == ["cust-0\t0", "cust-1\t1", "cust-10\t2"]
    assert (folder / "i_id_mapping.csv").read_text().startswith("asin\titemID\n")
    manifest = json.loads((folder / "manifest.json").read_text())
    counts = manifest["counts"]
    assert counts["rows"] == 24 * 7 + 1 and counts["dropped_k_core"] == 1
    assert counts["users"] == 24 and counts["items"] == 15
    assert manifest["k_core"] == 3 and "sorted as text" in manifest["id_order"]
    data = load_mmrec(folder)
    assert data["user"].raw_id == sorted(RAW_USERS)
    assert data["item"].raw_id == sorted(RAW_ITEMS)


def test_recommend_takes_raw_user_ids_and_prints_raw_items(raw_id_run, tmp_path):
    _, run = raw_id_run
    proc = run_cli(
        ["recommend", str(run), "--users", "cust-3,cust-17", "--k", "3"], tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["user", "raw_user", "rank", "item", "raw_item", "score"]
    rows = [line.split() for line in lines[1:]]
    assert len(rows) == 6
    assert [r[1] for r in rows] == ["cust-3"] * 3 + ["cust-17"] * 3
    ordered = sorted(RAW_USERS)
    assert {r[0] for r in rows[:3]} == {str(ordered.index("cust-3"))}
    items = sorted(RAW_ITEMS)
    for row in rows:
        assert row[4] == items[int(row[3])]


def test_an_unknown_raw_user_is_one_error_line(raw_id_run, tmp_path):
    _, run = raw_id_run
    proc = run_cli(["recommend", str(run), "--users", "cust-3,nobody"], tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith(
        "error: --users: unknown raw user id 'nobody'"
    )
    assert len(proc.stderr.strip().splitlines()) == 1


def test_import_refuses_to_overwrite_and_bad_options(tmp_path, capsys):
    raw = write_raw_interactions(tmp_path / "raw.csv")
    out = tmp_path / "shop"
    out.mkdir()
    (out / "shop.inter").write_text("x")
    status, captured = exit_status(["import", str(raw), "--out", str(out)], capsys)
    assert status == 2 and "shop.inter exists (pass --force" in captured.err
    status, captured = exit_status(
        ["import", str(raw), "--out", str(tmp_path / "o"), "--min-rating", "3"], capsys
    )
    assert status == 2 and "--min-rating needs --rating-column" in captured.err
    status, captured = exit_status(
        ["import", str(raw), "--out", str(tmp_path / "o"), "--user-column", "who"],
        capsys,
    )
    assert status == 2 and "missing column 'who'" in captured.err


def test_import_rating_threshold_in_process(tmp_path, capsys):
    from mde_pyg.cli import main

    raw = write_raw_interactions(tmp_path / "raw.csv")
    out = tmp_path / "rated"
    main(
        [
            "import",
            str(raw),
            "--out",
            str(out),
            "--user-column",
            "customer",
            "--item-column",
            "product",
            "--rating-column",
            "stars",
            "--min-rating",
            "2",
            "--k-core",
            "2",
            "--seed",
            "3",
        ]
    )
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["dropped_rating"] > 0 and manifest["seed"] == 3
    assert "dataset=mmrec dataset.folder=" in capsys.readouterr().out


class LengthEncoder:
    """Encodes a text as [its length, 1]: cheap and deterministic."""

    def encode(self, sentences, batch_size, show_progress_bar, convert_to_numpy):
        return np.array([[len(s), 1.0] for s in sentences])


def test_import_encodes_item_text_by_raw_id(tmp_path, capsys, monkeypatch):
    from mde_pyg.cli import main
    from mde_pyg.data import features

    monkeypatch.setattr(features, "load_text_model", lambda model: LengthEncoder())
    raw = write_raw_interactions(tmp_path / "raw.csv")
    # Text for two kept items, an item the k-core filter drops, and an empty
    # text; the other kept items have none.
    items = tmp_path / "items.csv"
    items.write_text(
        "sku,title,description\nSKU-3,Rattle,Soft\nSKU-0,Tub,\n"
        "SKU-GONE,Lost toy,\nSKU-7,,\n"
    )
    out = tmp_path / "shop"
    argv = ["import", str(raw), "--out", str(out), "--user-column", "customer"]
    argv += ["--item-column", "product", "--k-core", "3", "--text", str(items)]
    argv += ["--text-id-column", "sku", "--text-columns", "title", "description"]
    main(argv)
    data = load_mmrec(out)
    rows = {raw_id: i for i, raw_id in enumerate(data["item"].raw_id)}
    x = np.load(out / "text_feat.npy")
    assert x.shape == (15, 2)
    assert x[rows["SKU-3"]].tolist() == [len("Rattle. Soft"), 1.0]
    assert x[rows["SKU-0"]].tolist() == [len("Tub"), 1.0]
    mask = np.load(out / "text_mask.npy")
    assert np.flatnonzero(mask).tolist() == sorted([rows["SKU-3"], rows["SKU-0"]])
    # Items without text get the mean of the encoded rows and are marked.
    np.testing.assert_allclose(x[rows["SKU-7"]], [(12 + 3) / 2, 1.0])
    assert data["item"].x_text_mask.tolist() == mask.tolist()
    record = json.loads((out / "manifest.json").read_text())["text"]
    assert record["encoded"] == 2 and record["columns"] == ["title", "description"]
    assert record["missing_items"] == np.flatnonzero(~mask).tolist()
    assert "2 with text, 13 without" in capsys.readouterr().out


def test_import_text_user_errors(tmp_path, capsys):
    raw = write_raw_interactions(tmp_path / "raw.csv")
    items = tmp_path / "items.csv"
    items.write_text("sku,title\nSKU-3,Rattle\n")
    base = ["import", str(raw), "--user-column", "customer"]
    base += ["--item-column", "product", "--k-core", "3"]
    status, captured = exit_status(
        base + ["--out", str(tmp_path / "a"), "--text", str(items)], capsys
    )
    assert status == 2 and "--text and --text-columns go together" in captured.err
    status, captured = exit_status(
        base
        + ["--out", str(tmp_path / "b"), "--text", str(items)]
        + ["--text-columns", "title"],
        capsys,
    )
    # The ID column defaults to the interactions' item column, absent here.
    assert status == 2 and "'product'" in captured.err and "items.csv" in captured.err
    assert not (tmp_path / "b" / "b.inter").exists()


def test_import_text_without_the_text_extra_is_one_error_line(
    tmp_path, capsys, monkeypatch
):
    from mde_pyg.data import features

    def no_extra(model):
        raise ImportError("Encoding item text needs sentence-transformers: pip ...")

    monkeypatch.setattr(features, "load_text_model", no_extra)
    raw = write_raw_interactions(tmp_path / "raw.csv")
    items = tmp_path / "items.csv"
    items.write_text("product,title\nSKU-3,Rattle\n")
    argv = ["import", str(raw), "--out", str(tmp_path / "shop"), "--k-core", "3"]
    argv += ["--user-column", "customer", "--item-column", "product"]
    status, captured = exit_status(
        argv + ["--text", str(items), "--text-columns", "title"], capsys
    )
    assert status == 2
    assert captured.err.strip() == (
        "error: Encoding item text needs sentence-transformers: pip ..."
    )
    assert not (tmp_path / "shop" / "shop.inter").exists()
