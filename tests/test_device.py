"""Guards against tensors created on a device other than their inputs'.

CI has no GPU, so two checks stand in for one:

* a static audit: every tensor factory call in ``src/mde_pyg`` names its
  ``device`` (or creates a module parameter, which follows ``.to()``);
* a runtime guard: the CPU runs below set torch's *default* device to
  ``meta``, so a tensor created without an explicit device lands on ``meta``
  while the data is on the CPU, and the first op that mixes them raises
  ``Tensor on device meta is not on the expected device cpu`` -- exactly what
  a CPU tensor meeting CUDA data raises on a GPU.
"""

from __future__ import annotations

import ast
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

import mde_pyg
from mde_pyg.data import make_synthetic
from mde_pyg.evaluation import evaluate_scores
from mde_pyg.pipeline import add_graphs, build_model, compose_config, config_names
from mde_pyg.training import Trainer, seed_everything

SRC = Path(mde_pyg.__file__).resolve().parent
FACTORIES = {
    "arange",
    "as_tensor",
    "empty",
    "eye",
    "full",
    "linspace",
    "ones",
    "rand",
    "randint",
    "randn",
    "randperm",
    "sparse_coo_tensor",
    "sparse_csr_tensor",
    "tensor",
    "zeros",
}


def _is_torch_attr(node: ast.AST, names: set[str]) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and node.attr in names
        and isinstance(node.value, ast.Name)
        and node.value.id == "torch"
    )


def _is_parameter(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and (
        isinstance(node.func, ast.Attribute) and node.func.attr == "Parameter"
    )


def factory_calls_without_device(path: Path, root: Path = SRC) -> list[str]:
    """``file:line`` (relative to ``root``) of every ``torch.<factory>(...)``
    call in ``path`` that passes no ``device`` and is not the direct argument
    of a Parameter."""
    tree = ast.parse(path.read_text())
    in_parameter = {
        id(arg) for node in ast.walk(tree) if _is_parameter(node) for arg in node.args
    }
    return [
        f"{path.relative_to(root)}:{node.lineno}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and _is_torch_attr(node.func, FACTORIES)
        and not any(k.arg == "device" for k in node.keywords)
        and id(node) not in in_parameter
    ]


def test_every_tensor_factory_in_src_names_its_device():
    offenders = [
        where
        for path in sorted(SRC.rglob("*.py"))
        for where in factory_calls_without_device(path)
    ]
    assert offenders == [], (
        "tensor factories without device= (pass the device of the data they "
        f"combine with): {offenders}"
    )


def test_static_audit_flags_a_factory_without_device(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import torch\n"
        "a = torch.arange(3)\n"
        "b = torch.arange(3, device=a.device)\n"
        "c = torch.nn.Parameter(torch.zeros(3))\n"
    )
    assert factory_calls_without_device(probe, tmp_path) == ["probe.py:2"]


@contextmanager
def foreign_default_device():
    """Makes tensors created without an explicit device land on ``meta``."""
    torch.set_default_device("meta")
    try:
        yield
    finally:
        torch.set_default_device(None)


def test_guard_catches_a_tensor_created_on_the_default_device():
    data = torch.ones(4)
    with foreign_default_device(), pytest.raises(RuntimeError, match="device"):
        _ = data * torch.arange(4)


@pytest.fixture(scope="module")
def data():
    return make_synthetic(num_users=120, num_items=60, seed=0)


@pytest.mark.parametrize("name", config_names("model"))
def test_every_model_trains_and_evaluates_with_a_foreign_default_device(data, name):
    seed_everything(0)
    cfg = compose_config([f"model={name}"])
    data = add_graphs(cfg, data.clone())
    model = build_model(cfg, data)
    trainer = Trainer(model, data, seed=0, batch_size=256, device="cpu")
    with foreign_default_device():
        trainer.train_epoch(0)
        metrics = trainer.evaluate("val")
    assert 0.0 <= metrics["recall@20"] <= 1.0


def test_evaluate_scores_with_a_foreign_default_device():
    scores = torch.randn(5, 7)
    exclude = torch.tensor([[0, 1], [0, 1]])
    target = torch.tensor([[0, 1, 2], [3, 4, 5]])
    expected = evaluate_scores(scores, exclude, target, k=(2, 5))
    with foreign_default_device():
        assert evaluate_scores(scores, exclude, target, k=(2, 5)) == expected
