"""Evaluation metrics for word-space embeddings of images.

All metrics take unit vectors: predicted image vectors (N, D) and label
vectors (C, D); similarity is the dot product. They follow the DeViSE paper's
flat hit@k and the usual generalized zero-shot and retrieval definitions, and
are checked against hand-computed values in tests/test_evaluate.py.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def ranked_labels(images: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """(N, k) label rows, nearest first."""
    scores = images @ labels.T
    k = min(k, labels.shape[0])
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.take_along_axis(scores, top, axis=1).argsort(axis=1, kind="stable")[:, ::-1]
    return np.take_along_axis(top, order, axis=1)


def hit_at_k(
    images: np.ndarray, truth: np.ndarray, labels: np.ndarray, ks: Sequence[int] = (1, 2, 5, 10)
) -> dict[str, float]:
    """Fraction of images whose true label is among the k nearest labels ("flat hit@k")."""
    ranked = ranked_labels(images, labels, max(ks))
    hits = ranked == np.asarray(truth)[:, None]
    return {f"hit@{k}": float(hits[:, :k].any(axis=1).mean()) for k in ks}


def generalized(
    images: np.ndarray, truth: np.ndarray, labels: np.ndarray, seen: np.ndarray
) -> dict[str, float]:
    """Generalized zero-shot: hit@1 over all labels, on seen and unseen images, and their harmonic mean."""
    predicted = ranked_labels(images, labels, 1)[:, 0]
    correct = predicted == np.asarray(truth)
    on_seen = np.asarray(seen)[np.asarray(truth)]
    s = float(correct[on_seen].mean()) if on_seen.any() else 0.0
    u = float(correct[~on_seen].mean()) if (~on_seen).any() else 0.0
    h = 2 * s * u / (s + u) if s + u > 0 else 0.0
    return {"seen": s, "unseen": u, "H": h}


def retrieval(
    images: np.ndarray, truth: np.ndarray, queries: np.ndarray, k: int = 10
) -> dict[str, float]:
    """Text-to-image: each query row c ranks all images; relevant = images of class c.

    Returns mean precision@k and mean average precision over queries that have
    at least one relevant image.
    """
    truth = np.asarray(truth)
    precisions, aps = [], []
    for c, query in enumerate(queries):
        relevant = truth == c
        if not relevant.any():
            continue
        order = np.argsort(-(images @ query), kind="stable")
        hits = relevant[order]
        precisions.append(hits[:k].mean())
        ranks = np.flatnonzero(hits) + 1
        aps.append(float(np.mean(np.arange(1, len(ranks) + 1) / ranks)))
    return {f"P@{k}": float(np.mean(precisions)), "mAP": float(np.mean(aps))}


def mcnemar(first_right: np.ndarray, second_right: np.ndarray) -> dict[str, float]:
    """Exact two-sided McNemar test of two methods scored on the same photos.

    Only the photos that one method gets right and the other wrong say which is
    better; a sign test on them is far more sensitive than comparing two hit@1
    figures as if they came from different photos.
    """
    first_right, second_right = np.asarray(first_right, bool), np.asarray(second_right, bool)
    first_only = int((first_right & ~second_right).sum())
    second_only = int((second_right & ~first_right).sum())
    n, k = first_only + second_only, min(first_only, second_only)
    p = min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2**n) if n else 1.0
    return {"first only": first_only, "second only": second_only, "p": p}
