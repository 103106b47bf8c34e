"""xmodal: search photos by meaning, in a word-vector space (DeViSE).

The public Python API. ``xmodal.open()`` opens a photo index (``engine.index``,
``engine.search``, ``engine.words``, ``engine.similar``, ``engine.info``) and
``xmodal.info()`` says what an index holds without loading a space; ``load_space()`` gives
the default space (all-MiniLM-L6-v2, a sentence encoder) and
``WordSpace.load()`` the GloVe 6B 50-d word space, where
``space.nearest("king - man + woman")`` ranks words for an expression. Names
that need torch, gensim or Qdrant load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from xmodal.core.errors import (
    ExpressionError,
    IncompatibleSpace,
    PhotoNotFound,
    SpaceError,
    UnknownWord,
    XmodalError,
)
from xmodal.devise.model import DeviseModel, InputSpec
from xmodal.text.expression import Expression, QueryVector, Term, parse
from xmodal.text.factory import DEFAULT_SPACE, load_space
from xmodal.text.identity import Neighbour, SpaceIdentity
from xmodal.training.fit import TrainConfig

# Names whose modules import torch or gensim load on first use, so the text path stays light.
_LAZY = {
    "WordSpace": "xmodal.text.words",
    "SentenceSpace": "xmodal.text.sentences",
    "VisualModel": "xmodal.vision.visual",
    "load_visual": "xmodal.vision.visual",
    "Encoder": "xmodal.devise.encoder",
    "open": "xmodal.search.engine",
    "Engine": "xmodal.search.engine",
    "Result": "xmodal.search.engine",
    "Answer": "xmodal.search.engine",
    "info": "xmodal.store.info",
    "IndexInfo": "xmodal.store.info",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'xmodal' has no attribute {name!r}")


__all__ = [
    "DEFAULT_SPACE",
    "SentenceSpace",
    "load_space",
    "DeviseModel",
    "Encoder",
    "Engine",
    "Result",
    "Answer",
    "InputSpec",
    "TrainConfig",
    "VisualModel",
    "load_visual",
    "open",
    "info",
    "IndexInfo",
    "Expression",
    "ExpressionError",
    "IncompatibleSpace",
    "Neighbour",
    "PhotoNotFound",
    "QueryVector",
    "SpaceError",
    "SpaceIdentity",
    "Term",
    "UnknownWord",
    "WordSpace",
    "XmodalError",
    "parse",
]
