"""Incremental indexing of a photo folder into a store.

A rerun only reads what changed: files whose size and mtime match the index
are skipped without being opened; the rest are hashed, and a known hash at
another path is a moved (or copied) file whose vectors are reused without
running the model. Only new content is decoded and embedded, in batches that
are written and flushed as they are made, so an interrupted run keeps every
finished batch and the next run resumes after it. Bad files are skipped and
listed with their reason. A photo that links make reachable by several paths
is one photo (:mod:`indexer.walk`), and keeps the path the index has for it.
A run after which no photo under the folder is in the index says why in
:attr:`Summary.empty`.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from indexer.walk import KINDS, FileFacts, canonical, file_identity, spellings, walk
from xmodal.core.errors import XmodalError
from xmodal.core.prefetch import WriteBehind, prefetched_batches
from xmodal.core.progress import photo_progress
from xmodal.store import FORMAT, ImageInfo, ImageRecord, Store, outermost
from xmodal.store.info import forget_roots
from xmodal.vision.decode import content_hash, decoder, read_bytes
from xmodal.vision.taken import Exif, date_fields, dates_of

if TYPE_CHECKING:
    from xmodal.devise.encoder import Encoder


@dataclass
class Summary:
    """What one indexing run did; ``failed`` pairs a path with its reason, ``skipped``
    counts what was not indexed by kind (:data:`indexer.walk.KINDS`), and ``empty``
    says in one line why no photo under the folder is in the index, if none is."""

    added: int = 0
    updated: int = 0
    moved: int = 0
    removed: int = 0
    unchanged: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    empty: str | None = None
    seconds: float = 0.0
    gone_elsewhere: list[str] = field(default_factory=list)  # stored paths gone from disk whose content was met here
    gone: dict[str, int] = field(default_factory=dict)  # their folders (:meth:`gone_folders`): how many photos each holds

    def gone_folders(self) -> list[str]:
        """Where photos found here are also indexed at paths with nothing behind them (a folder
        renamed, or a disk not mounted): for each, the outermost folder above it gone from disk,
        or the photo itself where its folder is still there (one photo moved out of it)."""
        return outermost(_outermost_gone(path) for path in self.gone_elsewhere)

    @property
    def embedded(self) -> int:
        return self.added + self.updated

    @property
    def failed_outright(self) -> bool:
        """Nothing indexed although the folder held photos, or links or folders that may
        lead to some: a failed run, where an empty folder is not one."""
        return self.empty is not None and bool(self.failed or self.skipped["heic"])

    def passed_over(self) -> str:
        """What was not indexed, by kind, in one line: "3 broken links, 12 files that are not photos"."""
        return ", ".join(
            f"{count} {KINDS[kind][count != 1]}" for kind in KINDS if (count := self.skipped[kind])
        )


def _outermost_gone(path: str) -> str:
    """``path`` (gone from disk), or the highest folder above it that is missing too."""
    while (parent := os.path.dirname(path)) != path and not os.path.lexists(parent):
        path = parent
    return path


def index_folder(
    folder: str | os.PathLike,
    store: Store,
    encoder: Encoder,
    *,
    quiet: bool = False,
    batch_size: int = 32,
) -> Summary:
    """Bring the index in line with the photos under ``folder``; see the module docstring."""
    started = time.perf_counter()
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise XmodalError(f"not a folder: {folder}")
    if store.upgradable:  # an older format: vectors copied to the current layout, nothing embedded
        if not quiet:  # a line, not only a spinner: at a million photos it takes as long as an HNSW build
            print(f"upgrading index {store.location} from format {store.format} to {FORMAT}: copying the vectors "
                  f"of {store.count():,} photos (nothing is embedded again)", file=sys.stderr, flush=True)
        store.upgrade(encoder.visual.nonnegative_features)
    store.add_folders()  # photos indexed before searches within folders existed: payload only, no embedding
    store.add_dates(dates_of)  # and before dates: their headers, no embedding
    found = walk(root)
    prefix = os.path.join(canonical(root), "")
    stored = {info.path: info for info in store.images() if info.path.startswith(prefix)}
    summary = Summary(failed=list(found.failed), skipped=Counter(found.counts))
    files = _stored_paths_kept(found.files, stored, summary.skipped)
    on_disk = {facts.path: facts for facts in files}
    candidates = []
    for facts in files:
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

    to_embed = _reuse_known_content(candidates, stored, gone, store, summary)
    _embed(to_embed, stored, store, encoder, summary, quiet, batch_size)
    if unread := len(summary.failed) - len(found.failed):  # the walk counted its own
        summary.skipped["unreadable photo"] += unread

    store.delete_paths(sorted(gone))
    summary.removed = len(gone)
    # What xmodal remove would forget under each, not only the photos met here: the same content
    # may have been found at a path still on disk, and every photo there is gone all the same.
    summary.gone = {
        gone: sum(1 for _ in store.images_under([gone])) or int(store.get(gone) is not None)  # a folder, or one photo
        for gone in summary.gone_folders()
    }
    store.flush()
    if summary.embedded or summary.moved:
        store.optimize()
    if not (summary.added + summary.updated + summary.moved + summary.unchanged):
        why = summary.passed_over()
        summary.empty = f"no photos under {folder}: {why}" if why else f"no photos under {folder} (the folder is empty)"
    summary.seconds = time.perf_counter() - started
    return summary


def remove_photos(store: Store, path: str | os.PathLike) -> int:
    """Forget the photos at or under ``path`` (a folder or one photo, on disk or gone from it)
    and take it off the index's folders; the files themselves are not touched. Returns how
    many photos were forgotten. For a folder deleted or moved where it will not be indexed
    again, whose photos the index would otherwise keep finding with nothing behind them;
    a path the index holds nothing at or under is an error naming it, not a quiet 0. Of the
    ways the index may spell ``path`` (:func:`indexer.walk.spellings`), the most literal that
    holds anything is the one forgotten: through a link that is itself indexed, the photos
    stored under the link, not those the folder it leads to holds under its own name; through
    links the index does not hold (a linked home folder above an indexed one), the path they
    lead to, as a search within the folder reads it."""
    gone: set[str] = set()
    for spelling in spellings(path):  # the most literal spelling that holds anything, and it alone
        gone = {info.path for info in store.images_under([spelling])}
        if store.get(spelling) is not None:
            gone.add(spelling)
        if gone:
            break
    else:
        raise XmodalError(f"no photo in the index is at or under {path}")
    store.delete_paths(sorted(gone))
    forget_roots(store, [spelling])  # after the photos: a run cut short between keeps the folder listed
    store.flush()
    return len(gone)


def _stored_paths_kept(files: list[FileFacts], stored: dict[str, ImageInfo], skipped: Counter[str]) -> list[FileFacts]:
    """The walk's photos, each at the path the index has for it when that still leads to it.

    The walk takes a photo at the first path it meets; a link added since the photo
    was indexed can come first. The stored path wins, so the photo is neither moved
    nor copied nor removed. Only stored paths the walk did not meet are looked at,
    and only when the walk met a photo the index lacks.
    """
    new = {facts.identity: i for i, facts in enumerate(files) if facts.path not in stored}
    if not new:
        return files
    met = {facts.path for facts in files}
    kept = list(files)
    for path in sorted(stored.keys() - met):
        identity = file_identity(path)
        if identity is None:
            continue
        i = new.pop(identity, None)
        if i is not None:
            kept[i] = replace(kept[i], path=path)
            skipped["second path to a photo"] += 1  # the path the walk met first
    return sorted(kept, key=lambda facts: facts.path)


def _reuse_known_content(
    candidates: list[FileFacts],
    stored: dict[str, ImageInfo],
    gone: set[str],
    store: Store,
    summary: Summary,
) -> list[FileFacts]:
    """Hash new and changed files; reuse stored vectors for content the index has. Returns the rest.

    A hash that a vanished path held is a move from there, even if a copy of the
    same content also stays indexed elsewhere. Content stored at a path outside the
    folder that is gone from disk is a copy too, and noted (``summary.gone_elsewhere``).
    """
    vanished = {stored[path].hash: path for path in gone}
    rest = []
    for batch in prefetched_batches(candidates, _hash_file, 64):
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
                    if _gone_elsewhere(source.info.path, stored):
                        summary.gone_elsewhere.append(source.info.path)
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


def _gone_elsewhere(path: str, stored: dict[str, ImageInfo]) -> bool:
    """Whether ``path``, a stored photo outside the folder being indexed, is gone from disk (not
    merely unreadable). Its content met here may have moved (a folder renamed), or be a copy of
    a disk that is not mounted today, which nothing here can tell apart: the run reports it
    (:meth:`Summary.gone_folders`) and leaves the old entry for ``xmodal remove``."""
    if path in stored:
        return False
    try:
        os.lstat(path)
    except FileNotFoundError:
        return True
    except OSError:  # a folder this user may not read: still there
        return False
    return False


def stored_exif(info: ImageInfo) -> Exif:
    """The EXIF facts of an indexed photo, as stored: a file with the same content has the same EXIF."""
    return Exif(info.taken if info.taken_from == "exif" else None, info.camera)


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
) -> None:
    """Decode in threads ahead of the model; write and flush every batch as it is made.

    A batch is written (and flushed) by a thread of its own while the model
    embeds the next one (:class:`~xmodal.core.prefetch.WriteBehind`), so the model never
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
        task = progress.add_task(f"indexing ({visual.id}, {visual.precision})", total=len(files))
        for batch in prefetched_batches([facts.path for facts in files], decoder(visual), batch_size):
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
