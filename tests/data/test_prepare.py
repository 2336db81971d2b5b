"""``mde-pyg prepare`` (:mod:`mde_pyg.cli.prepare` over
:mod:`mde_pyg.data.prepare`) on a tiny generated
shared data folder (never the real ``../shared/data``), and the errors of a
dataset that was not prepared."""

import importlib.util
import json
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from mde_pyg.cli import main
from mde_pyg.cli.prepare import main as prepare_main
from mde_pyg.data import DatasetError, load_mmrec, make_synthetic, registry, write_inter
from mde_pyg.data import prepare as prep
from mde_pyg.data.hetero import split_edge_index
from mde_pyg.data.manifest import read_manifest
from mde_pyg.data.prepare import prepare
from mde_pyg.pipeline import build_data, build_dataset, build_model, compose_config

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
NUM_USERS, NUM_ITEMS = 40, 30


class FakeEncoder:
    """[length, 1] per text: cheap and deterministic."""

    def encode(self, sentences, batch_size=32, show_progress_bar=None, **kwargs):
        return np.array([[len(s), 1.0] for s in sentences])


def write_split(path, seed=0):
    data = make_synthetic(num_users=NUM_USERS, num_items=NUM_ITEMS, seed=seed)
    index = [split_edge_index(data, s) for s in ("train", "val", "test")]
    labels = [i.new_full((i.size(1),), label) for label, i in enumerate(index)]
    pairs = torch.cat(index, dim=1)
    assert int(pairs[1].max()) + 1 == NUM_ITEMS
    path.parent.mkdir(parents=True, exist_ok=True)
    write_inter(path, pairs[0], pairs[1], torch.cat(labels))


FAKE_ML100K_TOOL = """
import os, sys
import numpy as np
out = sys.argv[1]
if os.environ.get("FAKE_TOOL_FAILS"):
    sys.exit("ERROR: Could not find a version that satisfies recbole==1.2.1")
os.makedirs(out)
rows = [(u, (u + k) % 12, 4, 0, 0 if k < 4 else k - 3) for u in range(10)
        for k in range(6)]
with open(os.path.join(out, "ml100k.inter"), "w") as f:
    f.write("userID\\titemID\\trating\\ttimestamp\\tx_label\\n")
    f.writelines("%d\\t%d\\t%d\\t%d\\t%d\\n" % row for row in rows)
with open(os.path.join(out, "item_text.tsv"), "w") as f:
    f.write("itemID\\ttitle\\n")
    f.writelines("%d\\tMovie %d (1995)\\n" % (i, i) for i in range(12))
np.save(os.path.join(out, "genre_feat.npy"), np.eye(12, 27, dtype=np.float32))
print("users 10 items 12")
"""


@pytest.fixture
def shared(tmp_path, monkeypatch):
    """A tiny shared data folder with every input of every dataset; the
    environment variables unset, and a fake text model."""
    for name in (registry.DATA_ENV, registry.SHARED_ENV):
        monkeypatch.delenv(name, raising=False)
    root = tmp_path / "shared" / "data"
    write_split(root / "derived" / "baby.inter", seed=0)
    write_split(root / "derived" / "sports.inter", seed=1)
    texts = [
        {"itemID": 0, "title": "Rattle", "description": "Loud &amp; fun"},
        {"itemID": 2, "title": "Bath tub", "description": None},
        {"itemID": 3, "title": "", "description": ""},
    ]
    (root / "amazon_baby").mkdir()
    (root / "amazon_baby" / "baby_partial_text.jsonl").write_text(
        "".join(json.dumps(row) + "\n" for row in texts)
    )
    (root / "tools").mkdir()
    (root / "tools" / "ml100k.py").write_text(textwrap.dedent(FAKE_ML100K_TOOL))
    model = tmp_path / "model"
    model.mkdir()
    (model / "weights.bin").write_bytes(b"fake weights")
    monkeypatch.setattr(prep, "default_text_model_path", lambda: model)
    monkeypatch.setattr(prep, "load_text_model", lambda name: FakeEncoder())
    return root


def run(argv, capsys):
    """``prepare_main(argv)``: its exit status and captured output."""
    try:
        prepare_main([str(arg) for arg in argv])
    except SystemExit as exit:
        return exit.code, capsys.readouterr()
    return 0, capsys.readouterr()


def test_placeholders_are_prepared_and_load(shared, tmp_path, capsys):
    root = tmp_path / "datasets"
    names = ["baby_placeholder", "sports_placeholder"]
    status, out = run([*names, "--root", root, "--shared", shared], capsys)
    assert status == 0, out.err
    for name in names:
        data = load_mmrec(root / name)
        assert data["user"].num_nodes == NUM_USERS
        assert data["item"].x_image.shape == (NUM_ITEMS, 4096)
        assert data["item"].x_text.shape == (NUM_ITEMS, 384)
        assert "PLACEHOLDER" in (root / name / "README.txt").read_text()
        manifest = json.loads((root / name / "manifest.json").read_text())
        assert set(manifest) == {"interactions", "placeholder_features"}
        # Nothing half-written is left behind.
        assert {p.name for p in (root / name).iterdir()} == {
            "README.txt",
            "image_feat.npy",
            "manifest.json",
            f"{name}.inter",
            "text_feat.npy",
        }
    # No config names them, so no `train dataset=...` hint.
    assert "train on it" not in out.out


def test_the_library_returns_the_folders_and_prints_nothing(shared, tmp_path, capsys):
    root = tmp_path / "datasets"
    folders = prepare(["sports_placeholder"], root=root, shared=shared)
    assert folders == {"sports_placeholder": root / "sports_placeholder"}
    assert capsys.readouterr().out == ""
    # The folder's provenance is its manifest; the prose README is the CLI's.
    manifest = read_manifest(root / "sports_placeholder")
    assert set(manifest) == {"interactions", "placeholder_features"}
    assert manifest["placeholder_features"]["inputs"]["seed"] == prep.PLACEHOLDER_SEED
    assert not (root / "sports_placeholder" / "README.txt").exists()


def test_a_second_prepare_is_a_no_op(shared, tmp_path, capsys):
    root = tmp_path / "datasets"
    argv = ["baby_placeholder", "baby", "--root", root, "--shared", shared]
    assert run(argv, capsys)[0] == 0
    before = {p: p.stat().st_mtime_ns for p in root.rglob("*")}
    status, out = run(argv, capsys)
    assert status == 0
    assert out.out.count(": up to date") == 5 and "done in" not in out.out
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*")} == before


def test_a_changed_input_is_rebuilt(shared, tmp_path, capsys):
    root = tmp_path / "datasets"
    argv = ["baby", "--root", root, "--shared", shared]
    assert run(argv, capsys)[0] == 0
    texts = shared / "amazon_baby" / "baby_partial_text.jsonl"
    texts.write_text(texts.read_text() + json.dumps({"itemID": 5, "title": "Mat"}))
    status, out = run(argv, capsys)
    assert status == 0
    assert "baby/interactions: up to date" in out.out
    assert "baby/text: done" in out.out
    x = np.load(root / "baby" / "text_feat.npy")
    np.testing.assert_array_equal(x[5], [3.0, 1.0])


def test_baby_has_text_features_only(shared, tmp_path, capsys):
    root = tmp_path / "datasets"
    status, out = run(["baby", "--root", root, "--shared", shared], capsys)
    assert status == 0, out.err
    data = load_mmrec(root / "baby")
    x = data["item"].x_text
    assert x.shape == (NUM_ITEMS, 2) and "x_image" not in data["item"]
    # HTML entities decoded; title and description joined with ". ".
    assert x[0].tolist() == [len("Rattle. Loud & fun"), 1.0]
    assert x[2].tolist() == [len("Bath tub"), 1.0]
    # Items without text (3 has only empty values) get the mean vector, and
    # the mask file says which they are.
    mean = (x[0] + x[2]) / 2
    assert torch.equal(x[3], mean) and torch.equal(x[1], mean)
    assert data["item"].x_text_mask.nonzero().view(-1).tolist() == [0, 2]
    assert data["item"].x_text_mask.dtype == torch.bool
    readme = (root / "baby" / "README.txt").read_text()
    assert "NO image_feat.npy" in readme
    assert f"data_root={root}" in out.out
    assert "train on it: mde-pyg train dataset=baby" in out.out


def test_a_folder_made_before_the_mask_gains_it_without_encoding_again(
    shared, tmp_path, capsys
):
    root = tmp_path / "datasets"
    argv = ["baby", "--root", root, "--shared", shared]
    assert run(argv, capsys)[0] == 0
    folder = root / "baby"
    (folder / "text_mask.npy").unlink()
    manifest = json.loads((folder / "manifest.json").read_text())
    del manifest["text_mask"]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    features = (folder / "text_feat.npy").stat().st_mtime_ns
    status, out = run(argv, capsys)
    assert status == 0, out.err
    assert "baby/text: up to date" in out.out and "baby/text_mask: done" in out.out
    assert (folder / "text_feat.npy").stat().st_mtime_ns == features
    assert np.flatnonzero(np.load(folder / "text_mask.npy")).tolist() == [0, 2]
    assert read_manifest(folder)["text_mask"]["info"]["with_text"] == 2


def test_sports_has_interactions_only(shared, tmp_path, capsys):
    root = tmp_path / "datasets"
    status, _ = run(["sports", "--root", root, "--shared", shared], capsys)
    assert status == 0
    data = load_mmrec(root / "sports")
    assert data["user"].num_nodes == NUM_USERS and not list(
        (root / "sports").glob("*_feat.npy")
    )


def test_ml100k_through_the_shared_tool(shared, tmp_path, capsys, monkeypatch):
    root = tmp_path / "datasets"
    argv = ["ml100k", "--root", root, "--shared", shared]
    monkeypatch.setenv("FAKE_TOOL_FAILS", "1")
    status, out = run(argv, capsys)
    assert status == 2
    assert "ml100k.py: failed with exit status 1" in out.err
    assert "Could not find a version" in out.err and "network" in out.err
    assert not (root / "ml100k" / "ml100k.inter").exists()
    monkeypatch.delenv("FAKE_TOOL_FAILS")
    status, out = run(argv, capsys)
    assert status == 0, out.err
    data = load_mmrec(root / "ml100k")
    assert data["item"].x_meta.shape == (12, 27)
    assert data["item"].x_text[3].tolist() == [len("Movie 3 (1995)"), 1.0]


def test_the_root_comes_from_the_environment(shared, tmp_path, capsys, monkeypatch):
    env_root = tmp_path / "from_env"
    monkeypatch.setenv(registry.DATA_ENV, str(env_root))
    status, out = run(["sports", "--shared", shared], capsys)
    assert status == 0
    assert (env_root / "sports" / "sports.inter").is_file()
    # The config reads the same variable: no data_root= is needed.
    assert "train on it: mde-pyg train dataset=sports\n" in out.out
    # --root wins over the variable.
    status, _ = run(["sports", "--shared", shared, "--root", tmp_path / "r"], capsys)
    assert (tmp_path / "r" / "sports" / "sports.inter").is_file()


def test_the_default_root_is_in_the_home_cache(monkeypatch, tmp_path):
    monkeypatch.delenv(registry.DATA_ENV, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    expected = tmp_path / ".cache" / "mde_pyg" / "datasets"
    assert registry.data_root() == expected
    assert registry.data_root("~/elsewhere") == tmp_path / "elsewhere"


def test_the_shared_folder_is_found_or_named(shared, tmp_path, monkeypatch, capsys):
    # From the environment.
    monkeypatch.setenv(registry.SHARED_ENV, str(shared))
    assert registry.shared_data_dir() == shared
    monkeypatch.setenv(registry.SHARED_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(DatasetError, match=r"\$MDE_PYG_SHARED_DATA"):
        registry.shared_data_dir()
    monkeypatch.delenv(registry.SHARED_ENV)
    # No place of its own: the package reads no folder beside the repository.
    with pytest.raises(DatasetError, match=r"no shared data folder given"):
        registry.shared_data_dir()
    monkeypatch.chdir(tmp_path)
    status, out = run(["sports", "--root", tmp_path / "r"], capsys)
    assert status == 2
    assert "no shared data folder given" in out.err
    assert "--shared DIR" in out.err and "MDE_PYG_SHARED_DATA=DIR" in out.err
    assert len(out.err.strip().splitlines()) == 1


def test_a_missing_input_stops_before_anything_is_built(shared, tmp_path, capsys):
    (shared / "derived" / "sports.inter").unlink()
    root = tmp_path / "datasets"
    status, out = run(
        ["baby_placeholder", "sports", "--root", root, "--shared", shared], capsys
    )
    assert status == 2
    assert f"{shared / 'derived' / 'sports.inter'}: file not found" in out.err
    assert "dataset 'sports'" in out.err
    assert not root.exists()


def test_unknown_names_are_refused(shared, capsys):
    status, out = run(["clothing"], capsys)
    assert status == 2 and "invalid choice: 'clothing'" in out.err
    with pytest.raises(DatasetError, match="unknown dataset 'clothing'"):
        prepare(["clothing"], shared=shared)


def test_missing_text_extra_names_the_install_command(
    shared, tmp_path, capsys, monkeypatch
):
    # A None entry in sys.modules makes the import fail as if not installed.
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    root = tmp_path / "datasets"
    status, out = run(["sports", "baby", "--root", root, "--shared", shared], capsys)
    assert status == 2
    assert out.err.strip() == (
        "error: Encoding item text needs sentence-transformers: "
        "pip install 'mde-pyg[text]'"
    )
    assert not root.exists()
    # The placeholders need no text model.
    assert run(["baby_placeholder", "--root", root, "--shared", shared], capsys)[0] == 0


def test_a_missing_prepared_dataset_says_how_to_prepare_it(tmp_path, capsys):
    folder = tmp_path / "baby"
    with pytest.raises(DatasetError) as error:
        load_mmrec(folder)
    assert str(error.value) == (
        f"{folder}: dataset folder not found: run 'mde-pyg prepare baby' first "
        "(or set data_root=... / MDE_PYG_DATA)"
    )
    # Through the CLI: one line, exit status 2.
    with pytest.raises(SystemExit) as exit:
        main(["info", "dataset=baby", f"data_root={tmp_path}"])
    assert exit.value.code == 2
    assert capsys.readouterr().err.strip() == f"error: {error.value}"
    # A folder of another name: no prepare hint.
    with pytest.raises(DatasetError) as error:
        load_mmrec(tmp_path / "my_shop")
    assert str(error.value) == f"{tmp_path / 'my_shop'}: dataset folder not found"


def test_an_unset_folder_says_to_set_it(tmp_path, capsys, monkeypatch):
    message = "dataset.folder is not set: set dataset.folder=/path/to/folder"
    with pytest.raises(DatasetError, match=message):
        load_mmrec("???")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit:
        main(["info", "dataset=mmrec"])
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {message}") and "???" not in err


def test_the_folder_expands_the_home_directory(shared, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert run(["sports", "--root", "~/data", "--shared", shared], capsys)[0] == 0
    assert load_mmrec("~/data/sports")["user"].num_nodes == NUM_USERS


@pytest.mark.parametrize("env", [True, False])
def test_dataset_configs_load_the_prepared_folder_from_any_directory(
    shared, tmp_path, monkeypatch, capsys, env
):
    # With MDE_PYG_DATA, or the default ~/.cache/mde_pyg/datasets.
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    if env:
        monkeypatch.setenv(registry.DATA_ENV, str(tmp_path / "datasets"))
    assert run(["baby", "sports", "--shared", shared], capsys)[0] == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    baby = build_dataset(compose_config(["dataset=baby"]))
    assert baby["item"].x_text.shape == (NUM_ITEMS, 2)
    sports = build_dataset(compose_config(["dataset=sports"]))
    assert sports["user"].num_nodes == NUM_USERS
    default = tmp_path / "home" / ".cache" / "mde_pyg" / "datasets"
    root = tmp_path / "datasets" if env else default
    assert (root / "baby" / "baby.inter").is_file()
    assert default.exists() == (not env)


def test_the_benchmarks_wrapper_prepares_into_its_cache(
    shared, tmp_path, monkeypatch, capsys
):
    spec = importlib.util.spec_from_file_location(
        "prepare_data", BENCHMARKS / "prepare_data.py"
    )
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    monkeypatch.setenv(registry.SHARED_ENV, str(shared))
    cache = tmp_path / "cache"
    script.main(["--quick", "--root", str(cache)])  # as gpu_check.py calls it
    for name in script.QUICK_DATASETS:
        assert load_mmrec(cache / name)["item"].x_image.shape == (NUM_ITEMS, 4096)


@pytest.mark.parametrize("model", ["mde", "lattice"])
def test_multimodal_models_run_on_the_prepared_baby(
    shared, tmp_path, monkeypatch, capsys, model
):
    # The issue: dataset=baby had no features, so MDE and LATTICE could not run.
    monkeypatch.setenv(registry.DATA_ENV, str(tmp_path / "datasets"))
    assert run(["baby", "--shared", shared], capsys)[0] == 0
    cfg = compose_config([f"model={model}", "dataset=baby", "model.embedding_dim=8"])
    data = build_data(cfg)
    user_emb, item_emb = build_model(cfg, data).embeddings(data)
    assert user_emb.shape[0] == NUM_USERS and item_emb.shape[0] == NUM_ITEMS
