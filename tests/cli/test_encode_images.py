"""``mde-pyg encode-images`` and ``mde-pyg import --images``: image
features aligned with the item ID map, the manifest's record of missing
images, resuming, and one-line user errors (a toy CLIP, no download)."""

import json

import numpy as np
import pytest

from cli_helpers import RAW_ITEMS, exit_status, write_raw_interactions
from image_helpers import DIMS, write_corrupt_image, write_images
from mde_pyg.cli import encode_images as command
from mde_pyg.cli import main
from mde_pyg.data.id_maps import id_map_text
from mde_pyg.data.images import load_image_model
from mde_pyg.data.mmrec import load_mmrec


def one_line(captured):
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    return lines[0]


@pytest.fixture
def shop(tmp_path):
    """A dataset folder with an item map of 6 raw IDs and a manifest, and
    images for 4 of them (one corrupt) plus one of another item."""
    folder = tmp_path / "shop"
    folder.mkdir()
    ids = ["b-1", "a-7", "c-2", "d-0", "e-5", "f-9"]
    (folder / "i_id_mapping.csv").write_text(id_map_text("item", ids))
    (folder / "manifest.json").write_text(json.dumps({"command": "mde-pyg import"}))
    images = tmp_path / "images"
    write_images(images, ["a-7", "b-1", "d-0", "zz-other"])
    write_corrupt_image(images / "e-5.png")
    return folder, images, ids


def test_encode_images_follows_the_item_map(shop, tiny_image_model, capsys):
    folder, images, ids = shop
    out = folder / "image_feat.npy"
    main(
        ["encode-images", str(images), "--out", str(out)]
        + ["--model", str(tiny_image_model), "--batch-size", "2", "--device", "cpu"]
    )
    x = np.load(out)
    assert x.shape == (6, DIMS)
    encoder = load_image_model(tiny_image_model, device="cpu")
    from PIL import Image

    for raw in ("a-7", "b-1", "d-0"):
        path = next(images.glob(f"{raw}.*"))
        expected = encoder.encode([Image.open(path).convert("RGB")])[0]
        np.testing.assert_allclose(x[ids.index(raw)], expected, atol=1e-5)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["command"] == "mde-pyg import"  # kept
    record = manifest["images"]
    assert record["missing_items"] == [2, 4, 5]  # c-2, f-9: none; e-5: corrupt
    assert (record["encoded"], record["no_image"], record["unreadable"]) == (3, 2, 1)
    assert record["unmatched"] == 1 and record["dims"] == DIMS
    assert record["model"] == str(tiny_image_model)
    np.testing.assert_allclose(x[2], x[[0, 1, 3]].mean(axis=0), atol=1e-6)
    mask = np.load(folder / record["mask_file"])
    assert record["mask_file"] == "image_mask.npy"
    assert np.flatnonzero(~mask).tolist() == [2, 4, 5]
    assert not (folder / "image_feat.npy.partial").exists()
    captured = capsys.readouterr()
    assert "6 items x 16 dims" in captured.out and "3 encoded" in captured.out
    assert "unreadable: " in captured.err and "e-5.png" in captured.err


def test_internal_ids_without_a_map(tmp_path, tiny_image_model):
    images = tmp_path / "images"
    write_images(images, ["0", "2"])
    out = tmp_path / "ds" / "image_feat.npy"
    main(
        ["encode-images", str(images), "--out", str(out), "--num-items", "3"]
        + ["--model", str(tiny_image_model)]
    )
    x = np.load(out)
    assert x.shape == (3, DIMS)
    manifest = json.loads((tmp_path / "ds" / "manifest.json").read_text())
    assert manifest["images"]["missing_items"] == [1]


def test_an_interrupted_command_continues_when_rerun(
    shop, tiny_image_model, monkeypatch, capsys
):
    folder, images, _ = shop
    out = folder / "image_feat.npy"
    argv = ["encode-images", str(images), "--out", str(out), "--batch-size", "1"]
    argv += ["--model", str(tiny_image_model)]
    calls = []

    class Interrupting:
        def __init__(self, encoder):
            self.encoder, self.name = encoder, encoder.name
            self.device = encoder.device

        def encode(self, images):
            calls.append(len(images))
            if len(calls) == 2:
                raise KeyboardInterrupt
            return self.encoder.encode(images)

    real = command.load_image_model
    monkeypatch.setattr(
        command, "load_image_model", lambda *a, **k: Interrupting(real(*a, **k))
    )
    status, _ = exit_status(argv, capsys)
    assert status == 130 and not out.exists()
    assert (folder / "image_feat.npy.partial" / "status.npy").is_file()
    main(argv)
    # One image was done before the interruption; the other two now.
    assert len(calls) == 2 + 2
    assert np.load(out).shape == (6, DIMS)
    assert not (folder / "image_feat.npy.partial").exists()


def test_import_with_images(tmp_path, tiny_image_model, capsys):
    raw = write_raw_interactions(tmp_path / "interactions.csv")
    images = tmp_path / "images"
    write_images(images, RAW_ITEMS[:12] + ["SKU-rare"])
    out = tmp_path / "shop"
    main(
        ["import", str(raw), "--out", str(out), "--user-column", "customer"]
        + ["--item-column", "product", "--k-core", "3", "--images", str(images)]
        + ["--image-model", str(tiny_image_model), "--image-batch-size", "4"]
    )
    data = load_mmrec(out)
    x = data["item"].x_image
    assert tuple(x.shape) == (15, DIMS)
    manifest = json.loads((out / "manifest.json").read_text())
    record = manifest["images"]
    missing = [data["item"].raw_id.index(i) for i in RAW_ITEMS[12:]]
    assert record["missing_items"] == sorted(missing)
    assert record["unmatched"] == 1  # SKU-rare, dropped by the 3-core filter
    assert manifest["files"]["image_features"] == "image_feat.npy"
    assert manifest["files"]["image_mask"] == "image_mask.npy"
    # The loader reads the mask: the items without an image are marked.
    assert (~data["item"].x_image_mask).nonzero().view(-1).tolist() == sorted(missing)
    assert "train on it" in capsys.readouterr().out


def test_import_images_from_a_table(tmp_path, tiny_image_model):
    raw = write_raw_interactions(tmp_path / "interactions.csv")
    write_images(tmp_path / "pics", ["one", "two"])
    table = tmp_path / "images.tsv"
    table.write_text(
        f"product\tfile\n{RAW_ITEMS[3]}\tpics/one.png\n{RAW_ITEMS[5]}\tpics/two.jpg\n"
    )
    out = tmp_path / "shop"
    main(
        ["import", str(raw), "--out", str(out), "--user-column", "customer"]
        + ["--item-column", "product", "--k-core", "3", "--images", str(table)]
        + ["--image-path-column", "file", "--image-model", str(tiny_image_model)]
    )
    record = json.loads((out / "manifest.json").read_text())["images"]
    assert record["encoded"] == 2 and record["no_image"] == 13


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--out", "{d}/shop/image.npy"], "--out must be named <modality>_feat.npy"),
        (["--workers", "0"], "--workers must be a positive integer (got 0)"),
        (["--device", "cuda:7"], "--device cuda:7: "),
        (["--model", "{d}/no_model"], "image model folder '{d}/no_model' not found"),
        (["--batch-size", "0"], "batch size must be a positive integer (got 0)"),
        (["{d}/gone"], "{d}/gone: image folder or table not found"),
    ],
)
def test_user_errors_are_one_line(shop, tmp_path, capsys, extra, expected, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    folder, images, _ = shop
    argv = ["encode-images", str(images), "--out", str(folder / "image_feat.npy")]
    if not extra[0].startswith("--"):  # another IMAGES argument
        argv[1], extra = extra[0], []
    argv = [a.format(d=tmp_path) for a in argv + extra]
    status, captured = exit_status(argv, capsys)
    assert status == 2
    assert one_line(captured).startswith("error: " + expected.format(d=tmp_path))
    assert not (folder / "image_feat.npy").exists()


def test_without_a_map_or_count_is_one_line(tmp_path, capsys):
    argv = ["encode-images", str(tmp_path), "--out", str(tmp_path / "image_feat.npy")]
    status, captured = exit_status(argv, capsys)
    assert status == 2
    assert "has no i_id_mapping.csv: pass --num-items N" in one_line(captured)


def test_offline_default_model_is_one_line(shop, tmp_path, capsys, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    folder, images, _ = shop
    argv = ["encode-images", str(images), "--out", str(folder / "image_feat.npy")]
    status, captured = exit_status(argv, capsys)
    assert status == 2
    line = one_line(captured)
    assert "not in the Hugging Face cache" in line
    assert "`hf download openai/clip-vit-base-patch32`" in line
