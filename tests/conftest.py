"""Shared fixtures: a private cache per test session and tiny hand-made word spaces."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gensim.models import KeyedVectors

import gensim

GENSIM_DATA = Path(gensim.__file__).parent / "test" / "test_data"


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tests never read or write the user's real cache."""
    root = tmp_path_factory.mktemp("xmodal-cache")
    mp = pytest.MonkeyPatch()
    mp.setenv("XMODAL_CACHE_DIR", str(root))
    yield root
    mp.undo()


def tiny_vectors(cased: bool = False) -> KeyedVectors:
    """A 4-d space where king - man + woman = queen exactly, plus phrase material."""
    rows = {
        "king": [1, 1, 0, 0],
        "queen": [1, 0, 1, 0],
        "man": [0, 1, 0, 0],
        "woman": [0, 0, 1, 0],
        "dog": [0, 0, 0, 1],
        "dogs": [0.1, 0, 0, 1],
        "school": [1, 0, 0, 1],
        "bus": [0, 1, 0, 1],
        "royal": [1, 0.5, 0.5, 0],
        "family": [0, 0.5, 0.5, 0.2],
        "e-mail": [0.3, 0.3, 0.3, 0.3],
        "zero": [0, 0, 0, 0],
    }
    if cased:
        rows |= {"New_York": [0.5, 0.5, 0.5, 0.5], "Paris": [1, 0, 0, 0.5], "new": [0, 0, 1, 1]}
    else:
        rows |= {"school_bus": [0.2, 0.9, 0, 0.3]}
    vectors = KeyedVectors(4, count=0)
    vectors.add_vectors(list(rows), np.array(list(rows.values()), dtype=np.float32) * 3)
    return vectors


@pytest.fixture
def tiny_space():
    from xmodal import WordSpace

    return WordSpace.from_keyed_vectors(tiny_vectors(), "tiny")


@pytest.fixture
def cased_space():
    from xmodal import WordSpace

    return WordSpace.from_keyed_vectors(tiny_vectors(cased=True), "tiny-cased")


@pytest.fixture(scope="session")
def default_space():
    from xmodal import WordSpace

    return WordSpace.load()


SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_set(tmp_path_factory: pytest.TempPathFactory):
    """``shared_set("cifar10")``: a real photo set from ../shared/data, unpacked once per
    session on first use; the test skips when ../shared/data is absent."""
    import tarfile

    unpacked: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in unpacked:
            archives = sorted(SHARED_DATA.glob(f"{name}.tar*"))
            if not archives:
                pytest.skip(f"../shared/data/{name} is absent")
            root = tmp_path_factory.mktemp(name)
            with tarfile.open(archives[0]) as tar:
                tar.extractall(root, filter="data")
            unpacked[name] = root / name
        return unpacked[name]

    return get
