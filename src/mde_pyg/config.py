"""Checks of composed configs against the signatures they are passed to, so a
typo or a wrong type fails at start-up with the list of valid keys instead of
deep inside a constructor."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from hydra.utils import get_method
from omegaconf import DictConfig, ListConfig


class ConfigError(ValueError):
    """A configuration key is unknown or has a value of the wrong type."""


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
            raise ConfigError(
                f"Unknown key '{section}.{key}'. Valid keys of '{section}': "
                f"{', '.join(sorted(params))}"
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
