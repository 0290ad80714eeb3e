"""User errors as one line: what the command line prints instead of a traceback."""

from __future__ import annotations


def first_line(err: BaseException) -> str:
    """The first line of an exception's message (its type's name if it has none), to quote
    another library's reason inside one of ours."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
