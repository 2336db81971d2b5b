"""The how-to docs/howto/raw_to_recommendations.rst runs as written, on a
tiny shop made here: its ``mde-pyg`` commands in order (the image model
replaced by a toy CLIP, training cut to two epochs) and its Python block,
from raw files to recommendations in raw IDs."""

import re
import shlex
from pathlib import Path

import numpy as np

from image_helpers import DIMS, write_corrupt_image, write_images
from mde_pyg.cli import main

DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGE = DOCS / "howto" / "raw_to_recommendations.rst"
USERS = [f"cust-{u:02d}" for u in range(30)]
ITEMS = [f"SKU-{i:03d}" for i in range(24)]


def _blocks(rst, language):
    """The ``.. code-block:: <language>`` blocks of a page, dedented."""
    pattern = rf"^\.\. code-block:: {language}\n\n((?:[ ]{{4}}.*\n|\n)+)"
    return [
        "\n".join(line[4:] for line in block.splitlines()).strip() + "\n"
        for block in re.findall(pattern, rst, re.MULTILINE)
    ]


def write_raw_shop(folder):
    """interactions.csv (30 users x 10 products, a few rated 2), items.csv
    (20 of the 24 products), images/ (22 photos, one of them corrupt)."""
    rng = np.random.default_rng(0)
    rows = ["customer,product,stars,time"]
    for user in USERS:
        for step, item in enumerate(rng.choice(ITEMS, size=10, replace=False)):
            stars = 2 if rng.random() < 0.1 else 5
            rows.append(f"{user},{item},{stars},{1_700_000_000 + step * 60}")
    folder.mkdir()
    (folder / "interactions.csv").write_text("\n".join(rows) + "\n")
    items = ["product,title,description"]
    for index, item in enumerate(ITEMS[:20]):
        items.append(f'{item},Product {index},"Soft, washable, size {index % 4}"')
    (folder / "items.csv").write_text("\n".join(items) + "\n")
    write_images(folder / "images", ITEMS[:21])
    write_corrupt_image(folder / "images" / f"{ITEMS[21]}.jpg")


def test_the_howto_runs_from_raw_files_to_raw_id_recommendations(
    tmp_path, monkeypatch, capsys, tiny_image_model
):
    rst = PAGE.read_text()
    commands = [line for block in _blocks(rst, "bash") for line in block.splitlines()]
    assert 'pip install torch==2.13.0 -e ".[text,image]"' in commands
    assert "hf download openai/clip-vit-base-patch32" in commands
    steps = [shlex.split(c)[1:] for c in commands if c.startswith("mde-pyg ")]
    assert [s[0] for s in steps] == [
        "import",
        "info",
        "train",
        "recommend",
    ]
    monkeypatch.chdir(tmp_path)
    write_raw_shop(tmp_path / "raw")
    python_block = _blocks(rst, "python")[0]
    for argv in steps:
        if argv[0] == "import":
            argv += ["--image-model", str(tiny_image_model)]
        if argv[0] == "train":
            argv += ["trainer.max_epochs=2"]
        main(argv)
        if argv[0] == "import":
            exec(python_block, {})
    out = capsys.readouterr().out

    assert np.load(tmp_path / "shop" / "image_feat.npy").shape == (24, DIMS)
    assert np.load(tmp_path / "shop" / "text_feat.npy").shape == (24, 384)
    # The Python block named the products without a readable photo or a text.
    assert f"no photo: ['{ITEMS[21]}', '{ITEMS[22]}', '{ITEMS[23]}']" in out
    assert f"no text: {ITEMS[20:]}" in out
    table = out[out.index("user  raw_user") :].splitlines()
    rows = [line.split() for line in table[1:] if line.split()]
    assert [r[1] for r in rows] == ["cust-03"] * 5 + ["cust-17"] * 5
    assert all(r[4] in ITEMS and r[4] == ITEMS[int(r[3])] for r in rows)
