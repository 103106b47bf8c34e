"""Hub penalties: the arithmetic, the re-ranking a search does, and the bank a model ships."""

from __future__ import annotations

import numpy as np
import pytest

from xmodal.devise.hubness import POOL, HubPenalty, text_bank


def unit(rows) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


BANK = unit([[1, 0, 0], [1, 0.2, 0], [0.9, 0, 0.3], [0, 0, 1]])  # three texts about "x", one about "z"


def test_a_penalty_is_the_weighted_mean_cosine_to_the_nearest_bank_texts():
    photos = unit([[1, 0, 0], [0, 1, 0]])
    penalty = HubPenalty(BANK, neighbours=2, weight=0.5)
    cosines = photos @ BANK.T
    expected = [0.5 * np.sort(row)[-2:].mean() for row in cosines]
    assert penalty.of(photos) == pytest.approx(expected, abs=1e-6)
    assert HubPenalty(BANK, neighbours=99, weight=1.0).of(photos) == pytest.approx(cosines.mean(axis=1), abs=1e-6)


def test_a_photo_near_every_text_drops_below_a_slightly_less_similar_specific_one():
    hub = unit([[1, 0.05, 0.3]])  # close to all the "x" texts
    specific = unit([[0.2, 1, 0]])  # close to none of them
    photos = np.concatenate([hub, specific])
    query = unit([[0.6, 0.5, 0.1]])[0]
    cosines = photos @ query
    assert cosines[0] > cosines[1]  # by cosine alone the hub wins
    penalty = HubPenalty(BANK, 2, 0.5)
    scores = penalty.scores(cosines, photos)
    assert scores[1] > scores[0] and scores == pytest.approx(cosines - penalty.of(photos), abs=1e-6)
    assert HubPenalty(BANK, 2, 0.0).scores(cosines, photos) == pytest.approx(cosines, abs=1e-6)  # no weight: cosines


@pytest.mark.parametrize("weight", [0.5, 5.0])  # however heavy the penalty, the pool comes first
def test_ranking_scores_rerank_only_the_pool_a_search_fetches(weight):
    rng = np.random.default_rng(0)
    photos = unit(rng.normal(size=(POOL + 40, 3)))
    queries = unit(rng.normal(size=(5, 3)))
    penalty = HubPenalty(BANK, 2, weight)
    cosines = queries @ photos.T
    scores = penalty.ranking_scores(cosines, photos, k=10)
    for row, cosine in zip(scores, cosines):
        pool = np.argsort(-cosine)[: 10 + POOL]
        order = np.argsort(-row, kind="stable")
        assert set(order[: 10 + POOL]) == set(pool)  # the pool comes first...
        assert list(order[: 10 + POOL]) == list(pool[np.argsort(-penalty.scores(cosine[pool], photos[pool]), kind="stable")])  # ...as search ranks it
        rest = order[10 + POOL :]
        assert list(cosine[rest]) == sorted(cosine[rest], reverse=True)  # then cosine order


def test_the_bank_samples_a_large_set_and_keeps_a_small_one_whole():
    rng = np.random.default_rng(1)
    captions, scenes = unit(rng.normal(size=(50, 3))), unit(rng.normal(size=(4, 3)))
    bank = text_bank([captions, scenes], per_set=10)
    assert bank.dtype == np.float16 and len(bank) == 14
    assert np.allclose(bank[10:], scenes, atol=1e-3)  # the small set, whole
    sampled = {tuple(np.round(row, 2)) for row in bank[:10].astype(np.float32)}
    assert sampled <= {tuple(np.round(row, 2)) for row in captions} and len(sampled) == 10
    assert np.array_equal(bank, text_bank([captions, scenes], per_set=10))  # seeded: the same file every time
