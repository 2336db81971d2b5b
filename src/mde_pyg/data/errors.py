"""The error raised for bad input files."""

from __future__ import annotations


class DatasetError(ValueError):
    """A dataset file is missing or malformed. The message names the file,
    the column or field, and the offending value."""
