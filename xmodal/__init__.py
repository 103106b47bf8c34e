"""xmodal: search photos by meaning, in a word-vector space (DeViSE).

The public Python API. ``xmodal.open()`` opens a photo index (``engine.index``,
``engine.search``, ``engine.words``, ``engine.similar``); ``WordSpace.load()``
gives the default GloVe 6B 50-d space, where ``space.nearest("king - man + woman")``
ranks words for an expression. Names that need torch or Qdrant load on first use.
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
_LAZY = {
    "VisualModel": "xmodal.visual",
    "load_visual": "xmodal.visual",
    "Encoder": "xmodal.encoder",
    "open": "xmodal.engine",
    "Engine": "xmodal.engine",
    "Result": "xmodal.engine",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'xmodal' has no attribute {name!r}")


__all__ = [
    "DEFAULT_SPACE",
    "DeviseModel",
    "Encoder",
    "Engine",
    "Result",
    "InputSpec",
    "TrainConfig",
    "VisualModel",
    "load_visual",
    "open",
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
