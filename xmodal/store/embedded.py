"""The embedded back end: an index is a folder that qdrant-edge opens in this process,
locked against a second writer, upgraded in place from older formats."""


from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import qdrant_edge as edge

from xmodal.core.cache import write_json
from xmodal.core.errors import IndexInUse, XmodalError
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
    WORDS,
    Store,
    _one_line,
    _Point,
    _point,
    _requested_dims,
    _require_dims,
    _require_format,
    default_storage,
)

_META_FILE, _LOCK_FILE = "xmodal.json", "xmodal.lock"


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

    sole_writer = True  # the lock keeps every other process out

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
        write_json(settings_file, settings, durable=True)  # last: a folder without it was never finished
        return settings

    def flush(self) -> None:
        for name in self._written:
            self._shards[name].flush()

    def optimize(self) -> None:
        """Build the HNSW graphs; qdrant-edge has no background optimizer, so until
        this runs, new points are searched by a (correct, slower) full scan."""
        for name in self._written:
            self._shards[name].optimize()

    def close(self, exiting: bool = False) -> None:
        if self._lock is None:
            return
        try:
            for name in self._written:
                _end_writes(self._shards[name])
            self.flush()
            if exiting:  # held, with the lock, until the process ends: dropping a shard closes it
                _LEFT_FOR_EXIT.append((self._shards, os.dup(self._lock)))
                return
            for shard in self._shards.values():
                shard.close()
        finally:
            self._shards = {}
            self._written = set()
            os.close(self._lock)
            self._lock = None

    def __del__(self) -> None:
        """An index dropped without :meth:`close` (a notebook's reassigned ``engine``) is closed
        as a file object is, so this process can open it again; at interpreter exit this may
        come too late, which costs nothing: the lock goes with the process."""
        if getattr(self, "_lock", None) is not None:
            with contextlib.suppress(Exception):
                self.close()

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
        self, collection: str, offset: Any, using: str | None = None, folders: list[str] | None = None, limit: int = _PAGE
    ) -> tuple[list[tuple[dict, list[float] | None]], Any]:
        where = edge.Filter(must=[edge.FieldCondition(FOLDERS_FIELD, match=edge.MatchAny(folders))]) if folders else None
        request = edge.ScrollRequest(
            offset=offset, limit=limit, filter=where, with_payload=True, with_vector=[using] if using else False
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
        # Unfiltered, the segments' own point counts (deletions included) are the answer, since
        # nothing indexes in the background here: an exact count scans every id (70 ms at 1M
        # photos, on every query's emptiness check). A server's count stays exact (server.py).
        return self._shard(collection).count(edge.CountRequest(exact=where is not None, filter=where))

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
        write_json(self._folder / _META_FILE, self._settings(meta), durable=True)

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
            _end_writes(fresh)
            fresh.flush()
            fresh.optimize()
        finally:
            fresh.close()
        old.close()
        del self._shards[IMAGES]
        self._written.discard(IMAGES)
        self.format, self.storage = FORMAT, storage
        self._meta.pop("vocabulary", None)  # format 1 recorded its copy of the vocabulary there
        write_json(self._folder / _NEXT_META, self._settings(self._meta), durable=True)
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
            f"which stayed busy for {waited:g} s; try again",
            server=True,
        )
    if holder == str(os.getpid()):  # an Engine of this process left open (Python: close it, or use with)
        return IndexInUse(f"index {folder} is already open in this process (pid {holder}): close the other engine first, "
                          "or open it with `with xmodal.open(...) as engine:`")
    return IndexInUse(f"index {folder} is in use by another xmodal process (pid {holder})")


_EDGE_TYPES = {
    FLOAT32: edge.VectorStorageDatatype.Float32,
    FLOAT16: edge.VectorStorageDatatype.Float16,
    UINT8: edge.VectorStorageDatatype.Uint8,
}
_UPGRADING, _REPLACED, _NEXT_META = "images.upgrading", "images.replaced", "xmodal.json.next"  # EdgeStore.upgrade's
_NO_POINT = str(uuid.UUID(int=0))  # no photo's id: point ids are hashes (base.point_id)
_LEFT_FOR_EXIT: list[tuple[dict[str, edge.EdgeShard], int]] = []  # close(exiting=True)'s shards and locks


def _end_writes(shard: edge.EdgeShard) -> None:
    """Make a process's last write to ``shard`` a few bytes: a delete of an id no photo has.

    Qdrant-edge reads its write-ahead log's last acknowledged entry back at every open,
    parsing it whole to apply it again: after a batch of 1,024 photos that is 5 MB of
    CBOR, 0.12 s added to every later query's open (docs/performance.md)."""
    shard.update(edge.UpdateOperation.delete_points([_NO_POINT]))


def _edge_config(dims: dict[str, int], storage: dict[str, dict]) -> edge.EdgeConfig:
    """Vectors ``Memory.Cold`` (format 3): memory-mapped and read as searches touch them. Qdrant's
    default, ``Cached``, reads every vector in when a process opens the shard: 2 GB at a million
    photos before a one-off query could start (docs/performance.md).

    The visual graph is ``Cold`` too, the semantic one stays ``Cached``: a shard reads its
    cached graphs in at every open (75 MB for the visual one at a million photos, 0.04 s), and
    the text queries most processes make never walk the visual graph; a look-alike search
    reads the pages of it that it walks instead."""
    hnsw = {"m": _HNSW_M, "ef_construct": _HNSW_EF_CONSTRUCT, "full_scan_threshold": _FULL_SCAN_KB}
    return edge.EdgeConfig(
        vectors={
            name: edge.EdgeVectorParams(
                size,
                edge.Distance.Cosine,
                datatype=_EDGE_TYPES[storage[name]["datatype"]],
                memory=edge.Memory.Cold,
                hnsw_config=edge.HnswIndexConfig(**hnsw, memory=edge.Memory.Cold) if name == "visual" else None,
            )
            for name, size in dims.items()
        },
        hnsw_config=edge.HnswIndexConfig(**hnsw),
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
    for unfinished in folder.glob(f".{_META_FILE}*.tmp"):  # a settings file killed before its rename (write_json)
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


# -- server: qdrant-client --------------------------------------------------------


