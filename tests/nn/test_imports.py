import json
import subprocess
import sys

FORBIDDEN = (
    "mde_pyg.data",
    "mde_pyg.models",
    "mde_pyg.training",
    "mde_pyg.pipeline",
    "mde_pyg.cli",
)


def loaded_modules(statement):
    """The ``mde_pyg`` modules loaded by ``statement`` in a fresh interpreter."""
    code = (
        f"import json, sys; {statement}; "
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('mde_pyg'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def forbidden(modules):
    return [
        m for m in modules if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)
    ]


def test_nn_imports_nothing_from_data_models_training_or_cli():
    modules = loaded_modules("import mde_pyg.nn")
    # The package root imports mde_pyg.nn, so both are loaded ...
    assert "mde_pyg" in modules and "mde_pyg.nn" in modules
    assert "mde_pyg.nn.hetero_graph_encoder" in modules
    assert "mde_pyg.nn.user_item_propagation" in modules
    # ... and nothing of the pipelines built on top of the layers.
    assert forbidden(modules) == []


def test_the_check_sees_the_other_packages():
    # The same check does flag them when they are imported.
    modules = loaded_modules("import mde_pyg.models")
    assert "mde_pyg.models" in forbidden(modules)
    assert "mde_pyg.data" in forbidden(modules)
