"""The errors a user can fix: bad configuration, data files, checkpoints and
lost processes.

Every error the package raises for bad input derives from :class:`UserError`,
so a program (and the ``mde-pyg`` command, which prints it as one ``error:``
line) can tell them from bugs. This module sits below every other one: it
imports nothing of the package.
"""

from __future__ import annotations

import re


class UserError(Exception):
    """An error in what the user handed the package (a config, a file, a
    folder), with a message that names it and says how to fix it."""


class ConfigError(UserError, ValueError):
    """A configuration key is unknown or has a value of the wrong type."""


class DatasetError(UserError, ValueError):
    """A dataset file is missing or malformed.

    The message starts with the file (or input) it is about and names the
    column or field and the offending value, *e.g.*
    ``"baby.inter: column 'userID' has negative value -3 at line 17"``, so
    that the user can find and fix the problem without a debugger.
    """


class CheckpointError(UserError, RuntimeError):
    """A checkpoint is missing, damaged, unsafe to load, or belongs to
    another run."""


class DistributedError(UserError, RuntimeError):
    """A process of a distributed run cannot start, or lost the others."""


def load_error_reason(error: BaseException) -> str:
    """A one-line reason why :func:`torch.load` failed, for messages.

    The weights-only unpickler wraps the line that matters (the refused
    global or opcode) in a paragraph of advice, part of which is to retry
    with ``weights_only=False``; other errors keep their first line.

    Args:
        error (BaseException): The exception :func:`torch.load` raised.
    """
    text = str(error)
    match = re.search(r"Unsupported [^.\n]+", text)
    if match is not None:
        return match.group()
    return text.strip().split("\n", 1)[0] or type(error).__name__
