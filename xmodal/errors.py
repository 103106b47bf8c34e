"""Errors that reach the user as one line.

Every failure a user can cause (a bad word, a bad file, a bad option) is an
``XmodalError`` whose message names the thing at fault; the CLI prints it as a
single line and exits non-zero. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class XmodalError(Exception):
    """Base class: the message is complete and fit to show a user as is."""


class SpaceError(XmodalError):
    """A word space could not be found, fetched or read."""


class UnknownWord(XmodalError):
    """A word (or every spelling of a phrase) is missing from the word space."""

    def __init__(self, word: str, suggestions: list[str], space: str) -> None:
        self.word = word
        self.suggestions = suggestions
        hint = f"; did you mean: {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(f"unknown word {word!r} in word space {space!r}{hint}")


class ExpressionError(XmodalError):
    """A query expression is malformed; the message says where and why."""


class IncompatibleSpace(XmodalError):
    """Something built with one word space was asked to work with another."""
