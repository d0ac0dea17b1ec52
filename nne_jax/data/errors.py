"""Exceptions raised by the data layer."""

from __future__ import annotations

__all__ = ["DataError", "DataNotFoundError"]


class DataError(ValueError):
    """A data file is malformed, corrupt or does not match its expected checksum.

    Raised for truncated files, wrong IDX magic numbers, length mismatches,
    image/label count mismatches and sha256 mismatches. The message always
    names the offending file.
    """


class DataNotFoundError(DataError, FileNotFoundError):
    """The data files could not be found locally nor downloaded.

    Subclasses both :class:`DataError` and :class:`FileNotFoundError`, so either
    can be caught. The message lists the missing files, every place searched,
    every mirror that failed (and why) and how to supply the files by hand.
    """
