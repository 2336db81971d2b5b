"""The renamed configuration keys (:data:`RENAMED_KEYS`), which keep their
old names as deprecated aliases: in command-line overrides
(:func:`rename_overrides`) and in the configs of run folders written before
(:func:`rename_config_keys`); and the keys added since
(:data:`ADDED_KEYS`), which older checkpoints lack."""

from __future__ import annotations

import inspect
import re
import warnings
from collections.abc import Iterable, Mapping, MutableMapping
from importlib import resources
from typing import Any

from mde_pyg.errors import ConfigError

#: Every renamed configuration key, ``old -> new`` as dotted keys. A key
#: written ``"Class:section.key"`` is renamed only where the section's
#: ``_target_`` names that class (``mde_pyg.models.FREEDOM.from_data`` names
#: ``FREEDOM``): FREEDOM's ``reg_weight`` was its modality-BPR weight, where
#: ``reg_weight`` is the L2 weight of every other model. The constructors take
#: the same old names as deprecated keyword arguments
#: (:func:`mde_pyg.deprecation.renamed_arguments`).
RENAMED_KEYS: dict[str, str] = {
    "MDE:model.diff": "model.enhancement",
    "MGCN:model.cl_loss": "model.lambda_align",
    "FREEDOM:model.reg_weight": "model.lambda_modality_bpr",
}

#: Configuration keys added since runs were first written, with the value
#: that behaves as the runs written before them: an older checkpoint's
#: fingerprint gains the key with that value when the resuming run has it
#: (:func:`add_config_keys`), so it resumes if the run keeps that value.
ADDED_KEYS: dict[str, Any] = {
    "model.graphs.skip_missing": True,
    "model.skip_missing": True,  # LATTICE's learned graphs
}

#: Where a config group's choice is made when the command line does not make
#: it: the groups whose configs may override it (``override /model: mde``),
#: in the order of precedence.
_OVERRIDING_GROUPS = ("experiment", "study")
_OVERRIDE = re.compile(r"^(?P<prefix>~|\+\+|\+)?(?P<key>[^=~+][^=]*?)(?P<rest>=.*)?$")
_SWEEP_PARAMS = "hydra.sweeper.params."


class RenamedKeyWarning(FutureWarning):
    """A configuration key was given by its deprecated name."""


def _renames() -> list[tuple[str | None, str, str]]:
    """:data:`RENAMED_KEYS` as ``(class or None, old, new)``."""
    out = []
    for old, new in RENAMED_KEYS.items():
        scope, _, key = old.rpartition(":")
        out.append((scope or None, key, new))
    return out


def _names(target: Any) -> set[str]:
    """The dotted components naming a ``_target_`` (string or callable),
    the class of a ``Class.from_data`` factory included."""
    if target is None:
        return set()
    if isinstance(target, str):
        return set(target.split("."))
    names = set(f"{target.__module__}.{target.__qualname__}".split("."))
    owner = getattr(target, "__self__", None)
    if inspect.isclass(owner):
        names.add(owner.__name__)
    return names


def _message(old: str, new: str, where: str = "") -> str:
    return f"config key '{old}'{where} is deprecated: it is now '{new}'"


def renamed_to(key: str, target: Any) -> str | None:
    """The new name of ``key`` if it is a renamed key of ``target``."""
    for scope, old, new in _renames():
        if key == old and (scope is None or scope in _names(target)):
            return new
    return None


def rename_config_keys(config: MutableMapping[str, Any]) -> list[str]:
    """Renames the deprecated keys of :data:`RENAMED_KEYS` in a plain nested
    ``config`` (a composed config as a dict, e.g. the ``config.yaml`` of a
    run folder written before the rename), in place and keeping the order of
    the keys.

    A scoped rename (``"FREEDOM:model.reg_weight"``) applies only if the
    section's ``_target_`` names the class.

    Returns:
        list of str: One warning line per renamed key (empty if none).

    Raises:
        ConfigError: If a section holds both a key's old and new name.
    """
    lines = []
    for scope, old, new in _renames():
        *old_path, old_leaf = old.split(".")
        *new_path, new_leaf = new.split(".")
        parent = _node(config, old_path)
        if not isinstance(parent, MutableMapping) or old_leaf not in parent:
            continue
        if scope is not None:
            section = config.get(old.split(".")[0])
            target = section.get("_target_") if isinstance(section, Mapping) else None
            if scope not in _names(target):
                continue
        if new_path != old_path:
            raise NotImplementedError("a key moves within its section only")
        if new_leaf in parent:
            raise ConfigError(
                f"'{old}' is the deprecated name of '{new}': give only '{new}'"
            )
        items = [(new_leaf if k == old_leaf else k, v) for k, v in parent.items()]
        parent.clear()
        parent.update(items)
        lines.append(_message(old, new))
    return lines


def _node(config: Any, path: list[str]) -> Any:
    for part in path:
        if not isinstance(config, Mapping) or part not in config:
            return None
        config = config[part]
    return config


def add_config_keys(
    config: MutableMapping[str, Any], current: Mapping[str, Any]
) -> None:
    """Adds to a plain nested ``config`` written before a key of
    :data:`ADDED_KEYS` existed that key, with its value there, wherever
    ``current`` (the config of the run that reads it) has the key, in place."""
    for key, value in ADDED_KEYS.items():
        *path, leaf = key.split(".")
        parent, now = _node(config, path), _node(current, path)
        if (
            isinstance(parent, MutableMapping)
            and isinstance(now, Mapping)
            and leaf in now
            and leaf not in parent
        ):
            parent[leaf] = value


def rename_overrides(overrides: Iterable[str]) -> list[str]:
    """Rewrites the deprecated keys of :data:`RENAMED_KEYS` in Hydra
    command-line overrides (``model.cl_loss=0.1``, ``+model.cl_loss=0.1``,
    ``~model.cl_loss``, a sweep ``model.cl_loss=1e-3,1e-2`` or
    ``hydra.sweeper.params.model.cl_loss=...``; the value is kept as it is),
    warning (:class:`RenamedKeyWarning`) once per rewritten override.

    A scoped rename (``"FREEDOM:model.reg_weight"``) applies only if the
    section's ``_target_`` names the class in every config the overrides
    choose for it: the command line's choice (``model=freedom``, or a sweep
    over choices), else that of an ``experiment`` or ``study`` config, else
    ``conf/config.yaml``'s default, read from the package's ``conf/`` (a
    choice that is not found there leaves the key as it is).

    Returns:
        list of str: The overrides, renamed.
    """
    overrides = list(overrides)
    targets: dict[str, set[frozenset[str]]] = {}
    out = []
    for override in overrides:
        match = _OVERRIDE.match(override)
        if match is None:
            out.append(override)
            continue
        key = match["key"].strip()
        head = _SWEEP_PARAMS if key.startswith(_SWEEP_PARAMS) else ""
        key = key[len(head) :]
        renamed = None
        for scope, old, new in _renames():
            if key != old and not key.startswith(old + "."):
                continue
            if scope is not None:
                section = old.split(".")[0]
                if section not in targets:
                    targets[section] = _section_targets(section, overrides)
                found = targets[section]
                if not found or not all(scope in names for names in found):
                    continue
            renamed = new + key[len(old) :]
            warnings.warn(
                _message(key, renamed, f" (in the override '{override}')"),
                RenamedKeyWarning,
                stacklevel=2,
            )
            break
        if renamed is None:
            out.append(override)
        else:
            prefix, rest = match["prefix"] or "", match["rest"] or ""
            out.append(f"{prefix}{head}{renamed}{rest}")
    return out


def _section_targets(section: str, overrides: list[str]) -> set[frozenset[str]]:
    """The ``_target_`` names (:func:`_names`) of every config that
    ``overrides`` may choose for the group ``section`` (empty if one is not
    found)."""
    explicit = _choices(f"{section}._target_", overrides)
    if explicit:
        return {frozenset(_names(t)) for t in explicit}
    choices = _choices(section, overrides)
    if not choices:
        for group in _OVERRIDING_GROUPS:
            for name in _choices(group, overrides) or _root_choice(group):
                choice = _overridden_choice(group, name, section)
                if choice is not None:
                    choices.append(choice)
            if choices:
                break
    if not choices:
        choices = _root_choice(section)
    found = set()
    for name in choices:
        target = _target_of(section, name)
        if target is None:
            return set()
        found.add(frozenset(_names(target)))
    return found


def _choices(key: str, overrides: list[str]) -> list[str]:
    """The values the last override of ``key`` gives it (several for a
    simple sweep ``a,b``)."""
    values: list[str] = []
    for override in overrides:
        match = _OVERRIDE.match(override)
        if match is None or match["key"].strip() != key or match["prefix"] == "~":
            continue
        value = (match["rest"] or "=")[1:].strip()
        values = [v.strip() for v in value.split(",") if v.strip()]
    return [v for v in values if v != "null"]


def _load(*parts: str) -> dict[str, Any] | None:
    """A YAML file of the package's ``conf/``, or :obj:`None`."""
    import yaml

    path = resources.files("mde_pyg.conf").joinpath(*parts)
    if not path.is_file():
        return None
    return yaml.safe_load(path.read_text()) or {}


def _defaults(config: dict[str, Any] | None) -> list[Any]:
    return list((config or {}).get("defaults") or [])


def _root_choice(group: str) -> list[str]:
    """The option of ``group`` in ``conf/config.yaml``'s defaults list."""
    for entry in _defaults(_load("config.yaml")):
        if isinstance(entry, Mapping) and group in entry:
            return [] if entry[group] is None else [str(entry[group])]
    return []


def _overridden_choice(group: str, name: str, section: str) -> str | None:
    """The option of ``section`` that ``group/name.yaml`` (or a config of
    ``group`` it includes) chooses with ``override /section: ...``."""
    for entry in _defaults(_load(group, f"{name}.yaml")):
        if isinstance(entry, Mapping):
            choice = entry.get(f"override /{section}")
            if choice is not None:
                return str(choice)
        elif isinstance(entry, str) and entry != "_self_":
            choice = _overridden_choice(group, entry, section)
            if choice is not None:
                return choice
    return None


def _target_of(group: str, name: str) -> str | None:
    """The ``_target_`` of ``group/name.yaml``, or of the config of the same
    group it extends."""
    config = _load(group, f"{name}.yaml")
    if config is None:
        return None
    if "_target_" in config:
        return config["_target_"]
    for entry in _defaults(config):
        if isinstance(entry, str) and entry != "_self_":
            return _target_of(group, entry)
    return None
