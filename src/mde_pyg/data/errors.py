"""The error raised for bad input files, and the wording of load failures."""

from __future__ import annotations

import re


class DatasetError(ValueError):
    """A dataset file is missing or malformed.

    The message starts with the file (or input) it is about and names the
    column or field and the offending value, *e.g.*
    ``"baby.inter: column 'userID' has negative value -3 at line 17"``, so
    that the user can find and fix the problem without a debugger.
    """


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
