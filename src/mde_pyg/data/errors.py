"""The error raised for bad input files."""

from __future__ import annotations


class DatasetError(ValueError):
    """A dataset file is missing or malformed.

    The message starts with the file (or input) it is about and names the
    column or field and the offending value, *e.g.*
    ``"baby.inter: column 'userID' has negative value -3 at line 17"``, so
    that the user can find and fix the problem without a debugger.
    """
