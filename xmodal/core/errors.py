"""Errors that reach the user as one line.

Every failure a user can cause (a bad word, a bad file, a bad option) is an
``XmodalError`` whose message names the thing at fault; the CLI prints it as a
single line and exits non-zero. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Sequence


class XmodalError(Exception):
    """Base class: the message is complete and fit to show a user as is."""


class SpaceError(XmodalError):
    """A word space could not be found, fetched or read."""


class UnknownWord(XmodalError):
    """A word (or every spelling of a phrase) is missing from the word space.

    ``more`` lists further unknown words with their suggestions, for a query
    none of whose words is known; ``words`` then names them all.
    """

    def __init__(
        self, word: str, suggestions: list[str], space: str, more: Sequence[tuple[str, list[str]]] = ()
    ) -> None:
        self.word = word
        self.suggestions = suggestions
        self.words = [word, *(w for w, _ in more)]
        if not more:
            hint = f"; did you mean: {', '.join(suggestions)}?" if suggestions else ""
            super().__init__(f"unknown word {word!r} in word space {space!r}{hint}")
            return
        named = [
            f"{w!r} (did you mean {close[0]!r}?)" if close else repr(w)
            for w, close in [(word, suggestions), *more]
        ]
        super().__init__(f"no word of the query is in word space {space!r}: {', '.join(named)}")


class ExpressionError(XmodalError):
    """A query expression is malformed; the message says where and why."""


class PhotoNotFound(ExpressionError):
    """A photo named in a query is not there (no such file, or a folder); ``path`` as given."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.path = path


class IncompatibleSpace(XmodalError):
    """Something built with one word space was asked to work with another."""


class IndexInUse(XmodalError):
    """Another process holds the embedded index (it is locked while open); ``server``: the
    holder is xmodal serve, which lets go by itself (its message says to try again)."""

    def __init__(self, message: str, server: bool = False) -> None:
        super().__init__(message)
        self.server = server
