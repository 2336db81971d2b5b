"""Item image features: finding each item's image, the pretrained image
encoder (a toy CLIP made here, nothing downloaded), batching, missing and
corrupt images, resuming an interrupted run, and the offline error."""

import sys

import numpy as np
import pytest
import torch

from image_helpers import DIMS, write_corrupt_image, write_images
from mde_pyg.data.images import (
    DEFAULT_IMAGE_MODEL,
    PretrainedImageEncoder,
    encode_images,
    image_paths,
    load_image_model,
)
from mde_pyg.errors import DatasetError, UserError

NAMES = [f"SKU-{i}" for i in range(30)]


class Recording:
    """Wraps an encoder: records the size of every batch, and raises
    KeyboardInterrupt at batch ``stop_at`` (counted from 0)."""

    def __init__(self, encoder, stop_at=None):
        self.encoder, self.stop_at = encoder, stop_at
        self.name = encoder.name
        self.batches = []

    def encode(self, images):
        if len(self.batches) == self.stop_at:
            raise KeyboardInterrupt
        self.batches.append(len(images))
        return self.encoder.encode(images)


@pytest.fixture(scope="module")
def encoder(tiny_image_model):
    return load_image_model(tiny_image_model, device="cpu")


@pytest.fixture
def catalogue(tmp_path):
    """30 images named by raw ID, a corrupt one (SKU-30) and an item
    without any (SKU-31): ``(item IDs, paths)``."""
    folder = tmp_path / "images"
    write_images(folder, NAMES)
    write_corrupt_image(folder / "SKU-30.jpg")
    (folder / "notes.txt").write_text("not an image")
    ids = [*NAMES, "SKU-30", "SKU-31"]
    paths, unmatched = image_paths(folder, ids)
    assert unmatched == 0
    return ids, paths


def test_the_encoder_is_clip_image_features_normalised(tiny_image_model, encoder):
    # The same numbers as transformers' own CLIP pipeline, L2-normalised.
    from PIL import Image
    from transformers import AutoImageProcessor, CLIPModel

    assert isinstance(encoder, PretrainedImageEncoder)
    assert repr(encoder) == f"PretrainedImageEncoder('{tiny_image_model}', device=cpu)"
    images = [
        Image.fromarray(np.full((40, 24, 3), value, dtype=np.uint8))
        for value in (10, 200)
    ]
    clip = CLIPModel.from_pretrained(tiny_image_model).eval()
    processor = AutoImageProcessor.from_pretrained(tiny_image_model)
    with torch.no_grad():
        pixels = processor(images=images, return_tensors="pt")["pixel_values"]
        expected = clip.get_image_features(pixel_values=pixels).pooler_output
    expected = torch.nn.functional.normalize(expected, dim=-1).numpy()
    rows = encoder.encode(images)
    assert rows.shape == (2, DIMS) and rows.dtype == np.float32
    np.testing.assert_allclose(rows, expected, atol=1e-6)
    assert not np.allclose(rows[0], rows[1])


def test_rows_batches_and_bad_images(catalogue, encoder):
    ids, paths = catalogue
    recording = Recording(encoder)
    seen = []
    result = encode_images(
        paths,
        recording,
        batch_size=4,
        num_workers=2,
        progress=lambda done, total: seen.append((done, total)),
    )
    x = result.features
    assert x.shape == (32, DIMS) and x.dtype == np.float32
    # Every item with a path was tried, four at a time; the corrupt file
    # drops out of its batch.
    assert max(recording.batches) == 4 and sum(recording.batches) == 30
    assert result.no_image.tolist() == [31] and result.unreadable.tolist() == [30]
    assert result.missing.tolist() == [30, 31]
    assert result.mask.tolist() == [True] * 30 + [False, False]
    np.testing.assert_allclose(np.linalg.norm(x[:30], axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(x[30], x[:30].mean(axis=0), atol=1e-6)
    np.testing.assert_array_equal(x[31], x[30])
    # A row does not depend on the batch it was encoded in.
    from PIL import Image

    alone = encoder.encode([Image.open(paths[5]).convert("RGB")])[0]
    np.testing.assert_allclose(x[5], alone, atol=1e-5)
    assert seen[0] == (1, 32) and seen[-1] == (32, 32)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


def test_an_interrupted_run_continues_from_its_work_folder(
    catalogue, encoder, tmp_path
):
    _, paths = catalogue
    reference = encode_images(paths, encoder, batch_size=4).features
    work = tmp_path / "work"
    first = Recording(encoder, stop_at=3)
    with pytest.raises(KeyboardInterrupt):
        encode_images(paths, first, batch_size=4, work_dir=work, chunk_size=8)
    assert first.batches == [4, 4, 4]
    assert sorted(p.name for p in work.iterdir()) == [
        "features.npy",
        "inputs.json",
        "status.npy",
    ]
    second = Recording(encoder)
    done = []
    result = encode_images(
        paths,
        second,
        batch_size=4,
        work_dir=work,
        progress=lambda d, t: done.append(d),
    )
    # Only what the first run had not finished is read again.
    assert sum(second.batches) == 30 - 12 and done[0] == 12 + 1
    np.testing.assert_allclose(result.features, reference, atol=1e-6)
    assert result.unreadable.tolist() == [30]
    # Run once more: everything is done, nothing is encoded.
    third = Recording(encoder)
    again = encode_images(paths, third, work_dir=work)
    assert third.batches == []
    np.testing.assert_array_equal(again.features, result.features)


def test_progress_is_saved_every_chunk(catalogue, encoder, tmp_path):
    # A run killed without unwinding keeps what the last save wrote: with
    # batches of 4 and saves every 8 items, the first save follows batch 2.
    _, paths = catalogue
    work = tmp_path / "work"
    on_disk = []

    def progress(done, total):
        if (work / "status.npy").is_file():
            saved = int((np.load(work / "status.npy") != 0).sum())
            on_disk.append((done, saved))

    stop = Recording(encoder, stop_at=3)
    with pytest.raises(KeyboardInterrupt):
        encode_images(
            paths, stop, batch_size=4, work_dir=work, chunk_size=8, progress=progress
        )
    # Item 31 (no image) is settled up front and saved with the first chunk:
    # after batch 3, 1 + 12 items are done and 1 + 8 of them on disk.
    assert on_disk == [(13, 9)]


def test_a_work_folder_of_other_images_is_refused(catalogue, encoder, tmp_path):
    _, paths = catalogue
    work = tmp_path / "work"
    encode_images(paths[:5], encoder, work_dir=work)
    with pytest.raises(UserError, match="holds the progress of encoding other"):
        encode_images(paths[:6], encoder, work_dir=work)


def test_no_readable_image_is_an_error(tmp_path, encoder):
    corrupt = write_corrupt_image(tmp_path / "a.jpg")
    with pytest.raises(DatasetError, match="no image could be read: 1 of 3 items"):
        encode_images([corrupt, None, tmp_path / "gone.png"], encoder)


def test_image_paths_from_a_folder(tmp_path):
    folder = tmp_path / "images"
    write_images(folder, ["a", "b.v2", "extra"])
    (folder / ".hidden.png").write_bytes(b"")
    paths, unmatched = image_paths(folder, ["b.v2", "a", "none"])
    assert paths == [folder / "b.v2.jpg", folder / "a.png", None]
    assert unmatched == 1  # extra.jpg
    write_images(folder, ["a"], seed=1)  # a.png again: still one image
    (folder / "a.JPG").write_bytes(b"")
    with pytest.raises(DatasetError, match="item 'a' has two images, a.JPG and a.png"):
        image_paths(folder, ["a"])
    with pytest.raises(DatasetError, match="image folder or table not found"):
        image_paths(tmp_path / "nothing", ["a"])


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_image_paths_from_a_table(tmp_path, suffix):
    photos = tmp_path / "photos"
    write_images(photos, ["x", "y"])
    table = tmp_path / f"images{suffix}"
    rows = [("p-1", "photos/x.png"), ("p-2", str(photos / "y.jpg")), ("gone", "z")]
    if suffix == ".csv":
        table.write_text("product,file\n" + "".join(f"{i},{p}\n" for i, p in rows))
    else:
        table.write_text(
            "".join(f'{{"product": "{i}", "file": "{p}"}}\n' for i, p in rows)
        )
    paths, unmatched = image_paths(table, ["p-2", "p-1", "p-3"], "product", "file")
    assert paths == [photos / "y.jpg", photos / "x.png", None] and unmatched == 1


def test_bad_image_tables(tmp_path):
    table = tmp_path / "images.csv"
    table.write_text("product,file\np-1,a.png\np-1,b.png\n")
    with pytest.raises(DatasetError, match="line 3: item 'p-1' has a second image"):
        image_paths(table, ["p-1"], "product", "file")
    with pytest.raises(DatasetError, match="missing column 'path'"):
        image_paths(table, ["p-1"], "product")


def test_offline_without_cached_weights_names_the_prefetch_command(
    tmp_path, monkeypatch
):
    # An empty cache and offline mode: what a machine without network sees
    # (no request is made).
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(UserError) as error:
        load_image_model()
    message = str(error.value)
    assert message.startswith(
        f"image model '{DEFAULT_IMAGE_MODEL}' is not in the Hugging Face cache "
        f"({tmp_path / 'hub'})"
    )
    assert f"`hf download {DEFAULT_IMAGE_MODEL}`" in message
    assert "\n" not in message


def test_bad_model_folders(tmp_path, tiny_image_model):
    with pytest.raises(UserError, match="image model folder '.*nowhere' not found"):
        load_image_model(tmp_path / "nowhere")
    with pytest.raises(UserError, match="not a transformers image model folder"):
        load_image_model(tmp_path)
    # A model without an image tower (CLIP's text half alone).
    from transformers import CLIPTextConfig, CLIPTextModel

    text_only = tmp_path / "text_only"
    CLIPTextModel(
        CLIPTextConfig(
            hidden_size=8,
            intermediate_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            vocab_size=16,
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
        )
    ).save_pretrained(text_only)
    (text_only / "preprocessor_config.json").write_text(
        (tiny_image_model / "preprocessor_config.json").read_text()
    )
    with pytest.raises(UserError, match=r"\(CLIPTextModel\) has no image tower"):
        load_image_model(text_only)


def test_missing_image_extra_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(ImportError, match=r"pip install 'mde-pyg\[image\]'"):
        load_image_model()
