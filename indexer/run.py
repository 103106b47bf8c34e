"""Incremental indexing of a photo folder into a store.

A rerun only reads what changed: files whose size and mtime match the index
are skipped without being opened; the rest are hashed, and a known hash at
another path is a moved (or copied) file whose vectors are reused without
running the model. Only new content is decoded and embedded, in batches that
are written and flushed as they are made, so an interrupted run keeps every
finished batch and the next run resumes after it. Bad files are skipped and
listed with their reason.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from indexer.decode import content_hash, decoder, read_bytes
from indexer.taken import date_fields, dates_of, stored_exif
from indexer.walk import FileFacts, canonical, walk
from xmodal.errors import XmodalError
from xmodal.prefetch import WriteBehind, prefetched_batches
from xmodal.progress import photo_progress
from xmodal.store import ImageInfo, ImageRecord, Store


@dataclass
class Summary:
    """What one indexing run did; ``failed`` pairs a path with its reason."""

    added: int = 0
    updated: int = 0
    moved: int = 0
    removed: int = 0
    unchanged: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def embedded(self) -> int:
        return self.added + self.updated


def index_folder(
    folder: str | os.PathLike,
    store: Store,
    encoder,
    *,
    quiet: bool = False,
    batch_size: int = 32,
    workers: int | None = None,
) -> Summary:
    """Bring the index in line with the photos under ``folder``; see the module docstring."""
    started = time.perf_counter()
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise XmodalError(f"not a folder: {folder}")
    store.add_folders()  # photos indexed before searches within folders existed: payload only, no embedding
    store.add_dates(lambda files: dates_of(files, workers))  # and before dates: their headers, no embedding
    found = walk(root)
    on_disk = {facts.path: facts for facts in found.files}
    prefix = os.path.join(canonical(root), "")
    stored = {info.path: info for info in store.images() if info.path.startswith(prefix)}
    summary = Summary(failed=list(found.failed))
    candidates = []
    for facts in found.files:
        info = stored.get(facts.path)
        if info is not None and info.size == facts.size and info.mtime_ns == facts.mtime_ns:
            summary.unchanged += 1
        else:
            candidates.append(facts)
    unreadable = tuple(os.path.join(folder, "") for folder in found.unreadable)
    gone = {
        path
        for path in stored
        if path not in on_disk and not path.startswith(unreadable) and not os.path.lexists(path)
    }  # a photo the walk skipped (hidden folder, HEIC without pillow-heif) is still there

    to_embed = _reuse_known_content(candidates, stored, gone, store, summary, workers)
    _embed(to_embed, stored, store, encoder, summary, quiet, batch_size, workers)

    store.delete_paths(sorted(gone))
    summary.removed = len(gone)
    store.flush()
    if summary.embedded or summary.moved:
        store.optimize()
    summary.seconds = time.perf_counter() - started
    return summary


def _reuse_known_content(
    candidates: list[FileFacts],
    stored: dict[str, ImageInfo],
    gone: set[str],
    store: Store,
    summary: Summary,
    workers: int | None,
) -> list[FileFacts]:
    """Hash new and changed files; reuse stored vectors for content the index has. Returns the rest.

    A hash that a vanished path held is a move from there, even if a copy of the
    same content also stays indexed elsewhere.
    """
    vanished = {stored[path].hash: path for path in gone}
    rest = []
    for batch in prefetched_batches(candidates, _hash_file, 64, workers):
        reused, moved_from = [], []
        for facts, digest, error in batch:
            if error is not None:
                summary.failed.append((facts.path, error))
                continue
            old = stored.get(facts.path)
            if old is not None and old.hash == digest:
                source = store.get(facts.path)  # touched, not changed: keep the vectors, note the new mtime
                summary.unchanged += 1
            elif digest in vanished:
                source = store.get(vanished.pop(digest))
                moved_from.append(source.info.path)
                summary.moved += 1
            else:
                source = store.find_by_hash(digest)
                if source is not None:
                    summary.updated += old is not None
                    summary.added += old is None  # a copy of a photo already indexed
            if source is None:
                rest.append(facts)
                continue
            info = ImageInfo(
                facts.path, digest, facts.size, facts.mtime_ns, source.info.width, source.info.height,
                **date_fields(stored_exif(source.info), facts.mtime_ns),  # the same content: the same EXIF
            )
            reused.append(ImageRecord(info, source.semantic, source.visual))
        if reused:
            store.upsert_images(reused)
            store.flush()
        if moved_from:  # only once the vectors are safe at their new paths
            gone.difference_update(moved_from)
            store.delete_paths(moved_from)
            store.flush()
    return rest


def _hash_file(facts: FileFacts) -> tuple[FileFacts, str, str | None]:
    data, error = read_bytes(facts.path)
    return facts, (content_hash(data) if data is not None else ""), error


def _embed(
    files: list[FileFacts],
    stored: dict[str, ImageInfo],
    store: Store,
    encoder,
    summary: Summary,
    quiet: bool,
    batch_size: int,
    workers: int | None,
) -> None:
    """Decode in threads ahead of the model; write and flush every batch as it is made.

    A batch is written (and flushed) by a thread of its own while the model
    embeds the next one (:class:`~xmodal.prefetch.WriteBehind`), so the model never
    waits on the disk; the write in flight is finished before the store is read again.
    Files with the same new content are embedded once: later ones reuse the vectors.
    """
    if not files:
        return
    visual = encoder.visual
    facts_of = {facts.path: facts for facts in files}
    made_at: dict[str, str] = {}  # content hash -> a path written this run (paths, not vectors: memory stays small)

    def write(records: list[ImageRecord]) -> None:
        store.upsert_images(records)
        store.flush()

    with photo_progress(quiet) as progress, WriteBehind() as writes:
        task = progress.add_task(f"indexing ({visual.id})", total=len(files))
        for batch in prefetched_batches([facts.path for facts in files], decoder(visual), batch_size, workers):
            photos = [photo for photo in batch if photo.error is None]
            summary.failed.extend((photo.path, photo.error) for photo in batch if photo.error is not None)
            vectors = {}
            for photo in photos:
                if photo.hash in made_at and photo.hash not in vectors:
                    writes.wait()  # the earlier copy may be in the write still in flight
                    earlier = store.get(made_at[photo.hash])
                    vectors[photo.hash] = (earlier.semantic, earlier.visual)
            fresh = list({photo.hash: photo for photo in photos if photo.hash not in vectors}.values())
            if fresh:
                semantic, features = encoder.embed_pixels(np.stack([photo.pixels for photo in fresh]))
                vectors.update((photo.hash, (sem, vis)) for photo, sem, vis in zip(fresh, semantic, features))
            records = []
            for photo in photos:
                facts = facts_of[photo.path]
                info = ImageInfo(
                    photo.path, photo.hash, facts.size, facts.mtime_ns, photo.width, photo.height,
                    **date_fields(photo.exif, facts.mtime_ns),
                )
                records.append(ImageRecord(info, *vectors[photo.hash]))
                made_at.setdefault(photo.hash, photo.path)
                if photo.path in stored:
                    summary.updated += 1
                else:
                    summary.added += 1
            if records:
                writes.submit(write, records)  # waits for the batch before, and raises what it raised
            progress.advance(task, len(batch))
