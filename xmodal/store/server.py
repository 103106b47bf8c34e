"""The server back end: an index is a collection on a Qdrant server or cluster, through qdrant-client."""


from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from xmodal.core.errors import XmodalError
from xmodal.store.base import (
    _FULL_SCAN_KB,
    _HNSW_EF_CONSTRUCT,
    _HNSW_M,
    _INDEXED,
    _PAGE,
    FLOAT16,
    FLOAT32,
    FOLDERS_FIELD,
    FORMAT,
    IMAGES,
    TAKEN_FIELD,
    UINT8,
    Store,
    _one_line,
    _Point,
    _point,
    _requested_dims,
    _require_dims,
    _require_format,
    default_storage,
)

if TYPE_CHECKING:
    from qdrant_client import QdrantClient

_MARK = "xmodal"  # the server collection metadata key that holds format and meta
_MIN_SERVER = (1, 16)  # the first Qdrant with collection metadata


class ServerStore(Store):
    """An index on a Qdrant server or cluster, as collections ``NAME_images`` and
    ``NAME_words``; format and meta live in the images collection's metadata.
    qdrant-client is imported where used: it takes over half a second to load,
    which an embedded index never needs to pay.

    ``shards`` and ``replicas`` apply when the collections are created (the
    server's defaults otherwise). Writes wait for the server's acknowledgement,
    which follows its write-ahead log, so :meth:`flush` has nothing to do, and
    the server builds HNSW in the background, so neither has :meth:`optimize`.
    """

    def __init__(
        self,
        client: QdrantClient,
        *,
        dim: int | None = None,
        visual_dim: int | None = None,
        visual_nonnegative: bool = False,
        name: str = "xmodal",
        where: str | None = None,
        shards: int | None = None,
        replicas: int | None = None,
    ) -> None:
        from qdrant_client.http.exceptions import ApiException

        self._client = client
        self._names = {IMAGES: f"{name}_images"}
        location = f"{name!r} at {where}" if where else repr(name)
        try:
            _require_server_version(client.info().version, where or str(client))
            if client.collection_exists(self._names[IMAGES]):
                dims, mark = self._read(location, dim, visual_dim)
            elif dim is None:
                raise XmodalError(f"no xmodal index {location}; index some photos first")
            else:
                dims = _requested_dims(dim, visual_dim)
                mark = {"format": FORMAT, "storage": default_storage(dims, visual_nonnegative), "meta": {}}
                self._create(dims, mark, shards, replicas)
        except ApiException as error:  # refused connection, timeout, bad API key
            client.close()
            raise XmodalError(f"cannot reach Qdrant at {where or client}: {_one_line(error)}") from error
        except BaseException:
            client.close()
            raise
        super().__init__(location, dims, mark)

    def _read(self, location: str, dim: int | None, visual_dim: int | None) -> tuple[dict[str, int], dict]:
        """The collection's vector sizes and its mark (format, storage, meta)."""
        config = self._client.get_collection(self._names[IMAGES]).config
        try:
            mark = json.loads((config.metadata or {})[_MARK])
        except (KeyError, TypeError, ValueError):
            raise XmodalError(f"collection {self._names[IMAGES]!r} ({location}) is not an xmodal index") from None
        _require_format(location, mark)
        dims = {name: params.size for name, params in config.params.vectors.items()}
        _require_dims(location, dims, dim, visual_dim)
        return dims, mark

    def _create(self, dims: dict[str, int], mark: dict, shards: int | None, replicas: int | None) -> None:
        from qdrant_client import models

        types = {FLOAT32: models.Datatype.FLOAT32, FLOAT16: models.Datatype.FLOAT16, UINT8: models.Datatype.UINT8}
        storage = mark["storage"]

        def create(collection: str, sizes: dict[str, int], **extra: Any) -> None:
            cosine = models.Distance.COSINE
            self._client.create_collection(
                self._names[collection],
                vectors_config={
                    name: models.VectorParams(size=size, distance=cosine, datatype=types[storage[name]["datatype"]])
                    for name, size in sizes.items()
                },
                hnsw_config=models.HnswConfigDiff(
                    m=_HNSW_M, ef_construct=_HNSW_EF_CONSTRUCT, full_scan_threshold=_FULL_SCAN_KB
                ),
                shard_number=shards,
                replication_factor=replicas,
                **extra,
            )

        create(IMAGES, dims, metadata=_server_mark(mark))  # last: the mark of a finished index
        for key, kind in _INDEXED.items():
            self._client.create_payload_index(self._names[IMAGES], key, models.PayloadSchemaType(kind))

    def flush(self) -> None:
        """Nothing to do: every write returned after the server logged it."""

    def optimize(self) -> None:
        """Nothing to do: the server optimizes in the background."""

    def close(self, exiting: bool = False) -> None:
        self._client.close()  # the server's page cache is the server's: nothing to keep

    def _upsert(self, collection: str, points: list[_Point]) -> None:
        from qdrant_client import models

        structs = [models.PointStruct(id=i, vector=v, payload=p) for i, v, p in points]
        self._client.upsert(self._names[collection], structs)

    def _delete(self, collection: str, ids: list[str]) -> None:
        from qdrant_client import models

        self._client.delete(self._names[collection], points_selector=models.PointIdsList(points=ids))

    def _retrieve(self, collection: str, ids: list[str]) -> list[_Point]:
        records = self._client.retrieve(self._names[collection], ids, with_payload=True, with_vectors=True)
        return [_point(r) for r in records]

    def _find(self, collection: str, key: str, value: str) -> _Point | None:
        from qdrant_client import models

        match = models.Filter(must=[models.FieldCondition(key=key, match=models.MatchValue(value=value))])
        records, _ = self._client.scroll(
            self._names[collection], scroll_filter=match, limit=1, with_payload=True, with_vectors=True
        )
        return _point(records[0]) if records else None

    def _scroll(
        self, collection: str, offset: Any, using: str | None = None, folders: list[str] | None = None, limit: int = _PAGE
    ) -> tuple[list[tuple[dict, list[float] | None]], Any]:
        from qdrant_client import models

        where = models.Filter(must=[models.FieldCondition(key=FOLDERS_FIELD, match=models.MatchAny(any=folders))]) if folders else None
        records, offset = self._client.scroll(
            self._names[collection], offset=offset, limit=limit, scroll_filter=where, with_payload=True,
            with_vectors=[using] if using else False,
        )
        return [(r.payload, (r.vector or {}).get(using) if using else None) for r in records], offset

    def _nearest(
        self,
        collection: str,
        vector: list[float],
        using: str,
        k: int,
        exclude: list[str],
        folders: list[str] | None = None,
        threshold: float | None = None,
        vectors: bool = False,
        taken: tuple[str | None, str | None] | None = None,
    ) -> list[tuple[dict, float, list[float] | None]]:
        from qdrant_client import models

        must = [models.FieldCondition(key=FOLDERS_FIELD, match=models.MatchAny(any=folders))] if folders else []
        if taken:
            must.append(models.FieldCondition(key=TAKEN_FIELD, range=models.DatetimeRange(gte=taken[0], lt=taken[1])))
        must_not = [models.HasIdCondition(has_id=exclude)] if exclude else None
        response = self._client.query_points(
            self._names[collection],
            query=vector,
            using=using,
            limit=k,
            query_filter=models.Filter(must=must or None, must_not=must_not) if must or must_not else None,
            score_threshold=threshold,
            with_payload=True,
            with_vectors=[using] if vectors else False,
            search_params=models.SearchParams(hnsw_ef=self.search_ef),
        )
        return [(p.payload, p.score, (p.vector or {}).get(using) if vectors else None) for p in response.points]

    def _count(self, collection: str, lacking: str | None = None) -> int:
        where = _server_lacking(lacking) if lacking else None
        return self._client.count(self._names[collection], count_filter=where, exact=True).count  # a server indexes in the background: estimates can be off

    def _lacking(self, collection: str, key: str, limit: int, fields: Sequence[str]) -> list[tuple[str, dict]]:
        records, _ = self._client.scroll(
            self._names[collection], scroll_filter=_server_lacking(key), limit=limit, with_payload=list(fields),
            with_vectors=False,
        )
        return [(str(r.id), r.payload) for r in records]

    def _first(self, collection: str, key: str, descending: bool) -> dict:
        from qdrant_client import models

        order = models.OrderBy(key=key, direction=models.Direction.DESC if descending else models.Direction.ASC)
        records, _ = self._client.scroll(
            self._names[collection], limit=1, order_by=order, with_payload=[key], with_vectors=False
        )
        return records[0].payload

    def _set_payload(self, collection: str, ids: list[str], payload: dict) -> None:
        self._client.set_payload(self._names[collection], payload=payload, points=ids)

    def _ensure_index(self, collection: str, key: str) -> None:
        from qdrant_client import models

        if key not in (self._client.get_collection(self._names[collection]).payload_schema or {}):
            self._client.create_payload_index(self._names[collection], key, models.PayloadSchemaType(_INDEXED[key]))

    def _save_meta(self, meta: dict) -> None:
        self._client.update_collection(self._names[IMAGES], metadata=_server_mark(self._mark(meta)))


def _server_lacking(key: str):
    """A qdrant-client filter: points with no (or an empty) payload field ``key``."""
    from qdrant_client import models

    return models.Filter(must=[models.IsEmptyCondition(is_empty=models.PayloadField(key=key))])


def _server_mark(mark: dict) -> dict:
    """Collection metadata that marks an xmodal index (format, storage, meta); one JSON
    string, because Qdrant merges metadata updates key by key and must not keep stale meta keys."""
    return {_MARK: json.dumps(mark)}


def _require_server_version(version: str, where: str) -> None:
    numbers = re.match(r"(\d+)\.(\d+)", version)
    if numbers and (int(numbers[1]), int(numbers[2])) < _MIN_SERVER:
        needed = ".".join(map(str, _MIN_SERVER))
        raise XmodalError(
            f"Qdrant at {where} is version {version}; xmodal needs {needed} or newer (collection metadata)"
        )
