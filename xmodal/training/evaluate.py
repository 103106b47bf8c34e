"""Evaluation metrics for word-space embeddings of images.

All metrics take unit vectors: predicted image vectors (N, D) and label
vectors (C, D); similarity is the dot product. They follow the DeViSE paper's
flat hit@k, its hierarchical precision@k (labels named by WordNet wnids; see
:func:`hierarchical_precision` and docs/hierarchy.md), and the usual
generalized zero-shot and retrieval definitions, and are checked against
hand-computed values in tests/training/test_evaluate.py.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from xmodal.devise.hubness import HubPenalty
from xmodal.text.hierarchy import Hierarchy


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


def hierarchical_precision(
    predicted: np.ndarray,
    truth_wnids: Sequence[str],
    label_wnids: Sequence[str | None],
    label_vectors: np.ndarray,
    ks: Sequence[int] = (1, 2, 5, 10, 20),
    hierarchy: Hierarchy | None = None,
) -> dict[str, float]:
    """Hierarchical precision@k of DeViSE (Frome et al. 2013, section 4.2 and its
    appendix, after Deng et al.): top-k predictions that are close kin of the true
    label in WordNet count as right.

    For an image whose true label is ``t``, the labels counted correct at ``k``,
    C_k(t), grow outward from ``t`` (:func:`hierarchical_correct_sets`):

    - radius 0 holds ``t`` itself;
    - radius r adds every ancestor ``a`` of ``t`` that is r is-a steps above it
      (along any hypernym path, counting the fewest steps) together with every
      label that is ``a`` or a descendant of ``a``, at any depth below it;
    - C_k(t) is the set of labels within the smallest radius that holds at least
      k of them (it may hold more than k); when even the root's radius holds
      fewer, all of them.

    Only labels being ranked (``label_wnids``) are ever counted. Then
    hp@k = mean over images of |top-k labels ∩ C_k(t)| / k, so hp@1 is flat hit@1
    whenever ``t`` is among the labels. ``predicted`` (N, D) and ``label_vectors``
    (C, D) are unit rows, ranked by dot product as in :func:`hit_at_k`; a label
    whose wnid is None or not in the hierarchy counts only when it is ``t``.
    Every true wnid must be in ``hierarchy`` (default: the shipped WordNet table).
    """
    truth_wnids, label_wnids = list(truth_wnids), list(label_wnids)
    if len(truth_wnids) != len(predicted) or len(label_wnids) != len(label_vectors):
        raise ValueError(
            f"{len(predicted)} images with {len(truth_wnids)} true wnids, "
            f"{len(label_vectors)} label vectors with {len(label_wnids)} wnids"
        )
    ks = sorted(set(ks))
    ranked = ranked_labels(predicted, label_vectors, max(ks))
    correct = hierarchical_correct_sets(truth_wnids, label_wnids, ks, hierarchy)
    hits = {k: np.zeros(len(truth_wnids)) for k in ks}
    group = {truth: i for i, truth in enumerate(correct)}
    truth_of = np.array([group[t] for t in truth_wnids], dtype=int)
    for i, sets in enumerate(correct.values()):
        images = np.flatnonzero(truth_of == i)
        for k, rows in sets.items():
            mask = np.zeros(len(label_wnids), dtype=bool)
            mask[rows] = True
            hits[k][images] = mask[ranked[images, :k]].sum(axis=1) / k
    return {f"hp@{k}": float(hits[k].mean()) if len(truth_wnids) else 0.0 for k in ks}


def hierarchical_correct_sets(
    truth_wnids: Sequence[str],
    label_wnids: Sequence[str | None],
    ks: Sequence[int],
    hierarchy: Hierarchy | None = None,
) -> dict[str, dict[int, np.ndarray]]:
    """For each distinct true wnid and each k, the sorted rows of ``label_wnids``
    in C_k (see :func:`hierarchical_precision`)."""
    hierarchy = hierarchy if hierarchy is not None else Hierarchy.load()
    label_wnids = list(label_wnids)
    below: dict[str, list[int]] = defaultdict(list)  # synset -> rows that are it or below it
    rows_of: dict[str, list[int]] = defaultdict(list)
    for row, wnid in enumerate(label_wnids):
        rows_of[wnid].append(row)
        if wnid in hierarchy:
            for ancestor in hierarchy.ancestor_distances(wnid):
                below[ancestor].append(row)
    ks = sorted(set(ks))
    sets = {}
    for truth in dict.fromkeys(truth_wnids):
        rings: dict[int, list[str]] = defaultdict(list)
        for ancestor, steps in hierarchy.ancestor_distances(truth).items():  # UnknownSynset if absent
            rings[steps].append(ancestor)
        inside = np.zeros(len(label_wnids), dtype=bool)
        inside[rows_of.get(truth, [])] = True
        found, pending = {}, list(ks)
        for radius in range(max(rings) + 1):
            if radius:
                for ancestor in rings[radius]:
                    inside[below.get(ancestor, [])] = True
            count = int(inside.sum())
            while pending and count >= pending[0]:
                found[pending.pop(0)] = np.flatnonzero(inside)
            if not pending:
                break
        for k in pending:
            found[k] = np.flatnonzero(inside)
        sets[truth] = found
    return sets


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
    images: np.ndarray, truth: np.ndarray, queries: np.ndarray, k: int = 10, penalty: HubPenalty | None = None
) -> dict[str, float]:
    """Text-to-image: each query row c ranks all images; relevant = images of class c.

    Returns mean precision@k and mean average precision over queries that have
    at least one relevant image.
    """
    truth = np.asarray(truth)
    return relevant_retrieval(images, truth[None, :] == np.arange(len(queries))[:, None], queries, k, penalty)


def ranking(images: np.ndarray, queries: np.ndarray, penalty: HubPenalty | None = None, k: int = 10) -> np.ndarray:
    """Scores (queries x images) in the order a search for ``k`` ranks them: cosines, or
    with a model's hub penalty, cosines re-ranked as the engine re-ranks them."""
    scores = queries @ images.T
    return scores if penalty is None else penalty.ranking_scores(scores, images, k)


def relevant_retrieval(
    images: np.ndarray, relevant: np.ndarray, queries: np.ndarray, k: int = 10, penalty: HubPenalty | None = None
) -> dict[str, float]:
    """Text-to-image with any relevance: ``relevant[q, i]`` says whether image ``i``
    answers query ``q`` ("music" is answered by French horns and cassette players).
    Mean precision@k and mean average precision over queries with a relevant image."""
    precisions, aps = [], []
    for scores, wanted in zip(ranking(images, queries, penalty, k), relevant):
        if not wanted.any():
            continue
        order = np.argsort(-scores, kind="stable")
        hits = wanted[order]
        precisions.append(hits[:k].mean())
        ranks = np.flatnonzero(hits) + 1
        aps.append(float(np.mean(np.arange(1, len(ranks) + 1) / ranks)))
    return {f"P@{k}": float(np.mean(precisions)), "mAP": float(np.mean(aps))}


def caption_retrieval(
    images: np.ndarray, captions: np.ndarray, photo_of: np.ndarray, penalty: HubPenalty | None = None
) -> dict[str, float]:
    """Caption to photo, the Flickr8k protocol: each caption ranks every photo; its own
    photo's rank gives R@1, R@5, R@10 (percent) and the median rank (1 = first), as a
    search for 10 photos ranks them (``penalty``: :func:`ranking`)."""
    scores = ranking(images, captions, penalty)
    own = scores[np.arange(len(captions)), photo_of]
    rank = (scores > own[:, None]).sum(axis=1) + 1  # ties go the caption's way
    recalls = {f"R@{k}": float((rank <= k).mean() * 100) for k in (1, 5, 10)}
    return {**recalls, "median rank": float(np.median(rank))}


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
