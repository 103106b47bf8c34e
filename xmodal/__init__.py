"""xmodal: search photos by meaning, in a word-vector space (DeViSE).

The public Python API. ``WordSpace.load()`` gives the default GloVe 6B 50-d
space; ``space.nearest("king - man + woman")`` ranks words for an expression.
"""

import importlib

from xmodal.devise import DeviseModel, InputSpec, TrainConfig
from xmodal.errors import (
    ExpressionError,
    IncompatibleSpace,
    SpaceError,
    UnknownWord,
    XmodalError,
)
from xmodal.expression import Expression, QueryVector, Term, parse
from xmodal.words import DEFAULT_SPACE, Neighbour, SpaceIdentity, WordSpace

# Names whose modules import torch load on first use, so the text path stays light.
_LAZY = {"VisualModel": "xmodal.visual", "load_visual": "xmodal.visual", "Encoder": "xmodal.encoder"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'xmodal' has no attribute {name!r}")


__all__ = [
    "DEFAULT_SPACE",
    "DeviseModel",
    "Encoder",
    "InputSpec",
    "TrainConfig",
    "VisualModel",
    "load_visual",
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
