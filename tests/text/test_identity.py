"""xmodal.text.identity: a space's identity follows its vectors and refuses another space by name."""

from __future__ import annotations

import pytest

from tests.conftest import tiny_vectors
from xmodal import IncompatibleSpace, WordSpace


def test_identity_checksum_tracks_the_vectors():
    a = WordSpace.from_keyed_vectors(tiny_vectors(), "a")
    b = WordSpace.from_keyed_vectors(tiny_vectors(), "b")
    changed = tiny_vectors()
    changed.vectors[0, 0] += 0.5
    c = WordSpace.from_keyed_vectors(changed, "a")
    assert a.identity.checksum == b.identity.checksum != c.identity.checksum
    a.identity.require_same(b.identity, "a model")
    with pytest.raises(IncompatibleSpace, match="a model was built with word space 'a'"):
        a.identity.require_same(c.identity, "a model")


def test_identity_round_trips_through_dict(tiny_space):
    assert type(tiny_space.identity).from_dict(tiny_space.identity.to_dict()) == tiny_space.identity
