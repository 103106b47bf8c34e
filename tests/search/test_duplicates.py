"""Duplicates: the grouping on hand-made vectors (both store back ends), then exact,
resized and cropped copies among distinct photos in a real index (the shipped model),
through the Engine and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

import xmodal
from cli.app import app
from tests.store.stores import BACKENDS, open_backend, unit
from xmodal.core.errors import XmodalError
from xmodal.search.duplicates import NEIGHBOURS, THRESHOLD, find_duplicates
from xmodal.store import ImageInfo, ImageRecord

runner = CliRunner()


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path):
    """A fresh index with 3-d visual vectors, on each back end (tests/store/stores.py)."""
    with open_backend(request.param, tmp_path) as opened:
        yield opened


def photo(path: str, visual, content: str | None = None, pixels: tuple[int, int] = (640, 480), size: int = 1000) -> ImageRecord:
    info = ImageInfo(path, content or f"sha256:{path}", size, 1_700_000_000_000_000_000, *pixels)
    return ImageRecord(info, unit(1, 0, 0, 0), unit(*visual))


def paths_of(found) -> list[list[str]]:
    return [[info.path for info in group.photos] for group in found.groups]


# -- the grouping, on vectors one can check by hand (power 1: the plain cosine) -----------------


def test_exact_copies_by_hash_near_ones_by_score_and_distinct_photos_alone(store):
    store.upsert_images([
        photo("/p/a.jpg", (1, 0, 0), content="same", pixels=(320, 240)),
        photo("/p/b/a copy.jpg", (1, 0, 0), content="same", pixels=(320, 240), size=900),
        photo("/p/a big.jpg", (1, 0.2, 0)),  # cosine 0.98 to a.jpg
        photo("/p/other.jpg", (0, 1, 0)),
        photo("/p/z1.jpg", (0, 0, 1)),
        photo("/p/z2.jpg", (0, 0.1, 1)),  # cosine 0.995 to z1.jpg
    ])

    found = find_duplicates(store, 0.95, power=1.0)

    assert found.photos == 6 and found.threshold == 0.95
    # the largest group first; in a group the most pixels, then the most bytes, then the path
    assert paths_of(found) == [["/p/a big.jpg", "/p/a.jpg", "/p/b/a copy.jpg"], ["/p/z1.jpg", "/p/z2.jpg"]]
    first, second = found.groups
    assert not first.exact and not second.exact
    exact = [pair for pair in first.pairs if pair.exact]
    assert [(pair.a, pair.b, pair.score) for pair in exact] == [("/p/a.jpg", "/p/b/a copy.jpg", 1.0)]
    near = {(pair.a, pair.b): pair.score for pair in first.pairs if not pair.exact}
    assert set(near) == {("/p/a big.jpg", "/p/a.jpg"), ("/p/a big.jpg", "/p/b/a copy.jpg")}
    assert all(score == pytest.approx(float(unit(1, 0.2, 0) @ unit(1, 0, 0)), abs=1e-3) for score in near.values())
    assert [pair.to_dict()["score"] for pair in second.pairs] == [pytest.approx(0.995, abs=1e-3)]
    # at a stricter threshold only the byte-for-byte copies stay together
    strict = find_duplicates(store, 0.999, power=1.0)
    assert paths_of(strict) == [["/p/a.jpg", "/p/b/a copy.jpg"]] and strict.groups[0].exact


def test_one_file_indexed_through_a_link_and_on_its_own_is_marked_the_same_file(store, tmp_path):
    """Not two copies, one of which could go: both paths are one file (one inode)."""
    real = tmp_path / "photos"
    real.mkdir()
    (real / "a.jpg").write_bytes(b"one file")
    (real / "b.jpg").write_bytes(b"one file")  # a true copy, beside it
    (tmp_path / "link").symlink_to(real)
    store.upsert_images([
        photo(str(real / "a.jpg"), (1, 0, 0), content="same"),
        photo(str(real / "b.jpg"), (1, 0, 0), content="same"),
        photo(str(tmp_path / "link" / "a.jpg"), (1, 0, 0), content="same"),
    ])
    (group,) = find_duplicates(store, 0.99, power=1.0).groups
    marked = {(pair.a, pair.b): pair.same_file for pair in group.pairs if pair.exact}
    assert marked == {(str(tmp_path / "link" / "a.jpg"), str(real / "a.jpg")): True,
                      (str(tmp_path / "link" / "a.jpg"), str(real / "b.jpg")): False}
    closest = {entry["path"]: entry["closest"] for entry in group.to_dict()["photos"]}
    assert closest[str(tmp_path / "link" / "a.jpg")]["same_file"] is True


def test_the_same_file_is_found_whatever_path_sorts_first(store, tmp_path):
    """A copy that sorts before both paths of one file must not hide that they are one file."""
    real = tmp_path / "p"
    real.mkdir()
    for name in ("a_copy.jpg", "b.jpg"):
        (real / name).write_bytes(b"same bytes")
    (tmp_path / "q").symlink_to(real)
    store.upsert_images([photo(str(path), (1, 0, 0), content="same") for path in (real / "a_copy.jpg", real / "b.jpg", tmp_path / "q" / "b.jpg")])
    (group,) = find_duplicates(store, 0.99, power=1.0).groups
    assert {(pair.a, pair.b, pair.same_file) for pair in group.pairs} == {
        (str(real / "a_copy.jpg"), str(real / "b.jpg"), False),
        (str(real / "b.jpg"), str(tmp_path / "q" / "b.jpg"), True),
    }


def test_a_chain_of_copies_is_one_group_though_its_ends_differ(store):
    angles = np.radians([0, 15, 30, 45, 60])  # neighbours 0.966 apart, the ends 0.5
    store.upsert_images([photo(f"/p/{i}.jpg", (np.cos(a), np.sin(a), 0)) for i, a in enumerate(angles)])

    found = find_duplicates(store, 0.95, power=1.0)

    assert [sorted(group) for group in paths_of(found)] == [[f"/p/{i}.jpg" for i in range(5)]]
    assert len(found.groups[0].pairs) == 4  # only the links that reached the threshold


def test_more_copies_than_one_search_returns_are_one_group(store):
    copies = 3 * NEIGHBOURS
    store.upsert_images([photo(f"/p/{i:02}.jpg", (1, 1, 0), content="same") for i in range(copies)])
    store.upsert_images([photo(f"/q/{i:02}.jpg", (0, 1, 1)) for i in range(copies)])  # same looks, other bytes

    found = find_duplicates(store, 0.99, power=1.0)

    assert sorted(len(group.photos) for group in found.groups) == [copies, copies]
    by_hash = next(group for group in found.groups if group.exact)
    assert len(by_hash.pairs) == copies - 1 and all(pair.exact and pair.a == "/p/00.jpg" for pair in by_hash.pairs)


def test_within_compares_only_photos_under_those_folders(store):
    store.upsert_images([
        photo("/p/keep/a.jpg", (1, 0, 0)),
        photo("/p/keep/b.jpg", (1, 0.1, 0)),
        photo("/p/elsewhere/a copy.jpg", (1, 0.05, 0)),
        photo("/p/elsewhere/c.jpg", (0, 1, 0)),
        photo("/p/keep/c copy.jpg", (0, 1, 0.05)),
    ])

    assert paths_of(find_duplicates(store, 0.95, ["/p/keep"], power=1.0)) == [["/p/keep/a.jpg", "/p/keep/b.jpg"]]
    assert len(find_duplicates(store, 0.95, power=1.0).groups) == 2
    everywhere = find_duplicates(store, 0.95, ["/p/keep", "/p/elsewhere"], power=1.0)
    assert [len(group) for group in paths_of(everywhere)] == [3, 2] and everywhere.photos == 5
    assert find_duplicates(store, 0.95, ["/nowhere"], power=1.0).photos == 0


def test_the_power_scores_which_features_fire_more_than_how_strongly(store):
    """A copy whose strong features are weaker (blur, a smaller copy) keeps its pattern:
    the plain cosine of (9, 1, 1) and (2, 1, 1) is 0.90, after the power of 0.25 0.98."""
    store.upsert_images([photo("/p/sharp.jpg", (9, 1, 1)), photo("/p/soft.jpg", (2, 1, 1))])

    assert find_duplicates(store, 0.95, power=1.0).groups == ()
    found = find_duplicates(store, 0.95)
    assert paths_of(found) == [["/p/sharp.jpg", "/p/soft.jpg"]]
    assert found.groups[0].pairs[0].score == pytest.approx(0.983, abs=1e-3)


@pytest.mark.parametrize("threshold", [0.0, -0.5, 1.01])
def test_a_threshold_that_is_no_score_is_refused(store, threshold):
    with pytest.raises(XmodalError, match="threshold is a score above 0 and at most 1"):
        find_duplicates(store, threshold)


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_index_without_visual_vectors_says_so(backend, tmp_path):
    with open_backend(backend, tmp_path, visual_dim=None) as no_looks:
        with pytest.raises(XmodalError, match="has no visual vectors"):
            find_duplicates(no_looks)


# -- a real index: the example photos and copies of four of them (tests/conftest.py) ----------------


def test_exact_resized_and_cropped_copies_are_grouped_and_distinct_photos_are_not(photo_copies):
    photos, index = photo_copies
    copies = photos / "copies"
    with xmodal.open(index) as engine:
        found = engine.duplicates()

    assert found.threshold == THRESHOLD and found.photos == 16
    assert paths_of(found) == [
        [str(photos / "coffee.jpg"), str(copies / "coffee q40.jpg"), str(copies / "coffee crop.jpg")],  # pixels, bytes
        [str(photos / "astronaut.jpg"), str(copies / "astronaut half.jpg")],
        [str(photos / "chelsea.jpg"), str(copies / "chelsea copy.jpg")],
    ]
    coffee, astronaut, chelsea = found.groups
    assert chelsea.exact and [pair.exact for pair in chelsea.pairs] == [True]
    assert not astronaut.exact and not any(pair.exact for pair in astronaut.pairs + coffee.pairs)
    assert all(THRESHOLD <= pair.score < 1 for pair in astronaut.pairs + coffee.pairs)
    grouped = {info.path for group in found.groups for info in group.photos}
    assert str(photos / "grass.jpg") not in grouped and str(photos / "gravel.jpg") not in grouped  # the closest distinct pair
    big, half = astronaut.to_dict()["photos"]
    assert (big["width"], half["width"]) == (512, 256) and big["bytes"] == (photos / "astronaut.jpg").stat().st_size
    assert half["closest"] == {"path": big["path"], "score": astronaut.pairs[0].to_dict()["score"], "exact": False, "same_file": False}


def test_within_a_folder_finds_the_copies_among_themselves(photo_copies):
    photos, index = photo_copies
    copies = photos / "copies"
    with xmodal.open(index) as engine:
        found = engine.duplicates(within=copies)
        only_exact = engine.duplicates(1.0)

    assert found.photos == 4
    assert paths_of(found) == [[str(copies / "coffee q40.jpg"), str(copies / "coffee crop.jpg")]]
    assert paths_of(only_exact) == [[str(photos / "chelsea.jpg"), str(copies / "chelsea copy.jpg")]]


def test_cli_lists_groups_as_json_and_as_a_table_and_touches_no_file(photo_copies):
    photos, index = photo_copies
    before = sorted((path, path.stat().st_mtime_ns) for path in photos.rglob("*"))
    with xmodal.open(index) as engine:
        expected = engine.duplicates().to_dict()

    as_json = runner.invoke(app, ["duplicates", "--json", "--index", str(index)])
    table = runner.invoke(app, ["duplicates", "--index", str(index)])

    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.stdout) == expected
    assert table.exit_code == 0, table.output
    assert "3 groups, 7 photos of 16" in table.output
    assert "exact copy" in table.output and "512×512" in table.output and "256×256" in table.output
    assert sorted((path, path.stat().st_mtime_ns) for path in photos.rglob("*")) == before  # nothing deleted or moved
    with xmodal.open(index) as engine:
        assert engine.count() == 16


def test_cli_says_when_there_are_no_duplicates_and_refuses_a_zero_threshold(photo_copies):
    photos, index = photo_copies

    none = runner.invoke(app, ["duplicates", "--in", str(photos / "copies"), "--threshold", "0.999", "--index", str(index)])
    zero = runner.invoke(app, ["duplicates", "--threshold", "0", "--index", str(index)])

    assert none.exit_code == 0
    assert (none.stdout, none.stderr) == ("", f"no duplicates among 4 photos under {photos / 'copies'} (threshold 0.999)\n")
    assert zero.exit_code == 1 and zero.stderr.count("\n") == 1 and "above 0" in zero.stderr



def test_a_mirror_image_is_grouped_with_its_original(served_photos):
    """docs/search.md says so: the visual model sees left and right alike."""
    photos, index = served_photos  # gone.jpg is chelsea.jpg mirrored (indexed, then deleted)
    with xmodal.open(index) as engine:
        found = engine.duplicates()
    assert [str(photos / "chelsea.jpg"), str(photos / "gone.jpg")] in paths_of(found)
