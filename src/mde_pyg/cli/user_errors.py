"""Turning the errors a user can fix, and the faults of the machine, into
one ``error:`` line with exit status 2 (a bug keeps its traceback)."""

from __future__ import annotations

import sys

from mde_pyg.errors import StorageError, UserError, machine_fault

#: What a user can fix: printed as one line, never as a traceback.
USER_ERRORS = (UserError, FileNotFoundError, PermissionError)


def user_error(error: BaseException) -> BaseException | None:
    """The user error (bad config, data file or checkpoint) or fault of the
    machine (no space, a read-only, missing or vanished folder) behind
    ``error``, which Hydra's ``instantiate`` wraps in an
    ``InstantiationException``; or :obj:`None` for a bug, whose traceback
    should be seen."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, USER_ERRORS) or machine_fault(error) is not None:
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def error_line(error: BaseException) -> str:
    """The one line printed for a user error: ``<path>: <what> (<hint>)``
    for a fault of the machine, the error's own message otherwise."""
    if not isinstance(error, UserError) and machine_fault(error) is not None:
        error = StorageError.from_os_error(error)
    return f"error: {error}"


def exit_on_user_error(error: BaseException) -> None:
    """Prints a user error as one ``error:`` line and exits with status 2;
    re-raises anything else."""
    cause = user_error(error)
    if cause is None:
        raise error
    print(error_line(cause), file=sys.stderr)
    sys.exit(2)
