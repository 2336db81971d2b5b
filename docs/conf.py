"""Sphinx configuration of the mde_pyg docs.

Build (as CI does, warnings as errors)::

    pip install -e ".[docs]"
    python -m sphinx -W --keep-going -b html docs docs/_build/html
"""

from __future__ import annotations

import sys
from pathlib import Path

DOCS_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS_DIR))

import gen_config_reference  # noqa: E402 - needs the path above

import mde_pyg  # noqa: E402

# The config reference is generated from conf/ (and the docstrings) at every
# build, into _generated/, which config_reference.rst includes.
_reference = gen_config_reference.write()

project = "mde_pyg"
author = "mde_pyg contributors"
copyright = "mde_pyg contributors"
release = mde_pyg.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    # A copy of MathJax in _static/, so that formulas render without a CDN
    # (the package sets mathjax_path to it).
    "sphinx-mathjax-offline",
]

# Pages: the .rst files here. _generated/ is only included (not a page of its
# own).
source_suffix = {".rst": "restructuredtext"}
exclude_patterns = ["_build", "_generated", "README.md"]
root_doc = "index"

# Docstrings are PyG style: Google "Args:" sections with types written in
# them, ":obj:" roles and ".. math::" blocks (rendered in the browser by the
# local MathJax above, so neither the build nor reading needs a network).
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_include_init_with_doc = False
napoleon_custom_sections = ["Shapes"]
autodoc_member_order = "bysource"
autodoc_default_options = {"show-inheritance": True}
# Types are in the docstrings; the hints in signatures stay short.
autodoc_typehints = "signature"
autodoc_typehints_format = "short"
# The API reference documents the packages' exports (their __all__), so a
# class defined in a submodule appears once, under its package.
add_module_names = True
# Unresolvable references to third-party types (torch, PyG) are not errors.
nitpicky = False

html_theme = "furo"
html_title = f"mde_pyg {release}"


def _resolve_reexport(app, env, node, contnode):  # noqa: ANN001, ANN202
    """Links a reference to a submodule path (``mde_pyg.data.graphs.knn_graph``,
    as docstrings write them) to the documented package export
    (``mde_pyg.data.knn_graph``)."""
    target = node.get("reftarget", "")
    if node.get("refdomain") != "py" or not target.startswith("mde_pyg."):
        return None
    domain = env.get_domain("py")
    parts = target.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        for skip in range(cut + 1, len(parts)):
            candidate = ".".join(parts[:cut] + parts[skip:])
            if candidate in domain.objects:
                return domain.resolve_xref(
                    env,
                    node["refdoc"],
                    app.builder,
                    node["reftype"],
                    candidate,
                    node,
                    contnode,
                )
    return None


def setup(app):  # noqa: ANN001, ANN201 - Sphinx's extension hook
    from sphinx.util import logging

    app.connect("missing-reference", _resolve_reexport)
    log = logging.getLogger(__name__)
    # tests/test_docs.py fails on these; the build only lists them.
    for key in _reference.undocumented:
        log.info("config reference: no comment or docstring entry for %s", key)
    return {"parallel_read_safe": True}
