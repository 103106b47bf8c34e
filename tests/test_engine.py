"""The search API and the index/query commands end to end, with the shipped model,
on the example photos in docs/photos (and on real Imagenette photos when present)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import xmodal
from cli.app import app

PHOTOS = Path(__file__).resolve().parents[1] / "docs" / "photos"
runner = CliRunner()


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    """The example photos copied and indexed once for the module, with the shipped model."""
    root = tmp_path_factory.mktemp("engine")
    photos = root / "photos"
    shutil.copytree(PHOTOS, photos)
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
        assert [r.score for r in results] == sorted((r.score for r in results), reverse=True)
        assert results[0].info.width > 0 and results[0].info.hash


def test_photo_to_words_gives_vocabulary_labels(indexed):
    photos, index = indexed
    with xmodal.open(index) as engine:
        words = [hit.word for hit in engine.words(photos / "chelsea.jpg", k=10)]
        assert "cat" in words
        assert [hit.word for hit in engine.words(photos / "coffee.jpg", k=1)] == ["espresso"]


def test_photo_to_photo_looks_alike_and_leaves_out_the_query(indexed):
    photos, index = indexed
    with xmodal.open(index) as engine:
        results = engine.similar(photos / "gravel.jpg", k=3)
        assert "gravel.jpg" not in names(results)
        assert len(results) == 3 and all(-1 <= r.score <= 1 for r in results)


def test_arithmetic_across_photos_and_words(indexed):
    photos, index = indexed
    with xmodal.open(index) as engine:
        found = engine.search(f"{photos / 'chelsea.jpg'} - cat + rocket", k=1)
        assert names(found) == ["rocket.jpg"]


def test_an_unindexed_query_photo_is_embedded_on_the_fly(indexed, tmp_path):
    photos, index = indexed
    outside = tmp_path / "kitty.jpg"
    shutil.copy(photos / "chelsea.jpg", outside)
    with xmodal.open(index) as engine:
        assert names(engine.search(str(outside), k=1)) == ["chelsea.jpg"]
        assert names(engine.similar(outside, k=1)) == ["chelsea.jpg"]


def test_index_refuses_another_word_space(indexed, tmp_path):
    _, index = indexed
    other = tmp_path / "other.txt"
    other.write_text("2 50\n" + "\n".join(f"w{i} " + " ".join(["0.1"] * 50) for i in range(2)) + "\n")
    with pytest.raises(xmodal.IncompatibleSpace, match="re-index it to use another word space"):
        xmodal.open(index, space=other)


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
        (["query", "{tmp}/junk.jpg", "--index", "{index}"], "cannot read image"),
        (["query", "cat", "--using", "visual", "--index", "{index}"], "--using visual needs one photo"),
        (["query", "cat", "--using", "looks", "--index", "{index}"], "unknown --using 'looks'"),
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


def test_a_second_process_gets_a_clear_message(indexed):
    _, index = indexed
    with xmodal.open(index):
        other = subprocess.run(
            [sys.executable, "-m", "cli", "query", "cat", "--index", str(index)],
            capture_output=True, text=True, check=False,
        )
    assert other.returncode == 1
    assert "is in use by another xmodal process" in other.stderr and "Traceback" not in other.stderr


def test_text_query_never_imports_torch(indexed):
    _, index = indexed
    probe = (
        "import sys; from cli.app import app; "
        f"app(['query', 'cat', '--index', {str(index)!r}, '--json'], standalone_mode=False); "
        "print('torch' in sys.modules, file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stderr.strip().endswith("False")


def test_class_names_find_their_photos_in_real_imagenette(shared_set, tmp_path):
    """Ten photos per Imagenette class; each class name's top 10 is mostly that class."""
    from xmodal.datasets import read_labeled

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


def test_the_server_back_end_serves_the_same_api(tmp_path):
    with xmodal.open(url=":memory:", create=True) as engine:
        assert engine.index(PHOTOS).added == 12
        assert names(engine.search("cat", k=1)) == ["chelsea.jpg"]
        assert "cat" in [hit.word for hit in engine.words(PHOTOS / "chelsea.jpg", k=10)]


def test_ctrl_c_during_index_says_how_to_resume(monkeypatch, tmp_path):
    from xmodal.engine import Engine

    def interrupted(self, folder, quiet=True):
        raise KeyboardInterrupt

    monkeypatch.setattr(Engine, "index", interrupted)
    result = runner.invoke(app, ["index", str(PHOTOS), "--index", str(tmp_path / "index")])
    assert result.exit_code == 130
    assert "every finished batch is saved; run the same command to resume" in result.output


def test_user_text_is_never_read_as_markup(indexed, tmp_path):
    photos, index = indexed
    result = runner.invoke(app, ["query", "[/b]", "--index", str(index)])
    assert result.exit_code == 1 and "[/b]" in result.output and "Traceback" not in result.output
    odd = tmp_path / "[best]" / 'my "fav" photo.jpg'
    odd.parent.mkdir()
    shutil.copy(photos / "chelsea.jpg", odd)
    result = runner.invoke(app, ["query", str(odd), "--using", "semantic", "--index", str(index), "-k", "1"])
    assert result.exit_code == 0, result.output
    assert "[best]" in result.output and "chelsea.jpg" in result.output


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
