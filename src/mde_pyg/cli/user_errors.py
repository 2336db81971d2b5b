"""Turning the errors a user can fix into one ``error:`` line with exit
status 2 (a bug keeps its traceback)."""

from __future__ import annotations

import sys

from mde_pyg.errors import UserError

#: What a user can fix: printed as one line, never as a traceback.
USER_ERRORS = (UserError, FileNotFoundError, PermissionError)


def user_error(error: BaseException) -> BaseException | None:
    """The user error (bad config, data file or checkpoint) behind ``error``,
    which Hydra's ``instantiate`` wraps in an ``InstantiationException``; or
    :obj:`None` for a bug, whose traceback should be seen."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, USER_ERRORS):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def exit_on_user_error(error: Exception) -> None:
    """Prints a user error as one ``error:`` line and exits with status 2;
    re-raises anything else."""
    cause = user_error(error)
    if cause is None:
        raise error
    print(f"error: {cause}", file=sys.stderr)
    sys.exit(2)
