"""The store's rules, whichever back end holds the index: what a photo's record is,
how its vectors are stored (format 3), how searches, filters, pages and the
in-place backfills work. A back end (:mod:`~xmodal.store.embedded`,
:mod:`~xmodal.store.server`) supplies only the Qdrant calls, as the ``_``
methods of :class:`Store`; the package's docstring says what an index holds.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from itertools import islice
from pathlib import PurePosixPath
from typing import Any, NamedTuple, TypeVar

import numpy as np

from xmodal.core.errors import XmodalError
from xmodal.store.dates import Span

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
    with what camera it was taken (xmodal.vision.taken), None in an index from before dates."""

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


class Store(ABC):
    """Photos and words in one index; subclasses supply the few Qdrant calls.

    Vectors come back as stored: float ones unit-normalised (cosine distance
    stores them so), one-byte visual features scaled to a largest entry of 1
    (to 1/255), so that a vector read and written back is stored unchanged.
    """

    sole_writer = False  # whether this process alone writes the index while it is open (EdgeStore's lock)

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
        self._complete: set[str] = set()  # fields every photo was found to have (see _require)

    # -- images ---------------------------------------------------------------

    def upsert_images(self, records: Iterable[ImageRecord]) -> None:
        """Write photos, replacing whatever was stored at their paths."""
        for batch in _batched(records, _PAGE):
            points = [self._image_point(record) for record in batch]
            self._complete -= {key for key in self._complete for point in points if not point.payload.get(key)}
            self._upsert(IMAGES, points)

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

    def images_under(self, folders: Iterable[str]) -> Iterator[ImageInfo]:
        """The stored photos under any of ``folders`` (spelt as stored), page by page, without
        vectors; none for no folders (not every photo, as no filter would give)."""
        if folders := self._within(folders):
            for info, _ in self._pages(None, folders):
                yield info

    def holds_under(self, folders: Iterable[str]) -> bool:
        """Whether any stored photo is under one of ``folders`` (spelt as stored): one point read."""
        if not (folders := self._within(folders)):
            return False
        page, _ = self._scroll(IMAGES, None, None, folders, limit=1)
        return bool(page)

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
        headers (xmodal.vision.taken). Payload only, as :meth:`add_folders`: nothing is
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
        """Refuse a filter on ``key`` while some photos lack it: they would be left out unseen.

        Counting them scans the field's index (6 ms at a million photos, as much as the
        filtered search itself), so a store that alone writes its index counts once, and
        again only after it writes a photo without the field (a photo of the Python API
        may have no date)."""
        if key in self._complete:
            return
        missing = self._count(IMAGES, lacking=key)
        if missing:
            raise XmodalError(
                f"index {self.location} has {missing} photos indexed before {feature} existed; "
                f"run xmodal index on any indexed folder once to add their {what} (nothing is embedded again)"
            )
        if self.sole_writer:
            self._complete.add(key)

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
    def close(self, exiting: bool = False) -> None:
        """Flush, then release the index for other processes. ``exiting``: this process
        ends at once (``os._exit``) and releases it then; the embedded index leaves its
        shard open for that, since closing it drops from the page cache what this
        process read, which the next process would read from disk again."""

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
        self, collection: str, offset: Any, using: str | None = None, folders: list[str] | None = None, limit: int = _PAGE
    ) -> tuple[list[tuple[dict, list[float] | None]], Any]:
        """A page of (payload, vector) from ``offset`` (None: the start), and the next offset
        or None. The ``using`` vector comes back when named (else None); ``folders`` keeps
        points whose ``folders`` field holds one of them; at most ``limit`` points."""

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

def _point(record) -> _Point:
    return _Point(str(record.id), record.vector or {}, record.payload or {})
