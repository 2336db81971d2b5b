"""The run configuration: composing the package's ``conf/``, checking a
config against the signatures it is passed to (so a typo or a wrong type fails
at start-up with the list of valid keys instead of deep inside a
constructor), and reading a run folder's config safely.

A run folder is untrusted input (users download and share them): its config
may only name ``_target_`` values that the package's own ``conf/`` names.
"""

from __future__ import annotations

import difflib
import inspect
import os
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from hydra.errors import InstantiationException
from hydra.utils import get_method, to_absolute_path
from omegaconf import DictConfig, ListConfig, OmegaConf

from mde_pyg.errors import ConfigError, UserError
from mde_pyg.pipeline.renamed_keys import (
    RenamedKeyWarning,
    rename_config_keys,
    rename_overrides,
    renamed_to,
)


def _expected_type_ok(default: Any, value: Any) -> bool:
    if default is None or default is inspect.Parameter.empty or value is None:
        return True
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int | float):
        return isinstance(value, int | float) and not isinstance(value, bool)
    if isinstance(default, str):
        return isinstance(value, str)
    if isinstance(default, tuple | list):
        return isinstance(value, tuple | list | ListConfig)
    if isinstance(default, Mapping):
        return isinstance(value, Mapping | DictConfig)
    return True


def _annotated_as(param: inspect.Parameter, value: Any) -> bool:
    """Whether ``value``'s type is one of a union annotation's (e.g. ``resume:
    bool | str`` takes ``true`` and ``auto``)."""
    annotation = param.annotation
    if not isinstance(annotation, str):
        return False
    names = {part.strip() for part in annotation.split("|")}
    return type(value).__name__ in names


def signature_of(target: str | Callable) -> inspect.Signature:
    """The signature a config section is checked against: a class's
    ``__init__`` for ``Class.from_data`` factories (which forward their keyword
    arguments to the constructor), else the callable's own."""
    fn = get_method(target) if isinstance(target, str) else target
    owner = getattr(fn, "__self__", None)
    if inspect.isclass(owner) and fn.__name__ == "from_data":
        fn = owner.__init__
    return inspect.signature(fn)


def check_kwargs(
    section: str,
    values: Mapping[str, Any],
    target: str | Callable,
    provided: tuple[str, ...] = (),
) -> None:
    """Raises :class:`ConfigError` if ``values`` holds a key that ``target``
    does not accept, or a value whose type differs from the default's.

    Args:
        section (str): Name of the config section, used in the message.
        values (Mapping): The section's keys (``_target_`` is ignored).
        target (str or callable): What the section is passed to.
        provided (tuple of str, optional): Arguments filled by the program,
            not the user. (default: :obj:`()`)
    """
    params = {
        name: p
        for name, p in signature_of(target).parameters.items()
        if name not in ("self", "cls", *provided)
        and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    }
    for key, value in values.items():
        if key.startswith("_"):
            continue
        if key not in params:
            renamed = renamed_to(f"{section}.{key}", target)
            raise ConfigError(
                f"Unknown key '{section}.{key}'"
                + (f" (renamed to '{renamed}')" if renamed else "")
                + f". Valid keys of '{section}': {', '.join(sorted(params))}"
            )
        default = params[key].default
        if not _expected_type_ok(default, value) and not _annotated_as(
            params[key], value
        ):
            raise ConfigError(
                f"'{section}.{key}' must be of type {type(default).__name__} "
                f"(like its default {default!r}), got {value!r} "
                f"({type(value).__name__})"
            )


@contextmanager
def rejected_values(section: str) -> Iterator[None]:
    """Reports a value of the config section ``section`` that what it builds
    (a dataset, graph transform, model or trainer) rejects with a
    :class:`ValueError`, the way every argument check of the package and of
    torch does, as a :class:`ConfigError` that names the section, with
    Hydra's ``InstantiationException`` unwrapped: one line for the CLI
    instead of a traceback. Other errors pass unchanged."""
    try:
        yield
    except (InstantiationException, ValueError) as error:
        cause = error.__cause__ if isinstance(error, InstantiationException) else error
        if isinstance(cause, ValueError) and not isinstance(cause, UserError):
            raise ConfigError(f"{section}: {cause}") from cause
        raise


#: The package holding the ``conf/`` tree.
CONFIG_MODULE = "mde_pyg.conf"
#: The file a run folder's composed config is written to (resolved).
RUN_CONFIG = "config.yaml"


def compose_config(
    overrides: list[str], return_hydra_config: bool = False
) -> DictConfig:
    """The package's ``conf/`` composed with ``overrides``, as ``mde-pyg
    train`` composes it (without Hydra's own ``hydra`` section unless
    ``return_hydra_config``).

    Raises:
        ConfigError: with one line naming the valid choices for an unknown
            model, dataset, experiment or other config name, and the nearest
            valid key for an unknown key.
    """
    from hydra import compose, initialize_config_module
    from hydra.errors import HydraException, MissingConfigException

    overrides = rename_overrides(overrides)
    try:
        with initialize_config_module(CONFIG_MODULE, version_base="1.3"):
            return compose(
                "config", overrides=overrides, return_hydra_config=return_hydra_config
            )
    except MissingConfigException as error:
        raise _unknown_name(error, overrides) from None
    except HydraException as error:
        raise _bad_override(error, overrides) from None


def check_overrides(overrides: list[str], multirun: bool = False) -> DictConfig:
    """Composes ``conf/`` with the command-line ``overrides`` of ``mde-pyg
    train`` (``hydra.*`` ones included) and raises a one-line
    :class:`ConfigError` if they do not compose. In a ``-m`` sweep the first
    value of each swept key stands for all of them. Returns the composed
    config, Hydra's section included."""
    if multirun:
        overrides = [_first_of_sweep(override) for override in overrides]
    return compose_config(overrides, return_hydra_config=True)


def _first_of_sweep(override: str) -> str:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        (parsed,) = OverridesParser.create().parse_overrides([override])
    except Exception:  # reported by the composition that follows
        return override
    if not parsed.is_sweep_override():
        return override
    try:
        first = next(iter(parsed.sweep_string_iterator()))
    except Exception:  # a range or interval: its key is what can be checked
        return override
    return f"{override.split('=', 1)[0]}={first}"


def _unknown_name(error: Exception, overrides: list[str]) -> ConfigError:
    missing = getattr(error, "missing_cfg_file", None) or ""
    options = list(getattr(error, "options", None) or [])
    group, _, name = missing.rpartition("/")
    if not group or not options:
        return ConfigError(str(error).strip().splitlines()[0])
    close = difflib.get_close_matches(name, options, n=1)
    nearest = f"did you mean '{close[0]}'? " if close else ""
    return ConfigError(
        f"unknown {group} '{name}' ({nearest}valid: {', '.join(options)})"
    )


def _bad_override(error: Exception, overrides: list[str]) -> ConfigError:
    cause = error.__cause__
    text = str(error).strip()
    key = getattr(cause, "full_key", None)
    if key and "not in struct" in str(cause):
        parent, _, leaf = key.rpartition(".")
        prefix = f"{parent}." if parent else ""
        # Without every override under the unknown key, the config composes
        # and lists its valid keys.
        valid = _config_keys(
            [o for o in overrides if not _is_under(_override_key(o), key)]
        )
        children = (k[len(prefix) :] for k in valid if k.startswith(prefix))
        # Hydra's own keys (``_target_``) are not settings to suggest.
        siblings = sorted(k for k in children if "." not in k and not k.startswith("_"))
        close = difflib.get_close_matches(leaf, siblings, n=1, cutoff=0.6)
        if close:
            return ConfigError(
                f"unknown key '{key}' (did you mean '{prefix}{close[0]}'?)"
            )
        where = f" of '{parent}'" if parent else ""
        return ConfigError(
            f"unknown key '{key}' (valid keys{where}: {', '.join(siblings)})"
        )
    first = text.splitlines()[0] if text else type(error).__name__
    if cause is not None and str(cause).strip():
        first += f": {str(cause).strip().splitlines()[0]}"
    return ConfigError(first)


def _override_key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def _is_under(key: str, node: str) -> bool:
    return key == node or key.startswith(f"{node}.")


def _config_keys(overrides: list[str]) -> list[str]:
    """Every key of the config composed with ``overrides`` (``a.b.c``)."""
    from hydra import compose, initialize_config_module

    try:
        with initialize_config_module(CONFIG_MODULE, version_base="1.3"):
            cfg = compose("config", overrides=overrides, return_hydra_config=False)
    except Exception:
        return []
    keys: list[str] = []

    def walk(node: Any, prefix: str) -> None:
        for key, value in node.items_ex(resolve=False):
            path = f"{prefix}{key}"
            keys.append(path)
            if isinstance(value, DictConfig):
                walk(value, path + ".")

    walk(cfg, "")
    return keys


def local_path(path: str) -> str:
    """``path`` with ``~`` expanded, relative to the directory the command
    was started from (not Hydra's run folder)."""
    return to_absolute_path(os.path.expanduser(path))


def _config_targets(node: Any, where: str = "") -> Iterator[tuple[str, Any]]:
    """Every ``(key path, _target_ value)`` in a config, however nested."""
    if isinstance(node, dict):
        for key, value in node.items():
            path = f"{where}.{key}" if where else str(key)
            if key == "_target_":
                yield path, value
            else:
                yield from _config_targets(value, path)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _config_targets(value, f"{where}[{i}]")


def config_names(group: str) -> list[str]:
    """The names of the package's configs in ``group`` (``model``,
    ``dataset``, ...): the files ``conf/<group>/<name>.yaml``, sorted."""
    folder = resources.files(CONFIG_MODULE) / group
    return sorted(
        p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml")
    )


def allowed_targets() -> set[str]:
    """The ``_target_`` values a run folder's config may name: those of the
    package's own ``conf/dataset`` and ``conf/model`` files."""
    root = resources.files(CONFIG_MODULE)
    return {
        target
        for group in ("dataset", "model")
        for file in (root / group).iterdir()
        if file.name.endswith(".yaml")
        for _, target in _config_targets(
            OmegaConf.to_container(OmegaConf.create(file.read_text()))
        )
    }


def load_run_config(run_dir: Path) -> DictConfig:
    """The composed config of a run folder, after checking that it names
    only allowed ``_target_`` values (a crafted config could otherwise call any
    importable function)."""
    for path in (run_dir / RUN_CONFIG, run_dir / ".hydra" / "config.yaml"):
        if path.is_file():
            break
    else:
        raise FileNotFoundError(
            f"'{run_dir / RUN_CONFIG}' not found: RUN_DIR must be the output folder "
            "of `mde-pyg train` (it holds config.yaml and checkpoints/)"
        )
    config = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    for line in rename_config_keys(config):
        warnings.warn(f"{path}: {line}", RenamedKeyWarning, stacklevel=2)
    cfg = OmegaConf.create(config)
    allowed = allowed_targets()
    for key, target in _config_targets(OmegaConf.to_container(cfg, resolve=False)):
        if target not in allowed:
            raise ConfigError(
                f"{path}: '{key}' is {target!r}, which is not one of the "
                f"package's own targets; refused to instantiate it (allowed: "
                f"{', '.join(sorted(allowed))})"
            )
    return cfg
