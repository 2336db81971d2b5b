"""Generates the config reference of the docs from the YAML files in ``conf/``.

Run by ``docs/conf.py`` at every build (and usable on its own:
``python docs/gen_config_reference.py [OUT.rst]``). For every file of ``conf/``
(the root ``config.yaml`` and each option of the ``dataset``, ``model``,
``trainer`` and ``experiment`` groups) it lists every key with its default and
what it does, the other files it composes (its ``defaults:`` list) and, for
experiment files, the ``hydra.sweeper.params`` grids.

"What it does" comes from two places:

* the YAML comments: a comment at the end of the key's line, or the comment
  lines directly above the key. A comment block above a key also documents
  the keys that follow it without a blank line or another comment in between
  (``seed:`` and ``seeds:`` below one comment). The comment block at the top
  of a file describes the file, not its first key.
* the docstring of the callable the section is passed to: the file's own
  ``_target_``, one inherited through a ``defaults:`` entry of the same group,
  or :data:`GROUP_TARGETS` (a group whose keys are keyword arguments of a fixed
  callable). The key's entry in the ``Args:`` section (Google style) is used;
  a ``Class.from_data`` factory forwards its keywords to the class, so the
  class's docstring is read. Hydra's own settings (``hydra.*``) are described
  by :data:`HYDRA_KEYS`.

Keys with neither are collected in :attr:`Reference.undocumented`
(``tests/test_docs.py`` requires it to be empty).
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

DOCS_DIR = Path(__file__).resolve().parent
CONF_DIR = DOCS_DIR.parent / "conf"
OUTPUT = DOCS_DIR / "_generated" / "config_reference.rst"

#: Groups whose files have no ``_target_``: their keys are keyword arguments of
#: this callable (``mde_pyg.pipeline.train_one`` passes ``cfg.trainer`` to it).
GROUP_TARGETS = {"trainer": "mde_pyg.training.Trainer"}

#: Option sections inside a section passed to ``Class.from_data``: the mapping
#: ``graphs`` of ``cfg.model`` holds the keyword arguments of the model
#: class's ``graph_transform`` (``mde_pyg.pipeline.add_graphs``).
NESTED_SECTIONS = {"graphs": "graph_transform"}

#: Groups listed first, in this order; any other group follows by name.
GROUP_ORDER = ("dataset", "model", "trainer", "experiment")

HYDRA_DOCS = "https://hydra.cc/docs/configure_hydra/intro/"

#: Hydra's own settings that ``conf/`` sets (they have no docstring here).
HYDRA_KEYS = {
    "hydra.job.chdir": "Hydra setting: whether the job changes its working "
    "directory to the run directory (``false``: relative paths stay relative "
    "to where the command was started).",
    "hydra.run.dir": "Hydra setting: the run directory of a single run "
    "(``output_dir`` by default).",
    "hydra.sweep.dir": "Hydra setting: the parent directory of the jobs of a "
    "``-m`` (multirun) sweep.",
    "hydra.sweep.subdir": "Hydra setting: each sweep job's directory inside "
    "``hydra.sweep.dir``.",
}

_KEY_LINE = re.compile(
    r"^(?P<indent>\s*)(?P<key>[A-Za-z_][\w.@/-]*)\s*:(?=\s|$)(?P<rest>.*)$"
)
_DEFAULT_NOTE = re.compile(r"\s*\(default:[^()]*(?:\([^()]*\)[^()]*)*\)\.?\s*$")
_ARG_ENTRY = re.compile(
    r"^(?P<name>\*{0,2}\w+)\s*(?:\((?P<type>[^)]*)\))?\s*:\s*(?P<text>.*)$"
)


# --------------------------------------------------------------------------
# Docstrings
# --------------------------------------------------------------------------


@dataclass
class Arg:
    """One entry of a Google-style ``Args:`` section."""

    name: str
    type: str
    text: str

    @property
    def description(self) -> str:
        """The text without its trailing ``(default: ...)`` note (a config
        file states its own default)."""
        return _DEFAULT_NOTE.sub("", self.text).strip()


def parse_args_section(doc: str | None) -> dict[str, Arg]:
    """Parses the ``Args:`` (or ``Arguments:``/``Parameters:``) section of a
    Google-style docstring into ``{name: Arg}``.

    Entries are ``name (type, optional): text`` or ``name: text``; lines
    indented deeper than the entry continue it. The section ends at the first
    non-blank line indented no deeper than its ``Args:`` header.
    """
    if not doc:
        return {}
    lines = inspect.cleandoc(doc).splitlines()
    args: dict[str, Arg] = {}
    i = 0
    while i < len(lines):
        header = lines[i]
        if header.strip() not in ("Args:", "Arguments:", "Parameters:"):
            i += 1
            continue
        section_indent = _indent(header)
        entry_indent = None
        current: Arg | None = None
        i += 1
        while i < len(lines):
            line = lines[i]
            if not line.strip():
                i += 1
                continue
            indent = _indent(line)
            if indent <= section_indent:
                break
            if entry_indent is None:
                entry_indent = indent
            match = _ARG_ENTRY.match(line.strip()) if indent == entry_indent else None
            if match:
                type_ = (match["type"] or "").strip()
                type_ = re.sub(r",?\s*optional$", "", type_).strip()
                current = Arg(match["name"].lstrip("*"), type_, match["text"].strip())
                args[current.name] = current
            elif current is not None:
                current.text = f"{current.text} {line.strip()}".strip()
            i += 1
    return args


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def locate(path: str) -> Any:
    """Imports ``a.b.C.method`` (the longest importable module prefix, then
    attributes)."""
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        module = ".".join(parts[:cut])
        try:
            obj = importlib.import_module(module)
        except ModuleNotFoundError as error:
            # Only "this prefix is not a module"; a module that exists but
            # fails to import is an error to see.
            if error.name is None or not module.startswith(error.name):
                raise
            continue
        for name in parts[cut:]:
            obj = getattr(obj, name)
        return obj
    raise ImportError(f"cannot import {path!r}")


@dataclass
class Callee:
    """What a config section is passed to, with its documentation."""

    name: str  # the documented object, as the API reference names it
    args: dict[str, Arg]  # its docstring's Args entries
    params: set[str]  # its keyword parameters
    owner: type | None  # the class of a class or ``Class.method`` target
    summary: str = ""  # the first paragraph of its docstring


def callee_of(target: str | Any) -> Callee:
    """The :class:`Callee` of a ``_target_`` (or of an object): for a class or
    a ``Class.from_data`` factory (which forwards its keywords to the class),
    the class's docstring and ``__init__``; else the callable's own."""
    obj = locate(target) if isinstance(target, str) else target
    owner = getattr(obj, "__self__", None)
    owner = owner if inspect.isclass(owner) else None
    if owner is not None and obj.__name__ == "from_data":
        obj = owner
    if inspect.isclass(obj):
        args = parse_args_section(inspect.getdoc(obj.__init__))
        args.update(parse_args_section(obj.__doc__))
        params = _params(obj.__init__)
        owner = obj
    else:
        args, params = parse_args_section(obj.__doc__), _params(obj)
    doc = inspect.getdoc(obj) or ""
    summary = " ".join(doc.split("\n\n")[0].split())
    return Callee(public_name(obj), args, params, owner, summary)


def _params(fn: Any) -> set[str]:
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return set()
    return {
        p.name
        for p in parameters
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        and p.name not in ("self", "cls")
    }


def public_name(obj: Any) -> str:
    """The dotted name of ``obj`` under the shallowest package that exports
    it (``mde_pyg.models.mde.MDE.graph_transform`` is
    ``mde_pyg.models.MDE.graph_transform``), as the API reference documents
    the packages' exports."""
    module = getattr(obj, "__module__", "") or ""
    qualname = getattr(obj, "__qualname__", getattr(obj, "__name__", repr(obj)))
    head = qualname.split(".")[0]
    parts = module.split(".")
    for cut in range(1, len(parts)):
        package = ".".join(parts[:cut])
        try:
            exported = getattr(importlib.import_module(package), head, None)
        except ImportError:
            continue
        if exported is not None and exported is getattr(
            importlib.import_module(module), head, None
        ):
            return f"{package}.{qualname}"
    return f"{module}.{qualname}" if module else qualname


# --------------------------------------------------------------------------
# YAML files
# --------------------------------------------------------------------------


@dataclass
class KeyLine:
    """A key of a YAML file as written: its dotted path and its comments."""

    path: str
    comment: str  # the comment block above (or carried from the key above)
    inline: str  # the comment at the end of the line
    is_mapping: bool  # no value on the line (a nested mapping or block list)


@dataclass
class Entry:
    """A documented key."""

    key: str  # as overridden on the command line (``model.embedding_dim``)
    value: Any
    comment: str = ""
    doc: str = ""
    doc_type: str = ""
    doc_source: str = ""
    section: bool = False  # a mapping of options passed to another callable

    @property
    def documented(self) -> bool:
        return bool(self.comment or self.doc)


@dataclass
class Sweep:
    """A parameter of an experiment's ``hydra.sweeper.params`` grid."""

    key: str
    values: list[str]
    description: str


@dataclass
class ConfigFile:
    group: str | None  # None for the root config
    name: str
    path: Path
    header: str = ""
    package: str | None = None
    defaults: list[Any] = field(default_factory=list)
    target: str | None = None
    target_inherited_from: str | None = None
    doc_source: str | None = None
    entries: list[Entry] = field(default_factory=list)
    sweeps: list[Sweep] = field(default_factory=list)
    parents: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.group}/{self.name}" if self.group else self.name

    @property
    def anchor(self) -> str:
        return "config-" + re.sub(r"[^a-z0-9]+", "-", self.label.lower()).strip("-")


def split_comment(rest: str) -> tuple[str, str]:
    """Splits the text after ``key:`` into ``(value, comment)``; a ``#``
    inside quotes or not preceded by a space does not start a comment."""
    quote = None
    for i, char in enumerate(rest):
        if quote:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or rest[i - 1].isspace()):
            return rest[:i].strip(), rest[i + 1 :].strip()
    return rest.strip(), ""


def scan_yaml(text: str) -> tuple[str, str | None, list[KeyLine]]:
    """Reads the comments of a YAML file line by line: ``(header, package,
    keys)`` where ``header`` is the file's leading comment block, ``package``
    its ``# @package`` directive, and ``keys`` every ``key:`` line with its
    dotted path and comments. Lines of block lists (``- item``) are skipped."""
    header: list[str] = []
    package = None
    keys: list[KeyLine] = []
    stack: list[tuple[int, str]] = []  # (indent, key) of the enclosing mappings
    block: list[str] = []  # comment lines since the last key or blank line
    # The comment of the current run of sibling keys: (indent, text).
    carried: tuple[int, str] | None = None
    previous: int | None = None  # indent of the previous key line of the run
    seen_key = False
    for raw in text.splitlines():
        stripped = raw.strip()
        if not stripped:
            block, carried, previous = [], None, None
            if not seen_key and header:
                seen_key = True  # a blank line ends the header
            continue
        if stripped.startswith("#"):
            content = stripped.lstrip("#").strip()
            if content.startswith("@package"):
                package = content.split(None, 1)[1] if " " in content else ""
            elif not seen_key:
                # Keep the indentation after "# ": indented lines are examples.
                header.append(stripped.lstrip("#").removeprefix(" ").rstrip())
            else:
                block.append(content)
                carried = previous = None
            continue
        seen_key = True
        match = _KEY_LINE.match(raw)
        if match is None:  # a list item or a continuation line
            block, carried, previous = [], None, None
            continue
        indent = len(match["indent"])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = ".".join([k for _, k in stack] + [match["key"]])
        value, inline = split_comment(match["rest"])
        if block:
            carried = (indent, " ".join(block))
        elif previous != indent:  # a key after a nested block ends the run
            carried = None
        comment = carried[1] if carried and carried[0] == indent else ""
        previous = indent
        keys.append(KeyLine(path, comment, inline, not value))
        if not value:
            stack.append((indent, match["key"]))
        block = []
    return "\n".join(header), package, keys


def load_values(path: Path) -> dict[str, Any]:
    """The file's values as OmegaConf reads them (interpolations unresolved,
    ``???`` kept)."""
    return OmegaConf.to_container(OmegaConf.load(path), resolve=False) or {}


def get_path(values: dict[str, Any], dotted: str) -> Any:
    node: Any = values
    for part in dotted.split("."):
        node = node[part]
    return node


# --------------------------------------------------------------------------
# The reference
# --------------------------------------------------------------------------


@dataclass
class Reference:
    files: list[ConfigFile]
    groups: dict[str, list[str]]  # group -> option names

    @property
    def undocumented(self) -> list[str]:
        """``file: key`` of every key (and grid parameter) without a
        description."""
        missing = [
            f"{f.path.relative_to(f.path.parents[1 if f.group else 0])}: {e.key}"
            for f in self.files
            for e in f.entries
            if not e.documented
        ]
        missing += [
            f"{f.group}/{f.name}.yaml: hydra.sweeper.params.{s.key}"
            for f in self.files
            for s in f.sweeps
            if not s.description
        ]
        return missing

    def file(self, label: str) -> ConfigFile:
        return next(f for f in self.files if f.label == label)


def discover(conf_dir: Path) -> tuple[Path, dict[str, list[Path]]]:
    root = conf_dir / "config.yaml"
    groups = {
        d.name: sorted(d.glob("*.yaml"))
        for d in sorted(conf_dir.iterdir())
        if d.is_dir() and any(d.glob("*.yaml"))
    }
    order = [g for g in GROUP_ORDER if g in groups] + sorted(
        g for g in groups if g not in GROUP_ORDER
    )
    return root, {g: groups[g] for g in order}


def build_reference(conf_dir: Path = CONF_DIR) -> Reference:
    """Reads every YAML file of ``conf_dir`` and documents its keys."""
    root, groups = discover(conf_dir)
    files: dict[str, ConfigFile] = {}
    raw: dict[str, tuple[dict[str, Any], list[KeyLine]]] = {}
    paths = [(None, root)] if root.is_file() else []
    paths += [(group, p) for group, ps in groups.items() for p in ps]
    for group, path in paths:
        values = load_values(path)
        header, package, keys = scan_yaml(path.read_text())
        cf = ConfigFile(group, path.stem, path, header, package)
        cf.defaults = list(values.get("defaults", []) or [])
        cf.target = values.get("_target_")
        files[cf.label] = cf
        raw[cf.label] = (values, keys)

    # Targets and parents inherited through same-group defaults entries.
    for cf in files.values():
        cf.parents = _group_parents(cf, files)
        if cf.target is None:
            for parent in cf.parents:
                if files[parent].target:
                    cf.target = files[parent].target
                    cf.target_inherited_from = parent
                    break

    callees: dict[str, Callee] = {}
    for label, cf in files.items():
        values, keys = raw[label]
        target = cf.target or GROUP_TARGETS.get(cf.group or "")
        callee = None
        if target is not None:
            if target not in callees:
                callees[target] = callee_of(target)
            callee = callees[target]
            cf.doc_source = callee.name
        parent_lines = [{k.path: k for k in raw[p][1]} for p in cf.parents]
        for line in keys:
            entry = _entry(cf, values, line, callee, parent_lines)
            if entry is not None:
                cf.entries.append(entry)

    ref = Reference(
        list(files.values()), {g: [p.stem for p in ps] for g, ps in groups.items()}
    )
    for cf in ref.files:
        _follow_interpolations(ref, cf)
    for cf in ref.files:
        values, _ = raw[cf.label]
        params = (values.get("hydra") or {}).get("sweeper", {}).get("params") or {}
        for key, grid in params.items():
            choices = [v.strip() for v in str(grid).split(",")]
            cf.sweeps.append(Sweep(key, choices, _describe_global(ref, cf, key)))
    return ref


def _entry(
    cf: ConfigFile,
    values: dict[str, Any],
    line: KeyLine,
    callee: Callee | None,
    parent_lines: list[dict[str, KeyLine]],
) -> Entry | None:
    """The entry of one ``key:`` line, or :obj:`None` for lines that are not
    documented as keys: ``defaults``, ``_target_``, the sweeper grid (listed
    apart), parts of an argument's value, and mappings (their leaves are
    listed) that are not option sections."""
    parts = line.path.split(".")
    if parts[0] in ("defaults", "_target_") or line.path.startswith(
        "hydra.sweeper.params"
    ):
        return None
    value = get_path(values, line.path)
    comment = _join(line.comment, line.inline)
    if not comment:  # e.g. an ablation re-sets a key documented upstream
        for lines in parent_lines:
            if line.path in lines:
                comment = _join(lines[line.path].comment, lines[line.path].inline)
                break
    entry = Entry(_override_path(cf, line.path), value, comment)
    if callee is None:  # no callable: every leaf is a key
        if isinstance(value, dict) and value:
            return None
        if entry.key in HYDRA_KEYS:
            entry.doc, entry.doc_source = HYDRA_KEYS[entry.key], "hydra"
        return entry

    top = parts[0]
    top_value = values[top]
    is_argument = (
        top in callee.params or top in callee.args or not isinstance(top_value, dict)
    )
    if is_argument:
        if len(parts) > 1:
            return None  # part of the argument's value
        if top in callee.args:
            entry.doc = callee.args[top].description
            entry.doc_type = callee.args[top].type
            entry.doc_source = callee.name
        return entry

    # A mapping that is not an argument: options of another callable.
    sub = _section_callee(callee, top)
    if len(parts) == 1:
        entry.section = True
        if sub is not None:
            entry.doc = f"Options of :obj:`{sub.name}`. {sub.summary}".strip()
            entry.doc_source = sub.name
        return entry
    if isinstance(value, dict) and value:
        return None
    if sub is not None and len(parts) == 2 and parts[1] in sub.args:
        entry.doc = sub.args[parts[1]].description
        entry.doc_type = sub.args[parts[1]].type
        entry.doc_source = sub.name
    return entry


def _section_callee(callee: Callee, key: str) -> Callee | None:
    """The callable an option section ``key`` of ``callee``'s section is
    passed to (:data:`NESTED_SECTIONS`), if the code has it."""
    attribute = NESTED_SECTIONS.get(key)
    if attribute is None or callee.owner is None:
        return None
    method = getattr(callee.owner, attribute, None)
    return callee_of(method) if method is not None else None


_INTERPOLATION = re.compile(r"^\$\{(?P<dots>\.*)(?P<path>[\w.]+)\}$")


def _follow_interpolations(ref: Reference, cf: ConfigFile) -> None:
    """A key whose default is another key (``${..user_graph}``) and has no
    docstring entry is described as following that key."""
    for entry in cf.entries:
        match = (
            _INTERPOLATION.match(entry.value) if isinstance(entry.value, str) else None
        )
        if match is None or entry.doc:
            continue
        if match["dots"]:
            # ${.x}: a sibling; each further dot goes one mapping up.
            own = entry.key.split(".")
            if cf.group is not None and cf.package != "_global_":
                own = own[1:]
            up = len(match["dots"])
            base = own[: max(len(own) - up, 0)]
            key = _override_path(cf, ".".join([*base, match["path"]]))
        else:
            key = match["path"]
        description = _describe_global(ref, cf, key, own_first=True)
        if description:
            entry.doc = f"Follows ``{key}`` by default: {description}"
            entry.doc_source = "interpolation"


def _group_parents(cf: ConfigFile, files: dict[str, ConfigFile]) -> list[str]:
    """Labels of the same-group files ``cf`` composes, nearest first."""
    out: list[str] = []
    todo = [cf]
    while todo:
        current = todo.pop(0)
        for item in current.defaults:
            if isinstance(item, str) and item != "_self_" and current.group:
                label = f"{current.group}/{item}"
                if label in files and label not in out:
                    out.append(label)
                    todo.append(files[label])
    return out


def _override_path(cf: ConfigFile, path: str) -> str:
    """The key as written on the command line."""
    if cf.group is None or cf.package == "_global_":
        return path
    return f"{cf.group}.{path}"


def _join(*parts: str) -> str:
    return " ".join(p for p in parts if p)


def _selected_option(ref: Reference, cf: ConfigFile, group: str) -> str | None:
    """The option of ``group`` an experiment file selects (its ``override``
    entry), else the root config's default."""
    for item in cf.defaults:
        if isinstance(item, dict):
            for key, option in item.items():
                if key.split()[-1].lstrip("/") == group:
                    return option
    root = next((f for f in ref.files if f.group is None), None)
    for item in root.defaults if root else []:
        if isinstance(item, dict) and group in item:
            return item[group]
    return None


def _describe_global(
    ref: Reference, cf: ConfigFile, key: str, own_first: bool = False
) -> str:
    """The description of a global key (``model.reg_weight``): from ``cf``
    and its parents first with ``own_first``, else from the option of the
    key's group that ``cf`` selects, then any option of that group, then the
    root config."""
    candidates: list[ConfigFile] = []
    if own_first:
        candidates += [cf, *(ref.file(p) for p in cf.parents)]
    group, _, rest = key.partition(".")
    if group in ref.groups and rest:
        option = _selected_option(ref, cf, group)
        if option in ref.groups[group]:
            selected = ref.file(f"{group}/{option}")
            candidates += [selected, *(ref.file(p) for p in selected.parents)]
        candidates += [ref.file(f"{group}/{o}") for o in ref.groups[group]]
    candidates += [f for f in ref.files if f.group is None]
    for candidate in candidates:
        for entry in candidate.entries:
            if entry.key == key and entry.documented:
                return _join(entry.doc, entry.comment)
    return ""


# --------------------------------------------------------------------------
# Rendering (reStructuredText)
# --------------------------------------------------------------------------


def format_value(value: Any) -> str:
    """A value as YAML flow text (what a command-line override would say)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        if value == "" or value.strip() != value:
            return repr(value)
        return value
    if isinstance(value, list | tuple):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "{" + ", ".join(f"{k}: {format_value(v)}" for k, v in value.items()) + "}"
        )
    return str(value)


def literal(text: str) -> str:
    return f"``{text}``" if text else "(empty)"


_RST_SPECIAL = re.compile(r"([\\*_|`])")


def escape_rst(text: str) -> str:
    """``text`` with reStructuredText markup characters escaped."""
    return _RST_SPECIAL.sub(r"\\\1", text)


def comment_to_rst(text: str) -> str:
    """A YAML comment as reStructuredText: ```x``` becomes a literal, other
    markup characters are escaped."""
    out = []
    for i, part in enumerate(re.split(r"`([^`]+)`", text)):
        if i % 2:
            out.append(literal(part))
        else:
            out.append(escape_rst(part))
    return "".join(out)


def header_to_rst(header: str) -> list[str]:
    """A file's leading comment block as paragraphs, with its indented lines
    (command examples) as literal blocks."""
    out: list[str] = []
    paragraph: list[str] = []
    example: list[str] = []

    def flush() -> None:
        if paragraph:
            out.extend([comment_to_rst(" ".join(paragraph)), ""])
            paragraph.clear()
        if example:
            out.extend(["::", "", *(f"    {line}" for line in example), ""])
            example.clear()

    for line in header.splitlines():
        if line.startswith("  "):
            if paragraph:
                flush()
            example.append(line.strip())
        elif not line.strip():
            flush()
        else:
            if example:
                flush()
            paragraph.append(line.strip())
    flush()
    return out


def _table(
    rows: list[tuple[str, str, str]], headers: tuple[str, str, str]
) -> list[str]:
    lines = [".. list-table::", "   :header-rows: 1", "   :widths: 25 20 55", ""]
    for row in [headers, *rows]:
        for j, cell in enumerate(row):
            lines.append(("   * - " if j == 0 else "     - ") + (cell or "\\ "))
    return lines + [""]


def _heading(text: str, char: str) -> list[str]:
    return [text, char * len(text), ""]


def _describe_entry(entry: Entry) -> str:
    parts = []
    if entry.doc:
        doc = entry.doc
        if entry.doc_type:
            doc = f"*({escape_rst(entry.doc_type)})* {doc}"
        if entry.doc_source == "hydra":
            doc += f" See `Hydra's documentation <{HYDRA_DOCS}>`__."
        parts.append(doc)
    if entry.comment:
        comment = comment_to_rst(entry.comment)
        parts.append(f"*In the file:* {comment}" if entry.doc else comment)
    # Separate paragraphs of the table cell.
    return "\n\n       ".join(parts)


def _default_cell(entry: Entry) -> str:
    value = entry.value
    if entry.section:
        return "*(the keys below)*"
    if value == "???":
        return "``???`` (required)"
    return literal(format_value(value))


def _describe_default(ref: Reference, cf: ConfigFile, item: Any) -> str:
    if item == "_self_":
        return "this file's own keys (``_self_``)"
    if isinstance(item, str):
        label = f"{cf.group}/{item}" if cf.group else item
        if any(f.label == label for f in ref.files):
            return (
                f":ref:`{label} <{_anchor(label)}>`, then this file's keys override it"
            )
        return literal(item)
    if isinstance(item, dict):
        parts = []
        for key, option in item.items():
            override = key.startswith("override ")
            group = key.split()[-1].lstrip("/")
            options = ref.groups.get(group, [])
            choice = (
                "none by default"
                if option is None
                else f":ref:`{option} <{_anchor(f'{group}/{option}')}>`"
                if option in options
                else literal(str(option))
            )
            verb = "overrides group" if override else "group"
            text = f"{verb} ``{group}`` with {choice}"
            if not override and options:
                text += " (options: " + ", ".join(literal(o) for o in options) + ")"
            parts.append(text)
        return "; ".join(parts)
    return literal(format_value(item))


def _anchor(label: str) -> str:
    return "config-" + re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")


def _render_file(ref: Reference, cf: ConfigFile) -> list[str]:
    title = "config.yaml" if cf.group is None else f"{cf.group}={cf.name}"
    lines = [f".. _{cf.anchor}:", ""]
    lines += _heading(f"``{title}``", "-" if cf.group is None else "~")
    rel = cf.path.relative_to(cf.path.parents[1] if cf.group else cf.path.parent)
    lines += [f"File ``conf/{rel.as_posix()}``.", ""]
    if cf.header:
        lines += header_to_rst(cf.header)
    if cf.package:
        lines += [
            f"Package ``{cf.package}``: its keys are paths from the root of the "
            "composed config.",
            "",
        ]
    if cf.defaults:
        lines += ["Composes (``defaults``):", ""]
        lines += [f"* {_describe_default(ref, cf, item)}" for item in cf.defaults]
        lines += [""]
    if cf.target:
        parent = cf.target_inherited_from
        where = f" (from :ref:`{parent} <{_anchor(parent)}>`)" if parent else ""
        lines += [f"Instantiates ``_target_: {cf.target}``{where}.", ""]
    if cf.doc_source:
        sections = [e.key for e in cf.entries if e.section]
        note = (
            " (a mapping of options, "
            + ", ".join(literal(k) for k in sections)
            + ", goes to the callable its row names)"
            if sections
            else ""
        )
        lines += [
            f"Keys are keyword arguments of :obj:`{cf.doc_source}`{note}; "
            "descriptions come from the docstrings and the file's comments.",
            "",
        ]
    if cf.entries:
        rows = [
            (literal(e.key), _default_cell(e), _describe_entry(e)) for e in cf.entries
        ]
        lines += _table(rows, ("Key", "Default", "Description"))
    if cf.parents:
        lines += [
            "Every other key is inherited from "
            + ", ".join(f":ref:`{p} <{_anchor(p)}>`" for p in cf.parents)
            + ".",
            "",
        ]
    if cf.sweeps:
        lines += ["Grid swept by ``-m`` (``hydra.sweeper.params``):", ""]
        rows = [
            (literal(s.key), ", ".join(literal(v) for v in s.values), s.description)
            for s in cf.sweeps
        ]
        lines += _table(rows, ("Key", "Values", "Description"))
    return lines


def render(ref: Reference) -> str:
    """The reStructuredText page."""
    lines = [
        ".. This file is generated by docs/gen_config_reference.py from conf/;",
        "   do not edit it.",
        "",
        ".. _config-reference:",
        "",
    ]
    lines += _heading("Config reference", "=")
    lines += [
        "``mde-pyg train`` (and ``examples/train.py``) is a `Hydra "
        "<https://hydra.cc>`_ app composed from the package's ``conf/`` folder: "
        "the root ``config.yaml`` picks one option of each group "
        "(``dataset``, ``model``, ``trainer``, and optionally ``experiment``), "
        "and every key can be overridden on the command line::",
        "",
        "    mde-pyg train model=lightgcn dataset=synthetic trainer=quick \\",
        "        model.num_layers=3 trainer.lr=5e-4 seed=1",
        "",
        "A group option is chosen with ``group=option``; a key is set with its "
        "full path, as listed in the tables below. This page is generated from "
        "the YAML files and the docstrings at every docs build.",
        "",
    ]
    root = next((f for f in ref.files if f.group is None), None)
    if root:
        lines += _render_file(ref, root)
    for group, options in ref.groups.items():
        lines += [f".. _config-group-{group}:", ""]
        lines += _heading(f"Group ``{group}``", "-")
        lines += [
            f"Chosen with ``{group}=<option>``; options: "
            + ", ".join(f":ref:`{o} <{_anchor(f'{group}/{o}')}>`" for o in options)
            + ".",
            "",
        ]
        for option in options:
            lines += _render_file(ref, ref.file(f"{group}/{option}"))
    return "\n".join(lines).rstrip() + "\n"


def write(out: Path = OUTPUT, conf_dir: Path = CONF_DIR) -> Reference:
    """Writes the page to ``out`` (only if its content changed, so that Sphinx
    does not rebuild it needlessly) and returns the reference."""
    ref = build_reference(conf_dir)
    text = render(ref)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not out.exists() or out.read_text() != text:
        out.write_text(text)
    return ref


if __name__ == "__main__":
    reference = write(Path(sys.argv[1]) if len(sys.argv) > 1 else OUTPUT)
    for missing in reference.undocumented:
        print(f"undocumented: {missing}", file=sys.stderr)
    sys.exit(1 if reference.undocumented else 0)
