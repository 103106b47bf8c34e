"""A Qdrant server's collection (xmodal.store.server), through qdrant-client's local mode."""

from __future__ import annotations

import socket
from types import SimpleNamespace

import pytest
from qdrant_client import QdrantClient

from xmodal.core.errors import XmodalError
from xmodal.store import ServerStore, open_store


def test_a_new_server_index_makes_indexes_for_hash_folders_and_dates(monkeypatch):
    """qdrant-client's local mode keeps no payload indexes, so the calls are what can be checked."""
    client = QdrantClient(":memory:")
    made = []
    monkeypatch.setattr(client, "create_payload_index", lambda collection, field, schema: made.append((collection, field, schema)))

    ServerStore(client, dim=4, visual_dim=3).close()

    assert [(c, f, str(s.value)) for c, f, s in made] == [
        ("xmodal_images", "hash", "keyword"), ("xmodal_images", "folders", "keyword"), ("xmodal_images", "taken", "datetime")
    ]


def test_a_collection_that_is_not_an_index_is_refused():
    from qdrant_client import models

    client = QdrantClient(":memory:")
    plain = models.VectorParams(size=4, distance=models.Distance.COSINE)
    client.create_collection("xmodal_images", vectors_config=plain)

    refusal = r"^collection 'xmodal_images' \('xmodal' at memory\) is not an xmodal index$"
    with pytest.raises(XmodalError, match=refusal):
        ServerStore(client, dim=4, where="memory")


def test_a_server_too_old_for_collection_metadata_is_refused(monkeypatch):
    client = QdrantClient(":memory:")
    monkeypatch.setattr(client, "info", lambda: SimpleNamespace(version="1.15.4"))

    with pytest.raises(XmodalError, match=r"^Qdrant at http://old:6333 is version 1.15.4; xmodal needs 1.16 or newer"):
        ServerStore(client, dim=4, where="http://old:6333")


def test_a_url_with_no_server_is_a_one_line_error():
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"

    with pytest.raises(XmodalError, match=rf"^cannot reach Qdrant at {url}: .*refused") as caught:
        open_store(url=url, dim=4)
    assert "\n" not in str(caught.value)
