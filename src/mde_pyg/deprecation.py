"""Renamed arguments and attributes that keep their old names as deprecated
aliases (see ``docs/architecture.rst``, "Vocabulary"; the configuration keys'
aliases are :data:`mde_pyg.pipeline.renamed_keys.RENAMED_KEYS`)."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def renamed_arguments(**renames: str) -> Callable[[F], F]:
    """Decorates a function (a constructor, a ``forward``) whose keyword
    arguments ``old=new`` were renamed: called with ``old``, it warns
    (:class:`DeprecationWarning` naming ``new``) and passes the value as
    ``new``; with both, it raises :class:`TypeError`. The signature stays the
    new one (:func:`inspect.signature` follows ``__wrapped__``), so config
    checks list only the new names; the renames are kept in the wrapper's
    ``renamed_arguments`` attribute."""

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            for old, new in renames.items():
                if old in kwargs:
                    if new in kwargs:
                        raise TypeError(
                            f"{fn.__qualname__}() got both '{old}' and '{new}' "
                            f"('{old}' is the deprecated name of '{new}')"
                        )
                    warnings.warn(
                        f"{fn.__qualname__}(): '{old}' is deprecated, use "
                        f"'{new}' (the same value)",
                        DeprecationWarning,
                        stacklevel=2,
                    )
                    kwargs[new] = kwargs.pop(old)
            return fn(*args, **kwargs)

        wrapper.renamed_arguments = dict(renames)  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


def renamed_attribute(old: str, new: str) -> property:
    """A class attribute ``old`` that reads and writes the attribute ``new``
    with a :class:`DeprecationWarning`."""

    def message(obj: Any) -> str:
        return f"{type(obj).__name__}.{old} is deprecated, use .{new}"

    def fget(self: Any) -> Any:
        warnings.warn(message(self), DeprecationWarning, stacklevel=2)
        return getattr(self, new)

    def fset(self: Any, value: Any) -> None:
        warnings.warn(message(self), DeprecationWarning, stacklevel=2)
        setattr(self, new, value)

    return property(fget, fset, doc=f"Deprecated name of :attr:`{new}`.")
