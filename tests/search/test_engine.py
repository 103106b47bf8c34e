"""The search API and the index/query commands end to end, with the shipped model,
on the example photos in docs/photos (and on real Imagenette photos when present)."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import xmodal
from cli.app import app
from indexer.walk import canonical
from tests.conftest import add_exif, camera_exif, tiny_engine
from xmodal.devise.encoder import DEFAULT_MODEL
from xmodal.devise.hubness import POOL
from xmodal.devise.model import DeviseModel
from xmodal.search import feedback
from xmodal.search.analogy import ADDED, described
from xmodal.search.feedback import ANALOGIES, BANK_TEXT, NEAREST_TEXTS, SHORT_QUERIES

PHOTOS = Path(__file__).resolve().parents[2] / "docs" / "photos"
ODD_NAME = "Été à Montréal avec la famille, un nom de fichier plus long qu'une ligne.jpg"  # spaces, accents
runner = CliRunner()
STARTED = datetime.fromtimestamp(int(time.time()), timezone.utc)  # whole seconds: the meta records seconds


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    """The example photos copied and indexed once for the module, with the shipped model;
    two of them are in the subfolder few/, one under a name with spaces and accents.
    few/camera.jpg has EXIF (taken 2019-03-05 14:22:01); the others are dated by their
    files' times, rocket.jpg 2015-06-01 and the rest 2024-06-01 (noon UTC: that day in any zone)."""
    root = tmp_path_factory.mktemp("engine")
    photos = root / "photos"
    shutil.copytree(PHOTOS, photos)
    (photos / "few").mkdir()
    (photos / "astronaut.jpg").rename(photos / "few" / ODD_NAME)
    (photos / "camera.jpg").rename(photos / "few" / "camera.jpg")
    add_exif(photos / "few" / "camera.jpg", camera_exif("2019:03:05 14:22:01", "Hasselblad 500C/M"))
    for photo in photos.rglob("*.jpg"):
        day = "2015-06-01" if photo.name == "rocket.jpg" else "2024-06-01"
        stamp = datetime.fromisoformat(f"{day}T12:00:00+00:00").timestamp()
        os.utime(photo, (stamp, stamp))
    index = root / "index"
    with xmodal.open(index, create=True) as engine:
        summary = engine.index(photos)
    assert summary.added == 12 and not summary.failed
    return photos, index


def names(results):
    return [Path(r.path).name for r in results]


def test_text_finds_photos_by_meaning(indexed):
    photos, index = indexed
    with xmodal.open(index) as engine:
        assert names(engine.search("cat", k=1)) == ["chelsea.jpg"]
        assert names(engine.search("rocket", k=1)) == ["rocket.jpg"]
        assert names(engine.search("espresso", k=1)) == ["coffee.jpg"]
        results = engine.search("cat", k=12)
        assert results[0].info.width > 0 and results[0].info.hash


def test_searches_rank_by_cosine_less_each_photos_hub_penalty_and_show_that_score(indexed):
    """The shipped model's hub penalty (xmodal.devise.hubness) orders the results, and the score
    shown is the one they are ordered by: it never rises down the list; the cosine stays beside it."""
    _, index = indexed
    hub = DeviseModel.hub_of(DEFAULT_MODEL)
    reordered = []
    with xmodal.open(index) as engine:
        for query in ("a cat on a sofa", "a rocket in the sky", "a crowd of people", "a man in a hat", "something to drink"):
            results = engine.search(query, k=12)
            vectors = np.stack([engine.store.get(r.path).semantic for r in results])
            cosines = np.array([r.cosine for r in results])
            assert cosines == pytest.approx(vectors @ engine.space.query(query).vector, abs=1e-3)  # float16 storage
            scores = [r.score for r in results]
            assert scores == pytest.approx(cosines - hub.of(vectors), abs=1e-6)
            assert scores == sorted(scores, reverse=True)
            reordered.append(list(cosines) != sorted(cosines, reverse=True))
    assert any(reordered)  # the penalty changes some order, so shown cosines alone would rise down a list


@pytest.mark.parametrize("large", [True, False], ids=["large-index", "small-index"])
def test_a_short_query_is_read_as_a_photo_of_it_with_its_bank_texts_and_asked_again(indexed, monkeypatch, large):
    """One or two words: the query is first summed with the sentence "a photo of WORDS" (unit
    vectors), moved toward its 3 nearest texts of the model's bank, and, in an index of at least
    MIN_PHOTOS, the second search's query is that plus the shipped weight times the unit mean of
    its first 3 photos (xmodal.search.feedback), ranked with the hub penalty. This index of 12
    photos is small, so it is asked once unless the threshold is lowered for the test."""
    if large:
        monkeypatch.setattr(feedback, "MIN_PHOTOS", 12)
    _, index = indexed
    hub = DeviseModel.hub_of(DEFAULT_MODEL)
    bank = hub.bank.astype(np.float32)
    with xmodal.open(index) as engine:
        paths = [r.path for r in engine.search("a photo", k=12)]
        vectors = np.stack([engine.store.get(path).semantic for path in paths]).astype(np.float32)
        for query in ("rocket", "hot drink"):
            typed = engine.space.query(query).vector
            sentence = engine.space.query(f"a photo of {query}").vector
            read = typed + sentence
            read /= np.linalg.norm(read)
            assert float(read @ typed) < 0.99 and float(np.max(bank @ read)) < BANK_TEXT
            nearest = bank[np.argsort(-(bank @ read))[:NEAREST_TEXTS.k]].mean(axis=0)
            asked = read + NEAREST_TEXTS.weight * nearest / np.linalg.norm(nearest)
            asked /= np.linalg.norm(asked)
            assert float(asked @ read) < 0.99  # the bank's texts move it enough to tell the two apart
            first = np.argsort(-(vectors @ asked - hub.of(vectors)), kind="stable")[:SHORT_QUERIES.k]
            centre = vectors[first].mean(axis=0)
            moved = asked + SHORT_QUERIES.weight * centre / np.linalg.norm(centre)
            moved /= np.linalg.norm(moved)
            if not large:
                moved = asked
            results = engine.search(query, k=12)
            assert [r.cosine for r in results] == pytest.approx([vectors[paths.index(r.path)] @ moved for r in results], abs=1e-3)
            expected = np.argsort(-(vectors @ moved - hub.of(vectors)), kind="stable")
            assert [r.path for r in results][:5] == [paths[i] for i in expected][:5]
            asked_once = [vectors[paths.index(r.path)] @ asked for r in results]
            if large:  # so the check above tells them apart
                assert max(abs(a - r.cosine) for a, r in zip(asked_once, results)) > 1e-2


def test_a_short_query_that_is_a_bank_text_is_asked_as_typed_then_again(indexed, monkeypatch):
    """A scene name the model was trained on ("kitchen") is one of the bank's texts: it gets
    neither its "a photo of" sentence nor the bank's reading (xmodal.search.feedback.BANK_TEXT),
    and is asked twice from as typed (in an index of at least MIN_PHOTOS, lowered here)."""
    monkeypatch.setattr(feedback, "MIN_PHOTOS", 12)
    _, index = indexed
    hub = DeviseModel.hub_of(DEFAULT_MODEL)
    bank = hub.bank.astype(np.float32)
    with xmodal.open(index) as engine:
        paths = [r.path for r in engine.search("a photo", k=12)]
        vectors = np.stack([engine.store.get(path).semantic for path in paths]).astype(np.float32)
        typed = engine.space.query("kitchen").vector
        assert float(np.max(bank @ typed)) >= BANK_TEXT
        first = np.argsort(-(vectors @ typed - hub.of(vectors)), kind="stable")[:SHORT_QUERIES.k]
        centre = vectors[first].mean(axis=0)
        moved = typed + SHORT_QUERIES.weight * centre / np.linalg.norm(centre)
        moved /= np.linalg.norm(moved)
        results = engine.search("kitchen", k=12)
        assert [r.cosine for r in results] == pytest.approx([vectors[paths.index(r.path)] @ moved for r in results], abs=1e-3)


def test_query_is_the_one_way_in_and_says_how_it_read_the_query(indexed):
    photos, index = indexed
    chelsea = photos / "chelsea.jpg"
    with xmodal.open(index) as engine:
        text = engine.query("A cat, sitting!", k=3)
        assert (text.kind, text.using, text.notes) == ("photos", "semantic", ())
        assert names(text.results) == names(engine.search("A cat, sitting!", k=3))
        look = engine.query(photos / "gravel.jpg", k=3)  # one photo: looks, not meaning
        assert look.using == "visual" and names(look.results) == names(engine.similar(photos / "gravel.jpg", k=3))
        meaning = engine.query(str(chelsea), k=3, using="semantic")
        assert meaning.using == "semantic" and names(meaning.results) != names(engine.query(str(chelsea), k=3).results)
        assert "chelsea.jpg" not in names(meaning.results)  # the query photo is left out either way
        words = engine.query(photos / "coffee.jpg", k=2, words=True)
        assert words.kind == "words" and words.results[0].word == "espresso"
        noted = engine.query("a cat on a turquiose sofa", k=2)
        assert len(noted.notes) == 1 and '"turquiose"' in noted.notes[0] and '"turquoise"' in noted.notes[0]
        assert names(noted.results) == names(engine.query("a cat on a sofa", k=2).results)
        data = json.loads(json.dumps(noted.to_dict()))
        assert data["notes"] == list(noted.notes) and [row["path"] for row in data["results"]] == [r.path for r in noted.results]
        assert data["results"][0]["score"] == round(noted.results[0].score, 6) and data["results"][0]["width"] > 0
        assert data["results"][0]["cosine"] == round(noted.results[0].cosine, 6) != data["results"][0]["score"]
        assert words.to_dict()["results"][0] == {"word": "espresso", "score": round(words.results[0].score, 6)}


def test_query_refuses_what_does_not_fit(indexed):
    photos, index = indexed
    with xmodal.open(index) as engine:
        with pytest.raises(xmodal.XmodalError, match="using visual needs one photo as the query, not 'cat'"):
            engine.query("cat", using="visual")
        with pytest.raises(xmodal.XmodalError, match="using visual needs one photo"):  # a photo in arithmetic is not one photo
            engine.query(f"{photos / 'chelsea.jpg'} + dog", using="visual")
        with pytest.raises(xmodal.XmodalError, match="unknown using 'looks'; choose semantic or visual"):
            engine.query("cat", using="looks")
        with pytest.raises(xmodal.XmodalError, match="threshold, within, after and before choose photos"):
            engine.query("cat", words=True, threshold=0.2)
        with pytest.raises(xmodal.XmodalError, match="threshold, within, after and before choose photos"):
            engine.query("cat", words=True, after="2019")


def test_cli_json_is_the_answer_to_dict(indexed):
    _, index = indexed
    result = runner.invoke(app, ["query", "a cat on a turquiose sofa", "-k", "2", "--index", str(index), "--json"])
    assert result.exit_code == 0
    with xmodal.open(index) as engine:
        assert json.loads(result.stdout) == engine.query("a cat on a turquiose sofa", k=2).to_dict()
    assert 'note: dropped "turquiose"' in result.stderr


def test_photo_to_words_gives_vocabulary_labels(indexed):
    photos, index = indexed
    with xmodal.open(index) as engine:
        words = [hit.word for hit in engine.words(photos / "chelsea.jpg", k=10)]
        assert all("cat" in word.split() for word in words[:3])  # cats: "Egyptian cat", "domestic cat", ...
        assert [hit.word for hit in engine.words(photos / "coffee.jpg", k=1)] == ["espresso"]


def test_a_photos_words_read_each_word_with_its_sentence_and_word_arithmetic_does_not(indexed, monkeypatch):
    """Photos alone ask among words read as "a photo of WORD" too (benchmarks/photo_words.py);
    words, and photos mixed with words (read as texts), ask among the words as typed."""
    from xmodal.text import vocabulary

    asked = []
    scan = vocabulary.nearest_words

    def recording(space, vector, k=10, template=None, exclude=frozenset()):
        asked.append(template)
        return scan(space, vector, k, template, exclude)

    monkeypatch.setattr(vocabulary, "nearest_words", recording)
    photos, index = indexed
    cat = photos / "chelsea.jpg"
    with xmodal.open(index) as engine:
        found = [hit.word for hit in engine.words(cat, k=6)]
        engine.words(f"{cat} + {photos / 'coffee.jpg'}", k=3)
        engine.words(f"{cat} - {photos / 'coffee.jpg'}", k=3)
        engine.words(f"2*{cat}", k=3)
        engine.words("king - man + woman", k=3)
        engine.words(f"{cat} - cat + dog", k=3)
        vector = engine.stored(cat).semantic
        assert found == [hit.word for hit in scan(engine.space, vector, 6, feedback.TEMPLATE)]
        assert found != [hit.word for hit in scan(engine.space, vector, 6)]  # the reading changes this photo's words
    assert asked == [feedback.TEMPLATE] * 4 + [None, None]


def test_photo_to_photo_looks_alike_and_leaves_out_the_query(indexed):
    photos, index = indexed
    with xmodal.open(index) as engine:
        results = engine.similar(photos / "gravel.jpg", k=3)
        assert "gravel.jpg" not in names(results)
        assert len(results) == 3 and all(-1 <= r.score <= 1 for r in results)
        assert all(r.score == r.cosine for r in results)  # looks rank by cosine alone


def test_arithmetic_across_photos_and_words(indexed):
    photos, index = indexed
    with xmodal.open(index) as engine:
        found = engine.search(f"{photos / 'chelsea.jpg'} - cat + rocket", k=1)
        assert names(found) == ["rocket.jpg"]


def ranked(engine, vector: np.ndarray, exclude: list[str], k: int = 10) -> list[str]:
    """The paths a semantic search for ``vector`` returns, ranked as Engine.query ranks them."""
    hub = DeviseModel.hub_of(DEFAULT_MODEL)
    hits = engine.store.search(vector, "semantic", k + POOL, exclude, vectors=True)
    order = np.argsort(-hub.scores(np.array([hit.score for hit in hits]), np.stack([hit.vector for hit in hits])), kind="stable")
    return [hits[i].path for i in order[:k]]


def unit(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector)


@pytest.mark.parametrize("large", [True, False], ids=["large-index", "small-index"])
@pytest.mark.parametrize("outside", [False, True])
def test_a_photo_in_word_arithmetic_is_read_as_the_texts_that_describe_it(indexed, tmp_path, outside, monkeypatch, large):
    """The photo read as its nearest bank texts, the words with their "a photo of" sentences,
    and, in an index of at least ANALOGY_MIN_PHOTOS (lowered to this index's 12 photos for
    the test), asked again toward its first 3 photos; in a smaller index asked once."""
    if large:
        monkeypatch.setattr(feedback, "ANALOGY_MIN_PHOTOS", 12)
    photos, index = indexed
    photo = photos / "chelsea.jpg"
    if outside:  # not in the index: embedded on the fly, then read the same way
        photo = Path(shutil.copy(photo, tmp_path / "kitty.jpg"))
    with xmodal.open(index) as engine:
        stored = engine.store.get(canonical(photos / "chelsea.jpg")).semantic
        bank = DeviseModel.hub_of(DEFAULT_MODEL).bank
        def read(word):  # each word with its "a photo of" sentence, as unit vectors
            return unit(unit(engine.space.lookup(word)[0]) + unit(engine.space.lookup(f"a photo of {word}")[0]))

        words = -read("cat") + ADDED * read("rocket")
        as_texts = unit(described(stored, bank) + words)
        as_photo = unit(stored + words)
        exclude = [canonical(photo)]
        first = [engine.store.get(path).semantic for path in ranked(engine, as_texts, exclude, k=ANALOGIES.k)]
        asked_again = ANALOGIES.moved(as_texts, np.stack(first).astype(np.float32))  # toward its first 3 photos
        found = [r.path for r in engine.query(f"{photo} - cat + rocket", k=10).results]
        assert found == ranked(engine, asked_again if large else as_texts, exclude)
        assert float(asked_again @ as_texts) < 0.99  # the second search asks for something else
        assert ranked(engine, asked_again, exclude) != ranked(engine, as_texts, exclude)  # and finds another order
        assert found != ranked(engine, as_photo, exclude)  # the summed reading orders them otherwise
        assert not np.allclose(as_texts, unit(words))  # the photo still counts
        bare = unit(described(stored, bank) - engine.space.lookup("cat")[0] + ADDED * engine.space.lookup("rocket")[0])
        assert float(bare @ as_texts) < 0.995  # the sentences move the words enough to tell them apart


def test_word_arithmetic_and_a_photo_alone_are_read_as_before(indexed):
    photos, index = indexed
    with xmodal.open(index) as engine:
        space = engine.space
        vector = unit(space.lookup("cat")[0] - space.lookup("dog")[0] + space.lookup("rocket")[0])
        found = [r.path for r in engine.query("cat - dog + rocket", k=10).results]
        assert found == ranked(engine, vector, [])
        stored = engine.store.get(canonical(photos / "chelsea.jpg")).semantic
        found = [r.path for r in engine.query(photos / "chelsea.jpg", k=10, using="semantic").results]
        assert found == ranked(engine, stored, [canonical(photos / "chelsea.jpg")])


def test_an_unindexed_query_photo_is_embedded_on_the_fly(indexed, tmp_path):
    photos, index = indexed
    outside = tmp_path / "kitty.jpg"
    shutil.copy(photos / "chelsea.jpg", outside)
    with xmodal.open(index) as engine:
        assert names(engine.search(str(outside), k=1)) == ["chelsea.jpg"]
        assert names(engine.similar(outside, k=1)) == ["chelsea.jpg"]


def test_threshold_keeps_shown_scores_of_at_least_that_within_the_top(indexed):
    _, index = indexed
    with xmodal.open(index) as engine:
        everything = engine.search("rocket", k=12)
        cut = (everything[1].score + everything[2].score) / 2
        assert any(r.cosine >= cut > r.score for r in everything)  # a cosine cut-off would keep more
        kept = engine.search("rocket", k=12, threshold=cut)
        assert kept == everything[:2]  # the list without a threshold, cut where the scores fall below it
        assert engine.search("rocket", k=1, threshold=cut) == everything[:1]
        assert engine.search("rocket", k=12, threshold=0.99) == []
        look_alikes = engine.similar(PHOTOS / "gravel.jpg", k=12)
        cut = (look_alikes[0].score + look_alikes[1].score) / 2
        assert names(engine.similar(PHOTOS / "gravel.jpg", k=12, threshold=cut)) == names(look_alikes[:1])


def test_within_gives_k_photos_from_a_small_subfolder(indexed, monkeypatch):
    photos, index = indexed
    few = {str(photos / "few" / ODD_NAME), str(photos / "few" / "camera.jpg")}
    with xmodal.open(index) as engine:
        assert few - {r.path for r in engine.search("a tabby cat", k=2)}  # cutting its top 2 to few/ would miss one
        assert {r.path for r in engine.search("a tabby cat", k=2, within=photos / "few")} == few
        assert {r.path for r in engine.search("a tabby cat", k=10, within=[photos / "few"])} == few
        assert [r.path for r in engine.search("a tabby cat", k=1, within=[photos / "few"])] == [
            r.path for r in engine.search("a tabby cat", k=12) if r.path in few
        ][:1]
        monkeypatch.chdir(photos)  # a relative folder, a trailing slash, a "..": spelt as the index spells paths
        assert {r.path for r in engine.similar(PHOTOS / "gravel.jpg", k=5, within=["few/", "../photos/few"])} == few
        with pytest.raises(xmodal.XmodalError, match="^no folder .*nowhere, and no indexed photo is under it$"):
            engine.search("a tabby cat", k=12, within=photos / "nowhere")  # a typo, not "nothing found"


@pytest.mark.parametrize("query", ["cat", "a photo.jpg - summer + winter"])
def test_a_query_asked_twice_is_filtered_only_in_its_second_search(indexed, monkeypatch, query):
    """In an index large enough to ask twice (the thresholds lowered to this index's 12 photos),
    the first search runs over the whole index and within / the dates filter only the answer:
    the filtered photos keep the order and scores they have in the unfiltered answer. Moved
    toward the first photos of few/ alone, the query would score them otherwise."""
    monkeypatch.setattr(feedback, "MIN_PHOTOS", 12)
    monkeypatch.setattr(feedback, "ANALOGY_MIN_PHOTOS", 12)
    photos, index = indexed
    query = query.replace("a photo.jpg", str(photos / "gravel.jpg"))
    with xmodal.open(index) as engine:
        everything = [(r.path, r.score) for r in engine.query(query, k=12).results]
        for span in ({"within": photos / "few"}, {"before": "2019-03-05"}):
            kept = [(r.path, r.score) for r in engine.query(query, k=12, **span).results]
            assert 0 < len(kept) < len(everything)
            wanted = [found for found in everything if found[0] in dict(kept)]
            assert [path for path, _ in kept] == [path for path, _ in wanted]
            assert [score for _, score in kept] == pytest.approx([score for _, score in wanted], abs=1e-4)


def test_after_and_before_keep_photos_taken_in_that_span(indexed):
    photos, index = indexed
    camera, rocket = str(photos / "few" / "camera.jpg"), str(photos / "rocket.jpg")
    with xmodal.open(index) as engine:
        def found(query: str = "cat", **span) -> list[str]:
            return [r.path for r in engine.query(query, k=12, **span).results]

        assert found(after="2019", before="2019") == [camera]
        assert found(after="2019-03-05", before="2019-03-05") == [camera]  # both ends inclusive
        assert found(after="2019-03-06", before="2024-05") == []
        assert set(found(before="2019-03-05")) == {camera, rocket}
        assert found(before="2019-03-04") == [rocket]
        everything = found()
        assert found(after="2016") == [path for path in everything if path != rocket]  # in the order of the plain search
        gravel = str(photos / "gravel.jpg")
        looks = [r.path for r in engine.query(gravel, k=12).results]
        assert [r.path for r in engine.query(gravel, k=12, after="2024-06").results] == [p for p in looks if p not in (camera, rocket)]
        answer = engine.query("camera", k=1, within=photos / "few", after="2019", before="2019-03")
        assert answer.to_dict()["results"][0] == {**answer.results[0].to_dict(), "path": camera}
        assert answer.results[0].info.camera == "Hasselblad 500C/M" and answer.results[0].info.taken_from == "exif"
        assert answer.to_dict()["results"][0]["taken"].startswith("2019-03-05T14:22:01")
        with pytest.raises(xmodal.XmodalError, match=r"^after '2019-13' is not a date"):
            engine.query("cat", after="2019-13")


def test_cli_after_and_before(indexed):
    photos, index = indexed
    result = runner.invoke(app, ["query", "cat", "--after", "2019", "--before", "2019-03", "--paths", "--index", str(index)])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{photos / 'few' / 'camera.jpg'}\n"
    result = runner.invoke(app, ["query", "cat", "--after", "2030", "--index", str(index)])
    assert result.exit_code == 0 and result.stderr == 'no photo taken 2030 or later found for "cat"\n'
    result = runner.invoke(app, ["query", "cat", "--in", str(photos / "few"), "--after", "2019-04", "--before", "2019-05", "--index", str(index)])
    assert result.stderr == f'no photo under {photos / "few"} taken from 2019-04 to 2019-05 found for "cat"\n'
    result = runner.invoke(app, ["query", "cat", "--after", "2019-13", "--index", str(index)])
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr == "error: --after '2019-13' is not a date: give a year, month or day as YYYY, YYYY-MM or YYYY-MM-DD\n"
    result = runner.invoke(app, ["query", "cat", "--after", "2020", "--before", "2019", "--index", str(index)])
    assert result.exit_code == 1 and result.stderr == "error: --after 2020 is later than --before 2019: no date is in both\n"


def test_cli_threshold_top_and_the_empty_answer(indexed):
    _, index = indexed
    with xmodal.open(index) as engine:
        everything = engine.search("rocket", k=12)
    cut = round((everything[2].score + everything[3].score) / 2, 6)
    qualifying = everything[:3]  # scores fall down the list
    result = runner.invoke(app, ["query", "rocket", "--threshold", str(cut), "-k", "12", "--index", str(index), "--json"])
    assert result.exit_code == 0, result.output
    assert [Path(row["path"]).name for row in json.loads(result.stdout)["results"]] == names(qualifying)
    result = runner.invoke(app, ["query", "rocket", "--threshold", str(cut), "--top", "2", "--index", str(index), "--paths"])
    assert result.stdout.splitlines() == [r.path for r in qualifying[:2]]

    result = runner.invoke(app, ["query", "dog", "--threshold", "0.99", "--index", str(index)])
    assert result.exit_code == 0, result.output
    assert (result.stdout, result.stderr) == ("", 'no photo scores 0.99 or more for "dog"\n')
    result = runner.invoke(app, ["query", "dog", "--threshold", "0.99", "--index", str(index), "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["results"] == []
    assert result.stderr == 'no photo scores 0.99 or more for "dog"\n'
    result = runner.invoke(app, ["query", "dog", "--threshold", "1.5", "--index", str(index)])
    assert result.exit_code == 2  # typer's range check


def test_cli_in_and_paths_print_exact_paths(indexed, tmp_path):
    photos, index = indexed
    few = photos / "few"
    result = runner.invoke(app, ["query", "cat", "--in", str(few), "--top", "2", "--paths", "--index", str(index)])
    assert result.exit_code == 0, result.output
    with xmodal.open(index) as engine:
        ranked = [r.path for r in engine.search("cat", k=2, within=few)]
    assert result.stdout == f"{ranked[0]}\n{ranked[1]}\n"  # nothing but the paths, not wrapped nor escaped
    assert str(few / ODD_NAME) in ranked and len(str(few / ODD_NAME)) > 80

    result = runner.invoke(
        app, ["query", "cat", "--in", str(few), "--in", str(photos / "nowhere"), "-k", "5", "--index", str(index), "--json"]
    )  # a mistyped folder among good ones is named, not searched as if it were not there
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == f"error: no folder {photos / 'nowhere'}, and no indexed photo is under it\n"
    result = runner.invoke(app, ["query", "cat", "--in", str(few), "--threshold", "0.99", "--index", str(index)])
    assert result.stderr == f'no photo under {few} scores 0.99 or more for "cat"\n'


def test_paths_go_through_a_real_process_byte_for_byte(indexed):
    photos, index = indexed
    done = subprocess.run(
        [sys.executable, "-m", "cli", "query", str(photos / "few" / "camera.jpg"), "--paths", "--in", str(photos / "few"), "--index", str(index)],
        capture_output=True, check=False, env={**os.environ, "COLUMNS": "40"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{photos / 'few' / ODD_NAME}\n".encode()


def test_read_only_commands_end_quickly_with_their_output_and_exit_code(indexed):
    """query, words and info leave through os._exit (cli.app.main): all output still comes out,
    and exit codes and one-line errors are as before."""
    _, index = indexed
    run = lambda *args: subprocess.run([sys.executable, "-m", "cli", *args], capture_output=True, text=True, check=False)
    done = run("query", "cat", "--top", "12", "--index", str(index), "--json")
    assert done.returncode == 0 and len(json.loads(done.stdout)["results"]) == 12
    done = run("info", "--index", str(index), "--json")
    assert done.returncode == 0 and json.loads(done.stdout)["photos"] == 12
    done = run("query", "zzqxjv", "--index", str(index))
    assert done.returncode == 1 and done.stderr.count("\n") == 1 and "zzqxjv" in done.stderr
    done = run("query", "cat", "--top", "0", "--index", str(index))
    assert done.returncode == 2  # typer's own refusal of a bad option
    piped = subprocess.run(
        f"{shlex.quote(sys.executable)} -m cli query cat --paths --index {shlex.quote(str(index))} | head -n 1",
        shell=True, capture_output=True, text=True, check=True,
    )
    assert piped.stdout.count("\n") == 1 and "Error" not in piped.stderr  # a closed pipe is no error


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--paths", "--words"], "--paths prints photo paths; it does not go with --words"),
        (["--paths", "--json"], "--paths and --json are two output formats; choose one"),
        (["--words", "--in", "."], "--threshold, --in, --after and --before choose photos; they do not go with --words"),
        (["--before", "yesterday"], "--before 'yesterday' is not a date: give a year, month or day as YYYY, YYYY-MM or YYYY-MM-DD"),
    ],
)
def test_cli_refuses_options_that_do_not_go_together(indexed, extra, message):
    _, index = indexed
    result = runner.invoke(app, ["query", "cat", *extra, "--index", str(index)])
    assert result.exit_code == 1
    assert result.stdout == "" and result.stderr == f"error: {message}\n"


def test_an_index_from_before_folders_gets_them_on_the_next_index_run(indexed, tmp_path):
    """Photos indexed before --in existed have no folders: --in says what to do, and
    the next xmodal index adds them without embedding anything."""
    import qdrant_edge as edge

    photos, index = indexed
    old = tmp_path / "index"
    shutil.copytree(index, old)
    with xmodal.open(old) as engine:
        everything = edge.Filter(must=[edge.FieldCondition("folders", match=edge.MatchAny(["/"]))])
        engine.store._shard("images", write=True).update(edge.UpdateOperation.delete_payload_by_filter(everything, ["folders"]))
        with pytest.raises(xmodal.XmodalError, match="has 12 photos indexed before searches within folders existed"):
            engine.search("cat", k=2, within=photos / "few")
    result = runner.invoke(app, ["query", "cat", "--in", str(photos / "few"), "--index", str(old)])
    assert result.exit_code == 1 and result.stderr.count("\n") == 1 and "run xmodal index" in result.stderr
    with xmodal.open(old) as engine:
        summary = engine.index(photos)
        assert (summary.added, summary.updated, summary.moved, summary.unchanged) == (0, 0, 0, 12)
        assert len(engine.search("cat", k=5, within=photos / "few")) == 2


def test_an_index_from_before_dates_gets_them_on_the_next_index_run(indexed, tmp_path):
    """Photos indexed before --after existed have no date: --after says what to do, and
    the next xmodal index dates them from their files' headers, embedding nothing."""
    import qdrant_edge as edge

    photos, index = indexed
    old = tmp_path / "index"
    shutil.copytree(index, old)
    with xmodal.open(old) as engine:
        everything = edge.Filter(must=[edge.FieldCondition("folders", match=edge.MatchAny(["/"]))])
        shard = engine.store._shard("images", write=True)
        shard.update(edge.UpdateOperation.delete_payload_by_filter(everything, ["taken", "taken_from", "camera"]))
        shard.update(edge.UpdateOperation.delete_field_index("taken"))
        with pytest.raises(xmodal.XmodalError, match="has 12 photos indexed before searches by date existed"):
            engine.query("cat", after="2019")
    assert xmodal.info(old).undated == 12 and xmodal.info(old).taken_first is None
    result = runner.invoke(app, ["query", "cat", "--before", "2019", "--index", str(old)])
    assert result.exit_code == 1 and result.stderr.count("\n") == 1 and "run xmodal index" in result.stderr
    assert "(none yet: the next xmodal index dates the photos)" in runner.invoke(app, ["info", "--index", str(old)]).stdout
    with xmodal.open(old) as engine:
        summary = engine.index(photos)
        assert (summary.added, summary.updated, summary.moved, summary.unchanged) == (0, 0, 0, 12)
        assert [r.path for r in engine.query("cat", k=5, after="2019", before="2019").results] == [str(photos / "few" / "camera.jpg")]
    assert xmodal.info(old).undated == 0


def test_index_refuses_another_word_space(indexed, tmp_path):
    _, index = indexed
    other = tmp_path / "other.txt"
    other.write_text("2 50\n" + "\n".join(f"w{i} " + " ".join(["0.1"] * 50) for i in range(2)) + "\n")
    with pytest.raises(xmodal.IncompatibleSpace, match="was built in word space 'all-minilm-l6-v2' .*: open it with --space all-minilm-l6-v2 "):
        xmodal.open(index, space=other)


def test_photos_under_links_are_found_by_the_paths_and_folders_the_user_sees(tmp_path):
    """The index keeps links below an indexed folder as the walk met them (here the
    indexed folder is a link too, like a ~/Pictures that points at another disk)."""
    from PIL import Image

    disk = tmp_path / "disk" / "2020"
    disk.mkdir(parents=True)
    for name, colour in {"red.png": (230, 10, 10), "pink.png": (230, 60, 60), "blue.png": (10, 10, 230)}.items():
        Image.new("RGB", (20, 20), colour).save(disk / name)
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "disk1").symlink_to(tmp_path / "disk")
    (tmp_path / "pictures").symlink_to(photos)
    year = tmp_path / "pictures" / "disk1" / "2020"
    with tiny_engine(tmp_path / "index") as engine:
        assert engine.index(tmp_path / "pictures").added == 3
        assert engine.stored(year / "red.png").info.path == str(year / "red.png")
        assert engine.stored(year / ".." / "2020" / "red.png").info.path == str(year / "red.png")
        assert names(engine.similar(year / "red.png", k=5, within=year)) == ["pink.png", "blue.png"]  # itself left out
        assert names(engine.similar(year / "red.png", k=5, within=tmp_path / "pictures")) == ["pink.png", "blue.png"]
        assert engine.remove(year / ".." / "2020") == 3 and engine.count() == 0  # forgotten however spelt


def test_cli_index_then_query_each_way(tmp_path):
    photos = tmp_path / "photos"
    shutil.copytree(PHOTOS, photos)
    index = str(tmp_path / "index")
    result = runner.invoke(app, ["index", str(photos), "--index", index])
    assert result.exit_code == 0, result.output
    assert "12" in result.output and "added" in result.output
    result = runner.invoke(app, ["query", "cat", "--index", index, "--json", "-k", "1"])
    assert json.loads(result.output)["results"][0]["path"].endswith("chelsea.jpg")
    result = runner.invoke(app, ["query", str(photos / "coffee.jpg"), "--words", "--index", index, "--json", "-k", "1"])
    assert json.loads(result.output)["results"][0]["word"] == "espresso"
    result = runner.invoke(app, ["query", str(photos / "gravel.jpg"), "--index", index, "--json"])
    paths = [row["path"] for row in json.loads(result.output)["results"]]
    assert len(paths) == 10 and not any(p.endswith("gravel.jpg") for p in paths)
    result = runner.invoke(app, ["query", str(photos / "chelsea.jpg"), "--using", "semantic", "--index", index, "--json", "-k", "1"])
    assert json.loads(result.output)["results"][0]["path"].endswith("chelsea.jpg") is False  # itself left out
    (photos / "rocket.jpg").unlink()
    result = runner.invoke(app, ["index", str(photos), "--index", index, "--quiet"])
    assert result.exit_code == 0 and result.output == ""
    with xmodal.open(index) as engine:
        assert engine.count() == 11


@pytest.mark.parametrize(
    "args, message",
    [
        (["query", "cat", "--index", "{tmp}/missing"], "no xmodal index at"),
        (["query", "qwzx", "--index", "{index}"], "unknown word 'qwzx'"),  # refused: no word is known
        (["query", "nowhere.jpg", "--index", "{index}"], "image file not found: nowhere.jpg"),
        (["query", "nowhere.jpg - snow + beach", "--index", "{index}"], "image file not found: nowhere.jpg"),
        (["query", "{tmp}/junk.jpg", "--index", "{index}"], "cannot read image"),
        (["query", "cat", "--using", "visual", "--index", "{index}"], "using visual needs one photo"),
        (["query", "cat", "--using", "looks", "--index", "{index}"], "unknown using 'looks'"),
        (["index", "{tmp}/nowhere", "--index", "{tmp}/new"], "not a folder"),
    ],
)
def test_cli_errors_are_one_line(indexed, tmp_path, args, message):
    _, index = indexed
    (tmp_path / "junk.jpg").write_bytes(b"not a jpeg")
    args = [a.format(tmp=tmp_path, index=index) for a in args]
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert message in result.output and "Traceback" not in result.output


def test_empty_index_says_so(tmp_path):
    with xmodal.open(tmp_path / "index", create=True):
        pass
    result = runner.invoke(app, ["query", "cat", "--index", str(tmp_path / "index")])
    assert result.exit_code == 1 and "is empty: run xmodal index FOLDER first" in result.output


def test_an_index_whose_shard_cannot_be_read_is_one_line_for_every_query(indexed, tmp_path):
    """A damaged shard fails as one line, whatever the query: words, a sentence, a photo, an analogy."""
    photos, index = indexed
    damaged = tmp_path / "index"
    shutil.copytree(index, damaged)
    (damaged / "images" / "edge_config.json").write_text("damaged")
    for query in ("cat", "a cat on a sofa", str(photos / "chelsea.jpg"), f"{photos / 'chelsea.jpg'} - cat + dog"):
        result = runner.invoke(app, ["query", query, "--index", str(damaged)])
        assert result.exit_code == 1 and result.stderr.count("\n") == 1, (query, result.output)
        assert result.stderr.startswith(f"error: cannot open index {damaged} (images): ")


def test_a_second_process_gets_a_clear_message(indexed):
    _, index = indexed
    with xmodal.open(index):
        other = subprocess.run(
            [sys.executable, "-m", "cli", "query", "cat", "--index", str(index)],
            capture_output=True, text=True, check=False,
        )
    assert other.returncode == 1
    assert "is in use by another xmodal process" in other.stderr and "Traceback" not in other.stderr


@pytest.mark.parametrize("existing", [False, True], ids=["creating", "updating"])
def test_a_query_while_xmodal_index_runs_gets_a_clear_message(indexed, tmp_path, existing):
    """Two real processes: a query while ``xmodal index`` holds the index, one it is creating
    (locked before its xmodal.json is written) or one it is updating. The indexer is stopped
    (SIGSTOP) once the lock file names it, so it is surely mid-run and holding the lock,
    whatever the speed of the machine."""
    index = tmp_path / "index"
    if existing:
        photos = indexed[0]
        shutil.copytree(indexed[1], index)
    else:
        photos = tmp_path / "photos"
        shutil.copytree(PHOTOS, photos)
    log = tmp_path / "indexer.log"
    with open(log, "w") as output:  # a file, not a pipe nobody reads while the indexer runs
        indexer = subprocess.Popen(
            [sys.executable, "-m", "cli", "index", str(photos), "--index", str(index), "-q"],
            stdout=output, stderr=subprocess.STDOUT,
        )
    try:
        lock, deadline = index / "xmodal.lock", time.monotonic() + 300
        while not (lock.is_file() and lock.read_text() == str(indexer.pid)):  # written once flock holds it
            assert indexer.poll() is None, f"xmodal index ended before it held the lock: {log.read_text()}"
            assert time.monotonic() < deadline, "xmodal index did not take the lock within 5 minutes"
            time.sleep(0.01)
        os.kill(indexer.pid, signal.SIGSTOP)
        query = subprocess.run(
            [sys.executable, "-m", "cli", "query", "cat", "--index", str(index)],
            capture_output=True, text=True, check=False, timeout=120,
        )
        assert indexer.poll() is None  # still there, lock held, while the query ran
    finally:
        indexer.kill()
        indexer.wait(timeout=60)
    assert query.returncode == 1
    assert query.stdout == ""
    assert query.stderr == f"error: index {index} is in use by another xmodal process (pid {indexer.pid})\n"


def cli_in_a_fresh_process(args: list[str], watch: tuple[str, ...]) -> tuple[str, list[str]]:
    """Run ``xmodal ARGS`` in a new Python process: its stdout, and which modules of ``watch`` it imported."""
    probe = (
        "import json, sys; from cli.app import app; "
        "app(sys.argv[2:], standalone_mode=False); "
        "print(json.dumps([m for m in json.loads(sys.argv[1]) if m in sys.modules]), file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", probe, json.dumps(watch), *args], capture_output=True, text=True, check=True)
    return done.stdout, json.loads(done.stderr.strip().splitlines()[-1])


def test_text_query_never_imports_torch(indexed):
    _, index = indexed
    _, loaded = cli_in_a_fresh_process(["query", "cat", "--index", str(index), "--json"], ("torch",))
    assert loaded == []


def test_indexing_with_the_export_cached_never_imports_torch(indexed, tmp_path):
    """An unchanged re-index embeds nothing, and a new photo is embedded from the cached export: no torch either way."""
    photos, shared = indexed
    index = tmp_path / "index"
    shutil.copytree(shared, index)  # the module's index stays as the other tests expect it
    folder = tmp_path / "more"
    shutil.copytree(photos, folder)
    from PIL import Image, ImageOps

    with Image.open(PHOTOS / "coffee.jpg") as image:
        ImageOps.mirror(image.convert("RGB")).save(folder / "mirrored coffee.jpg")
    for _ in range(2):  # first the copies (content indexed already) and one new photo, then nothing changed
        _, loaded = cli_in_a_fresh_process(["index", str(folder), "--index", str(index), "-q"], ("torch",))
        assert loaded == []
    with xmodal.open(index) as engine:
        assert engine.count() == 25
        assert names(engine.similar(folder / "mirrored coffee.jpg", k=2)) == ["coffee.jpg", "coffee.jpg"]


def test_class_names_find_their_photos_in_real_imagenette(shared_set, tmp_path):
    """Ten photos per Imagenette class; each class name's top 10 is mostly that class."""
    from xmodal.training.datasets import read_labeled

    data = read_labeled(shared_set("imagenette-val"))
    photos = tmp_path / "photos"
    by_class: dict[str, list[Path]] = {}
    for path, label in zip(data.paths, data.labels):
        by_class.setdefault(label, []).append(path)
    for label, paths in by_class.items():
        (photos / label).mkdir(parents=True)
        for path in paths[:10]:
            shutil.copy(path, photos / label / path.name)
    with xmodal.open(tmp_path / "index", create=True) as engine:
        assert engine.index(photos).added == 100
        precision = []
        for label in by_class:
            results = engine.search(f'"{label}"', k=10)
            precision.append(np.mean([Path(r.path).parent.name == label for r in results]))
    assert np.mean(precision) >= 0.7, dict(zip(by_class, precision))


def test_adding_photos_with_another_encoder_is_refused(tmp_path):
    photos = tmp_path / "photos"
    shutil.copytree(PHOTOS, photos)
    with xmodal.open(tmp_path / "index", create=True) as engine:
        engine.index(photos)
        meta = engine.store.meta
        meta["encoder"]["map"] = "sha256:someothermodel"
        engine.store.set_meta(meta)
    with xmodal.open(tmp_path / "index") as engine:
        with pytest.raises(xmodal.XmodalError, match="built with another encoder"):
            engine.index(photos)
        assert names(engine.search("cat", k=1)) == ["chelsea.jpg"]  # text queries need no encoder


def test_the_server_back_end_serves_the_same_api(indexed):
    photos, _ = indexed
    with xmodal.open(url=":memory:", create=True) as engine:
        assert engine.index(photos).added == 12
        assert names(engine.search("cat", k=1)) == ["chelsea.jpg"]
        assert "cat" in engine.words(photos / "chelsea.jpg", k=1)[0].word.split()
        assert names(engine.query("cat", k=12, after="2019", before="2019").results) == ["camera.jpg"]
        assert names(engine.query("cat", k=12, before="2016").results) == ["rocket.jpg"]
        assert engine.info().taken_first.date().isoformat() == "2015-06-01"


def test_ctrl_c_during_index_says_how_to_resume(monkeypatch, tmp_path):
    from xmodal.search.engine import Engine

    def interrupted(self, folder, quiet=True):
        raise KeyboardInterrupt

    monkeypatch.setattr(Engine, "index", interrupted)
    result = runner.invoke(app, ["index", str(PHOTOS), "--index", str(tmp_path / "index")])
    assert result.exit_code == 130
    assert "interrupted: the photos indexed so far are saved; run the same command to resume" in result.output


def test_user_text_is_never_read_as_markup(indexed, tmp_path):
    photos, index = indexed
    result = runner.invoke(app, ["query", "/[b]x[/b]", "--index", str(index)])  # a path, so an error quoting it
    assert result.exit_code == 1 and "/[b]x[/b]" in result.output and "Traceback" not in result.output
    odd = tmp_path / "[best]" / 'my "fav" photo.jpg'
    odd.parent.mkdir()
    shutil.copy(photos / "chelsea.jpg", odd)
    result = runner.invoke(app, ["query", str(odd), "--using", "semantic", "--index", str(index), "-k", "1"])
    assert result.exit_code == 0, result.output
    paths = "".join(line.split("│")[2].strip() for line in result.output.splitlines() if line.startswith("│"))
    assert "[best]" in result.output and "chelsea.jpg" in paths  # the path column, folded at 80 columns


@pytest.mark.parametrize(
    "query, message", [("x" * 300, "unknown word"), ("~nosuchuser/dog.jpg", "image file not found")]
)
def test_odd_text_that_is_no_file_gets_a_one_line_error(indexed, query, message):
    _, index = indexed
    result = runner.invoke(app, ["query", query, "--index", str(index)])
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output


def test_indexing_a_missing_folder_creates_no_index(tmp_path):
    result = runner.invoke(app, ["index", str(tmp_path / "typo"), "--index", str(tmp_path / "index")])
    assert result.exit_code == 1 and "not a folder" in result.output
    assert not (tmp_path / "index").exists()


def test_an_index_built_in_glove_gets_the_reindex_message_and_still_opens_in_glove(tmp_path):
    """Indexes made before the sentence space became the default are GloVe indexes."""
    index = tmp_path / "old-index"
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(PHOTOS / "chelsea.jpg", folder / "cat.jpg")
    with xmodal.open(index, space="glove-6b-50d", create=True) as engine:
        engine.index(folder)
        assert engine.encoder.visual.id == "efficientnet-lite0"  # the GloVe model still ships
    result = CliRunner().invoke(app, ["query", "cat", "--index", str(index)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "'glove-6b-50d'" in result.output and "open it with --space glove-6b-50d" in result.output
    with xmodal.open(index, space="glove-6b-50d") as engine:
        assert [Path(r.path).name for r in engine.search("cat", k=1)] == ["cat.jpg"]


def test_info_says_what_the_index_holds(indexed):
    photos, index = indexed
    with xmodal.open(index) as engine:
        facts = engine.info()
        meta = engine.store.meta
        space = engine.space.identity
    assert facts.photos == 12 and facts.backend == "embedded" and facts.location == str(index)
    assert facts.folders == (str(photos),) and facts.folders_recorded  # the folder given, not few/ inside it
    assert (facts.space.name, facts.space.checksum, facts.space.dim) == (space.name, space.checksum, space.dim)
    assert facts.visual == meta["encoder"]["visual"]["id"] and facts.map_checksum == meta["encoder"]["map"]
    assert facts.visual_checksum == meta["encoder"]["visual"]["checksum"]
    assert facts.precision == meta["encoder"].get("precision", "fp32")
    assert facts.storage == "format 3: semantic float16, visual uint8"
    assert facts.disk_bytes > 0
    assert facts.updated_recorded and STARTED <= facts.updated <= datetime.now(timezone.utc)
    assert xmodal.info(index) == facts  # the same without opening an engine

    result = runner.invoke(app, ["info", "--index", str(index), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data == facts.to_dict()
    assert set(data) == {
        "location", "backend", "photos", "folders", "folders_recorded", "space", "model",
        "storage", "disk_bytes", "updated", "updated_recorded", "taken", "undated",
    }
    assert [datetime.fromisoformat(data["taken"][end]) for end in ("first", "last")] == [
        datetime(2015, 6, 1, 12, tzinfo=timezone.utc), datetime(2024, 6, 1, 12, tzinfo=timezone.utc)
    ]  # file times, kept in the local time of the machine that indexed them
    assert data["undated"] == 0
    assert data["photos"] == 12 and data["folders"] == [str(photos)] and data["space"]["name"] == space.name
    assert set(data["space"]) == {"name", "checksum", "dim"} and set(data["model"]) == {"visual", "visual_checksum", "precision", "map"}
    assert datetime.fromisoformat(data["updated"]) >= STARTED

    result = runner.invoke(app, ["info", "--index", str(index)])
    assert result.exit_code == 0, result.output
    lines = dict(line.split(None, 1) for line in result.stdout.splitlines() if not line.startswith("on disk"))
    assert lines["photos"] == "12" and lines["folders"] == str(photos) and lines["taken"] == "2015-06-01 to 2024-06-01"
    assert lines["space"].startswith(f"{space.name} ({space.checksum}")
    assert lines["storage"] == facts.storage and meta["encoder"]["map"] in lines["model"]
    assert "on disk" in result.stdout and "updated" in lines


def test_words_come_from_the_spaces_vocabulary_not_from_the_index(tmp_path):
    """The vocabulary is kept once per word space (in the user cache), not in each index."""
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(PHOTOS / "coffee.jpg", photos)
    index = tmp_path / "index"
    with xmodal.open(index, create=True) as engine:
        engine.index(photos)
    meta = json.loads((index / "xmodal.json").read_text())
    result = runner.invoke(app, ["query", str(photos / "coffee.jpg"), "--words", "-k", "1", "--index", str(index), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["results"][0]["word"] == "espresso"
    assert json.loads((index / "xmodal.json").read_text()) == meta  # nothing recorded in the index
    assert {p.name for p in index.iterdir()} == {"images", "xmodal.json", "xmodal.lock"}  # no words/ collection
    with xmodal.open(index) as engine:
        words = engine.words("cat", k=5)
        assert len(words) == 5 and words[0].word != "cat"  # the query's own word is left out
        assert "vocabulary" not in engine.store.meta


def test_info_on_an_index_from_before_recorded_roots(indexed, tmp_path):
    """No roots or time in the meta: the photos' outermost folders and the newest file time;
    the next indexing run records both, keeping the folders already in the index."""
    photos, index = indexed
    old = tmp_path / "index"
    shutil.copytree(index, old)
    with xmodal.open(old) as engine:
        meta = engine.store.meta
        del meta["roots"], meta["updated"]
        engine.store.set_meta(meta)
    facts = xmodal.info(old)
    assert facts.folders == (str(photos),) and not facts.folders_recorded
    assert not facts.updated_recorded and facts.updated is not None and facts.photos == 12
    result = runner.invoke(app, ["info", "--index", str(old)])
    assert "this index does not record them" in result.stdout and "newest file time" in result.stdout

    other = tmp_path / "more"
    other.mkdir()
    shutil.copy(PHOTOS / "chelsea.jpg", other / "cat.jpg")
    with xmodal.open(old) as engine:
        engine.index(other)
        facts = engine.info()
    assert facts.folders == tuple(sorted([str(photos), str(other)])) and facts.folders_recorded
    assert facts.photos == 13 and facts.updated_recorded


def test_info_of_a_missing_index_is_one_line(tmp_path):
    result = runner.invoke(app, ["info", "--index", str(tmp_path / "missing")])
    assert result.exit_code == 1
    assert result.stdout == "" and result.stderr == f"error: no xmodal index at {tmp_path / 'missing'}; index some photos first\n"
    assert not (tmp_path / "missing").exists()


def test_info_loads_neither_a_model_nor_a_space(indexed):
    _, index = indexed
    printed, loaded = cli_in_a_fresh_process(
        ["info", "--index", str(index), "--json"], ("torch", "xmodal.devise.encoder", "xmodal.text.sentences", "xmodal.text.words")
    )
    assert json.loads(printed)["photos"] == 12
    assert loaded == []


def test_info_on_the_server_back_end():
    with xmodal.open(url=":memory:", create=True) as engine:
        engine.index(PHOTOS)
        facts = engine.info()
    assert (facts.backend, facts.photos, facts.disk_bytes) == ("server", 12, None)
    assert facts.folders == (str(PHOTOS),) and facts.updated_recorded and facts.updated >= STARTED


def test_a_folder_to_search_within_that_no_indexed_photo_is_under_is_refused_with_why(tmp_path):
    from PIL import Image

    photos = tmp_path / "photos"
    photos.mkdir()
    for name, colour in {"red.png": (230, 10, 10), "blue.png": (10, 10, 230)}.items():
        Image.new("RGB", (20, 20), colour).save(photos / name)
    (tmp_path / "elsewhere").mkdir()
    with tiny_engine(tmp_path / "index") as engine:
        engine.index(photos)
        assert names(engine.similar(photos / "red.png", k=5, within=photos)) == ["blue.png"]
        refused = {
            tmp_path / "nowhere": f"no folder {tmp_path / 'nowhere'}, and no indexed photo is under it",
            photos / "red.png": f"{photos / 'red.png'} is a file; photos are searched within folders",
            tmp_path / "elsewhere": f"no indexed photo is under {tmp_path / 'elsewhere'}",
        }
        for folder, message in refused.items():
            with pytest.raises(xmodal.XmodalError, match=f"^{re.escape(message)}$"):
                engine.similar(photos / "red.png", k=5, within=[photos, folder])  # one wrong folder of two
            with pytest.raises(xmodal.XmodalError, match=f"^{re.escape(message)}$"):
                engine.duplicates(within=folder)


def test_an_indexed_photo_whose_file_is_gone_is_asked_for_from_its_stored_vectors(served_photos):
    """`xmodal query GONE.jpg` (and with words around it) answers from the index; a path
    neither on disk nor indexed is still refused in one line."""
    import xmodal
    from xmodal.core.errors import PhotoNotFound

    photos, index = served_photos
    with xmodal.open(index) as engine:
        gone = str(photos / "gone.jpg")
        assert engine.holds(gone) and not os.path.exists(gone)
        assert engine.query(gone, 3).results[0].path == str(photos / "chelsea.jpg")  # its mirror image
        assert engine.query(f"{gone} + snow", 3).kind == "photos"
        assert engine.query(gone, 3, words=True).results
        with pytest.raises(PhotoNotFound, match="image file not found: .*never.jpg"):
            engine.query(str(photos / "never.jpg"))


def test_python_refuses_what_the_cli_refuses(served_photos, tmp_path):
    """k below 1 and a threshold outside -1..1 (they gave 10 results or none); an unknown
    precision before any index is made; an engine of this process still open, named as such."""
    import xmodal
    from xmodal.core.errors import IndexInUse

    _, index = served_photos
    with xmodal.open(index) as engine:
        for bad in ({"k": 0}, {"k": -1}, {"threshold": 2.0}):
            with pytest.raises(xmodal.XmodalError, match="^k is how many results|^threshold is a score from -1 to 1"):
                engine.query("dog", **{"k": 5, **bad})
        with pytest.raises(IndexInUse, match=r"already open in this process \(pid \d+\): close the other engine first"):
            xmodal.open(index)
    with pytest.raises(xmodal.XmodalError, match="^unknown precision .fp16.: use one of fp32, int8$"):
        xmodal.open(tmp_path / "new", create=True, precision="fp16")
    assert not (tmp_path / "new").exists()


def test_an_engine_dropped_without_close_can_be_opened_again(served_photos):
    """A notebook cell run twice (``engine = xmodal.open(...)``) must not lock itself out."""
    import xmodal

    _, index = served_photos
    engine = xmodal.open(index)
    first = engine.query("dog", k=3)
    engine = None  # noqa: F841 (dropped, never closed)
    with xmodal.open(index) as engine:
        assert engine.query("dog", k=3) == first


def test_an_index_of_a_vector_file_space_says_to_open_it_with_that_file(default_space):
    """The index records a file space by the file's name only: the message says it is a file."""
    from types import SimpleNamespace

    from xmodal.search.engine import Engine
    from xmodal.text.identity import SpaceIdentity

    recorded = SpaceIdentity("vectors.kv", "sha256:0123456789abcdef", 50, 2)
    store = SimpleNamespace(meta={"space": recorded.to_dict()}, location="/photos/index")
    with pytest.raises(xmodal.IncompatibleSpace, match=r"open it with that word-vector file \(--space PATH/vectors.kv\), or delete"):
        Engine(store, default_space)
    named = SpaceIdentity("glove-6b-50d", "sha256:0123456789abcdef", 50, 2)
    with pytest.raises(xmodal.IncompatibleSpace, match=r"open it with --space glove-6b-50d \(space='glove-6b-50d' in Python\)"):
        Engine(SimpleNamespace(meta={"space": named.to_dict()}, location="/photos/index"), default_space)
