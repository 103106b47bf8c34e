"""xmodal: search photos by meaning, in a word-vector space (DeViSE).

The public Python API. ``WordSpace.load()`` gives the default GloVe 6B 50-d
space; ``space.nearest("king - man + woman")`` ranks words for an expression.
"""

from xmodal.errors import (
    ExpressionError,
    IncompatibleSpace,
    SpaceError,
    UnknownWord,
    XmodalError,
)
from xmodal.expression import Expression, QueryVector, Term, parse
from xmodal.words import DEFAULT_SPACE, Neighbour, SpaceIdentity, WordSpace

__all__ = [
    "DEFAULT_SPACE",
    "Expression",
    "ExpressionError",
    "IncompatibleSpace",
    "Neighbour",
    "QueryVector",
    "SpaceError",
    "SpaceIdentity",
    "Term",
    "UnknownWord",
    "WordSpace",
    "XmodalError",
    "parse",
]
