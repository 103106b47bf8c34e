"""The embedded index (xmodal.store.embedded): its lock, its folder, and the upgrade of
older formats in place, a kill -9 at any step included."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import qdrant_edge as edge

from tests.store.stores import STORED, open_backend, photo, run_python, unit
from xmodal.core.errors import XmodalError
from xmodal.store import EdgeStore, ImageInfo, ImageRecord, Store, open_store


def test_a_second_process_is_refused_while_the_index_is_open(tmp_path):
    child = f"""
        from pathlib import Path
        from stores import open_backend
        from xmodal.core.errors import XmodalError
        try:
            open_backend("edge", Path({str(tmp_path)!r})).close()
        except XmodalError as error:
            print(error)
            raise SystemExit(3)
    """
    with open_backend("edge", tmp_path):
        refused = run_python(child)
    after_close = run_python(child)

    assert refused.returncode == 3, refused.stderr
    expected = f"index {tmp_path / 'index'} is in use by another xmodal process (pid {os.getpid()})"
    assert refused.stdout.strip() == expected
    assert after_close.returncode == 0, after_close.stderr


def test_an_index_another_process_is_creating_is_in_use_not_foreign(tmp_path):
    """A process creating an index holds its lock before it writes xmodal.json: any other
    is told that the index is in use, not that the folder is no index (or no index yet);
    once the creator is gone, the next run creates the index again."""
    import fcntl
    import re

    folder = tmp_path / "index"
    folder.mkdir()
    fd = os.open(folder / "xmodal.lock", os.O_RDWR | os.O_CREAT)  # as the creating process holds it
    os.write(fd, b"4242")
    fcntl.flock(fd, fcntl.LOCK_EX)
    in_use = rf"^index {re.escape(str(folder))} is in use by another xmodal process \(pid 4242\)$"
    try:
        with pytest.raises(XmodalError, match=in_use):
            EdgeStore(folder)  # only the lock file so far
        (folder / "images").mkdir()  # the first shard, still no xmodal.json
        for dim in (None, 4):
            with pytest.raises(XmodalError, match=in_use):
                EdgeStore(folder, dim=dim)
    finally:
        os.close(fd)
    assert (folder / "xmodal.lock").read_text() == "4242"  # looked at, never written
    # The creator died half-way (nobody holds the lock now): a reader finds no index, a new run creates it.
    with pytest.raises(XmodalError, match="no xmodal index at"):
        EdgeStore(folder)
    with EdgeStore(folder, dim=4, visual_dim=3) as store:
        assert store.count() == 0
    assert (folder / "xmodal.json").is_file()
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "images").mkdir()  # a user's folder that merely has an images/ in it: never touched
    with pytest.raises(XmodalError, match=r"mine is not an xmodal index \(it has no xmodal.json\)"):
        EdgeStore(tmp_path / "mine", dim=4, visual_dim=3)
    assert (tmp_path / "mine" / "images").is_dir()


def test_a_store_dropped_without_close_lets_go_of_the_index(tmp_path):
    """A notebook reassigns ``store = ...`` rather than closing: the dropped store writes
    what it had and unlocks, so the same process opens the index again."""
    store = EdgeStore(tmp_path / "index", dim=4, visual_dim=3)
    store.upsert_images([photo("a.jpg", (1, 0, 0, 0))])
    del store
    with EdgeStore(tmp_path / "index") as again:
        assert again.count() == 1


def test_a_folder_that_is_not_an_index_is_refused(tmp_path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.jpg").write_bytes(b"not an index")

    with pytest.raises(XmodalError, match=r"photos is not an xmodal index \(it has no xmodal.json\)"):
        EdgeStore(tmp_path / "photos", dim=4)
    with pytest.raises(XmodalError, match=r"is not a folder"):
        EdgeStore(tmp_path / "photos" / "cat.jpg", dim=4)
    assert sorted(p.name for p in (tmp_path / "photos").iterdir()) == ["cat.jpg"]  # left untouched


def test_a_lock_that_fails_for_another_reason_is_one_line(tmp_path, monkeypatch):
    import errno
    import fcntl

    def no_locks(fd, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    with pytest.raises(XmodalError, match=rf"^cannot lock index {tmp_path / 'index'}: No locks available$"):
        open_store(tmp_path / "index", dim=4)


OLD_PHOTOS = 7


def old_index(root: Path) -> Path:
    """An index as xmodal wrote it before format 2: float32 vectors, a settings file without storage."""
    folder = root / "index"
    float32 = {name: {"datatype": "float32"} for name in ("semantic", "visual")}
    with EdgeStore(folder, dim=4, visual_dim=3, storage=float32) as store:
        store.upsert_images([photo(f"/p/{i}.jpg", (1, i, 0, 0), visual=(i, 1, 2)) for i in range(OLD_PHOTOS)])
    (folder / "words").mkdir()  # format 1 kept the vocabulary here (a shard; what is in it never matters now)
    (folder / "words" / "segment").write_bytes(b"0" * 1000)
    settings = json.loads((folder / "xmodal.json").read_text())
    old_meta = {"space": "tiny", "vocabulary": {"name": "imagenet21k-names+frequent-words", "size": 3}}
    (folder / "xmodal.json").write_text(json.dumps({"format": 1, "vectors": settings["vectors"], "meta": old_meta}))
    return folder


def assert_whole(store: Store) -> None:
    """Every photo of old_index is there with its payload and vectors, however it is stored."""
    assert store.count() == OLD_PHOTOS and store.meta["space"] == "tiny"
    for i in range(OLD_PHOTOS):
        record = store.get(f"/p/{i}.jpg")
        assert record.info == photo(f"/p/{i}.jpg", (1, 0, 0, 0)).info
        np.testing.assert_allclose(record.semantic, unit(1, i, 0, 0), atol=STORED)
        np.testing.assert_allclose(record.visual / np.linalg.norm(record.visual), unit(i, 1, 2), atol=0.01)
    assert [hit.path for hit in store.search(unit(0, 1, 0, 0), k=2)] == [f"/p/{OLD_PHOTOS - 1}.jpg", f"/p/{OLD_PHOTOS - 2}.jpg"]
    assert store.search(unit(0, 1, 2), using="visual", k=1)[0].path == "/p/0.jpg"


def test_a_format_1_index_is_read_as_it_is_and_upgraded_in_place(tmp_path):
    folder = old_index(tmp_path)
    with EdgeStore(folder) as store:
        assert store.format == 1 and store.storage["visual"] == {"datatype": "float32"}
        assert_whole(store)
        assert store.upgrade(visual_nonnegative=True) == OLD_PHOTOS
        assert store.format == 3 and store.storage["visual"] == {"datatype": "uint8"}
        assert_whole(store)
        assert store.upgrade(visual_nonnegative=True) == 0  # once is enough
    with EdgeStore(folder) as store:
        assert store.format == 3 and store.storage["semantic"] == {"datatype": "float16"}
        assert_whole(store)
        assert "vocabulary" not in store.meta
    assert sorted(p.name for p in folder.iterdir()) == ["images", "xmodal.json", "xmodal.lock"]  # no words/


# Where a kill -9 lands: while copying (at the 6th photo, a page of 4 already in the copy), or at
# each of the upgrade's renames: the new settings file, images -> images.replaced, the copy -> images,
# and the new settings over xmodal.json.
KILLS = {"copying": ("EdgeStore._image_point", 6), **{f"rename {n}": ("os.replace", n) for n in (1, 2, 3, 4)}}


@pytest.mark.parametrize("kill", KILLS)
def test_an_upgrade_killed_at_any_step_loses_nothing(tmp_path, kill):
    folder = old_index(tmp_path)
    target, at = KILLS[kill]
    result = run_python(f"""
        import os, signal
        from pathlib import Path
        import xmodal.store.embedded
        from xmodal.store import EdgeStore

        def killer(original):
            calls = [0]
            def wrapper(*args, **kwargs):
                calls[0] += 1
                if calls[0] == {at}:
                    os.kill(os.getpid(), signal.SIGKILL)
                return original(*args, **kwargs)
            return wrapper

        xmodal.store.embedded._PAGE = 4
        {target} = killer({target})
        with EdgeStore(Path({str(folder)!r})) as store:
            store.upgrade(visual_nonnegative=True)
        print("not killed")
    """)
    assert result.returncode == -9 and "not killed" not in result.stdout, result.stderr

    with EdgeStore(folder) as store:  # opening finishes or drops what the killed run left
        assert_whole(store)
        store.upgrade(visual_nonnegative=True)
        assert store.format == 3
        assert_whole(store)
    assert sorted(p.name for p in folder.iterdir()) == ["images", "xmodal.json", "xmodal.lock"]


def vector_memory(folder: Path) -> dict[str, str | None]:
    """How the shard in ``folder`` keeps each vector: Qdrant's memory setting in its config."""
    config = json.loads((folder / "images" / "edge_config.json").read_text())
    return {name: params.get("memory") for name, params in config["vectors"].items()}


def test_a_format_2_index_is_rewritten_with_vectors_left_on_disk(tmp_path, monkeypatch):
    """Format 2 read every vector into memory when a process opened it (Qdrant's default);
    the upgrade copies it into a shard that maps them (format 3), embedding nothing."""
    import xmodal.store.embedded

    def cached(dims, storage):  # what format 2 asked Qdrant for: no memory setting
        types = xmodal.store.embedded._EDGE_TYPES
        return edge.EdgeConfig(vectors={
            name: edge.EdgeVectorParams(size, edge.Distance.Cosine, datatype=types[storage[name]["datatype"]])
            for name, size in dims.items()
        })

    monkeypatch.setattr(xmodal.store.embedded, "_edge_config", cached)
    folder = tmp_path / "index"
    with EdgeStore(folder, dim=4, visual_dim=3, visual_nonnegative=True) as store:
        store.upsert_images([photo(f"/p/{i}.jpg", (1, i, 0, 0), visual=(i, 1, 2)) for i in range(OLD_PHOTOS)])
        store.set_meta({"space": "tiny"})
    settings = json.loads((folder / "xmodal.json").read_text())
    (folder / "xmodal.json").write_text(json.dumps(settings | {"format": 2}))
    assert vector_memory(folder) == {"semantic": None, "visual": None}
    monkeypatch.undo()
    with EdgeStore(folder) as store:
        assert store.format == 2
        assert_whole(store)
        assert store.upgrade(visual_nonnegative=True) == OLD_PHOTOS
        assert store.format == 3 and store.storage["visual"] == {"datatype": "uint8"}
        assert_whole(store)
    assert vector_memory(folder) == {"semantic": "cold", "visual": "cold"}
    assert logged_entries(folder)[-1] < 200  # the copy's pages are not read back at every open
    with EdgeStore(folder) as store:
        assert store.format == 3 and store.upgrade(visual_nonnegative=True) == 0
        assert_whole(store)


def test_a_new_index_leaves_its_vectors_on_disk(tmp_path):
    EdgeStore(tmp_path / "index", dim=4, visual_dim=3, visual_nonnegative=True).close()
    assert vector_memory(tmp_path / "index") == {"semantic": "cold", "visual": "cold"}


def test_a_new_index_keeps_its_visual_graph_on_disk_and_its_semantic_graph_in_memory(tmp_path):
    """A text query walks the semantic graph only; the visual one is not read in at every open."""
    EdgeStore(tmp_path / "index", dim=4, visual_dim=3).close()
    config = json.loads((tmp_path / "index" / "images" / "edge_config.json").read_text())
    assert config["vectors"]["visual"]["hnsw_config"]["memory"] == "cold"
    assert "hnsw_config" not in config["vectors"]["semantic"] and "memory" not in config["hnsw_config"]


def logged_entries(folder: Path) -> list[int]:
    """The sizes of the entries in the newest segment of the shard's write-ahead log that has any.

    Read as Qdrant's ``wal`` crate writes a segment: an 8-byte header, then per entry its
    length (u64), the bytes, padding and a CRC, each entry starting at a multiple of 8.
    """
    def sizes(segment: Path) -> list[int]:
        data, at, found = segment.read_bytes(), 8, []
        while at + 8 <= len(data) and (length := int.from_bytes(data[at:at + 8], "little")):
            found.append(length)
            at = (at + 8 + length + 4 + 7) // 8 * 8
        return found

    segments = sorted((folder / "images" / "wal").glob("[oc]*-*"), key=lambda path: path.stat().st_mtime_ns)
    return next(found for segment in reversed(segments) if (found := sizes(segment)))


def test_a_process_that_wrote_leaves_a_small_last_log_entry_and_one_that_read_writes_nothing(tmp_path):
    """Qdrant-edge reads the log's last entry back at every open: a batch of 1,024 photos is
    megabytes at real vector sizes, so a writer ends with a write of a few bytes instead
    (embedded._NO_POINT), and the photos are all still there."""
    folder = tmp_path / "index"
    with EdgeStore(folder, dim=4, visual_dim=3) as store:
        store.upsert_images([photo(f"/p/{i}.jpg", (1, i, 0, 0)) for i in range(1500)])
    *batches, last = logged_entries(folder)
    assert max(batches) > 50_000 and last < 200, (batches, last)
    wal = sorted((path.name, path.stat().st_mtime_ns, path.read_bytes()) for path in (folder / "images" / "wal").iterdir())
    with EdgeStore(folder) as store:
        assert store.count() == 1500 and len(store.search(unit(1, 0, 0, 0), k=5)) == 5
    assert sorted((p.name, p.stat().st_mtime_ns, p.read_bytes()) for p in (folder / "images" / "wal").iterdir()) == wal


def test_a_process_that_closes_as_it_exits_keeps_what_it_wrote_and_frees_the_index(tmp_path):
    """``close(exiting=True)`` then ``os._exit`` (how xmodal's commands end): what was
    written is flushed, its log ends small, the index stays locked until the process
    ends, and the next process opens it whole."""
    child = f"""
        import os, subprocess, sys
        from pathlib import Path
        from stores import open_backend, photo
        store = open_backend("edge", Path({str(tmp_path)!r}))
        store.upsert_images([photo(f"/p/{{i}}.jpg", (1, i, 0, 0)) for i in range(1500)])
        store.close(exiting=True)
        store.close()  # closed already: nothing more
        probe = "from stores import open_backend; from pathlib import Path; open_backend('edge', Path({str(tmp_path)!r}))"
        locked = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=os.getcwd(), env=os.environ)
        print("in use" in locked.stderr, flush=True)
        os._exit(0)
    """
    done = run_python(child)
    assert done.returncode == 0 and done.stdout.split() == ["True"], done.stderr
    with EdgeStore(tmp_path / "index") as store:
        assert store.count() == 1500 and len(store.search(unit(1, 0, 0, 0), k=5)) == 5
    assert logged_entries(tmp_path / "index")[-1] < 200


def test_compact_storage_finds_what_an_exact_float32_scan_finds(tmp_path):
    """float16 word-space and one-byte visual vectors against the exact scan of the float32 originals."""
    rng = np.random.default_rng(0)
    semantic = rng.standard_normal((600, 32)).astype(np.float32)
    semantic /= np.linalg.norm(semantic, axis=1, keepdims=True)
    visual = np.maximum(rng.standard_normal((600, 48)), 0).astype(np.float32) * 6  # ReLU-like, like the features
    records = [
        ImageRecord(ImageInfo(f"/p/{i}.jpg", f"sha256:{i}", 1, 1, 1, 1), semantic[i], visual[i]) for i in range(600)
    ]
    with EdgeStore(tmp_path / "index", dim=32, visual_dim=48, visual_nonnegative=True) as store:
        assert store.storage == {"semantic": {"datatype": "float16"}, "visual": {"datatype": "uint8"}}
        store.upsert_images(records)
        store.optimize()
        for name, matrix in (("semantic", semantic), ("visual", visual)):
            rows = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
            overlaps = []
            for query in rows[:40] + 0.3 * rows[40:80]:  # queries near photos, none exactly one
                exact = np.argsort(-(rows @ query))[:10]
                found = [int(hit.path[3:-4]) for hit in store.search(query, using=name, k=10)]
                assert found[0] == exact[0]
                overlaps.append(len(set(found) & set(exact)) / 10)
            assert np.mean(overlaps) >= 0.97, (name, np.mean(overlaps))


def test_an_index_path_below_a_file_is_a_clear_error(tmp_path):
    from xmodal import XmodalError

    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(XmodalError, match="cannot open index .*file.txt/index"):
        open_store(tmp_path / "file.txt" / "index", dim=3, visual_dim=3)
