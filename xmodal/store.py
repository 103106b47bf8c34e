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
it once in the user cache now, :mod:`xmodal.vocabulary`, and the upgrade to
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

import copy
import fcntl
import hashlib
import json
import os
import shutil
import re
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from itertools import islice
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple, TypeVar

import numpy as np
import qdrant_edge as edge

from xmodal.dates import Span
from xmodal.errors import IndexInUse, XmodalError

INDEX_ENV = "XMODAL_INDEX"
URL_ENV = "XMODAL_QDRANT_URL"
API_KEY_ENV = "XMODAL_QDRANT_API_KEY"

IMAGES, WORDS = "images", "words"  # WORDS: format 1's copy of the vocabulary, deleted by the upgrade
VECTOR_NAMES = ("semantic", "visual")
FORMAT = 3  # bump when the stored layout changes; older xmodal then refuses the index
# Format 1 stored float32 vectors; format 2 the compact ones below, which the embedded index read
# into memory at open; format 3 maps them from disk as searches touch them. xmodal index
# rewrites an older embedded index as format 3 (EdgeStore.upgrade).
READABLE = (1, 2, 3)
HASH_FIELD = "hash"
FOLDERS_FIELD = "folders"  # every folder above the photo, outermost first: what a search within folders matches
TAKEN_FIELD = "taken"  # when the photo was taken (ImageInfo.taken): what a search by dates matches
# The payload fields with an index, and its type (Qdrant's name for it).
_INDEXED = {HASH_FIELD: "keyword", FOLDERS_FIELD: "keyword", TAKEN_FIELD: "datetime"}
_PAGE = 1024  # points per scroll page and per upsert batch
_META_FILE, _LOCK_FILE = "xmodal.json", "xmodal.lock"
_MARK = "xmodal"  # the server collection metadata key that holds format and meta
_MIN_SERVER = (1, 16)  # the first Qdrant with collection metadata
# HNSW as Qdrant's defaults, written down so both back ends build the same graph.
_HNSW_M, _HNSW_EF_CONSTRUCT, _FULL_SCAN_KB = 16, 100, 10_000
SEARCH_EF = 1024  # chosen at a million photos: docs/performance.md
# How formats 2 and 3 store vectors (docs/store.md, measured by benchmarks/store_scale.py): unit
# word-space vectors as float16, whose rounding (5e-4) no ranking sees; the visual model's
# features as one byte each when none is negative (EfficientNet-Lite's, after ReLU6), each
# photo's scaled so its largest is 255: 1280 features take 1.25 KiB instead of 5.
FLOAT32, FLOAT16, UINT8 = "float32", "float16", "uint8"

T = TypeVar("T")


@dataclass(frozen=True)
class ImageInfo:
    """What the store knows of a photo file besides its vectors: enough to tell,
    without reading it, whether the file changed since it was indexed; and when and
    with what camera it was taken (indexer.taken), None in an index from before dates."""

    path: str
    hash: str
    size: int
    mtime_ns: int  # nanoseconds, as os.stat gives them: exact, unlike a float through JSON
    width: int
    height: int
    taken: str | None = None  # ISO 8601 with the UTC offset
    taken_from: str | None = None  # "exif", or "mtime" for a photo whose file holds no date
    camera: str | None = None  # the EXIF camera model

    @classmethod
    def from_payload(cls, payload: dict) -> ImageInfo:
        return cls(
            str(payload["path"]),
            str(payload["hash"]),
            int(payload["size"]),
            int(payload["mtime_ns"]),
            int(payload["width"]),
            int(payload["height"]),
            payload.get("taken"),
            payload.get("taken_from"),
            payload.get("camera"),
        )


@dataclass(frozen=True)
class ImageRecord:
    """A photo as stored: its file facts and vectors (``visual`` may be None only
    in an index made without visual vectors)."""

    info: ImageInfo
    semantic: np.ndarray
    visual: np.ndarray | None = None


@dataclass(frozen=True)
class Hit:
    """One search result: a photo and its cosine similarity to the query (and its
    searched vector, when asked for)."""

    info: ImageInfo
    score: float
    vector: np.ndarray | None = field(default=None, compare=False, repr=False)

    @property
    def path(self) -> str:
        return self.info.path


class _Point(NamedTuple):
    """A back end's point, in plain Python, so that the logic above it is shared."""

    id: str
    vectors: dict[str, list[float]]
    payload: dict


def folders_of(path: str) -> list[str]:
    """Every folder above ``path``, outermost first: ``/a/b/c.jpg`` is in ``/``, ``/a`` and ``/a/b``."""
    return [str(parent) for parent in reversed(PurePosixPath(path).parents)]


def outermost(folders: Iterable[str]) -> list[str]:
    """``folders``, sorted, without those inside another of them."""
    kept: list[str] = []
    for folder in sorted(set(folders)):
        if not kept or not folder.startswith(os.path.join(kept[-1], "")):
            kept.append(folder)
    return kept


def point_id(key: str) -> str:
    """The UUID a path (or word) is stored under: stable across runs and back ends."""
    return str(uuid.UUID(bytes=hashlib.sha256(key.encode("utf-8")).digest()[:16]))


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


class Store(ABC):
    """Photos and words in one index; subclasses supply the few Qdrant calls.

    Vectors come back as stored: float ones unit-normalised (cosine distance
    stores them so), one-byte visual features scaled to a largest entry of 1
    (to 1/255), so that a vector read and written back is stored unchanged.
    """

    def __init__(self, location: str, dims: dict[str, int], settings: dict) -> None:
        """``settings``: the index's format, storage (see :func:`_storage_of`) and meta."""
        self.location = location
        self.dims = dims
        self.format: int = settings["format"]
        self.storage = _storage_of(settings | {"vectors": dims})
        self._meta = settings.get("meta", {})
        # How wide HNSW searches: Qdrant's default (its ef_construct, 100) loses a third
        # of the true top 10 at 100k photos, 256 a tenth at 1M; docs/performance.md has the trade.
        self.search_ef = SEARCH_EF

    # -- images ---------------------------------------------------------------

    def upsert_images(self, records: Iterable[ImageRecord]) -> None:
        """Write photos, replacing whatever was stored at their paths."""
        for batch in _batched(records, _PAGE):
            self._upsert(IMAGES, [self._image_point(record) for record in batch])

    def delete_paths(self, paths: Iterable[str]) -> None:
        """Forget photos by path; paths the index does not hold are ignored."""
        for batch in _batched(paths, _PAGE):
            self._delete(IMAGES, [point_id(path) for path in batch])

    def get(self, path: str) -> ImageRecord | None:
        """The photo stored at ``path``, with its vectors, or None."""
        found = self._retrieve(IMAGES, [point_id(path)])
        return self._record(found[0]) if found else None

    def find_by_hash(self, content_hash: str) -> ImageRecord | None:
        """A photo with this content (at any path), with its vectors, or None:
        a moved or copied file reuses them instead of being embedded again."""
        found = self._find(IMAGES, HASH_FIELD, content_hash)
        return self._record(found) if found else None

    def images(self) -> Iterator[ImageInfo]:
        """Every stored photo's file facts, page by page, without vectors."""
        for info, _ in self._pages():
            yield info

    def vectors(self, using: str = "visual", within: Iterable[str] | None = None) -> Iterator[tuple[ImageInfo, np.ndarray]]:
        """Every stored photo's file facts with its ``using`` vector, page by page
        (a page in memory at a time, whatever the index's size); ``within`` keeps
        photos under those folders, as in :meth:`search`."""
        if using not in self.dims:
            raise XmodalError(f"index {self.location} has no {using} vectors")
        for info, vector in self._pages(using, self._within(within)):
            yield info, self._read_vector(vector, using)

    def _pages(self, using: str | None = None, folders: list[str] | None = None) -> Iterator[tuple[ImageInfo, Any]]:
        offset = None
        while True:
            page, offset = self._scroll(IMAGES, offset, using, folders)
            for payload, vector in page:
                yield ImageInfo.from_payload(payload), vector
            if offset is None:
                return

    def search(
        self,
        vector: np.ndarray,
        using: str = "semantic",
        k: int = 10,
        exclude_paths: Iterable[str] = (),
        *,
        threshold: float | None = None,
        within: Iterable[str] | None = None,
        taken: Span | None = None,
        vectors: bool = False,
    ) -> list[Hit]:
        """The ``k`` photos whose ``using`` vector is closest to ``vector``, best first.

        ``threshold`` keeps only cosines of at least that much. ``within`` keeps
        only photos under one of those folders (spelt as the stored paths are:
        absolute, canonical); None or empty means the whole index. ``taken``
        keeps only photos taken at or after its first moment and before its
        second (timezone-aware; None leaves that end open). All are applied by
        Qdrant during the search, so ``k`` photos come back whenever that many
        qualify. ``vectors`` returns each photo's ``using`` vector too.
        """
        query = self._vector(vector, using, "the query", stored=False)
        excluded = [point_id(path) for path in exclude_paths]
        folders = self._within(within)
        span = None
        if taken is not None and taken != (None, None):
            self._require(TAKEN_FIELD, "searches by date", "dates")
            span = tuple(None if end is None else end.isoformat() for end in taken)
        found = self._nearest(IMAGES, query, using, k, excluded, folders, threshold, vectors, span)
        return [
            Hit(ImageInfo.from_payload(payload), score, None if stored is None else self._read_vector(stored, using))
            for payload, score, stored in found
        ]

    def add_folders(self) -> int:
        """Give photos indexed before folder filters existed their ``folders`` field,
        and the field its keyword index; returns how many photos were updated.

        Payload only: no vector is read or written, nothing is embedded again.
        Indexing calls it, so the next indexing run upgrades an older index.
        """
        self._ensure_index(IMAGES, FOLDERS_FIELD)

        def by_folder(page: list[tuple[str, dict]]) -> list[tuple[list[str], dict]]:
            by_folders: dict[tuple[str, ...], list[str]] = {}
            for point, payload in page:
                by_folders.setdefault(tuple(folders_of(payload["path"])), []).append(point)
            # one write per folder: its photos share the field
            return [(points, {FOLDERS_FIELD: list(folders)}) for folders, points in by_folders.items()]

        return self._backfill(FOLDERS_FIELD, "folders", by_folder)

    def add_dates(self, read: Callable[[list[tuple[str, int]]], list[dict]]) -> int:
        """Give photos indexed before dates existed their ``taken``, ``taken_from`` and
        ``camera`` fields (:class:`ImageInfo`), and ``taken`` its datetime index;
        returns how many photos were updated.

        ``read`` gives those fields for a list of (path, mtime_ns), from the files'
        headers (indexer.taken). Payload only, as :meth:`add_folders`: nothing is
        embedded again, and the next indexing run upgrades an older index.
        """
        self._ensure_index(IMAGES, TAKEN_FIELD)

        def dated(page: list[tuple[str, dict]]) -> list[tuple[list[str], dict]]:
            fields = read([(payload["path"], int(payload["mtime_ns"])) for _, payload in page])
            return [([point], _known(values)) for (point, _), values in zip(page, fields)]

        return self._backfill(TAKEN_FIELD, "dates", dated, ("path", "mtime_ns"))

    def taken_range(self) -> tuple[str, str] | None:
        """The earliest and latest date taken in the index (ISO 8601, as stored), or None
        when no photo has one; Qdrant orders by the field's datetime index."""
        if self._count(IMAGES, lacking=TAKEN_FIELD) == self.count():  # no date (nor, maybe, its index) yet
            return None
        return self._first(IMAGES, TAKEN_FIELD, False)[TAKEN_FIELD], self._first(IMAGES, TAKEN_FIELD, True)[TAKEN_FIELD]

    def undated(self) -> int:
        """How many photos were indexed before dates existed (the next indexing run dates them)."""
        return self._count(IMAGES, lacking=TAKEN_FIELD)

    def _backfill(
        self,
        key: str,
        what: str,
        payloads: Callable[[list[tuple[str, dict]]], list[tuple[list[str], dict]]],
        fields: tuple[str, ...] = ("path",),
    ) -> int:
        """Set payload ``key`` (and any others) on every photo that lacks it, a page at a time:
        ``payloads`` turns a page of (id, its ``fields``) into (ids, payload) writes."""
        updated, previous = 0, None
        while True:
            page = self._lacking(IMAGES, key, _PAGE, fields)
            if not page:
                return updated
            ids = sorted(point for point, _ in page)
            if ids == previous:  # the writes did not take; never loop forever
                raise XmodalError(f"index {self.location}: could not add {what} to {len(ids)} photos")
            previous = ids
            for points, payload in payloads(page):
                self._set_payload(IMAGES, points, payload)
            updated += len(page)

    @property
    def upgradable(self) -> bool:
        """Whether :meth:`upgrade` has work to do (an embedded index of an older format)."""
        return False

    def upgrade(self, visual_nonnegative: bool) -> int:
        """Rewrite an index made by an older xmodal in the current layout (``visual_nonnegative``
        as for a new index); returns how many photos were copied, 0 when there was
        nothing to do. A server collection keeps the layout it was created with."""
        return 0

    def _within(self, within: Iterable[str] | None) -> list[str]:
        """The folders a search or scroll keeps, once each; refused while some photos lack them."""
        folders = list(dict.fromkeys(str(folder) for folder in within or ()))
        if folders:
            self._require(FOLDERS_FIELD, "searches within folders", "folders")
        return folders

    def _require(self, key: str, feature: str, what: str) -> None:
        """Refuse a filter on ``key`` while some photos lack it: they would be left out unseen."""
        missing = self._count(IMAGES, lacking=key)
        if missing:
            raise XmodalError(
                f"index {self.location} has {missing} photos indexed before {feature} existed; "
                f"run xmodal index on any indexed folder once to add their {what} (nothing is embedded again)"
            )

    def count(self) -> int:
        """How many photos the index holds."""
        return self._count(IMAGES)

    def top_folders(self) -> list[str]:
        """The outermost folders that hold photos: each photo's folder, less those
        inside another one (``/p/a.jpg`` and ``/p/x/b.jpg`` give ``/p``). Scrolls
        every photo's payload: what an index that never recorded its roots has."""
        return outermost({str(PurePosixPath(info.path).parent) for info in self.images()})

    def disk_bytes(self) -> int | None:
        """The bytes the index takes on disk, or None where this process cannot tell (a server)."""
        return None

    def newest_file_time(self) -> float | None:
        """When a file of the index last changed (seconds since the epoch), or None (a server)."""
        return None

    # -- meta -----------------------------------------------------------------

    @property
    def meta(self) -> dict:
        """What built this index (a copy: change it through :meth:`set_meta`)."""
        return copy.deepcopy(self._meta)

    def set_meta(self, meta: dict) -> None:
        """Record what built this index (word space, encoder): any JSON object."""
        meta = json.loads(json.dumps(meta))  # a private copy, and fails early on what JSON cannot hold
        self._save_meta(meta)
        self._meta = meta

    # -- life -----------------------------------------------------------------

    @abstractmethod
    def flush(self) -> None:
        """Make every write so far durable."""

    @abstractmethod
    def optimize(self) -> None:
        """Build search indexes for what was written; call once after a big batch of writes."""

    @abstractmethod
    def close(self) -> None:
        """Flush, then release the index for other processes."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        sizes = ", ".join(f"{name} {dim}-d" for name, dim in self.dims.items())
        return f"{type(self).__name__}({self.location!r}, {sizes})"

    # -- what a back end supplies -----------------------------------------------

    @abstractmethod
    def _upsert(self, collection: str, points: list[_Point]) -> None: ...

    @abstractmethod
    def _delete(self, collection: str, ids: list[str]) -> None: ...

    @abstractmethod
    def _retrieve(self, collection: str, ids: list[str]) -> list[_Point]:
        """Points by id, with vectors and payload."""

    @abstractmethod
    def _find(self, collection: str, key: str, value: str) -> _Point | None:
        """One point whose payload ``key`` equals ``value``, with vectors."""

    @abstractmethod
    def _scroll(
        self, collection: str, offset: Any, using: str | None = None, folders: list[str] | None = None
    ) -> tuple[list[tuple[dict, list[float] | None]], Any]:
        """A page of (payload, vector) from ``offset`` (None: the start), and the next offset
        or None. The ``using`` vector comes back when named (else None); ``folders`` keeps
        points whose ``folders`` field holds one of them."""

    @abstractmethod
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
        """(payload, score, vector) of the ``k`` points nearest ``vector``, skipping ids in
        ``exclude``; with ``folders``, only points whose ``folders`` field holds one of them;
        with ``threshold``, only scores of at least that; with ``taken``, only points whose
        ``taken`` is at or after its first ISO 8601 moment and before its second. All are
        Qdrant filters. The ``using`` vector comes back only when ``vectors`` asks for it (else None)."""

    @abstractmethod
    def _count(self, collection: str, lacking: str | None = None) -> int:
        """How many points; with ``lacking``, how many have no (or an empty) payload field of that name."""

    @abstractmethod
    def _lacking(self, collection: str, key: str, limit: int, fields: Sequence[str]) -> list[tuple[str, dict]]:
        """(id, payload of ``fields``) of up to ``limit`` points with no (or an empty) payload field ``key``."""

    @abstractmethod
    def _first(self, collection: str, key: str, descending: bool) -> dict:
        """The payload field ``key`` of the point that comes first in its order (by its index)."""

    @abstractmethod
    def _set_payload(self, collection: str, ids: list[str], payload: dict) -> None:
        """Set these payload fields on these points, leaving their other fields and vectors alone."""

    @abstractmethod
    def _ensure_index(self, collection: str, key: str) -> None:
        """Give payload field ``key`` its index (:data:`_INDEXED`) unless it has one."""

    @abstractmethod
    def _save_meta(self, meta: dict) -> None: ...

    # -- shared checks ----------------------------------------------------------

    def _mark(self, meta: dict) -> dict:
        """What an index records of itself: format, storage (format 2 on) and meta."""
        mark = {"format": self.format, "meta": meta}
        return mark | {"storage": self.storage} if self.format >= 2 else mark

    def _image_point(self, record: ImageRecord, storage: dict[str, dict] | None = None) -> _Point:
        """The point of ``record``, its vectors as ``storage`` takes them (default: the index's own)."""
        what = f"image {record.info.path!r}"
        vectors = {}
        for name in VECTOR_NAMES:
            value = getattr(record, name)
            if value is not None:
                vectors[name] = self._vector(value, name, what, storage=storage)
            elif name in self.dims:
                raise XmodalError(f"{what} has no {name} vector; index {self.location} holds {self.dims[name]}-d ones")
        payload = _known(asdict(record.info)) | {FOLDERS_FIELD: folders_of(record.info.path)}
        return _Point(point_id(record.info.path), vectors, payload)

    def _vector(
        self, vector: np.ndarray, name: str, what: str, stored: bool = True, storage: dict[str, dict] | None = None
    ) -> list[float]:
        """``vector`` checked against the index's size for ``name``, as its storage (or
        ``storage``) takes it: for one-byte storage, scaled so that its largest entry is 255
        (cosine ignores the scale) and rounded when ``stored`` (a query keeps its precision)."""
        if name not in self.dims:
            raise XmodalError(f"index {self.location} has no {name} vectors (asked for by {what})")
        array = np.asarray(vector, dtype=np.float32)
        if array.shape != (self.dims[name],):
            shape = f"{array.shape[0]}-d" if array.ndim == 1 else f"shape {array.shape}"
            raise XmodalError(
                f"{what} has a {shape} {name} vector; index {self.location} holds {self.dims[name]}-d {name} vectors"
            )
        if (storage or self.storage)[name]["datatype"] == UINT8:
            if array.min() < 0:
                raise XmodalError(f"{what} has negative {name} features; index {self.location} stores them in one byte")
            top = array.max()
            array = array * np.float32(255 / top) if top > 0 else array
            if stored:
                array = np.rint(array)
        return array.tolist()

    def _read_vector(self, values: Sequence[float], name: str) -> np.ndarray:
        """A stored vector, one-byte storage divided back to a largest entry of 1."""
        array = np.asarray(values, dtype=np.float32)
        return array / np.float32(255) if self.storage[name]["datatype"] == UINT8 else array

    def _record(self, point: _Point) -> ImageRecord:
        visual = point.vectors.get("visual")
        return ImageRecord(
            ImageInfo.from_payload(point.payload),
            self._read_vector(point.vectors["semantic"], "semantic"),
            None if visual is None else self._read_vector(visual, "visual"),
        )


def _known(fields: dict) -> dict:
    """``fields`` without the None ones: a field a photo lacks is absent, which filters read as empty."""
    return {key: value for key, value in fields.items() if value is not None}


def _batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def _requested_dims(dim: int | None, visual_dim: int | None) -> dict[str, int]:
    return {name: size for name, size in zip(VECTOR_NAMES, (dim, visual_dim)) if size is not None}


def _require_dims(location: str, stored: dict[str, int], dim: int | None, visual_dim: int | None) -> None:
    """Refuse to open an index with vector sizes other than the caller's."""
    for name, size in _requested_dims(dim, visual_dim).items():
        if stored.get(name) != size:
            held = f"{stored[name]}-d {name} vectors" if name in stored else f"no {name} vectors"
            raise XmodalError(f"index {location} holds {held}, not {size}-d; rebuild it or use another index")


def _require_format(location: str, settings: dict) -> None:
    if settings.get("format") not in READABLE:
        readable = " and ".join(map(str, READABLE))
        raise XmodalError(f"index {location} has format {settings.get('format')}; this xmodal reads formats {readable}")


def default_storage(dims: dict[str, int], visual_nonnegative: bool) -> dict[str, dict]:
    """How a new index stores each named vector (see FLOAT16 and UINT8 above);
    ``visual_nonnegative`` says no visual feature is ever below 0."""
    storage = {name: {"datatype": FLOAT16} for name in dims}
    if "visual" in dims and visual_nonnegative:
        storage["visual"] = {"datatype": UINT8}
    return storage


def _storage_of(settings: dict) -> dict[str, dict]:
    """The storage an index's settings record; format 1 stored every vector as float32."""
    return settings.get("storage") or {name: {"datatype": FLOAT32} for name in settings["vectors"]}


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


# -- embedded: qdrant-edge ------------------------------------------------------


class EdgeStore(Store):
    """An index in a folder, searched in this process by qdrant-edge.

    The folder holds ``xmodal.json`` (format, vector sizes and storage, meta),
    the ``images/`` edge shard (format 1 also had ``words/``) and ``xmodal.lock``,
    which this process holds (``flock``) while the store is open. Every write
    goes to the shard's write-ahead log first, so it survives the process being
    killed; :meth:`flush` also writes the segments.

    ``storage`` overrides :func:`default_storage` for a new index (benchmarks
    compare layouts with it); an existing index keeps what it was made with.
    """

    def __init__(
        self,
        folder: str | os.PathLike,
        *,
        dim: int | None = None,
        visual_dim: int | None = None,
        visual_nonnegative: bool = False,
        storage: dict[str, dict] | None = None,
        serving: bool = False,
    ) -> None:
        folder = Path(folder).expanduser().absolute()
        _require_index_folder(folder, creating=dim is not None)
        self._lock: int | None = _lock_index(folder, serving)
        self._shards: dict[str, edge.EdgeShard] = {}
        self._written: set[str] = set()
        try:
            _finish_upgrade(folder)
            settings = self._open_or_create(folder, dim, visual_dim, visual_nonnegative, storage)
            super().__init__(str(folder), {k: int(v) for k, v in settings["vectors"].items()}, settings)
            self._folder = folder
            self._shard(IMAGES)  # a damaged index fails here, at open
        except BaseException:
            self.close()
            raise

    @staticmethod
    def _open_or_create(
        folder: Path, dim: int | None, visual_dim: int | None, visual_nonnegative: bool, storage: dict | None
    ) -> dict:
        """The index's settings; creates the index in a folder that :func:`_require_index_folder` let through."""
        settings_file = folder / _META_FILE
        if settings_file.is_file():
            settings = json.loads(settings_file.read_text())
            _require_format(str(folder), settings)
            _require_dims(str(folder), settings["vectors"], dim, visual_dim)
            return settings
        dims = _requested_dims(dim, visual_dim)
        if _unfinished(folder):  # a creation killed before its last step: start it again (the lock is ours)
            for name in (IMAGES, WORDS):
                shutil.rmtree(folder / name, ignore_errors=True)
        storage = storage or default_storage(dims, visual_nonnegative)
        _create_images_shard(folder / IMAGES, dims, storage).close()
        settings = {"format": FORMAT, "vectors": dims, "storage": storage, "meta": {}}
        _write_json(settings_file, settings)  # last: a folder without it was never finished
        return settings

    def flush(self) -> None:
        for name in self._written:
            self._shards[name].flush()

    def optimize(self) -> None:
        """Build the HNSW graphs; qdrant-edge has no background optimizer, so until
        this runs, new points are searched by a (correct, slower) full scan."""
        for name in self._written:
            self._shards[name].optimize()

    def close(self) -> None:
        if self._lock is None:
            return
        try:
            self.flush()
            for shard in self._shards.values():
                shard.close()
        finally:
            self._shards = {}
            self._written = set()
            os.close(self._lock)
            self._lock = None

    def disk_bytes(self) -> int:
        """The blocks allocated to the index folder's files (``du``, not their apparent sizes)."""
        return sum(stat.st_blocks * 512 for stat in _index_files(self._folder))

    def newest_file_time(self) -> float | None:
        """The newest mtime among the index's files, the lock file left out (opening takes it)."""
        return max((stat.st_mtime for stat in _index_files(self._folder, skip=(_LOCK_FILE, WANT_FILE))), default=None)

    def wanted(self) -> bool:
        """Whether another process is waiting for this index (see :func:`_lock_index`):
        ``xmodal serve`` then lets go at once rather than when idle."""
        return (self._folder / WANT_FILE).exists()

    def _shard(self, collection: str, write: bool = False) -> edge.EdgeShard:
        """A collection's shard, opened on first use: a text query never opens the
        vocabulary's (0.1 s), and a process that wrote nothing flushes nothing."""
        if collection not in self._shards:
            self._shards[collection] = _edge_load(self._folder / collection)
        if write:
            self._written.add(collection)
        return self._shards[collection]

    def _upsert(self, collection: str, points: list[_Point]) -> None:
        self._shard(collection, write=True).update(edge.UpdateOperation.upsert_points([edge.Point(*p) for p in points]))

    def _delete(self, collection: str, ids: list[str]) -> None:
        self._shard(collection, write=True).update(edge.UpdateOperation.delete_points(ids))

    def _retrieve(self, collection: str, ids: list[str]) -> list[_Point]:
        return [_point(r) for r in self._shard(collection).retrieve(ids, True, True)]

    def _find(self, collection: str, key: str, value: str) -> _Point | None:
        match = edge.Filter(must=[edge.FieldCondition(key, match=edge.MatchValue(value))])
        request = edge.ScrollRequest(limit=1, filter=match, with_payload=True, with_vector=True)
        records, _ = self._shard(collection).scroll(request)
        return _point(records[0]) if records else None

    def _scroll(
        self, collection: str, offset: Any, using: str | None = None, folders: list[str] | None = None
    ) -> tuple[list[tuple[dict, list[float] | None]], Any]:
        where = edge.Filter(must=[edge.FieldCondition(FOLDERS_FIELD, match=edge.MatchAny(folders))]) if folders else None
        request = edge.ScrollRequest(
            offset=offset, limit=_PAGE, filter=where, with_payload=True, with_vector=[using] if using else False
        )
        records, offset = self._shard(collection).scroll(request)
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
        must = [edge.FieldCondition(FOLDERS_FIELD, match=edge.MatchAny(folders))] if folders else []
        if taken:
            must.append(edge.FieldCondition(TAKEN_FIELD, range=edge.RangeDateTime(gte=taken[0], lt=taken[1])))
        must_not = [edge.HasIdCondition(set(exclude))] if exclude else None
        request = edge.QueryRequest(
            limit=k,
            query=edge.Query.Nearest(vector, using=using),
            filter=edge.Filter(must=must or None, must_not=must_not) if must or must_not else None,
            score_threshold=threshold,
            with_payload=True,
            with_vector=[using] if vectors else False,
            params=edge.SearchParams(hnsw_ef=self.search_ef),
        )
        return [(p.payload, p.score, (p.vector or {}).get(using)) for p in self._shard(collection).query(request)]

    def _count(self, collection: str, lacking: str | None = None) -> int:
        where = edge.Filter(must=[edge.IsEmptyCondition(lacking)]) if lacking else None
        return self._shard(collection).count(edge.CountRequest(exact=True, filter=where))

    def _lacking(self, collection: str, key: str, limit: int, fields: Sequence[str]) -> list[tuple[str, dict]]:
        request = edge.ScrollRequest(
            limit=limit, filter=edge.Filter(must=[edge.IsEmptyCondition(key)]), with_payload=list(fields), with_vector=False
        )
        records, _ = self._shard(collection).scroll(request)
        return [(str(r.id), r.payload) for r in records]

    def _first(self, collection: str, key: str, descending: bool) -> dict:
        order = edge.OrderBy(key, edge.Direction.Desc if descending else edge.Direction.Asc)
        request = edge.ScrollRequest(limit=1, order_by=order, with_payload=[key], with_vector=False)
        records, _ = self._shard(collection).scroll(request)
        return records[0].payload

    def _set_payload(self, collection: str, ids: list[str], payload: dict) -> None:
        self._shard(collection, write=True).update(edge.UpdateOperation.set_payload(ids, payload))

    def _ensure_index(self, collection: str, key: str) -> None:
        shard = self._shard(collection)
        if key not in shard.info().payload_schema:
            self._shard(collection, write=True).update(edge.UpdateOperation.create_field_index(key, _edge_schema(key)))

    def _save_meta(self, meta: dict) -> None:
        _write_json(self._folder / _META_FILE, self._settings(meta))

    def _settings(self, meta: dict) -> dict:
        return {"vectors": self.dims} | self._mark(meta)

    @property
    def upgradable(self) -> bool:
        return self.format < FORMAT

    def upgrade(self, visual_nonnegative: bool) -> int:
        """Rewrite a format-1 index (float32 vectors) or a format-2 one (vectors read in at
        open) in the format-3 layout, and delete a format-1 copy of the vocabulary;
        returns how many photos were copied (0: nothing to do).

        No photo is embedded again: the stored vectors are copied, page by page,
        into a new shard beside the old one, which then takes its place. Each
        step is a rename, so a run killed at any point leaves the old index or
        the new one, and the next open finishes or restarts the upgrade
        (:func:`_finish_upgrade`). Indexing calls it, as it does :meth:`add_folders`.
        """
        if not self.upgradable:
            return 0
        dims, old = self.dims, self._shard(IMAGES)
        storage = default_storage(dims, visual_nonnegative)
        fresh_path = self._folder / _UPGRADING
        shutil.rmtree(fresh_path, ignore_errors=True)  # a copy cut short: start it again
        fresh = _create_images_shard(fresh_path, dims, storage)
        copied, offset = 0, None
        try:
            while True:
                request = edge.ScrollRequest(offset=offset, limit=_PAGE, with_payload=True, with_vector=True)
                records, offset = old.scroll(request)
                points = [self._image_point(self._record(_point(r)), storage) for r in records]
                if points:
                    fresh.update(edge.UpdateOperation.upsert_points([edge.Point(*p) for p in points]))
                copied += len(points)
                if offset is None:
                    break
            fresh.flush()
            fresh.optimize()
        finally:
            fresh.close()
        old.close()
        del self._shards[IMAGES]
        self._written.discard(IMAGES)
        self.format, self.storage = FORMAT, storage
        self._meta.pop("vocabulary", None)  # format 1 recorded its copy of the vocabulary there
        _write_json(self._folder / _NEXT_META, self._settings(self._meta))
        os.replace(self._folder / IMAGES, self._folder / _REPLACED)
        _finish_upgrade(self._folder)
        return copied


def _index_files(folder: Path, skip: tuple[str, ...] = ()) -> Iterator[os.stat_result]:
    """``lstat`` of each file under ``folder`` (links not followed, hard links counted once)."""
    seen: set[tuple[int, int]] = set()
    for parent, _, files in os.walk(folder):
        for name in files:
            if parent == str(folder) and name in skip:
                continue
            try:
                stat = os.lstat(os.path.join(parent, name))
            except OSError:  # gone meanwhile
                continue
            if (stat.st_dev, stat.st_ino) not in seen:
                seen.add((stat.st_dev, stat.st_ino))
                yield stat


def _require_index_folder(folder: Path, creating: bool) -> None:
    """Refuse, before touching it, a folder that is not an index and may not become one."""
    if folder.exists() and not folder.is_dir():
        raise XmodalError(f"index {folder} is not a folder")
    if (folder / _META_FILE).is_file():
        return
    _refuse_if_locked(folder)  # an index another process is creating holds the lock before it has _META_FILE
    if folder.is_dir() and any(entry.name != _LOCK_FILE for entry in folder.iterdir()) and not _unfinished(folder):
        raise XmodalError(f"{folder} is not an xmodal index (it has no {_META_FILE}); choose a new or empty folder")
    if not creating:
        raise XmodalError(f"no xmodal index at {folder}; index some photos first")


SERVER_MARK = " serve"  # after the pid in the lock file: the holder is xmodal serve, which lets go when idle
WAIT_FOR_SERVER_S = 10.0  # how long anyone waits for a server to let go (it does within a second of idle)
SERVER_WAITS_S = 2.0  # how long a server's request waits for another process before answering "busy"
WANT_FILE = "xmodal.want"  # made by a process waiting for a server: the server lets go at once


def _lock_index(folder: Path, serving: bool = False) -> int:
    """Hold ``folder/xmodal.lock`` exclusively until the returned descriptor is closed.

    ``flock`` goes away with the process however it ends, so a crash never
    leaves a stale lock; the file keeps the holder's pid for the message. An
    index held by ``xmodal serve`` (``serving``) is waited for rather than
    refused, with ``WANT_FILE`` asking the server to let go at once; a server
    waits briefly for anyone.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / _LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise XmodalError(f"cannot open index {folder}: {error.strerror or error}") from None
    started = time.monotonic()
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            holder = _holder(fd)
            by_server = holder.endswith(SERVER_MARK)
            wait = WAIT_FOR_SERVER_S if by_server else SERVER_WAITS_S if serving else 0.0
            if holder == "unknown":  # the holder is writing its pid this instant: read it again
                wait = max(wait, 0.2)
            if time.monotonic() - started < wait:
                if by_server and not serving:
                    (folder / WANT_FILE).touch()  # asks the server to let go now
                time.sleep(0.05)
                continue
            os.close(fd)
            raise _in_use(folder, holder, wait) from None
        except OSError as error:
            os.close(fd)
            raise XmodalError(f"cannot lock index {folder}: {error.strerror or error}") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}{SERVER_MARK if serving else ''}".encode("ascii"), 0)
    if not serving:
        (folder / WANT_FILE).unlink(missing_ok=True)  # served: the next one waiting asks again
    return fd


def _unfinished(folder: Path) -> bool:
    """Whether ``folder`` is an index whose creation was cut short: xmodal's lock file and
    shard folders and nothing else (``_META_FILE``, written last, missing)."""
    names = {entry.name for entry in folder.iterdir()}
    return _LOCK_FILE in names and names <= {_LOCK_FILE, IMAGES, WORDS} and not (folder / _META_FILE).exists()


def _refuse_if_locked(folder: Path) -> None:
    """Raise what :func:`_lock_index` would if another process holds ``folder``'s lock;
    only looks (no lock file is made, none is written)."""
    try:
        fd = os.open(folder / _LOCK_FILE, os.O_RDONLY)
    except OSError:  # no lock file: nobody holds it
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # released by the close below
    except BlockingIOError:
        raise _in_use(folder, _holder(fd), 0.0) from None
    except OSError:  # cannot tell; _lock_index says why if it comes to that
        pass
    finally:
        os.close(fd)


def _holder(fd: int) -> str:
    """What the lock file says of its holder: ``PID``, or ``PID serve`` for xmodal serve."""
    return os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"


def _in_use(folder: Path, holder: str, waited: float) -> IndexInUse:
    if holder.endswith(SERVER_MARK):
        return IndexInUse(
            f"index {folder} is in use by xmodal serve (pid {holder.removesuffix(SERVER_MARK)}), "
            f"which stayed busy for {waited:g} s; try again"
        )
    return IndexInUse(f"index {folder} is in use by another xmodal process (pid {holder})")


_EDGE_TYPES = {
    FLOAT32: edge.VectorStorageDatatype.Float32,
    FLOAT16: edge.VectorStorageDatatype.Float16,
    UINT8: edge.VectorStorageDatatype.Uint8,
}
_UPGRADING, _REPLACED, _NEXT_META = "images.upgrading", "images.replaced", "xmodal.json.next"  # EdgeStore.upgrade's


def _edge_config(dims: dict[str, int], storage: dict[str, dict]) -> edge.EdgeConfig:
    """Vectors ``Memory.Cold`` (format 3): memory-mapped and read as searches touch them. Qdrant's
    default, ``Cached``, reads every vector in when a process opens the shard: 2 GB at a million
    photos before a one-off query could start (docs/performance.md)."""
    return edge.EdgeConfig(
        vectors={
            name: edge.EdgeVectorParams(
                size, edge.Distance.Cosine, datatype=_EDGE_TYPES[storage[name]["datatype"]], memory=edge.Memory.Cold
            )
            for name, size in dims.items()
        },
        hnsw_config=edge.HnswIndexConfig(m=_HNSW_M, ef_construct=_HNSW_EF_CONSTRUCT, full_scan_threshold=_FULL_SCAN_KB),
    )


def _create_images_shard(path: Path, dims: dict[str, int], storage: dict[str, dict]) -> edge.EdgeShard:
    """A new, empty ``images`` shard with the payload indexes every index has."""
    images = edge.EdgeShard.create(str(path), _edge_config(dims, storage))
    for key in _INDEXED:
        images.update(edge.UpdateOperation.create_field_index(key, _edge_schema(key)))
    return images


def _finish_upgrade(folder: Path) -> None:
    """Complete or undo an :meth:`EdgeStore.upgrade` that a killed process left (the lock is ours).

    Its steps: copy into ``images.upgrading``; write the new settings as
    ``xmodal.json.next``; rename ``images`` to ``images.replaced``; rename the
    copy to ``images``; rename ``xmodal.json.next`` over ``xmodal.json``;
    delete ``words`` (the vocabulary's old copy) and ``images.replaced``. Before the first rename the old index is whole,
    so leftovers are dropped; after it the copy is complete, so the remaining
    steps are done.
    """
    replaced, upgrading, images, next_meta = (folder / name for name in (_REPLACED, _UPGRADING, IMAGES, _NEXT_META))
    for unfinished in folder.glob(f".{_META_FILE}*.tmp"):  # a settings file killed before its rename (_write_json)
        unfinished.unlink()
    if not replaced.exists():
        shutil.rmtree(upgrading, ignore_errors=True)
        next_meta.unlink(missing_ok=True)
        return
    if not images.exists():
        os.replace(upgrading, images)
    if next_meta.exists():
        os.replace(next_meta, folder / _META_FILE)
    shutil.rmtree(folder / WORDS, ignore_errors=True)
    shutil.rmtree(replaced)


def _require_shard(path: Path) -> None:
    if not path.is_dir():
        raise XmodalError(f"index {path.parent} is incomplete: {path.name}/ is missing; rebuild it")


def _edge_load(path: Path) -> edge.EdgeShard:
    """Open one shard; qdrant-edge raises bare Exceptions, which become one line here."""
    _require_shard(path)
    try:
        return edge.EdgeShard.load(str(path))
    except Exception as error:  # qdrant-edge has no exception types of its own
        raise XmodalError(f"cannot open index {path.parent} ({path.name}): {_one_line(error)}") from error


def _edge_schema(key: str) -> edge.KeywordIndexParams | edge.DatetimeIndexParams:
    """A payload index kept on disk (memory-mapped): opening a shard then reads none of it,
    where an index in RAM is loaded whole at every open, a cost that grows with the photos
    (docs/performance.md, "A million photos")."""
    if _INDEXED[key] == "keyword":
        return edge.KeywordIndexParams(on_disk=True)
    return edge.DatetimeIndexParams(on_disk=True)


def _point(record) -> _Point:
    return _Point(str(record.id), record.vector or {}, record.payload or {})


def _write_json(path: Path, data: dict) -> None:
    """Replace ``path`` atomically and durably: a crash leaves the old or the new file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as handle:
        json.dump(data, handle, indent=1)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


# -- server: qdrant-client --------------------------------------------------------


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
        client,
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

    def close(self) -> None:
        self._client.close()

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
        self, collection: str, offset: Any, using: str | None = None, folders: list[str] | None = None
    ) -> tuple[list[tuple[dict, list[float] | None]], Any]:
        from qdrant_client import models

        where = models.Filter(must=[models.FieldCondition(key=FOLDERS_FIELD, match=models.MatchAny(any=folders))]) if folders else None
        records, offset = self._client.scroll(
            self._names[collection], offset=offset, limit=_PAGE, scroll_filter=where, with_payload=True,
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
        return self._client.count(self._names[collection], count_filter=where, exact=True).count

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
