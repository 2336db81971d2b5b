"""Image models and product photos for tests, made on the spot: a CLIP of
the default model's architecture at toy size with random weights, saved as
the Hub checkpoint is laid out, and small PNG/JPEG files (nothing is
downloaded)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

#: The tiny model's image size and embedding width.
IMAGE_SIZE = 32
DIMS = 16


def write_tiny_clip(folder: Path) -> Path:
    """A randomly initialised ``CLIPModel`` (text and image towers, like
    ``openai/clip-vit-base-patch32``) with its image processor config in
    the Hub checkpoint's legacy layout, in ``folder``."""
    import torch
    from transformers import CLIPConfig, CLIPModel

    config = CLIPConfig(
        text_config={
            "hidden_size": 16,
            "intermediate_size": 32,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "vocab_size": 64,
            "max_position_embeddings": 16,
            "bos_token_id": 0,
            "eos_token_id": 1,
            "pad_token_id": 1,
        },
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": IMAGE_SIZE,
            "patch_size": 8,
        },
        projection_dim=DIMS,
    )
    torch.manual_seed(0)
    CLIPModel(config).save_pretrained(folder)
    (folder / "preprocessor_config.json").write_text(
        json.dumps(
            {
                "crop_size": IMAGE_SIZE,
                "do_center_crop": True,
                "do_normalize": True,
                "do_resize": True,
                "feature_extractor_type": "CLIPFeatureExtractor",
                "image_mean": [0.48145466, 0.4578275, 0.40821073],
                "image_std": [0.26862954, 0.26130258, 0.27577711],
                "resample": 3,
                "size": IMAGE_SIZE,
            }
        )
    )
    return folder


def write_images(folder: Path, names: list[str], seed: int = 0) -> list[Path]:
    """One small picture per name, ``<name>.png`` or ``<name>.jpg`` in
    turn, of random size, colour and pattern."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for index, name in enumerate(names):
        height, width = rng.integers(20, 60, size=2)
        pixels = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
        pixels[: height // 2] = rng.integers(0, 256, size=3, dtype=np.uint8)
        path = folder / f"{name}.{'png' if index % 2 == 0 else 'jpg'}"
        Image.fromarray(pixels).save(path)
        paths.append(path)
    return paths


def write_corrupt_image(path: Path) -> Path:
    """A file with an image suffix whose content is a truncated JPEG."""
    from PIL import Image

    Image.new("RGB", (40, 40), (200, 30, 30)).save(path, format="JPEG")
    path.write_bytes(path.read_bytes()[:60])
    return path
