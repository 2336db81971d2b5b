"""The docs' config reference (docs/gen_config_reference.py) against the live
conf/ and code, the how-to's commands against the CLI, and the README and the
docs pages against what they name (pages, images, config keys, CLI options).
CI builds the Sphinx site itself (``python -m sphinx -W ...``); nothing here
runs Sphinx."""

from __future__ import annotations

import contextlib
import importlib.util
import inspect
import io
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from omegaconf import OmegaConf

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
CONF = ROOT / "conf"
CONF_FILES = sorted(CONF.glob("*.yaml")) + sorted(CONF.glob("*/*.yaml"))


def _load_generator() -> Any:
    path = DOCS / "gen_config_reference.py"
    spec = importlib.util.spec_from_file_location("gen_config_reference", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


gen = _load_generator()


@pytest.fixture(scope="module")
def reference() -> Any:
    return gen.build_reference(CONF)


def _label(path: Path) -> str:
    rel = path.relative_to(CONF).with_suffix("")
    return rel.as_posix()


def _leaves(node: Any, where: str = "") -> list[str]:
    """Every leaf path of a YAML mapping."""
    if isinstance(node, dict) and node:
        return [
            leaf
            for key, value in node.items()
            for leaf in _leaves(value, f"{where}.{key}" if where else str(key))
        ]
    return [where]


def _yaml_value(text: str) -> Any:
    """A value read back the way the config files are read."""
    return OmegaConf.to_container(OmegaConf.create(f"v: {text}"), resolve=False)["v"]


def _rows(lines: list[str]) -> list[list[str]]:
    """The rows of the list-tables of rendered reStructuredText."""
    rows: list[list[str]] = []
    for line in lines:
        if line.startswith("   * - "):
            rows.append([line[len("   * - ") :]])
        elif line.startswith("     - ") and rows:
            rows[-1].append(line[len("     - ") :])
        elif line.startswith("       ") and rows:  # a cell's further paragraph
            rows[-1][-1] += " " + line.strip()
    return rows


def _normalise(text: str) -> str:
    return " ".join(text.split())


def test_every_key_of_conf_is_documented(reference):
    # Each key needs a YAML comment or an "Args:" entry in the docstring of
    # the callable it is passed to (checked against the code as it is now).
    assert reference.undocumented == []


@pytest.mark.parametrize("path", CONF_FILES, ids=_label)
def test_every_key_of_the_file_is_listed(reference, path):
    values = OmegaConf.to_container(OmegaConf.load(path), resolve=False) or {}
    cf = reference.file(_label(path))
    prefix = "" if cf.group is None or cf.package == "_global_" else f"{cf.group}."
    listed = {entry.key for entry in cf.entries}
    swept = {sweep.key: sweep.values for sweep in cf.sweeps}
    assert cf.defaults == list(values.get("defaults", []))
    for leaf in _leaves({k: v for k, v in values.items() if k != "defaults"}):
        if leaf == "_target_":
            assert cf.target == values["_target_"]
            continue
        if leaf.startswith("hydra.sweeper.params."):
            param = leaf.removeprefix("hydra.sweeper.params.")
            grid = str(values["hydra"]["sweeper"]["params"][param])
            assert swept[param] == [v.strip() for v in grid.split(",")]
            continue
        key = prefix + leaf
        # A key is listed itself, or as an argument whose value is a mapping.
        assert any(key == k or key.startswith(k + ".") for k in listed), key


@pytest.mark.parametrize("path", CONF_FILES, ids=_label)
def test_the_page_renders_every_default(reference, path):
    values = OmegaConf.to_container(OmegaConf.load(path), resolve=False) or {}
    cf = reference.file(_label(path))
    prefix = "" if cf.group is None or cf.package == "_global_" else f"{cf.group}."
    rows = {row[0]: row for row in _rows(gen._render_file(reference, cf))}
    for entry in cf.entries:
        row = rows[f"``{entry.key}``"]
        if entry.section:
            continue
        expected: Any = values
        for part in entry.key.removeprefix(prefix).split("."):
            expected = expected[part]
        shown = re.fullmatch(r"``(.*)``(?: \(required\))?", row[1])
        assert shown, row
        assert _yaml_value(shown[1]) == expected, (entry.key, row[1])


def test_descriptions_come_from_the_live_docstrings(reference):
    # Every description taken from a docstring is text of that docstring
    # (without its "(default: ...)" note), so renamed or reworded arguments
    # show up in the docs at the next build.
    checked = 0
    for cf in reference.files:
        for entry in cf.entries:
            if entry.doc_source in ("", "hydra", "interpolation") or entry.section:
                continue
            doc = inspect.getdoc(gen.locate(entry.doc_source)) or ""
            init = getattr(gen.locate(entry.doc_source), "__init__", None)
            doc += " " + (inspect.getdoc(init) or "")
            assert _normalise(entry.doc) in _normalise(doc), entry.key
            checked += 1
    assert checked > 0


def test_sweep_descriptions_follow_the_selected_option(reference):
    for cf in reference.files:
        for sweep in cf.sweeps:
            group, _, key = sweep.key.partition(".")
            option = gen._selected_option(reference, cf, group)
            target = reference.file(f"{group}/{option}")
            options = [target] + [reference.file(p) for p in target.parents]
            described = [
                e for o in options for e in o.entries if e.key == sweep.key
            ] + [e for o in reference.files if o.group == group for e in o.entries]
            assert any(
                sweep.description == gen._join(e.doc, e.comment) for e in described
            ), sweep.key


def test_page_links_every_file(reference):
    page = gen.render(reference)
    for path in CONF_FILES:
        anchor = reference.file(_label(path)).anchor
        assert f".. _{anchor}:" in page


def test_parse_args_section():
    doc = """Summary.

    Args:
        alpha (int, optional): First line
            continued here. (default: :obj:`1`)
        beta: No type.
        *args: Positional extras.
        gamma (dict or None): Has a nested
            list:

            - item

    Returns:
        Nothing: not an argument.
    """
    args = gen.parse_args_section(doc)
    assert list(args) == ["alpha", "beta", "args", "gamma"]
    assert args["alpha"].type == "int"
    assert args["alpha"].text == "First line continued here. (default: :obj:`1`)"
    assert args["alpha"].description == "First line continued here."
    assert args["beta"].type == ""
    assert args["gamma"].type == "dict or None"
    assert args["gamma"].description == "Has a nested list: - item"
    assert gen.parse_args_section(None) == {}


def test_scan_yaml_comments():
    text = """# @package _global_
# The file's header,
#   an example
# more header.
a: 1  # inline a
# Block for b and c.
b: "x # not a comment"
c: 3
# Block for d only.
d:
  e: 5  # inline e
g: 7

f: 6
"""
    header, package, keys = gen.scan_yaml(text)
    assert package == "_global_"
    assert header.splitlines() == ["The file's header,", "  an example", "more header."]
    by_path = {k.path: k for k in keys}
    assert list(by_path) == ["a", "b", "c", "d", "d.e", "g", "f"]
    assert (by_path["a"].comment, by_path["a"].inline) == ("", "inline a")
    assert by_path["b"].comment == by_path["c"].comment == "Block for b and c."
    assert by_path["b"].inline == ""
    assert by_path["d"].comment == "Block for d only." and by_path["d"].is_mapping
    assert (by_path["d.e"].comment, by_path["d.e"].inline) == ("", "inline e")
    # A comment above a mapping does not run on past its nested keys.
    assert by_path["g"].comment == ""
    assert by_path["f"].comment == "" and by_path["f"].inline == ""


def test_undocumented_keys_are_reported(tmp_path):
    (tmp_path / "config.yaml").write_text(
        "# Header.\ndefaults:\n  - model: m\n  - _self_\n# Known.\nx: 1\ny: 2\n\nz: 3\n"
    )
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "m.yaml").write_text(
        "_target_: mde_pyg.training.Trainer\nlr: 0.1\nnot_an_argument: 1\n"
    )
    ref = gen.build_reference(tmp_path)
    assert ref.undocumented == ["config.yaml: z", "model/m.yaml: model.not_an_argument"]
    page = gen.render(ref)
    assert "``model.lr``" in page and "Adam learning rate." in page


def test_howto_own_data_matches_the_cli(reference):
    from mde_pyg.cli import main

    howto = (DOCS / "howto" / "own_data.rst").read_text()
    help_text = io.StringIO()
    with contextlib.redirect_stdout(help_text), pytest.raises(SystemExit):
        main(["encode-text", "--help"])
    options = set(re.findall(r"--[a-z][a-z-]+", help_text.getvalue()))
    for option in set(re.findall(r"(?<![\w-])--[a-z][a-z-]+", howto)):
        assert option in options, option
    dataset_keys = {e.key for e in reference.file("dataset/mmrec").entries}
    for key in re.findall(r"\bdataset\.\w+", howto):
        assert key in dataset_keys, key
    for group, option in re.findall(r"\b(model|trainer|dataset)=(\w+)", howto):
        assert option in reference.groups[group], f"{group}={option}"


def _python_blocks(rst: str) -> list[str]:
    """The ``.. code-block:: python`` blocks of a page, dedented."""
    blocks = []
    for match in re.finditer(
        r"^\.\. code-block:: python\n\n((?:[ ]{4}.*\n|\n)+)", rst, re.MULTILINE
    ):
        blocks.append(
            "\n".join(line[4:] for line in match[1].splitlines()).strip() + "\n"
        )
    return blocks


def test_howto_own_data_python_runs(tmp_path, monkeypatch):
    # The page's three snippets: write a folder, then load and train on it
    # (one epoch on a toy dataset) after its mask snippet marked the items
    # without text.
    import numpy as np
    import torch

    from mde_pyg.data import load_mmrec, split_per_user

    write, train, mask = _python_blocks((DOCS / "howto" / "own_data.rst").read_text())
    assert "write_inter(" in write and "load_mmrec(" in train
    assert "text_mask.npy" in mask
    rng = np.random.default_rng(0)
    num_users, num_items, per_user = 30, 20, 6
    user = np.repeat(np.arange(num_users), per_user)
    item = np.concatenate(
        [rng.choice(num_items, per_user, replace=False) for _ in range(num_users)]
    )
    label = split_per_user(torch.as_tensor(user), num_users).numpy()
    image_features = rng.normal(size=(num_items, 8))

    monkeypatch.chdir(tmp_path)
    (tmp_path / "my_shop").mkdir()
    arrays = {"user": user, "item": item, "label": label}
    exec(write, {**arrays, "image_features": image_features})
    np.save(tmp_path / "my_shop" / "text_feat.npy", rng.normal(size=(num_items, 4)))
    exec(mask, {"num_items": num_items, "items_with_text": [0, 3, 4, 9]})
    has_text = load_mmrec("my_shop")["item"].x_text_mask
    assert has_text.nonzero().view(-1).tolist() == [0, 3, 4, 9]
    train, replaced = re.subn(
        r'^folder = ".*"$', 'folder = "my_shop"', train, flags=re.M
    )
    assert replaced == 1
    train = re.sub(r"max_epochs=\d+", "max_epochs=1", train)
    namespace: dict[str, Any] = {}
    exec(train, namespace)
    result = namespace["result"]
    assert result.epochs_run == 1 and set(result.test) == set(result.best_val)


# The README is the front door; the docs pages hold the rest. These checks keep
# both pointing at what exists: pages, images, config options, CLI options.

README = ROOT / "README.md"
SETUP_COMMANDS = (
    "pip install torch==2.13.0 -e . && mde-pyg train",
    'pip install torch==2.13.0 -e ".[test,text]" && python -m pytest',
)
MODELS = {  # class: config of conf/model/
    "LightGCN": "lightgcn",
    "LATTICE": "lattice",
    "MGCN": "mgcn",
    "FREEDOM": "freedom",
    "MMGCN": "mmgcn",
    "VBPR": "vbpr",
    "BM3": "bm3",
    "LGMRec": "lgmrec",
    "SMORE": "smore",
    "DRAGON": "dragon",
    "MDE": "mde",
}


def _pages() -> list[Path]:
    """The docs' source pages (not the generated config reference)."""
    return sorted(
        p for p in DOCS.rglob("*.rst") if not {"_generated", "_build"} & set(p.parts)
    )


def _lines(text: str) -> list[str]:
    """The non-empty lines of a page, stripped, with a command's ``\\``
    continuation lines joined to it."""
    text = re.sub(r"\\\n\s*", " ", text)
    return [line.strip() for line in text.splitlines() if line.strip()]


def test_readme_is_a_front_door():
    text = README.read_text()
    assert len(text.splitlines()) <= 250
    for command in SETUP_COMMANDS:
        assert f"```bash\n{command}\n```" in text, command
    # The docs build, named where a newcomer looks.
    assert 'pip install -e ".[docs]"' in text
    assert "python -m sphinx -b html docs docs/_build/html" in text


def test_readme_links_resolve():
    for target in re.findall(r"\]\(([^)\s]+)\)", README.read_text()):
        if target.startswith(("http://", "https://", "#")):
            continue
        assert (ROOT / target).exists(), target


def test_every_model_is_named(reference):
    index = (DOCS / "index.rst").read_text()
    readme = README.read_text()
    models = reference.groups["model"]
    for name, option in {**MODELS, "MDE, full design": "mde_paper"}.items():
        assert option in models, option
        assert f"| `{option}` |" in readme, option
        assert f"``{option}``" in index, option
        if name in MODELS:
            assert f":class:`~mde_pyg.models.{name}`" in index, name


def test_pages_point_to_nothing_outside_the_repository():
    outside = re.compile(r"spec/|\.\./shared|\bissue (?:item )?\d+", re.IGNORECASE)
    files = [README, DOCS / "conf.py", *_pages()]
    for package in ("models", "nn", "evaluation", "data"):
        files += sorted((ROOT / "src" / "mde_pyg" / package).glob("*.py"))
    for path in files:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            assert not outside.search(line), f"{path.relative_to(ROOT)}:{number}"


def test_images_exist():
    for page in _pages():
        for target in re.findall(
            r"^\.\. (?:image|figure):: (\S+)", page.read_text(), re.M
        ):
            assert (page.parent / target).is_file(), f"{page.name}: {target}"


def test_math_renders_offline():
    # MathJax from the docs extra, not from a CDN.
    import configparser

    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    extra = setup["options.extras_require"]["docs"].split()
    assert any(req.startswith("sphinx-mathjax-offline") for req in extra)
    conf = (DOCS / "conf.py").read_text()
    assert '"sphinx-mathjax-offline"' in conf
    assert not re.search(r"^mathjax_path\s*=", conf, re.M)  # would replace it


def test_pages_name_existing_config_options(reference):
    # Every group option (model=mde) and key (trainer.device) the README and
    # the pages name is one of conf/; ``model.recommend`` is Python.
    from mde_pyg.models import MDE

    keys = {entry.key for cf in reference.files for entry in cf.entries}
    keys |= {f"model.{name}" for name in dir(MDE) if not name.startswith("_")}
    for path in [README, *_pages()]:
        text = path.read_text()
        for group, option in re.findall(
            r"(?<![\w.])(model|trainer|dataset|experiment)=([a-z0-9_]+)", text
        ):
            assert option in reference.groups[group], f"{path.name}: {group}={option}"
        named = re.findall(r"`+((?:model|trainer|dataset)\.\w+)(?:=[^`]*)?`+", text)
        for line in _lines(text):
            if line.startswith(("mde-pyg ", "torchrun ")):
                named += re.findall(r"(?<!\S)((?:model|trainer|dataset)\.\w+)=", line)
        for key in named:
            assert key in keys, f"{path.name}: {key}"


def test_pages_name_existing_cli_options():
    from mde_pyg.cli import main

    helps: dict[str, set[str]] = {}
    for path in [README, *_pages()]:
        for line in _lines(path.read_text()):
            words = line.split()
            if len(words) < 2 or words[0] != "mde-pyg" or words[1] == "train":
                continue
            options = re.findall(r"(?<![\w-])--[a-z][a-z-]+", line.split("#")[0])
            if not options:
                continue
            if words[1] not in helps:
                out = io.StringIO()
                with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
                    main([words[1], "--help"])
                helps[words[1]] = set(re.findall(r"--[a-z][a-z-]+", out.getvalue()))
            for option in options:
                assert option in helps[words[1]], f"{path.name}: {line}"
