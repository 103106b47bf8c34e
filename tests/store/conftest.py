"""Fixtures of the store's tests: a fresh index on each back end."""

from __future__ import annotations

import pytest
from qdrant_client import QdrantClient

from tests.store.stores import BACKENDS, open_backend
from xmodal.store import ServerStore


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def store(backend, tmp_path):
    """A fresh index; the server one in memory, since local mode writes to disk point by point."""
    if backend == "server":
        opened = ServerStore(QdrantClient(":memory:"), dim=4, visual_dim=3, where=":memory:")
    else:
        opened = open_backend(backend, tmp_path)
    with opened:
        yield opened
