"""The store: photos as points in Qdrant, searched by cosine.

One interface, :class:`Store`, and two back ends that run real Qdrant:

- :class:`EdgeStore` embeds qdrant-edge (HNSW, payload filters, write-ahead
  log) in this process: the index is a folder and no server is needed.
- :class:`ServerStore` talks to a Qdrant server or cluster through
  qdrant-client, for collections too big or too shared for one machine.

An index holds one collection, ``images``: one point per photo file, with
two named vectors, ``semantic`` (the photo in the word space) and ``visual``
(the visual model's own features, for "more like this"), and the file facts
an incremental indexer diffs against (:class:`ImageInfo`). Beside it, a
small JSON ``meta`` document says which encoder and word space built it.
(Format 1 indexes also held the vocabulary, ``words``; the word space keeps
it once in the user cache now, :mod:`xmodal.text.vocabulary`, and the upgrade to
format 2 deletes the index's copy.)

Point ids come from the path, not the content: re-indexing a path overwrites
its point (a file whose content changed leaves no orphan), and finding by
path is a lookup by id. Two files with the same content are two points with
the same vectors, since both are photos the user has. The content hash is a
payload field with a keyword index, so :meth:`Store.find_by_hash` finds the
vectors of a moved or copied file without embedding it again. Every folder
above a photo is a keyword payload field too (``folders``, indexed), so a
search limited to some folders is a Qdrant filter, not a sieve after the fact;
so is the date a photo was taken (``taken``, ISO 8601 with a datetime index),
for searches limited to a span of dates.
"""


from __future__ import annotations

import os
from pathlib import Path

from xmodal.store.base import (
    FLOAT16,
    FLOAT32,
    FORMAT,
    READABLE,
    SEARCH_EF,
    UINT8,
    Hit,
    ImageInfo,
    ImageRecord,
    Store,
    default_storage,
    folders_of,
    outermost,
    point_id,
)
from xmodal.store.embedded import EdgeStore
from xmodal.store.server import ServerStore

INDEX_ENV = "XMODAL_INDEX"
URL_ENV = "XMODAL_QDRANT_URL"
API_KEY_ENV = "XMODAL_QDRANT_API_KEY"



def default_index() -> Path:
    """``$XMODAL_INDEX``, else ``$XDG_DATA_HOME/xmodal/index``, else ``~/.local/share/xmodal/index``.

    An index is data the user made, not a cache: it lives under the data home.
    """
    if os.environ.get(INDEX_ENV):
        return Path(os.environ[INDEX_ENV]).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return base / "xmodal" / "index"


def open_store(
    index: str | os.PathLike | None = None,
    url: str | None = None,
    *,
    dim: int | None = None,
    visual_dim: int | None = None,
    visual_nonnegative: bool = False,
    serving: bool = False,
) -> Store:
    """Open (or, given ``dim``, create) the index a user means.

    An explicit ``url`` or ``index`` wins; with neither, ``$XMODAL_QDRANT_URL``
    picks a server, else the folder is ``$XMODAL_INDEX`` or :func:`default_index`.
    ``url`` is anything ``QdrantClient(location=...)`` takes, ``:memory:``
    included; ``$XMODAL_QDRANT_API_KEY`` is sent to it when set.
    ``visual_dim=None`` creates an index without visual vectors; opening an
    existing index reads both sizes back and refuses ones that differ.
    ``visual_nonnegative`` (the visual model's ``nonnegative_features``) lets a
    new index store visual features in one byte each (:func:`default_storage`).
    ``serving`` marks an embedded index as held by ``xmodal serve``, which lets go
    of it when idle: other processes wait for it instead of refusing at once.
    """
    if url is None and index is None:
        url = os.environ.get(URL_ENV) or None
    if url:
        from qdrant_client import QdrantClient

        api_key = os.environ.get(API_KEY_ENV) or None
        # ServerStore checks the one version fact it relies on; the client's own check only warns.
        client = QdrantClient(location=url, api_key=api_key, timeout=30, check_compatibility=False)
        return ServerStore(client, dim=dim, visual_dim=visual_dim, visual_nonnegative=visual_nonnegative, where=url)
    folder = index if index is not None else default_index()
    return EdgeStore(folder, dim=dim, visual_dim=visual_dim, visual_nonnegative=visual_nonnegative, serving=serving)


__all__ = [
    "FLOAT16", "FLOAT32", "FORMAT", "READABLE", "SEARCH_EF", "UINT8", "EdgeStore", "Hit", "ImageInfo",
    "ImageRecord", "ServerStore", "Store", "default_index", "default_storage", "folders_of", "open_store",
    "outermost", "point_id",
]
