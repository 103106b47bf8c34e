"""xmodal.text.space: what every space answers the same way (nearest words to an expression or a vector)."""

from __future__ import annotations

import numpy as np
import pytest


def unit(v):
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


def test_nearest_leaves_out_inputs_and_ranks_by_cosine(tiny_space):
    hits = tiny_space.nearest("king - man + woman", k=3)
    query = unit(unit([1, 1, 0, 0]) - unit([0, 1, 0, 0]) + unit([0, 0, 1, 0]))
    assert hits[0].word == "queen"
    assert hits[0].score == pytest.approx(float(query @ unit([1, 0, 1, 0])), abs=1e-6)
    assert not {"king", "man", "woman"} & {h.word for h in hits}
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_nearest_to_a_vector_excludes_only_what_is_asked(tiny_space):
    hits = tiny_space.nearest(tiny_space.vector("dog"), k=2)
    assert [h.word for h in hits] == ["dog", "dogs"]
    hits = tiny_space.nearest(tiny_space.vector("dog"), k=1, exclude={"dog"})
    assert hits[0].word == "dogs"


def test_a_vector_of_another_space_is_refused_by_name(tiny_space):
    from xmodal import XmodalError

    with pytest.raises(XmodalError, match=r"^a vector of shape \(384,\) cannot be compared with tiny's 4-d words"):
        tiny_space.nearest(np.ones(384, dtype=np.float32))


def test_nearest_limit_searches_only_the_first_words(tiny_space):
    hits = tiny_space.nearest(tiny_space.vector("dog"), k=10, limit=3)
    assert {h.word for h in hits} == {"king", "queen", "man"}
