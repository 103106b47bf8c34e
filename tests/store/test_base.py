"""The store's contract (xmodal.store.base), run against both back ends: qdrant-edge in a
folder, and qdrant-client's local mode standing in for a server (same calls, no server)."""

from __future__ import annotations

from datetime import timezone

import numpy as np
import pytest

from tests.store.stores import (
    STORED,
    moment,
    old_photos,
    open_backend,
    photo,
    run_python,
    unit,
)
from xmodal.core.errors import XmodalError
from xmodal.store import (
    EdgeStore,
    ImageInfo,
    ImageRecord,
    ServerStore,
    open_store,
    point_id,
)


def test_search_ranks_photos_by_cosine_similarity(store):
    store.upsert_images(
        [photo("far.jpg", (0, 0, 1, 0)), photo("near.jpg", (1, 0.2, 0, 0)), photo("mid.jpg", (1, 1, 0, 0))]
    )

    hits = store.search(unit(1, 0, 0, 0), k=3)

    assert [h.path for h in hits] == ["near.jpg", "mid.jpg", "far.jpg"]
    assert [h.score for h in hits] == pytest.approx([unit(1, 0.2, 0, 0)[0], unit(1, 1, 0, 0)[0], 0.0], abs=STORED)
    assert hits[0].info == photo("near.jpg", (1, 0, 0, 0)).info
    assert len(store.search(unit(1, 0, 0, 0), k=2)) == 2


def test_search_can_return_the_searched_vectors(store):
    """What the hub penalty re-ranks with (xmodal.devise.hubness): each hit's own vector, on both back ends."""
    store.upsert_images([photo("near.jpg", (1, 0.2, 0, 0), visual=(0, 1, 0)), photo("far.jpg", (0, 0, 1, 0))])

    hits = store.search(unit(1, 0, 0, 0), k=2, vectors=True)
    assert [h.path for h in hits] == ["near.jpg", "far.jpg"]
    assert np.allclose(np.stack([h.vector for h in hits]), [unit(1, 0.2, 0, 0), unit(0, 0, 1, 0)], atol=STORED)
    assert hits[0].vector.dtype == np.float32
    looks = store.search(unit(0, 1, 0), using="visual", k=1, vectors=True)
    assert np.allclose(looks[0].vector, unit(0, 1, 0), atol=STORED)  # the vector that was searched
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


def test_a_run_cut_short_before_folders_were_added_keeps_its_recorded_roots(store):
    """record_run, in the finally of an interrupted run on an index from before folders were
    recorded, must neither raise over the interruption nor drop a root it cannot look into."""
    from xmodal.store.info import ROOTS, record_run

    old_photos(store, ["/gone/x.jpg"])
    store.set_meta({ROOTS: ["/gone"]})
    record_run(store, "/photos")
    assert store.meta[ROOTS] == ["/gone", "/photos"]


def test_holds_under_reads_the_folders_field(store):
    store.upsert_images([photo("/a/b/x.jpg", (1, 0, 0, 0))])
    assert store.holds_under(["/a"]) and store.holds_under(["/a/b"]) and not store.holds_under(["/a/c"])
    assert [info.path for info in store.images_under(["/a", "/c"])] == ["/a/b/x.jpg"]


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
    np.testing.assert_allclose(store.get("/old/2/x.jpg").visual, unit(1, 0, 0), atol=STORED)
    if backend == "edge":
        assert "folders" in store._shards["images"].info().payload_schema


def test_taken_keeps_only_photos_taken_in_the_span(store):
    store.upsert_images(
        [
            photo("/p/new-year.jpg", (1, 0, 0, 0), taken="2019-01-01T00:30:00+01:00"),
            photo("/p/tokyo.jpg", (1, 0.1, 0, 0), taken="2019-01-01T07:00:00+09:00"),  # 2018-12-31 23:00 at +01:00
            photo("/p/march.jpg", (1, 0.2, 0, 0), taken="2019-03-31T23:59:59+01:00"),
            photo("/q/april.jpg", (1, 0.3, 0, 0), taken="2019-04-01T00:00:00+01:00"),
            photo("/q/later.jpg", (1, 0.4, 0, 0), taken="2024-08-01T12:00:00-07:00"),
        ]
    )
    query = unit(1, 0, 0, 0)

    def found(*span, **options) -> list[str]:
        return [h.path for h in store.search(query, k=10, taken=span, **options)]

    first_quarter = (moment("2019-01-01T00:00:00"), moment("2019-04-01T00:00:00"))
    assert found(*first_quarter) == ["/p/new-year.jpg", "/p/march.jpg"]  # the start kept, the end left out
    assert found(moment("2019-01-01T00:00:00"), None) == ["/p/new-year.jpg", "/p/march.jpg", "/q/april.jpg", "/q/later.jpg"]
    assert found(None, moment("2019-01-01T00:00:00")) == ["/p/tokyo.jpg"]  # offsets compare as moments
    assert found(*first_quarter, within=["/q"]) == []
    assert found(moment("2019-01-01T00:00:00"), None, within=["/q"], threshold=0.95) == ["/q/april.jpg"]
    assert found(moment("2030-01-01T00:00:00"), None) == []
    assert len(found(None, None)) == len(store.search(query, k=10, taken=None)) == 5
    store.optimize()  # searched through the datetime index now, with the same answer
    assert found(*first_quarter) == ["/p/new-year.jpg", "/p/march.jpg"]
    looks = store.search(unit(1, 0, 0), using="visual", k=10, taken=first_quarter)  # the same visual vectors: any order
    assert sorted(h.path for h in looks) == ["/p/march.jpg", "/p/new-year.jpg"]


def test_a_span_gives_k_photos_taken_in_it_among_closer_ones(store):
    """As for folders, the date filter runs inside the search, not over its top k."""
    store.upsert_images(
        [photo(f"/near/{i}.jpg", (1, 0.001 * i, 0, 0), taken="2024-05-01T10:00:00+00:00") for i in range(300)]
        + [photo(f"/old/{i}.jpg", (0.2, 1, 0.01 * i, 0), taken="2009-05-01T10:00:00+00:00") for i in range(10)]
    )
    store.optimize()
    span = (moment("2009-01-01T00:00:00", timezone.utc), moment("2010-01-01T00:00:00", timezone.utc))
    assert sorted(h.path for h in store.search(unit(1, 0, 0, 0), k=10, taken=span)) == sorted(f"/old/{i}.jpg" for i in range(10))


def test_dates_are_stored_indexed_and_give_the_range(store, backend):
    assert store.taken_range() is None  # an empty index
    store.upsert_images(
        [
            photo("/p/a.jpg", (1, 0, 0, 0), taken="2019-03-05T14:22:01+01:00"),
            photo("/p/b.jpg", (0, 1, 0, 0), taken="2024-08-01T12:00:00-07:00"),
            photo("/p/c.jpg", (0, 0, 1, 0), taken="2019-03-05T13:30:00+00:00"),
        ]
    )
    payload = store._retrieve("images", [point_id("/p/a.jpg")])[0].payload
    assert (payload["taken"], payload["taken_from"], payload["camera"]) == ("2019-03-05T14:22:01+01:00", "exif", "Canon EOS 80D")
    assert store.get("/p/a.jpg").info == photo("/p/a.jpg", (1, 0, 0, 0), taken="2019-03-05T14:22:01+01:00").info
    plain = photo("/p/plain.jpg", (1, 1, 0, 0))  # no date, no camera: the fields are absent, not null
    store.upsert_images([plain])
    assert not {"taken", "taken_from", "camera"} & set(store._retrieve("images", [point_id("/p/plain.jpg")])[0].payload)
    assert store.get("/p/plain.jpg").info == plain.info and store.undated() == 1
    assert store.taken_range() == ("2019-03-05T14:22:01+01:00", "2024-08-01T12:00:00-07:00")  # by moment, not by text
    if backend == "edge":
        import qdrant_edge as edge

        assert store._shards["images"].info().payload_schema["taken"].data_type == edge.PayloadSchemaType.Datetime


def test_a_store_that_alone_writes_its_index_counts_photos_lacking_a_field_once(store, backend, monkeypatch):
    store.upsert_images([photo("/p/a.jpg", (1, 0, 0, 0), taken="2024-01-02T03:04:05+00:00")])
    counted = []
    count = store._count
    monkeypatch.setattr(store, "_count", lambda collection, lacking=None: counted.append(lacking) or count(collection, lacking))
    span = (moment("2000-01-01T00:00:00"), None)
    for _ in range(3):
        assert [h.path for h in store.search(unit(1, 0, 0, 0), within=["/p"], taken=span)] == ["/p/a.jpg"]
    assert counted == ["folders", "taken"] * (1 if backend == "edge" else 3)  # a server may have other writers

    store.upsert_images([photo("/p/b.jpg", (0, 1, 0, 0))])  # no date: the next date search counts again
    with pytest.raises(XmodalError, match=r"has 1 photos indexed before searches by date existed"):
        store.search(unit(1, 0, 0, 0), taken=span)
    assert [h.path for h in store.search(unit(1, 0, 0, 0), k=5, within=["/p"])] == ["/p/a.jpg", "/p/b.jpg"]


def test_photos_indexed_before_dates_existed_get_them_from_add_dates(store, backend):
    old = [f"/old/{i}.jpg" for i in range(1030)]  # over a page
    old_photos(store, old)
    store.upsert_images([photo("/new/a.jpg", (1, 0, 0, 0), taken="2024-01-02T03:04:05+00:00")])
    if backend == "edge":  # an index from before had no dates index either
        import qdrant_edge as edge

        store._shards["images"].update(edge.UpdateOperation.delete_field_index("taken"))
    before = store.search(unit(1, 0, 0, 0), k=3)
    span = (moment("2000-01-01T00:00:00"), None)
    with pytest.raises(XmodalError, match=r"has 1030 photos indexed before searches by date existed; run xmodal index"):
        store.search(unit(1, 0, 0, 0), taken=span)
    asked = []

    def read(files: list[tuple[str, int]]) -> list[dict]:
        asked.extend(files)
        return [{"taken": "2001-02-03T04:05:06+00:00", "taken_from": "mtime", "camera": None} for _ in files]

    assert store.add_dates(read) == 1030
    assert sorted(asked) == sorted((path, 1_700_000_000_250_000_000) for path in old)  # each photo once, with its mtime
    assert store.add_dates(read) == 0 and len(asked) == 1030
    assert store.undated() == 0
    assert len(store.search(unit(1, 0, 0, 0), k=2000, taken=(None, moment("2002-01-01T00:00:00")))) == 1030
    assert [h.path for h in store.search(unit(1, 0, 0, 0), k=5, taken=(moment("2024-01-01T00:00:00"), None))] == ["/new/a.jpg"]
    info = store.get("/old/7.jpg").info
    assert (info.taken, info.taken_from, info.camera) == ("2001-02-03T04:05:06+00:00", "mtime", None)
    assert [(h.path, h.score) for h in store.search(unit(1, 0, 0, 0), k=3)] == [(h.path, h.score) for h in before]
    np.testing.assert_allclose(store.get("/old/2.jpg").visual, unit(1, 0, 0), atol=STORED)  # vectors untouched
    assert store.taken_range() == ("2001-02-03T04:05:06+00:00", "2024-01-02T03:04:05+00:00")
    if backend == "edge":
        assert "taken" in store._shards["images"].info().payload_schema


def test_upsert_at_the_same_path_replaces_the_photo(store):
    store.upsert_images([photo("a.jpg", (1, 0, 0, 0), content="old")])
    store.upsert_images([photo("a.jpg", (0, 1, 0, 0), content="new")])

    assert store.count() == 1
    assert store.get("a.jpg").info.hash == "new"
    assert store.find_by_hash("old") is None
    assert store.search(unit(0, 1, 0, 0), k=1)[0].score == pytest.approx(1.0, abs=STORED)


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
        np.testing.assert_allclose(vector, record.visual, atol=STORED)
    within = [info.path for info, _ in store.vectors("visual", within=["/p/1"])]
    assert len(within) == 750 and all(path.startswith("/p/1/") for path in within)
    assert list(store.vectors("visual", within=["/nowhere"])) == []
    semantic = dict((info.path, vector) for info, vector in store.vectors("semantic", within=["/p/0"]))
    np.testing.assert_allclose(semantic["/p/0/00000.jpg"], unit(1, 0, 0, 0), atol=STORED)


def test_vectors_of_a_kind_the_index_lacks_is_a_clear_error(backend, tmp_path):
    with open_backend(backend, tmp_path, visual_dim=None) as store:
        with pytest.raises(XmodalError, match="has no visual vectors"):
            list(store.vectors("visual"))


def test_get_returns_a_photo_with_its_vectors(store):
    record = photo("a.jpg", (1, 2, 0, 0), visual=(0, 3, 4))
    store.upsert_images([record])

    found = store.get("a.jpg")

    assert found.info == record.info
    np.testing.assert_allclose(found.semantic, record.semantic, atol=STORED)
    np.testing.assert_allclose(found.visual, unit(0, 3, 4), atol=STORED)
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
    assert hit.score == pytest.approx(1.0, abs=STORED)
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

    with open_backend(backend, tmp_path, dim=None, visual_dim=None) as store:
        assert store.dims == {"semantic": 4, "visual": 3}
        assert store.count() == 2
        assert store.search(unit(0, 1, 0, 0), k=1)[0].path == "b.jpg"


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
        from stores import open_backend, photo
        store = open_backend({backend!r}, Path({str(tmp_path)!r}))
        store.upsert_images([photo(f"{{i}}.jpg", (1, i, 0, 0)) for i in range(50)])
        store.flush()
        os._exit(1)
    """)
    assert result.returncode == 1, result.stderr

    with open_backend(backend, tmp_path, dim=None, visual_dim=None) as store:
        assert store.count() == 50
        assert store.search(unit(1, 0, 0, 0), k=1)[0].path == "0.jpg"


def test_optimize_keeps_search_results(store):
    store.upsert_images([photo(f"{i}.jpg", (1, i / 4, 0, 0)) for i in range(20)])  # cosines 2e-3 apart
    store.optimize()
    store.flush()

    assert store.search(unit(0, 1, 0, 0), k=1)[0].path == "19.jpg"


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


def test_vectors_of_the_wrong_size_are_refused(store):
    with pytest.raises(XmodalError, match=r"^image 'a.jpg' has a 3-d semantic vector; index .* holds 4-d"):
        store.upsert_images([ImageRecord(photo("a.jpg", (1, 0, 0, 0)).info, unit(1, 0, 0), unit(1, 0, 0))])
    with pytest.raises(XmodalError, match=r"^image 'a.jpg' has no visual vector"):
        store.upsert_images([photo("a.jpg", (1, 0, 0, 0), visual=None)])
    with pytest.raises(XmodalError, match=r"^the query has a 5-d visual vector"):
        store.search(np.ones(5), using="visual")
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


def test_the_count_stays_right_through_replacements_deletions_and_a_reopen(store):
    """Unfiltered counts come from the segments' own point counts, not a scan (70 ms at 1M):
    they must still leave out deleted and replaced points, built graphs or not."""
    store.upsert_images([photo(f"{i:04}.jpg", (1, i, 0, 0)) for i in range(300)])
    store.optimize()
    store.delete_paths([f"{i:04}.jpg" for i in range(0, 300, 3)])
    store.upsert_images([photo(f"{i:04}.jpg", (0, 1, i, 0), content=f"again {i}") for i in range(1, 300, 3)])
    store.upsert_images([photo(f"new-{i}.jpg", (0, 0, 1, i)) for i in range(7)])
    assert store.count() == 300 - 100 + 7 == len(list(store.images()))
    store.flush()
    store.optimize()
    assert store.count() == 207
