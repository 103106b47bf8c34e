"""What an index holds, read from the store and its meta alone (and the span of its photos' dates).

    xmodal.info("~/my-index").photos            # no word space, no visual model, no torch
    engine.info()                               # the same, for an open engine

The meta records the word space and encoder that built the index,
and (since 2026-11-30) the folders given to ``xmodal index`` (``roots``) and
when an indexing run last wrote (``updated``). An older index lacks those
two: its folders are then the outermost folders holding photos, and its last
write the newest file time in its folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timezone

from xmodal.core.errors import XmodalError
from xmodal.store import FORMAT, ServerStore, Store, outermost
from xmodal.text.identity import SpaceIdentity

ROOTS, UPDATED = "roots", "updated"  # the meta keys an indexing run writes


@dataclass(frozen=True)
class IndexInfo:
    """One index at a glance. Fields the index does not record are None."""

    location: str
    backend: str  # "embedded" (a folder, qdrant-edge) or "server" (qdrant-client)
    photos: int
    folders: tuple[str, ...]
    folders_recorded: bool  # False: derived from the photos' paths (an index older than recorded roots)
    space: SpaceIdentity | None
    visual: str | None  # the visual model's id
    visual_checksum: str | None
    precision: str  # the visual network's: fp32, or int8 (xmodal.vision.quantized)
    map_checksum: str | None  # the DeViSE map's checksum
    storage: str  # the index's format and how it stores each vector, e.g. "format 2: semantic float16, visual uint8"
    disk_bytes: int | None  # allocated bytes of the index folder; None for a server
    updated: datetime | None  # the last write, timezone-aware UTC
    updated_recorded: bool  # False: the newest file time of the folder (an older index)
    taken_first: datetime | None  # the earliest date taken, in the photo's own offset
    taken_last: datetime | None  # the latest
    undated: int  # photos indexed before dates existed (the next xmodal index dates them)

    def to_dict(self) -> dict:
        """Plain JSON types: the space as {name, checksum, dim}, times as ISO 8601."""
        return {
            "location": self.location,
            "backend": self.backend,
            "photos": self.photos,
            "folders": list(self.folders),
            "folders_recorded": self.folders_recorded,
            "space": None
            if self.space is None
            else {"name": self.space.name, "checksum": self.space.checksum, "dim": self.space.dim},
            "model": {"visual": self.visual, "visual_checksum": self.visual_checksum, "precision": self.precision,
                      "map": self.map_checksum},
            "storage": self.storage,
            "disk_bytes": self.disk_bytes,
            "updated": None if self.updated is None else self.updated.isoformat(timespec="seconds"),
            "updated_recorded": self.updated_recorded,
            "taken": None
            if self.taken_first is None or self.taken_last is None
            else {"first": self.taken_first.isoformat(), "last": self.taken_last.isoformat()},
            "undated": self.undated,
        }


def describe(store: Store) -> IndexInfo:
    """What ``store`` holds; reads its meta, counts its photos, and measures its folder."""
    meta = store.meta
    roots = meta.get(ROOTS)
    folders = tuple(roots) if roots is not None else tuple(store.top_folders())
    space = SpaceIdentity.from_dict(meta["space"]) if meta.get("space") else None
    encoder = meta.get("encoder") or {}
    visual = encoder.get("visual") or {}
    if not isinstance(visual, dict):
        visual = {"id": visual}
    disk_bytes = store.disk_bytes()
    updated = parse_time(meta.get(UPDATED))
    recorded = updated is not None
    if updated is None:
        newest = store.newest_file_time()
        updated = None if newest is None else datetime.fromtimestamp(newest, timezone.utc)
    taken = store.taken_range()
    return IndexInfo(
        location=store.location,
        backend="server" if isinstance(store, ServerStore) else "embedded",
        photos=store.count(),
        folders=folders,
        folders_recorded=roots is not None,
        space=space,
        visual=visual.get("id"),
        visual_checksum=visual.get("checksum"),
        precision=encoder.get("precision", "fp32"),
        map_checksum=encoder.get("map"),
        storage=storage_line(store),
        disk_bytes=disk_bytes,
        updated=updated,
        updated_recorded=recorded,
        taken_first=None if taken is None else datetime.fromisoformat(taken[0]),
        taken_last=None if taken is None else datetime.fromisoformat(taken[1]),
        undated=store.undated(),
    )


def info(index: str | os.PathLike | None = None, url: str | None = None) -> IndexInfo:
    """What the index a user means holds (``index``, ``url`` and their defaults as in
    :func:`xmodal.open`), without loading a word space or a model."""
    from xmodal.store import open_store

    with open_store(index, url) as store:
        return describe(store)


def record_run(store: Store, root: str) -> None:
    """Note in the meta that an indexing run on ``root`` wrote to the index just now.

    An index that predates recorded roots first gets the folders its photos are in,
    so the list stays whole; a root inside a recorded one adds nothing; a root that
    is gone from disk and holds no photo any more (its photos moved with it) is dropped.
    """
    meta = store.meta
    roots = meta.get(ROOTS)
    if roots is None:
        roots = store.top_folders()
    roots = [kept for kept in roots if os.path.lexists(kept) or _holds_under(store, kept)]
    meta[ROOTS] = outermost([*roots, root])
    meta[UPDATED] = now()
    store.set_meta(meta)


def _holds_under(store: Store, folder: str) -> bool:
    """Whether photos are under ``folder``; True where the index cannot tell yet (photos from
    before folders were recorded, in a run cut short before it added them): keep the root."""
    try:
        return store.holds_under([folder])
    except XmodalError:
        return True


def forget_roots(store: Store, folders: list[str]) -> None:
    """Take ``folders`` (spelt as stored), and the recorded roots inside them, off the
    index's list of indexed folders: their photos were removed from the index."""
    meta = store.meta
    roots = meta.get(ROOTS)
    if roots is None:
        return
    inside = tuple(os.path.join(folder, "") for folder in folders)
    meta[ROOTS] = [root for root in roots if root not in folders and not root.startswith(inside)]
    store.set_meta(meta)


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def human_bytes(size: int) -> str:
    """``1536`` -> ``1.5 KiB``."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def storage_line(store: Store) -> str:
    """The format and each vector's storage in a few words; an older embedded index says how to upgrade it."""
    kinds = ", ".join(f"{name} {kind['datatype']}" for name, kind in store.storage.items())
    if store.upgradable:
        return f"format {store.format}: {kinds} (the next xmodal index rewrites it as format {FORMAT}, embedding nothing)"
    return f"format {store.format}: {kinds}"
