"""indexer.run on generated photo folders: incremental runs, moves, bad files, interruptions."""

from __future__ import annotations

import inspect
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from indexer.run import index_folder
from indexer.walk import walk
from tests.conftest import CountingEncoder, camera_exif
from xmodal.store import open_store

ROOT = Path(__file__).resolve().parents[2]


def run(folder, store, encoder, **kwargs):
    return index_folder(folder, store, encoder, quiet=True, batch_size=2, **kwargs)


@pytest.mark.parametrize(
    "content, reason",
    [(b"", "empty file"), (b"\xff\xd8\xff garbage", "not a readable image"), (b"hello", "not a readable image")],
)
def test_bad_files_are_skipped_and_listed(folder, store, content, reason):
    (folder / "bad.jpg").write_bytes(content)
    summary = run(folder, store, CountingEncoder())
    assert summary.added == 7
    assert [(os.path.basename(p), r.split(":")[0]) for p, r in summary.failed] == [("bad.jpg", reason)]
    assert "BytesIO" not in summary.failed[0][1]
    assert store.count() == 7


def test_decompression_bombs_are_refused(folder, store, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 500)  # 48x32 = 1536 > 2 * 500
    summary = run(folder, store, CountingEncoder())
    assert summary.added == 1  # only the 20x20 gif is small enough
    assert all("decompression bomb" in reason for _, reason in summary.failed)


def test_first_run_adds_everything_and_stores_the_file_facts(folder, store):
    encoder = CountingEncoder()
    summary = run(folder, store, encoder)
    assert (summary.added, summary.updated, summary.moved, summary.removed, summary.unchanged) == (7, 0, 0, 0, 0)
    assert sum(encoder.embedded) == 7 and max(encoder.embedded) == 2  # written in batches of 2
    record = store.get(str(folder / "a.jpg"))
    assert (record.info.width, record.info.height) == (48, 32)
    assert record.info.size == (folder / "a.jpg").stat().st_size
    assert np.allclose(record.semantic, [1, -1, -1] / np.linalg.norm([1, -1, -1]), atol=0.1)


def test_unchanged_rerun_reads_nothing(folder, store, monkeypatch):
    run(folder, store, CountingEncoder())
    import indexer.run

    def no_reading(path):
        raise AssertionError(f"{path} was read")

    monkeypatch.setattr(indexer.run, "read_bytes", no_reading)
    encoder = CountingEncoder()
    summary = run(folder, store, encoder)
    assert summary.unchanged == 7 and summary.added == 0 and encoder.embedded == []


def test_rerun_adds_updates_moves_and_removes(folder, store):
    run(folder, store, CountingEncoder())
    Image.new("RGB", (40, 40), (10, 10, 10)).save(folder / "new.png")  # added
    Image.new("RGB", (48, 32), (0, 0, 0)).save(folder / "a.jpg")  # changed content
    shutil.move(folder / "trip" / "c.png", folder / "renamed.png")  # moved
    (folder / "f.tiff").unlink()  # removed
    before = store.get(str(folder / "trip" / "c.png"))
    encoder = CountingEncoder()
    summary = run(folder, store, encoder)
    assert (summary.added, summary.updated, summary.moved, summary.removed) == (1, 1, 1, 1)
    assert sum(encoder.embedded) == 2  # the moved photo was not embedded again
    assert store.get(str(folder / "trip" / "c.png")) is None
    moved = store.get(str(folder / "renamed.png"))
    assert np.allclose(moved.semantic, before.semantic, atol=1e-3)  # copied; float16 storage rounds it again
    assert store.count() == 7


def test_touched_file_keeps_its_vectors(folder, store):
    run(folder, store, CountingEncoder())
    os.utime(folder / "a.jpg", (1_000_000, 1_000_000))
    encoder = CountingEncoder()
    summary = run(folder, store, encoder)
    assert summary.unchanged == 7 and encoder.embedded == []
    assert store.get(str(folder / "a.jpg")).info.mtime_ns == 1_000_000 * 10**9
    assert run(folder, store, encoder).unchanged == 7  # and the new mtime was recorded


def test_copy_reuses_vectors(folder, store):
    run(folder, store, CountingEncoder())
    shutil.copy(folder / "a.jpg", folder / "copy-of-a.jpg")
    encoder = CountingEncoder()
    summary = run(folder, store, encoder)
    assert summary.added == 1 and encoder.embedded == []
    assert store.count() == 8


def set_mtime(path: Path, moment: str) -> None:
    stamp = datetime.fromisoformat(moment).timestamp()
    os.utime(path, (stamp, stamp))


def dates(store, path: Path) -> tuple:
    info = store.get(str(path)).info
    return info.taken, info.taken_from, info.camera


def test_photos_are_dated_by_their_exif_else_by_their_file_time(folder, store, paris_time):
    Image.new("RGB", (48, 32), (9, 9, 9)).save(folder / "shot.jpg", exif=camera_exif("2019:03:05 14:22:01", "Canon EOS 80D"))
    set_mtime(folder / "a.jpg", "2023-07-14T09:00:00+00:00")
    run(folder, store, CountingEncoder())
    assert dates(store, folder / "shot.jpg") == ("2019-03-05T14:22:01+01:00", "exif", "Canon EOS 80D")
    assert dates(store, folder / "a.jpg") == ("2023-07-14T11:00:00+02:00", "mtime", None)  # Paris summer time
    assert store.undated() == 0


def test_moved_copied_and_touched_photos_get_their_dates_without_embedding(folder, store, paris_time):
    Image.new("RGB", (48, 32), (9, 9, 9)).save(folder / "shot.jpg", exif=camera_exif("2019:03:05 14:22:01", "Canon EOS 80D"))
    run(folder, store, CountingEncoder())
    shutil.move(folder / "shot.jpg", folder / "moved.jpg")
    shutil.copy(folder / "moved.jpg", folder / "copy.jpg")
    set_mtime(folder / "moved.jpg", "2024-01-01T00:00:00+00:00")
    set_mtime(folder / "a.jpg", "2024-01-01T00:00:00+00:00")  # touched
    encoder = CountingEncoder()
    summary = run(folder, store, encoder)
    assert (summary.moved, summary.added, summary.unchanged) == (1, 1, 7) and encoder.embedded == []
    for name in ("moved.jpg", "copy.jpg"):  # the same content: the same EXIF, whatever the file's time
        assert dates(store, folder / name) == ("2019-03-05T14:22:01+01:00", "exif", "Canon EOS 80D")
    assert dates(store, folder / "a.jpg") == ("2024-01-01T01:00:00+01:00", "mtime", None)  # its new file time


def test_an_index_from_before_dates_gets_them_on_the_next_run_without_embedding(folder, store, paris_time, monkeypatch):
    import qdrant_edge as edge

    import indexer.run

    Image.new("RGB", (48, 32), (9, 9, 9)).save(folder / "shot.jpg", exif=camera_exif("2019:03:05 14:22:01", "Canon EOS 80D"))
    run(folder, store, CountingEncoder())
    dated = sorted(store.images(), key=lambda info: info.path)
    everything = edge.Filter(must=[edge.FieldCondition("folders", match=edge.MatchAny(["/"]))])
    shard = store._shards["images"]
    shard.update(edge.UpdateOperation.delete_payload_by_filter(everything, ["taken", "taken_from", "camera"]))
    shard.update(edge.UpdateOperation.delete_field_index("taken"))
    assert store.undated() == 8 and store.taken_range() is None

    def no_reading(path):
        raise AssertionError(f"{path} was read whole")

    monkeypatch.setattr(indexer.run, "read_bytes", no_reading)  # no file is hashed, so none is decoded
    encoder = CountingEncoder()
    summary = run(folder, store, encoder)
    assert (summary.unchanged, summary.embedded, summary.moved) == (8, 0, 0) and encoder.embedded == []
    assert sorted(store.images(), key=lambda info: info.path) == dated
    assert store.undated() == 0 and "taken" in shard.info().payload_schema
    assert store.taken_range()[0] == "2019-03-05T14:22:01+01:00"


def test_other_folders_in_the_index_are_left_alone(folder, store, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    Image.new("RGB", (30, 30), (1, 2, 3)).save(other / "x.png")
    run(other, store, CountingEncoder())
    summary = run(folder, store, CountingEncoder())
    assert summary.removed == 0 and store.count() == 8


def test_interrupted_run_keeps_finished_batches_and_resumes(folder, tmp_path):
    encoder = CountingEncoder()
    encoder.fail_after = 2  # Ctrl-C while the third batch is being embedded
    with open_store(tmp_path / "index", dim=3, visual_dim=3) as store:
        with pytest.raises(KeyboardInterrupt):
            run(folder, store, encoder)
    with open_store(tmp_path / "index") as store:  # a fresh process would see the same
        assert store.count() == 4
        encoder = CountingEncoder()
        summary = run(folder, store, encoder)
        assert summary.unchanged == 4 and summary.added == 3 and sum(encoder.embedded) == 3


def test_the_model_embeds_the_next_batch_while_the_last_is_written(folder, store, monkeypatch):
    """Each batch is written by a thread of its own: a write that waits for the next
    batch's embedding to start would wait in vain if writing held up the model."""
    import threading

    encoder = CountingEncoder()
    started = threading.Condition()
    embeds, overlapped = [0], []
    embed, upsert = encoder.embed_pixels, store.upsert_images

    def embed_pixels(batch):
        with started:
            embeds[0] += 1
            started.notify_all()
        return embed(batch)

    def upsert_images(records):
        written = len(overlapped)  # batch n is written after the n-th embedding (from 0)
        with started:
            overlapped.append(started.wait_for(lambda: embeds[0] >= written + 2, timeout=10))
        upsert(records)

    monkeypatch.setattr(encoder, "embed_pixels", embed_pixels)
    monkeypatch.setattr(store, "upsert_images", upsert_images)
    summary = run(folder, store, encoder)  # 7 photos in batches of 2: 4 embeddings, 4 writes
    assert summary.added == 7 and store.count() == 7
    assert overlapped[:3] == [True, True, True]  # the last write has no next batch to wait for


def test_a_run_killed_after_a_batch_loses_and_doubles_nothing_when_rerun(tmp_path):
    """SIGKILL, not Ctrl-C: a real ``xmodal index`` is killed once its first batch is on
    disk and before it ends; the same command then finishes the job, and every photo is
    in the index exactly once, with its file facts and vectors."""
    photos, index = tmp_path / "photos", tmp_path / "index"
    batch = inspect.signature(index_folder).parameters["batch_size"].default  # what xmodal index uses
    total = 2 * batch + batch // 2  # three batches: the first is kept, the kill lands in the next two
    rng = np.random.default_rng(0)
    for i in range(total):
        folder = photos / ("sub" if i % 2 else "") / ("deeper" if i % 3 == 0 else "")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(folder / f"noise-{i:02d}.jpg")
    expected = {str(path.resolve()) for path in photos.rglob("*.jpg")}
    assert len(expected) == total
    command = [sys.executable, "-m", "cli", "index", str(photos), "--index", str(index), "-q"]

    # The images shard's id tracker file is first written when the first batch of photos
    # is flushed (the index's creation, its vocabulary and its meta do not write it);
    # the count below checks that the batch really was in the index.
    flushed = lambda: any(f.stat().st_size for f in index.glob("images/segments/*/mutable_id_tracker.mappings"))
    log = tmp_path / "first-run.log"
    with open(log, "w") as output:  # a file, not a pipe nobody reads while the run goes on
        first = subprocess.Popen(command, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 600  # a cold cache (model export, vocabulary) takes minutes once
        while not flushed():
            assert first.poll() is None, f"the run ended before a batch was seen on disk: {log.read_text()}"
            assert time.monotonic() < deadline, "no batch of photos was flushed within 10 minutes"
            time.sleep(0.01)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == -signal.SIGKILL, log.read_text()
    with open_store(index) as store:  # the killed process's lock died with it
        kept = {info.path for info in store.images()}
        assert batch <= store.count() == len(kept) < total  # the flushed batch, not every photo
        assert kept < expected

    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and done.stdout == "" and "Traceback" not in done.stderr, done.stderr
    with open_store(index) as store:
        paths = [info.path for info in store.images()]
        assert store.count() == len(paths) == len(set(paths)) == total
        assert set(paths) == expected
        for path in paths:
            record = store.get(path)
            assert (record.info.size, record.info.mtime_ns) == (os.stat(path).st_size, os.stat(path).st_mtime_ns)
            assert record.semantic.shape == (store.dims["semantic"],)
            assert np.isclose(np.linalg.norm(record.semantic), 1, atol=1e-3)  # unit, to float16
            assert record.visual.shape == (store.dims["visual"],) and record.visual.any()


def test_indexes_into_the_server_back_end(folder):
    with open_store(url=":memory:", dim=3, visual_dim=3) as store:
        summary = run(folder, store, CountingEncoder())
        assert summary.added == 7 and store.count() == 7
        hits = store.search(np.array([1.0, -1.0, -1.0]), "semantic", k=1)
        assert os.path.basename(hits[0].path) in {"a.jpg", "g.gif"}  # the red ones


def test_not_a_folder(store, tmp_path):
    from xmodal import XmodalError

    with pytest.raises(XmodalError, match="not a folder: .*nowhere"):
        run(tmp_path / "nowhere", store, CountingEncoder())


def test_heic_photos_are_indexed_when_pillow_heif_is_installed(folder, store, monkeypatch):
    pillow_heif = pytest.importorskip("pillow_heif")
    import indexer.walk

    pillow_heif.register_heif_opener()  # to write the test photo

    Image.new("RGB", (40, 30), (200, 10, 10)).save(folder / "phone.HEIC")
    summary = run(folder, store, CountingEncoder())
    assert summary.added == 8 and not summary.failed
    assert store.get(str(folder / "phone.HEIC")).info.width == 40
    monkeypatch.setattr(indexer.walk, "heif_supported", lambda: False)
    assert "phone.HEIC" not in [os.path.basename(f.path) for f in walk(folder).files]


def test_a_name_that_is_not_utf8_is_reported_not_fatal(folder, store):
    bad = os.path.join(os.fsencode(folder), b"caf\xe9.jpg")
    shutil.copy(folder / "a.jpg", bad)
    summary = run(folder, store, CountingEncoder())
    assert summary.added == 7
    assert [reason for _, reason in summary.failed] == ["file name is not valid UTF-8"]
    assert summary.failed[0][0].endswith("caf\\xe9.jpg")


def test_moved_then_copied_content_is_embedded_never(folder, store):
    run(folder, store, CountingEncoder())
    shutil.move(folder / "a.jpg", folder / "b2.jpg")
    shutil.copy(folder / "b2.jpg", folder / "c2.jpg")
    encoder = CountingEncoder()
    summary = run(folder, store, encoder)
    assert (summary.moved, summary.added, summary.removed) == (1, 1, 0)
    assert encoder.embedded == [] and store.count() == 8


def test_moving_one_of_two_copies_is_a_move(folder, store):
    shutil.copy(folder / "a.jpg", folder / "z.jpg")
    run(folder, store, CountingEncoder())
    shutil.move(folder / "z.jpg", folder / "x.jpg")
    summary = run(folder, store, CountingEncoder())
    assert (summary.moved, summary.added, summary.removed) == (1, 0, 0)
    assert store.get(str(folder / "z.jpg")) is None and store.get(str(folder / "a.jpg")) is not None


def test_identical_new_photos_are_embedded_once(folder, store):
    for i in range(5):
        shutil.copy(folder / "a.jpg", folder / f"dup{i}.jpg")
    encoder = CountingEncoder()
    summary = run(folder, store, encoder)
    assert summary.added == 12 and sum(encoder.embedded) == 7  # 6 distinct photos + the gif


def test_photos_the_walk_skips_but_that_exist_are_kept(folder, store):
    hidden = folder / ".hidden"
    run(hidden, store, CountingEncoder())  # indexed on its own
    summary = run(folder, store, CountingEncoder())
    assert summary.removed == 0
    assert store.get(str(hidden / "skip.png")) is not None


def test_photos_under_a_folder_that_became_unreadable_are_kept(folder, store, monkeypatch):
    run(folder, store, CountingEncoder())
    trip = str(folder / "trip")
    # As root every folder is readable, so mimic a folder with its read and search bits off:
    # listing it fails, and nothing below it can be seen.
    real_scandir, real_lexists = os.scandir, os.path.lexists

    def scandir(path="."):
        if os.fspath(path) == trip:
            raise PermissionError(13, "Permission denied", trip)
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    monkeypatch.setattr(os.path, "lexists", lambda path: not str(path).startswith(trip + os.sep) and real_lexists(path))
    summary = run(folder, store, CountingEncoder())
    assert summary.removed == 0
    assert (trip, "folder not readable: Permission denied") in summary.failed
    assert store.get(str(folder / "trip" / "day1" / "d.webp")) is not None


def test_indexing_the_root_folder_covers_every_stored_photo(folder, store, monkeypatch):
    """'/' is its own prefix: a photo deleted anywhere is removed when '/' is indexed
    (the walk is stubbed to the test folder, rather than the whole machine)."""
    import indexer.run

    run(folder, store, CountingEncoder())
    os.remove(folder / "a.jpg")
    real_walk = indexer.run.walk
    monkeypatch.setattr(indexer.run, "walk", lambda root: real_walk(folder) if str(root) == "/" else real_walk(root))
    summary = run("/", store, CountingEncoder())
    assert summary.removed == 1 and summary.unchanged == 6
    assert store.get(str(folder / "a.jpg")) is None


def counts(summary):
    return summary.added, summary.updated, summary.moved, summary.removed, summary.unchanged


def paths(store):
    return sorted(info.path for info in store.images())


@pytest.fixture
def disk(tmp_path):
    """A second 'disk' outside the photo folder, with two photos in a subfolder."""
    root = tmp_path / "disk"
    (root / "2020").mkdir(parents=True)
    Image.new("RGB", (30, 30), (250, 120, 0)).save(root / "2020" / "orange.png")
    Image.new("RGB", (30, 30), (90, 0, 160)).save(root / "2020" / "purple.png")
    return root


def test_a_symlinked_folder_and_a_symlinked_file_are_indexed_under_their_links(folder, disk, store):
    (folder / "disk1").symlink_to(disk)
    (folder / "orange-again.png").symlink_to(disk / "2020" / "orange.png")  # also under disk1: one photo
    Image.new("RGB", (30, 30), (0, 0, 0)).save(disk.parent / "black.png")
    (folder / "trip" / "night.png").symlink_to(disk.parent / "black.png")  # only reached by its link
    summary = run(folder, store, CountingEncoder())
    assert counts(summary) == (10, 0, 0, 0, 0) and not summary.failed
    assert {str(folder / "disk1" / "2020" / "purple.png"), str(folder / "trip" / "night.png")} <= set(paths(store))
    assert str(folder / "orange-again.png") in paths(store)  # first: a folder's files come before its subfolders
    assert str(folder / "disk1" / "2020" / "orange.png") not in paths(store)
    assert summary.skipped["second path to a photo"] == 1
    assert store.search(np.ones(3), "semantic", 10, within=[str(folder / "disk1")])  # as the user sees the folder


def test_a_link_loop_ends_and_each_photo_is_indexed_once(folder, store):
    (folder / "trip" / "day1" / "up").symlink_to(folder)  # down it is the whole folder again, forever
    (folder / "trip" / "self").symlink_to(folder / "trip")
    found = walk(folder)
    assert [os.path.relpath(f.path, folder) for f in found.files] == [
        "a.jpg", "f.tiff", "g.gif", "trip/b.JPG", "trip/c.png", "trip/day1/d.webp", "trip/day1/e.bmp"
    ]
    assert found.counts["second path to a folder"] == 2 and not found.failed
    summary = run(folder, store, CountingEncoder())
    assert counts(summary) == (7, 0, 0, 0, 0) and store.count() == 7


def test_the_first_path_is_taken_and_kept_on_reruns_whatever_links_come_and_go(folder, store):
    (folder / "trip" / "day1" / "zz").symlink_to(folder / "trip")  # back into a folder walked already
    (folder / "0-trip").symlink_to(folder / "trip")  # sorts first: the trip photos are first met here
    encoder = CountingEncoder()
    first = run(folder, store, encoder)
    assert counts(first) == (7, 0, 0, 0, 0) and sum(encoder.embedded) == 7
    assert str(folder / "0-trip" / "b.JPG") in paths(store) and str(folder / "trip" / "b.JPG") not in paths(store)
    before = paths(store)

    (folder / "0").symlink_to(folder / "trip")  # now sorts first, yet the photos keep their paths
    encoder = CountingEncoder()
    rerun = run(folder, store, encoder)
    assert counts(rerun) == (0, 0, 0, 0, 7) and encoder.embedded == [] and paths(store) == before
    assert rerun.skipped["second path to a photo"] == 4  # the trip photos as 0/ met them

    (folder / "0-trip").unlink()  # the stored path is gone: the photos move to the path now first
    encoder = CountingEncoder()
    after = run(folder, store, encoder)
    assert counts(after) == (0, 0, 4, 0, 3) and encoder.embedded == []
    assert str(folder / "0" / "b.JPG") in paths(store) and store.count() == 7


def test_a_photo_reached_by_a_file_link_too_is_one_photo_at_its_first_path(folder, store):
    (folder / "0-alias.jpg").symlink_to(folder / "a.jpg")
    summary = run(folder, store, CountingEncoder())
    assert counts(summary) == (7, 0, 0, 0, 0)  # not an eighth, copied photo
    assert str(folder / "0-alias.jpg") in paths(store) and str(folder / "a.jpg") not in paths(store)
    encoder = CountingEncoder()
    assert counts(run(folder, store, encoder)) == (0, 0, 0, 0, 7) and encoder.embedded == []


def test_broken_links_are_reported_and_what_was_indexed_through_them_is_kept(folder, disk, store):
    (folder / "disk1").symlink_to(disk)
    run(folder, store, CountingEncoder())
    shutil.rmtree(disk)  # the disk is not mounted today
    (folder / "gone.jpg").symlink_to(folder / "nowhere.jpg")
    summary = run(folder, store, CountingEncoder())
    assert sorted(summary.failed) == [
        (str(folder / "disk1"), "broken link: No such file or directory"),
        (str(folder / "gone.jpg"), "broken link: No such file or directory"),
    ]
    assert summary.skipped["broken link"] == 2 and summary.removed == 0
    assert str(folder / "disk1" / "2020" / "orange.png") in paths(store)


@pytest.mark.parametrize(
    "make, why, failed",
    [
        (lambda root: None, "no photos under {root} (the folder is empty)", False),
        (lambda root: (root / "empty").mkdir(), "no photos under {root} (the folder is empty)", False),
        (
            lambda root: [(root / name).write_text("x") for name in ("a.txt", "b.pdf", ".DS_Store")],
            "no photos under {root}: 2 files that are not photos, 1 hidden file or folder",
            False,
        ),
        (lambda root: (root / "notes").symlink_to(root.parent / "notes.txt"), "no photos under {root}: 1 link to a non-photo", False),
        (
            lambda root: [(root / f"{i}.jpg").symlink_to(root / "missing.jpg") for i in range(3)],
            "no photos under {root}: 3 broken links",
            True,
        ),
        (
            lambda root: [(root / f"{i}.jpg").write_bytes(b"not a jpeg") for i in range(4)],
            "no photos under {root}: 4 photos that could not be read",
            True,
        ),
    ],
    ids=["empty", "empty-subfolder", "not-photos", "link-to-non-photo", "broken-links", "unreadable"],
)
def test_a_run_that_indexes_nothing_says_why(tmp_path, store, make, why, failed):
    root = tmp_path / "photos"
    root.mkdir()
    (tmp_path / "notes.txt").write_text("x")
    make(root)
    summary = run(root, store, CountingEncoder())
    assert summary.empty == why.format(root=root)
    assert summary.failed_outright is failed


def test_a_run_that_indexes_something_is_not_empty(folder, store):
    summary = run(folder, store, CountingEncoder())
    assert summary.empty is None and not summary.failed_outright
    assert summary.passed_over() == "1 file that is not a photo, 1 hidden file or folder"


def test_a_folder_of_heic_photos_without_pillow_heif_is_a_failed_run(tmp_path, store, monkeypatch):
    import indexer.walk

    monkeypatch.setattr(indexer.walk, "heif_supported", lambda: False)
    (tmp_path / "phone").mkdir()
    for i in range(2):
        (tmp_path / "phone" / f"IMG_{i}.HEIC").write_bytes(b"not read: the walk goes by the name")
    summary = run(tmp_path / "phone", store, CountingEncoder())
    assert summary.empty == f"no photos under {tmp_path / 'phone'}: 2 HEIC photos (install pillow-heif to index them)"
    assert summary.failed_outright and not summary.failed


def test_an_older_index_is_upgraded_first_and_says_so(folder, tmp_path, capsys):
    """A format-2 index (any older format) is rewritten before the run, embedding nothing again."""
    import json

    index = tmp_path / "index"
    encoder = CountingEncoder()
    with open_store(index, dim=3, visual_dim=3) as store:
        run(folder, store, encoder)
    settings = json.loads((index / "xmodal.json").read_text())
    (index / "xmodal.json").write_text(json.dumps(settings | {"format": 2}))
    embedded = len(encoder.embedded)
    with open_store(index) as store:
        assert store.upgradable
        summary = index_folder(folder, store, encoder, batch_size=2)
        assert not store.upgradable and store.format == 3
        assert (summary.unchanged, summary.added) == (7, 0) and len(encoder.embedded) == embedded
    err = capsys.readouterr().err
    assert f"upgrading index {index} from format 2 to 3: copying the vectors of 7 photos" in " ".join(err.split())


def test_photos_also_indexed_where_nothing_is_any_more_are_copies_and_named(folder, store, tmp_path):
    """A folder renamed and indexed under its new name, or a copy of a disk that is not mounted
    today: nothing tells the two apart, so the old entries stay (no embedding either way) and
    the run names the outermost folder gone from disk, for xmodal remove."""
    from indexer.run import remove_photos

    (tmp_path / "disk").mkdir()
    mounted = tmp_path / "disk" / "photos"
    folder.rename(mounted)
    run(mounted, store, CountingEncoder())
    copy = tmp_path / "copy"
    shutil.copytree(mounted, copy)
    (copy / "a.jpg").unlink()  # not met here, and gone all the same
    shutil.rmtree(tmp_path / "disk")  # unmounted, or renamed away
    encoder = CountingEncoder()
    summary = run(copy, store, encoder)
    assert (summary.moved, summary.added, summary.removed) == (0, 6, 0) and encoder.embedded == []
    assert len(summary.gone_elsewhere) == 6 and summary.gone == {str(tmp_path / "disk"): 7}  # what remove forgets
    assert store.count() == 13  # nothing forgotten unasked
    assert remove_photos(store, tmp_path / "disk") == 7 and store.count() == 6


def test_remove_takes_the_most_literal_spelling_that_holds_anything(folder, store, tmp_path):
    """A photo under a linked folder that is indexed both ways goes under the link's name only;
    a link never indexed itself is refused, not taken as the photo or folder it leads to."""
    from indexer.run import remove_photos
    from xmodal import XmodalError

    (tmp_path / "album").mkdir()
    (tmp_path / "album" / "trip").symlink_to(folder / "trip")
    run(tmp_path / "album", store, CountingEncoder())
    run(folder, store, CountingEncoder())
    assert store.count() == 11
    assert remove_photos(store, tmp_path / "album" / "trip" / "c.png") == 1
    assert store.get(str(folder / "trip" / "c.png")) is not None and store.count() == 10
    with pytest.raises(XmodalError, match="no photo in the index is at or under"):
        remove_photos(store, tmp_path / "album" / "nothing here")
    assert store.count() == 10


def test_remove_through_links_above_an_indexed_folder_finds_its_photos(folder, store, tmp_path):
    """The index stores an indexed folder's parents resolved: a home folder that is a link is
    typed one way and stored the other, and remove must still find what the user names."""
    from indexer.run import remove_photos

    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "u").symlink_to(folder.parent)
    run(tmp_path / "home" / "u" / folder.name, store, CountingEncoder())
    assert all(info.path.startswith(str(folder)) for info in store.images())  # stored resolved
    assert remove_photos(store, tmp_path / "home" / "u" / folder.name / "trip") == 4
    assert remove_photos(store, tmp_path / "home" / "u") == 3 and store.count() == 0


def test_one_photo_moved_out_of_a_folder_still_there_names_the_photo_not_the_folder(folder, store, tmp_path):
    """Only the photo is gone: the note must not offer to forget the folder it left."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    run(folder, store, CountingEncoder())
    shutil.move(folder / "a.jpg", elsewhere / "a.jpg")
    summary = run(elsewhere, store, CountingEncoder())
    assert summary.gone == {str(folder / "a.jpg"): 1}


def test_a_name_that_is_not_utf8_holds_nothing_and_says_so(folder, store):
    from indexer.run import remove_photos
    from xmodal import XmodalError

    run(folder, store, CountingEncoder())
    odd = os.fsdecode(bytes(folder) + b"/dir\xfe")
    assert not store.holds_under([]) and list(store.images_under([])) == []  # never "every photo"
    with pytest.raises(XmodalError, match="no photo in the index is at or under"):
        remove_photos(store, odd)
    assert store.count() == 7


def test_remove_through_a_link_to_a_folder_leaves_the_folder_it_leads_to(folder, store, tmp_path):
    from indexer.run import remove_photos

    link = tmp_path / "link"
    link.symlink_to(folder)
    run(folder, store, CountingEncoder())
    run(link, store, CountingEncoder())  # the same files, stored under the link too
    assert store.count() == 14
    assert remove_photos(store, link) == 7
    assert store.count() == 7 and all(info.path.startswith(str(folder)) for info in store.images())


def test_a_copy_outside_the_folder_that_still_exists_stays_a_copy(folder, store, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(folder / "a.jpg", other / "a.jpg")
    run(folder, store, CountingEncoder())
    summary = run(other, store, CountingEncoder())
    assert (summary.moved, summary.added) == (0, 1) and store.get(str(folder / "a.jpg")) is not None


def two_recorded_roots(folder, store, tmp_path):
    """``folder`` and ``other`` (one photo, x.png) indexed, each recorded as a root; gives ``other``."""
    from xmodal.store.info import record_run

    other = tmp_path / "other"
    other.mkdir()
    Image.new("RGB", (30, 30), (1, 2, 3)).save(other / "x.png")
    for root in (folder, other):
        run(root, store, CountingEncoder())
        record_run(store, str(root))
    return other


def test_remove_photos_forgets_a_deleted_folder_and_names_a_path_it_holds_nothing_under(folder, store, tmp_path):
    from indexer.run import remove_photos
    from xmodal import XmodalError
    from xmodal.store.info import ROOTS

    other = two_recorded_roots(folder, store, tmp_path)
    shutil.rmtree(folder / "trip")
    assert remove_photos(store, folder / "trip") == 4
    assert store.count() == 4 and not any("/trip/" in info.path for info in store.images())
    assert remove_photos(store, other / "x.png") == 1  # one photo, still on disk: the file stays
    assert (other / "x.png").exists() and store.get(str(other / "x.png")) is None
    assert remove_photos(store, folder) == 3 and store.count() == 0
    assert store.meta[ROOTS] == [str(other)]  # x.png alone went; other is still a folder to index
    with pytest.raises(XmodalError, match=f"no photo in the index is at or under {folder}$"):
        remove_photos(store, folder)


def test_a_recorded_folder_gone_from_disk_is_dropped_once_no_photo_is_left_under_it(folder, store, tmp_path):
    from xmodal.store.info import ROOTS, record_run

    other = two_recorded_roots(folder, store, tmp_path)
    shutil.rmtree(folder)
    record_run(store, str(other))
    assert store.meta[ROOTS] == sorted([str(folder), str(other)])  # gone, but its photos are still indexed
    store.delete_paths([info.path for info in store.images() if info.path.startswith(str(folder))])
    record_run(store, str(other))
    assert store.meta[ROOTS] == [str(other)]
