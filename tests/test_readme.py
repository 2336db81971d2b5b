"""The README's code examples run as written."""

import re
from pathlib import Path

import torch

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_layer_example_runs_on_foreign_names_and_produces_item_embeddings():
    namespace = {}
    exec(python_blocks()[0], namespace)
    emb = namespace["item_embedding"]
    assert emb.shape == (namespace["data"]["product"].num_nodes, 64)
    assert torch.isfinite(emb).all()
    alpha = namespace["alpha"]
    # Default initialisation: alpha = 1/3 everywhere (MGCN's fusion).
    assert torch.allclose(alpha, torch.full_like(alpha, 1 / 3))


def test_explain_example_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    import matplotlib

    matplotlib.use("Agg")
    namespace = {}
    exec(python_blocks()[1], namespace)
    assert (tmp_path / "alpha.png").stat().st_size > 0
    # Trained, the trade-off is no longer 1/3 everywhere.
    assert namespace["explained"]["item"]["alpha"].std() > 1e-2
