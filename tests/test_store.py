"""The store, run against both back ends: qdrant-edge in a folder, and
qdrant-client's local mode standing in for a server (same calls, no server)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from qdrant_client import QdrantClient

from xmodal.errors import XmodalError
from xmodal.store import EdgeStore, ImageInfo, ImageRecord, ServerStore, Store, open_store, point_id


BACKENDS = ["edge", "server"]
TESTS = Path(__file__).resolve().parent


def open_backend(backend: str, root: Path, dim: int | None = 4, visual_dim: int | None = 3) -> Store:
    """The store of ``backend`` kept under ``root``; the same root reopens the same index."""
    if backend == "edge":
        return EdgeStore(root / "index", dim=dim, visual_dim=visual_dim)
    client = QdrantClient(path=str(root / "qdrant"))
    return ServerStore(client, dim=dim, visual_dim=visual_dim, where=str(root / "qdrant"))


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def store(backend, tmp_path):
    """A fresh index; the server one in memory, since local mode writes to disk point by point."""
    if backend == "server":
        opened = ServerStore(QdrantClient(":memory:"), dim=4, visual_dim=3, where=":memory:")
    else:
        opened = open_backend(backend, tmp_path)
    with opened:
        yield opened


def unit(*values: float) -> np.ndarray:
    vector = np.array(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)


def photo(path: str, semantic, visual=(1, 0, 0), content: str | None = None) -> ImageRecord:
    info = ImageInfo(path, content or f"sha256:{path}", size=1234, mtime_ns=1_700_000_000_250_000_000, width=640, height=480)
    return ImageRecord(info, unit(*semantic), None if visual is None else unit(*visual))


def run_python(code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter that can import xmodal and this module."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(TESTS.parent), str(TESTS)]))
    command = [sys.executable, "-c", textwrap.dedent(code)]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)


# -- searching --------------------------------------------------------------------


def test_search_ranks_photos_by_cosine_similarity(store):
    store.upsert_images(
        [photo("far.jpg", (0, 0, 1, 0)), photo("near.jpg", (1, 0.2, 0, 0)), photo("mid.jpg", (1, 1, 0, 0))]
    )

    hits = store.search(unit(1, 0, 0, 0), k=3)

    assert [h.path for h in hits] == ["near.jpg", "mid.jpg", "far.jpg"]
    assert [h.score for h in hits] == pytest.approx([unit(1, 0.2, 0, 0)[0], unit(1, 1, 0, 0)[0], 0.0], abs=1e-5)
    assert hits[0].info == photo("near.jpg", (1, 0, 0, 0)).info
    assert len(store.search(unit(1, 0, 0, 0), k=2)) == 2


def test_search_can_return_the_searched_vectors(store):
    """What the hub penalty re-ranks with (xmodal.hubness): each hit's own vector, on both back ends."""
    store.upsert_images([photo("near.jpg", (1, 0.2, 0, 0), visual=(0, 1, 0)), photo("far.jpg", (0, 0, 1, 0))])
    store.upsert_words(["up", "down"], np.stack([unit(1, 0, 0, 0), unit(0, 0, 0, 1)]))

    hits = store.search(unit(1, 0, 0, 0), k=2, vectors=True)
    assert [h.path for h in hits] == ["near.jpg", "far.jpg"]
    assert np.allclose(np.stack([h.vector for h in hits]), [unit(1, 0.2, 0, 0), unit(0, 0, 1, 0)], atol=1e-6)
    assert hits[0].vector.dtype == np.float32
    looks = store.search(unit(0, 1, 0), using="visual", k=1, vectors=True)
    assert np.allclose(looks[0].vector, unit(0, 1, 0), atol=1e-6)  # the vector that was searched
    assert all(h.vector is None for h in store.search(unit(1, 0, 0, 0), k=2))
    assert hits[0] == store.search(unit(1, 0, 0, 0), k=1)[0]  # a Hit compares by photo and score


def test_named_vectors_are_searched_independently(store):
    store.upsert_images(
        [photo("a.jpg", (1, 0, 0, 0), visual=(0, 1, 0)), photo("b.jpg", (0, 1, 0, 0), visual=(1, 0, 0))]
    )

    assert store.search(unit(1, 0, 0, 0), using="semantic", k=1)[0].path == "a.jpg"
    assert store.search(unit(1, 0, 0), using="visual", k=1)[0].path == "b.jpg"


def test_exclude_paths_leaves_those_photos_out(store):
    store.upsert_images([photo(f"{i}.jpg", (1, i, 0, 0)) for i in range(4)])

    hits = store.search(unit(1, 0, 0, 0), k=10, exclude_paths=["0.jpg", "2.jpg", "not-there.jpg"])

    assert [h.path for h in hits] == ["1.jpg", "3.jpg"]


def test_within_keeps_only_photos_under_those_folders(store):
    store.upsert_images(
        [
            photo("/p/2023/a.jpg", (1, 0, 0, 0)),
            photo("/p/2024/b.jpg", (1, 0.1, 0, 0)),
            photo("/p/2024/trip/c.jpg", (1, 0.2, 0, 0)),
            photo("/p/2024x/d.jpg", (1, 0.3, 0, 0)),  # a name that starts like the folder is not in it
            photo("/other/e.jpg", (1, 0.4, 0, 0)),
        ]
    )
    query = unit(1, 0, 0, 0)

    assert [h.path for h in store.search(query, k=10, within=["/p/2024"])] == ["/p/2024/b.jpg", "/p/2024/trip/c.jpg"]
    assert [h.path for h in store.search(query, k=10, within=["/other", "/p/2023"])] == ["/p/2023/a.jpg", "/other/e.jpg"]
    assert [h.path for h in store.search(query, k=10, within=["/p/2024/trip"])] == ["/p/2024/trip/c.jpg"]
    assert len(store.search(query, k=10, within=["/"])) == 5
    assert store.search(query, k=10, within=["/nowhere"]) == []
    assert len(store.search(query, k=10, within=None)) == len(store.search(query, k=10, within=[])) == 5
    hits = store.search(query, k=10, exclude_paths=["/p/2024/b.jpg"], within=["/p/2024"])
    assert [h.path for h in hits] == ["/p/2024/trip/c.jpg"]


def test_within_gives_k_photos_from_a_small_folder_among_closer_ones(store):
    """The filter runs inside the search: the 10 photos of a small folder all come back,
    though 300 others are nearer the query (a filter after a top-10 search would find none)."""
    store.upsert_images(
        [photo(f"/big/{i}.jpg", (1, 0.01 * i, 0, 0)) for i in range(300)]
        + [photo(f"/small/{i}.jpg", (0.1, 1, 0.1 * i, 0)) for i in range(12)]
    )
    store.optimize()

    for using, query in (("semantic", unit(1, 0, 0, 0)), ("visual", unit(1, 0, 0))):
        hits = store.search(query, using=using, k=10, within=["/small"])
        assert len(hits) == 10 and all(h.path.startswith("/small/") for h in hits), using
    assert [h.path for h in store.search(unit(1, 0, 0, 0), k=10, within=["/small"])][:3] == [
        "/small/0.jpg", "/small/1.jpg", "/small/2.jpg"
    ]


def test_threshold_keeps_scores_of_at_least_that_much(store):
    store.upsert_images([photo(f"{i}.jpg", (1, i, 0, 0)) for i in range(6)])  # cosines 1, .71, .45, .32, .24, .20
    query = unit(1, 0, 0, 0)

    hits = store.search(query, k=10, threshold=0.4)
    assert [h.path for h in hits] == ["0.jpg", "1.jpg", "2.jpg"] and all(h.score >= 0.4 for h in hits)
    assert [h.path for h in store.search(query, k=2, threshold=0.4)] == ["0.jpg", "1.jpg"]
    assert store.search(unit(0, 0, 1, 0), k=10, threshold=0.5) == []
    assert len(store.search(query, k=10, threshold=-1.0)) == 6


def test_threshold_and_within_together(store):
    store.upsert_images(
        [photo("/a/near.jpg", (1, 0.1, 0, 0)), photo("/a/far.jpg", (0, 1, 0, 0)), photo("/b/nearest.jpg", (1, 0, 0, 0))]
    )

    hits = store.search(unit(1, 0, 0, 0), k=10, threshold=0.5, within=["/a"])

    assert [h.path for h in hits] == ["/a/near.jpg"]


def test_folders_are_stored_and_indexed_for_the_filter(store, backend, monkeypatch):
    store.upsert_images([photo("/home/u/Pictures/a.jpg", (1, 0, 0, 0))])
    payload = store._retrieve("images", [point_id("/home/u/Pictures/a.jpg")])[0].payload
    assert payload["folders"] == ["/", "/home", "/home/u", "/home/u/Pictures"]
    assert store.get("/home/u/Pictures/a.jpg").info == photo("/home/u/Pictures/a.jpg", (1, 0, 0, 0)).info
    if backend == "edge":
        import qdrant_edge as edge

        schema = store._shards["images"].info().payload_schema
        assert schema["folders"].data_type == edge.PayloadSchemaType.Keyword
        assert schema["hash"].data_type == edge.PayloadSchemaType.Keyword


def test_a_new_server_index_makes_keyword_indexes_for_hash_and_folders(monkeypatch):
    """qdrant-client's local mode keeps no payload indexes, so the calls are what can be checked."""
    client = QdrantClient(":memory:")
    made = []
    monkeypatch.setattr(client, "create_payload_index", lambda collection, field, schema: made.append((collection, field, schema)))

    ServerStore(client, dim=4, visual_dim=3).close()

    assert [(c, f, str(s.value)) for c, f, s in made] == [("xmodal_images", "hash", "keyword"), ("xmodal_images", "folders", "keyword")]


def old_photos(store: Store, paths: list[str]) -> None:
    """Photos as an index made before the folders field stores them."""
    from dataclasses import asdict

    from xmodal.store import _Point

    records = [photo(path, (1, i, 0, 0)) for i, path in enumerate(paths)]
    store._upsert("images", [_Point(point_id(r.info.path), {"semantic": r.semantic.tolist(), "visual": r.visual.tolist()}, asdict(r.info)) for r in records])


def test_photos_indexed_before_folders_existed_get_them_from_add_folders(store, backend):
    old = [f"/old/{i}/x.jpg" for i in range(3)] + [f"/old/0/{i}.jpg" for i in range(1100)]  # over a page
    old_photos(store, old)
    store.upsert_images([photo("/new/a.jpg", (1, 0, 0, 0))])
    if backend == "edge":  # an index from before had no folders index either
        import qdrant_edge as edge

        store._shards["images"].update(edge.UpdateOperation.delete_field_index("folders"))
        assert "folders" not in store._shards["images"].info().payload_schema
    before = store.search(unit(1, 0, 0, 0), k=3)

    with pytest.raises(XmodalError, match=r"has 1103 photos indexed before searches within folders existed; run xmodal index"):
        store.search(unit(1, 0, 0, 0), within=["/old"])
    assert store.add_folders() == 1103

    assert store.add_folders() == 0
    assert [h.path for h in store.search(unit(1, 0, 0, 0), k=5, within=["/old/1"])] == ["/old/1/x.jpg"]
    assert len(store.search(unit(1, 0, 0, 0), k=2000, within=["/old/0"])) == 1101
    assert store.search(unit(1, 0, 0, 0), k=3) == before  # vectors and facts untouched
    np.testing.assert_allclose(store.get("/old/2/x.jpg").visual, unit(1, 0, 0), atol=1e-6)
    if backend == "edge":
        assert "folders" in store._shards["images"].info().payload_schema


def test_words_are_searched_in_their_own_collection(store):
    store.upsert_images([photo("cat.jpg", (1, 0, 0, 0))])
    store.upsert_words(["cat", "dog", "car"], np.array([unit(1, 0.1, 0, 0), unit(0.5, 1, 0, 0), unit(0, 0, 1, 0)]))

    neighbours = store.search_words(unit(1, 0, 0, 0), k=2)

    assert [n.word for n in neighbours] == ["cat", "dog"]
    assert neighbours[0].score == pytest.approx(unit(1, 0.1, 0, 0)[0], abs=1e-5)
    assert store.count() == 1  # words are not photos


# -- keeping an index up to date ------------------------------------------------------


def test_upsert_at_the_same_path_replaces_the_photo(store):
    store.upsert_images([photo("a.jpg", (1, 0, 0, 0), content="old")])
    store.upsert_images([photo("a.jpg", (0, 1, 0, 0), content="new")])

    assert store.count() == 1
    assert store.get("a.jpg").info.hash == "new"
    assert store.find_by_hash("old") is None
    assert store.search(unit(0, 1, 0, 0), k=1)[0].score == pytest.approx(1.0, abs=1e-5)


def test_delete_paths_forgets_only_those_photos(store):
    store.upsert_images([photo("a.jpg", (1, 0, 0, 0)), photo("b.jpg", (0, 1, 0, 0)), photo("c.jpg", (0, 0, 1, 0))])

    store.delete_paths(["a.jpg", "c.jpg", "never-indexed.jpg"])

    assert store.count() == 1
    assert [i.path for i in store.images()] == ["b.jpg"]
    assert [h.path for h in store.search(unit(1, 0, 0, 0), k=10)] == ["b.jpg"]
    assert store.get("a.jpg") is None


def test_images_lists_every_photo_with_its_facts_across_pages(store):
    records = [photo(f"dir/{i:05}.jpg", (1, i, 0, 0)) for i in range(2100)]  # over two scroll pages
    store.upsert_images(records)

    listed = list(store.images())

    assert sorted(listed, key=lambda info: info.path) == [r.info for r in records]
    assert store.count() == 2100


def test_vectors_lists_every_photo_with_its_visual_vector_across_pages(store):
    records = [photo(f"/p/{i % 2}/{i:05}.jpg", (1, 0, 0, 0), visual=(1, i, 2)) for i in range(1500)]  # two pages
    store.upsert_images(records)

    listed = {info.path: (info, vector) for info, vector in store.vectors("visual")}

    assert sorted(listed) == sorted(r.info.path for r in records)
    for record in records[:: 97]:
        info, vector = listed[record.info.path]
        assert info == record.info
        np.testing.assert_allclose(vector, record.visual, atol=1e-6)
    within = [info.path for info, _ in store.vectors("visual", within=["/p/1"])]
    assert len(within) == 750 and all(path.startswith("/p/1/") for path in within)
    assert list(store.vectors("visual", within=["/nowhere"])) == []
    semantic = dict((info.path, vector) for info, vector in store.vectors("semantic", within=["/p/0"]))
    np.testing.assert_allclose(semantic["/p/0/00000.jpg"], unit(1, 0, 0, 0), atol=1e-6)


def test_vectors_of_a_kind_the_index_lacks_is_a_clear_error(backend, tmp_path):
    with open_backend(backend, tmp_path, visual_dim=None) as store:
        with pytest.raises(XmodalError, match="has no visual vectors"):
            list(store.vectors("visual"))


def test_get_returns_a_photo_with_its_vectors(store):
    record = photo("a.jpg", (1, 2, 0, 0), visual=(0, 3, 4))
    store.upsert_images([record])

    found = store.get("a.jpg")

    assert found.info == record.info
    np.testing.assert_allclose(found.semantic, record.semantic, atol=1e-6)
    np.testing.assert_allclose(found.visual, unit(0, 3, 4), atol=1e-6)
    assert store.get("b.jpg") is None


def test_a_moved_file_keeps_its_vectors_through_find_by_hash(store):
    store.upsert_images(
        [photo("old/a.jpg", (1, 2, 0, 0), visual=(0, 3, 4), content="same"), photo("b.jpg", (0, 0, 1, 0))]
    )

    found = store.find_by_hash("same")
    moved = ImageInfo("new/a.jpg", found.info.hash, found.info.size, 1_800_000_000_500_000_000, found.info.width, found.info.height)
    store.upsert_images([ImageRecord(moved, found.semantic, found.visual)])
    store.delete_paths(["old/a.jpg"])

    assert sorted(i.path for i in store.images()) == ["b.jpg", "new/a.jpg"]
    hit = store.search(unit(0, 3, 4), using="visual", k=1)[0]
    assert (hit.path, hit.info.mtime_ns) == ("new/a.jpg", 1_800_000_000_500_000_000)
    assert hit.score == pytest.approx(1.0, abs=1e-5)
    assert store.find_by_hash("nothing-has-this") is None


def test_copies_of_one_photo_are_two_points(store):
    store.upsert_images(
        [photo("a.jpg", (1, 0, 0, 0), content="same"), photo("copy/a.jpg", (1, 0, 0, 0), content="same")]
    )

    assert sorted(h.path for h in store.search(unit(1, 0, 0, 0), k=5)) == ["a.jpg", "copy/a.jpg"]
    store.delete_paths(["a.jpg"])
    assert store.find_by_hash("same").info.path == "copy/a.jpg"


def test_point_ids_never_change():
    """Existing indexes are keyed by these ids: a change would orphan every stored photo."""
    assert point_id("/photos/cat.jpg") == "d377ef49-4a46-8618-2194-7af266f8ce4c"


# -- meta, persistence and life -----------------------------------------------------------


def test_meta_round_trips_and_survives_reopening(backend, tmp_path):
    meta = {"space": {"name": "tiny", "checksum": "sha256:0123", "dim": 4, "size": 12}, "encoder": {"visual": "x"}}
    with open_backend(backend, tmp_path) as store:
        assert store.meta == {}
        store.set_meta(meta)
        store.meta["space"]["name"] = "changed behind its back"
        assert store.meta == meta

    with open_backend(backend, tmp_path, dim=None, visual_dim=None) as store:
        assert store.meta == meta


def test_reopening_keeps_points_and_reads_the_sizes_back(backend, tmp_path):
    with open_backend(backend, tmp_path) as store:
        store.upsert_images([photo("a.jpg", (1, 0, 0, 0)), photo("b.jpg", (0, 1, 0, 0))])
        store.upsert_words(["cat"], np.array([unit(1, 0, 0, 0)]))

    with open_backend(backend, tmp_path, dim=None, visual_dim=None) as store:
        assert store.dims == {"semantic": 4, "visual": 3}
        assert store.count() == 2
        assert store.search(unit(0, 1, 0, 0), k=1)[0].path == "b.jpg"
        assert store.search_words(unit(1, 0, 0, 0), k=1)[0].word == "cat"


def test_an_index_without_visual_vectors(backend, tmp_path):
    with open_backend(backend, tmp_path, visual_dim=None) as store:
        store.upsert_images([photo("a.jpg", (1, 0, 0, 0), visual=None)])
        assert store.get("a.jpg").visual is None
        with pytest.raises(XmodalError, match="has no visual vectors"):
            store.search(unit(1, 0, 0), using="visual")
        with pytest.raises(XmodalError, match="has no visual vectors"):
            store.upsert_images([photo("b.jpg", (1, 0, 0, 0), visual=(1, 0, 0))])


def test_flushed_writes_survive_a_killed_process(backend, tmp_path):
    result = run_python(f"""
        import os
        from pathlib import Path
        from test_store import open_backend, photo
        store = open_backend({backend!r}, Path({str(tmp_path)!r}))
        store.upsert_images([photo(f"{{i}}.jpg", (1, i, 0, 0)) for i in range(50)])
        store.flush()
        os._exit(1)
    """)
    assert result.returncode == 1, result.stderr

    with open_backend(backend, tmp_path, dim=None, visual_dim=None) as store:
        assert store.count() == 50
        assert store.search(unit(1, 0, 0, 0), k=1)[0].path == "0.jpg"


def test_a_second_process_is_refused_while_the_index_is_open(tmp_path):
    child = f"""
        from pathlib import Path
        from test_store import open_backend
        from xmodal.errors import XmodalError
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


def test_optimize_keeps_search_results(store):
    store.upsert_images([photo(f"{i}.jpg", (1, i, 0, 0)) for i in range(20)])
    store.optimize()
    store.flush()

    assert store.search(unit(0, 1, 0, 0), k=1)[0].path == "19.jpg"


# -- opening ---------------------------------------------------------------------------------


def test_open_store_picks_the_back_end(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("XMODAL_INDEX", raising=False)
    monkeypatch.delenv("XMODAL_QDRANT_URL", raising=False)
    with open_store(dim=4, visual_dim=3) as store:
        assert isinstance(store, EdgeStore)
        assert store.location == str(tmp_path / "data" / "xmodal" / "index")

    monkeypatch.setenv("XMODAL_INDEX", str(tmp_path / "chosen"))
    with open_store(dim=4) as store:
        assert store.location == str(tmp_path / "chosen")

    monkeypatch.setenv("XMODAL_QDRANT_URL", ":memory:")
    with open_store(dim=4) as store:
        assert isinstance(store, ServerStore)
    with open_store(tmp_path / "explicit", dim=4) as store:  # an explicit folder beats the environment
        assert store.location == str(tmp_path / "explicit")


# -- one-line errors -------------------------------------------------------------------------------


def test_vectors_of_the_wrong_size_are_refused(store):
    with pytest.raises(XmodalError, match=r"^image 'a.jpg' has a 3-d semantic vector; index .* holds 4-d"):
        store.upsert_images([ImageRecord(photo("a.jpg", (1, 0, 0, 0)).info, unit(1, 0, 0), unit(1, 0, 0))])
    with pytest.raises(XmodalError, match=r"^image 'a.jpg' has no visual vector"):
        store.upsert_images([photo("a.jpg", (1, 0, 0, 0), visual=None)])
    with pytest.raises(XmodalError, match=r"^the query has a 5-d visual vector"):
        store.search(np.ones(5), using="visual")
    with pytest.raises(XmodalError, match=r"^2 words came with vectors of shape \(2, 3\)"):
        store.upsert_words(["a", "b"], np.ones((2, 3)))
    assert store.count() == 0


def test_reopening_with_other_sizes_is_refused(backend, tmp_path):
    open_backend(backend, tmp_path).close()

    with pytest.raises(XmodalError, match=r"holds 4-d semantic vectors, not 50-d; rebuild it"):
        open_backend(backend, tmp_path, dim=50, visual_dim=3)
    with pytest.raises(XmodalError, match=r"holds 3-d visual vectors, not 1280-d"):
        open_backend(backend, tmp_path, dim=4, visual_dim=1280)
    open_backend(backend, tmp_path).close()  # a refusal leaves the index free


def test_opening_a_missing_index_needs_its_sizes(backend, tmp_path):
    with pytest.raises(XmodalError, match="no xmodal index .*; index some photos first"):
        open_backend(backend, tmp_path, dim=None, visual_dim=None)
    if backend == "edge":
        assert not (tmp_path / "index").exists()


def test_a_folder_that_is_not_an_index_is_refused(tmp_path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.jpg").write_bytes(b"not an index")

    with pytest.raises(XmodalError, match=r"photos is not an xmodal index \(it has no xmodal.json\)"):
        EdgeStore(tmp_path / "photos", dim=4)
    with pytest.raises(XmodalError, match=r"is not a folder"):
        EdgeStore(tmp_path / "photos" / "cat.jpg", dim=4)
    assert sorted(p.name for p in (tmp_path / "photos").iterdir()) == ["cat.jpg"]  # left untouched


def test_a_collection_that_is_not_an_index_is_refused():
    from qdrant_client import models

    client = QdrantClient(":memory:")
    plain = models.VectorParams(size=4, distance=models.Distance.COSINE)
    client.create_collection("xmodal_images", vectors_config=plain)

    refusal = r"^collection 'xmodal_images' \('xmodal' at memory\) is not an xmodal index$"
    with pytest.raises(XmodalError, match=refusal):
        ServerStore(client, dim=4, where="memory")


def test_a_server_too_old_for_collection_metadata_is_refused(monkeypatch):
    client = QdrantClient(":memory:")
    monkeypatch.setattr(client, "info", lambda: SimpleNamespace(version="1.15.4"))

    with pytest.raises(XmodalError, match=r"^Qdrant at http://old:6333 is version 1.15.4; xmodal needs 1.16 or newer"):
        ServerStore(client, dim=4, where="http://old:6333")


def test_a_url_with_no_server_is_a_one_line_error():
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"

    with pytest.raises(XmodalError, match=rf"^cannot reach Qdrant at {url}: .*refused") as caught:
        open_store(url=url, dim=4)
    assert "\n" not in str(caught.value)


def test_a_lock_that_fails_for_another_reason_is_one_line(tmp_path, monkeypatch):
    import errno
    import fcntl

    def no_locks(fd, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    with pytest.raises(XmodalError, match=rf"^cannot lock index {tmp_path / 'index'}: No locks available$"):
        open_store(tmp_path / "index", dim=4)
