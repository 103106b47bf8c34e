"""Rows of vectors scaled to unit length: what every cosine in xmodal compares."""

from __future__ import annotations

import numpy as np


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, as float32 (all-zero rows stay zero: a word without a
    vector, a photo the map sends nowhere, is then no one's neighbour rather than NaN)."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.where(norms > 0, norms, 1.0)).astype(np.float32)
