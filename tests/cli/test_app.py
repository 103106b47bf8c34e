from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import xmodal
from cli.app import app
from tests.conftest import tiny_engine, tiny_vectors

runner = CliRunner()


@pytest.fixture
def tiny_file(tmp_path):
    path = tmp_path / "tiny.txt"
    tiny_vectors().save_word2vec_format(str(path))
    return str(path)


def test_words_prints_a_ranked_table(tiny_file):
    result = runner.invoke(app, ["words", "king - man + woman", "--space", tiny_file, "--top", "3"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if "│" in line]
    assert "queen" in lines[0] and lines[0].split("│")[1].strip() == "1"
    assert len(lines) == 3


def test_a_words_table_stays_as_narrow_as_its_words_under_a_long_title(tiny_file):
    """A photo's path (here a long expression) titles the table; it wraps rather than
    padding every row out to its length, as a table of photo paths is padded."""
    expression = " + ".join(["king"] * 20)
    result = runner.invoke(app, ["words", expression, "--space", tiny_file, "--top", "2"])
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if line.startswith("│")]
    assert rows and max(len(row) for row in rows) < 40 < len(expression)


def test_words_json(tiny_file):
    result = runner.invoke(app, ["words", "dog", "--space", tiny_file, "--json", "-k", "2"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert [r["word"] for r in payload["results"]][0] == "dogs" and len(payload["results"]) == 2
    assert payload["space"]["name"] == "tiny.txt" and payload["space"]["dim"] == 4
    assert payload["results"][0]["score"] >= payload["results"][1]["score"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["words", "kingg"], "unknown word 'kingg'"),
        (["words", "king - qwzx"], "unknown word 'qwzx'"),  # not dropped from arithmetic
        (["words", "dog + "], "dangling '+'"),
        (["words", "beach.jpg - summer"], "image file not found: beach.jpg"),
        (["words", "dog", "--space", "nowhere/vectors.bin"], "word-vector file not found"),
    ],
)
def test_user_errors_are_one_line_with_exit_code_1(args, message, tiny_file):
    if "--space" not in args:
        args = [*args, "--space", tiny_file]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output


def test_words_prints_a_note_per_dropped_word_and_succeeds(tiny_file):
    result = runner.invoke(app, ["words", "The King, and a dog!", "--space", tiny_file, "--json", "-k", "1"])
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        'note: dropped "The" (not in tiny.txt)',
        'note: dropped "and" (not in tiny.txt)',
        'note: dropped "a" (not in tiny.txt)',
    ]
    assert json.loads(result.stdout)["results"][0]["word"] not in {"king", "dog"}
    result = runner.invoke(app, ["words", "royal fmily", "--space", tiny_file, "--json"])
    assert result.exit_code == 0
    assert result.stderr == 'note: dropped "fmily" (not in tiny.txt; did you mean "family"?)\n'


def test_a_query_with_no_known_word_is_refused_on_one_line(tiny_file):
    result = runner.invoke(app, ["words", "The kinng, qwzx!", "--space", tiny_file])
    assert result.exit_code == 1
    assert result.stderr == (
        "error: no word of the query is in word space 'tiny.txt': 'The', 'kinng' (did you mean 'king'?), 'qwzx'\n"
    )


@pytest.mark.parametrize(
    "args, line",
    [
        (["query", "cat", "--wrods"], "error: No such option: --wrods (Possible options: --words) (see xmodal query --help)"),
        (["query"], "error: Missing argument 'EXPRESSION'. (see xmodal query --help)"),
        (["nosuch"], "error: No such command 'nosuch'. (see xmodal --help)"),
        (["words", "-man"], "error: No such option: -m (see xmodal words --help); a query that starts with a minus "
                            "needs a space after it: '- rocket'"),
        (["words", "-man+woman"], "error: No such option: -m (see xmodal words --help); a query that starts with a "
                                  "minus needs a space after it: '- rocket'"),
        (["query", "cat", "-k"], "error: Option '-k' requires an argument. (see xmodal query --help)"),
        (["query", "cat", "-x"], "error: No such option: -x (see xmodal query --help)"),
    ],
)
def test_command_line_mistakes_are_one_line_with_exit_code_2(args, line):
    """Typer's own usage errors would take a six-line box; through the console script they are one line."""
    done = subprocess.run([sys.executable, "-m", "cli", *args], capture_output=True, text=True, check=False)
    assert (done.returncode, done.stdout, done.stderr) == (2, "", line + "\n")


@pytest.mark.parametrize(
    "command, usage",
    [("index", "{FOLDER}"), ("remove", "{PATH}"), ("query", "{EXPRESSION}"), ("words", "{EXPRESSION}"),
     ("train", "{DATA...}"), ("eval", "{MODEL} {DATA}")],
)
def test_help_names_the_arguments_as_the_text_does(command, usage):
    """The help says "the photos under FOLDER": the usage line names it so, not typer's ``{folder}``."""
    result = runner.invoke(app, [command, "--help"], prog_name="xmodal")
    assert result.exit_code == 0
    assert f"Usage: xmodal {command} [OPTIONS] {usage}" in result.stdout


def test_an_expression_that_starts_with_a_minus_is_no_option(tiny_file):
    done = subprocess.run(
        [sys.executable, "-m", "cli", "words", "- man + woman", "--space", tiny_file, "--json", "-k", "1"],
        capture_output=True, text=True, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["query"].replace(" ", "") == "-man+woman"


@pytest.mark.parametrize(
    "arg, read",
    [
        ("- man + woman", " - man + woman"),  # a space after the minus: an expression
        ("-man + woman", " -man + woman"),  # another operator after a space
        ("-omy dir/m.safetensors", "-omy dir/m.safetensors"),  # a short option with its value attached
        ("--in=/photos/Summer 2023", "--in=/photos/Summer 2023"),
        ("-k", "-k"),
    ],
)
def test_only_an_expression_that_starts_with_a_minus_is_kept_from_the_options(arg, read):
    from cli.app import _not_an_option

    assert _not_an_option(arg) == read


def test_a_long_option_whose_value_holds_a_space_stays_an_option(tmp_path):
    """Only an expression gets the space that keeps it from being read as options."""
    missing = tmp_path / "no such index"
    done = subprocess.run(
        [sys.executable, "-m", "cli", "query", "cat", f"--index={missing}"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 1
    assert done.stderr.startswith(f"error: no xmodal index at {missing}")


def test_console_script_corrects_a_typo_in_arithmetic_or_refuses_it():
    """Through a real process on the default space: dropped, kingg would leave "- man + woman".
    (The first cold process of a test session embeds the vocabulary, with a progress bar.)"""
    corrected = subprocess.run(
        [sys.executable, "-m", "cli", "words", "kingg - man + woman", "--json", "-k", "1"],
        capture_output=True, text=True, check=False,
    )
    assert corrected.returncode == 0, corrected.stderr
    assert 'note: corrected "kingg" to "king" (not in all-minilm-l6-v2)' in corrected.stderr.splitlines()
    assert json.loads(corrected.stdout)["results"][0]["word"] == "queen"
    unclear = subprocess.run(
        [sys.executable, "-m", "cli", "words", "womn - man"], capture_output=True, text=True, check=False
    )
    assert (unclear.returncode, unclear.stdout) == (1, "")
    assert unclear.stderr == (
        "error: unknown word 'womn' in word space 'all-minilm-l6-v2'; did you mean: won, women, woman, worn, womb?\n"
    )


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--paths", "--words"], "--paths prints photo paths; it does not go with --words"),
        (["--words", "--threshold", "0.5"], "--threshold, --in, --after and --before choose photos; they do not go with --words"),
        (["--words", "--after", "2019"], "--threshold, --in, --after and --before choose photos; they do not go with --words"),
        (["--after", "2019-13"], "--after '2019-13' is not a date: give a year, month or day as YYYY, YYYY-MM or YYYY-MM-DD"),
        (["--before", "2019-02-30"], "--before '2019-02-30' is not a date: give a year, month or day as YYYY, YYYY-MM or YYYY-MM-DD"),
    ],
)
def test_query_refuses_options_that_do_not_go_together_before_opening_an_index(tmp_path, extra, message):
    result = runner.invoke(app, ["query", "dog", *extra, "--index", str(tmp_path / "no-index-here")])
    assert result.exit_code == 1
    assert (result.stdout, result.stderr) == ("", f"error: {message}\n")
    assert not (tmp_path / "no-index-here").exists()


@pytest.fixture
def tiny_index(tmp_path, monkeypatch):
    """``xmodal index`` on a tiny engine (mean colours, 3-d): no model to load."""
    import xmodal.search.engine

    monkeypatch.setattr(xmodal.search.engine, "open", lambda index, url=None, **options: tiny_engine(index))
    return str(tmp_path / "index")


@pytest.mark.parametrize(
    "make, line, code",
    [
        (lambda root: None, "no photos under {root} (the folder is empty)", 0),
        (lambda root: [(root / f"{n}.txt").write_text("x") for n in range(12)], "no photos under {root}: 12 files that are not photos", 0),
        (lambda root: [(root / f"{n}.jpg").symlink_to(root / "nowhere") for n in range(3)], "error: no photos under {root}: 3 broken links", 1),
        (lambda root: [(root / f"{n}.jpg").write_bytes(b"junk") for n in range(4)], "error: no photos under {root}: 4 photos that could not be read", 1),
    ],
    ids=["empty", "not-photos", "broken-links", "unreadable"],
)
def test_an_index_run_that_indexes_nothing_says_why_in_one_line(tmp_path, tiny_index, make, line, code):
    """Exit 0 only when the folder held no photos; a folder whose photos all failed is an error."""
    root = tmp_path / "photos"
    root.mkdir()
    make(root)
    line = line.format(root=root)
    result = runner.invoke(app, ["index", str(root), "--index", tiny_index])
    assert result.exit_code == code, result.output
    assert result.stderr.splitlines()[-1] == line and "added" in result.stdout
    quiet = runner.invoke(app, ["index", str(root), "--index", tiny_index, "--quiet"])
    assert (quiet.exit_code, quiet.stdout, quiet.stderr) == (code, "", f"{line}\n" if code else "")


def test_an_index_run_lists_its_failures_and_counts_the_rest(tmp_path, tiny_index):
    from PIL import Image

    root = tmp_path / "photos"
    root.mkdir()
    Image.new("RGB", (20, 20), (200, 0, 0)).save(root / "red.png")
    (root / "notes.txt").write_text("x")
    (root / "gone.jpg").symlink_to(root / "nowhere.jpg")
    result = runner.invoke(app, ["index", str(root), "--index", tiny_index])
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[-2:] == [  # after the progress bar
        f"skipped {root / 'gone.jpg'}: broken link: No such file or directory",
        "not indexed: 1 broken link, 1 file that is not a photo",
    ]


def test_a_folder_gone_from_disk_is_named_by_index_and_info_and_forgotten_by_remove(tmp_path, tiny_index):
    import shlex
    import shutil

    from PIL import Image

    root = tmp_path / "my photos"
    root.mkdir()
    for n in range(3):
        Image.new("RGB", (20, 20), (80 * n, 0, 0)).save(root / f"{n}.png")
    assert runner.invoke(app, ["index", str(root), "--index", tiny_index, "-q"]).exit_code == 0
    shutil.copytree(root, tmp_path / "copy")
    shutil.rmtree(root)  # renamed, deleted, or a disk not mounted: the index cannot tell
    remove = f"xmodal remove {shlex.quote(str(root))} --index {shlex.quote(tiny_index)}"  # ready to paste, absolute
    copied = runner.invoke(app, ["index", str(tmp_path / "copy"), "--index", tiny_index])
    assert copied.exit_code == 0 and copied.stderr.splitlines()[-1] == (
        f"note: photos found here are also in the index at {root}, which is not on disk "
        f"(renamed, deleted, or a disk not mounted?): {remove} forgets the 3 photos there"
    )
    again = runner.invoke(app, ["index", str(root), "--index", tiny_index])
    assert again.exit_code == 1
    assert again.stderr == f"error: not a folder: {root} (the index still holds photos there: {remove} forgets them)\n"
    described = runner.invoke(app, ["info", "--index", tiny_index]).stdout
    assert f"{root}  (not on disk: renamed, deleted, or a disk not mounted? {remove} forgets its photos)" in described
    removed = runner.invoke(app, ["remove", str(root), "--index", tiny_index])
    assert (removed.exit_code, removed.stdout) == (0, f"removed 3 photos at or under {root} from the index (3 left)\n")
    assert str(root) not in runner.invoke(app, ["info", "--index", tiny_index]).stdout
    twice = runner.invoke(app, ["remove", str(root), "--index", tiny_index])
    assert (twice.exit_code, twice.stderr) == (1, f"error: no photo in the index is at or under {root}\n")
    typo = runner.invoke(app, ["index", str(tmp_path / "nowhere"), "--index", tiny_index])
    assert typo.stderr == f"error: not a folder: {tmp_path / 'nowhere'}\n"
    photo = tmp_path / "copy" / "0.png"
    photo.unlink()  # one photo deleted since it was indexed: named as a folder gone is
    deleted = runner.invoke(app, ["index", str(photo), "--index", tiny_index])
    assert deleted.stderr == (
        f"error: not a folder: {photo} (the index still holds photos there: "
        f"xmodal remove {photo} --index {shlex.quote(tiny_index)} forgets them)\n"
    )


def test_a_folder_name_that_is_not_utf8_is_one_line_everywhere(tmp_path, tiny_index):
    from PIL import Image

    root = tmp_path / "photos"
    odd = os.fsdecode(os.fsencode(root) + b"/dir\xfe")
    os.makedirs(odd)
    Image.new("RGB", (20, 20), (200, 0, 0)).save(root / "ok.png")
    Image.new("RGB", (20, 20), (0, 200, 0)).save(os.path.join(odd, "x.png"))
    assert runner.invoke(app, ["index", str(root), "--index", tiny_index, "-q"]).exit_code == 0
    shown = f"{root}/dir\\xfe"
    for args, line in [
        (["remove", odd], f"error: no photo in the index is at or under {shown}"),
        (["duplicates", "--in", odd], f"error: no indexed photo is under {shown}"),
    ]:
        result = runner.invoke(app, [*args, "--index", tiny_index])
        assert (result.exit_code, result.stderr) == (1, line + "\n")


def test_bad_option_value_is_rejected_by_typer(tiny_file):
    result = runner.invoke(app, ["words", "dog", "--top", "0", "--space", tiny_file])
    assert result.exit_code == 2


def test_console_script_on_the_default_space():
    """The README's main job, through a real process: queen first, errors on one line."""
    env = {**os.environ}
    ok = subprocess.run(
        [sys.executable, "-m", "cli", "words", "king - man + woman", "--json", "-k", "1"],
        capture_output=True, text=True, env=env, check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["results"][0]["word"] == "queen"
    bad = subprocess.run(
        [sys.executable, "-m", "cli", "words", "qwertzyx"],
        capture_output=True, text=True, env=env, check=False,
    )
    assert bad.returncode == 1
    assert bad.stderr.strip().count("\n") == 0
    assert "unknown word 'qwertzyx'" in bad.stderr and "did you mean: qwerty" in bad.stderr
    typo = subprocess.run(
        [sys.executable, "-m", "cli", "words", "turquiose water", "--json", "-k", "1"],
        capture_output=True, text=True, env=env, check=False,
    )
    assert typo.returncode == 0, typo.stderr
    assert typo.stderr == 'note: dropped "turquiose" (not in all-minilm-l6-v2; did you mean "turquoise"?)\n'
    assert json.loads(typo.stdout)["results"]


def table_rows(output: str) -> list[list[str]]:
    """The cells of a rich table's numbered rows (a folded path's further lines left out)."""
    rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in output.splitlines() if line.startswith("│")]
    return [row for row in rows if row[0].isdigit()]


def test_query_shows_the_score_it_is_ordered_by_and_the_cosine_beside_it(served_photos):
    photos, index = served_photos
    with xmodal.open(index) as engine:
        results = engine.query("rocket", k=5).results
        look_alikes = engine.query(photos / "grass.jpg", k=3).results
    result = runner.invoke(app, ["query", "rocket", "-k", "5", "--index", str(index)])
    assert result.exit_code == 0, result.output
    header = next(line for line in result.stdout.splitlines() if "score" in line)
    assert header.index("score") < header.index("cosine")
    rows = table_rows(result.stdout)
    assert [row[-2:] for row in rows] == [[f"{r.score:.3f}", f"{r.cosine:.3f}"] for r in results]
    shown = [float(row[-2]) for row in rows]
    assert shown == sorted(shown, reverse=True) and [float(row[-1]) for row in rows] != shown

    result = runner.invoke(app, ["query", str(photos / "grass.jpg"), "-k", "3", "--index", str(index)])
    assert result.exit_code == 0, result.output
    assert "cosine" not in result.stdout  # look-alikes: the score is the cosine, shown once
    assert [row[-1] for row in table_rows(result.stdout)] == [f"{r.score:.3f}" for r in look_alikes]


def test_a_photo_no_longer_on_disk_says_so_in_the_table_only(served_photos):
    """gone.jpg (a mirrored chelsea.jpg, indexed then deleted) is found by its look-alike."""
    photos, index = served_photos
    args = ["query", str(photos / "chelsea.jpg"), "-k", "12", "--index", str(index)]
    cells = []  # each row's path, its folded lines joined (long paths fold at 80 columns)
    for line in runner.invoke(app, [*args]).stdout.splitlines():
        if line.startswith("│"):
            rank, path = (cell.strip() for cell in line.split("│")[1:3])
            cells.append(path) if rank else cells.append(cells.pop() + " " + path)
    marked = [" ".join(path.split()) for path in cells if "(not on disk)" in " ".join(path.split())]
    assert marked == [f"{photos / 'gone.jpg'} (not on disk)"]
    paths = runner.invoke(app, [*args, "--paths"]).stdout.splitlines()
    assert str(photos / "gone.jpg") in paths and not any("not on disk" in path for path in paths)


def test_query_json_and_threshold_go_by_the_shown_score(served_photos):
    _, index = served_photos
    result = runner.invoke(app, ["query", "rocket", "-k", "12", "--index", str(index), "--json"])
    assert result.exit_code == 0, result.output
    everything = json.loads(result.stdout)["results"]
    assert all(set(row) == {"path", "score", "cosine", "width", "height", "taken"} for row in everything)
    scores = [row["score"] for row in everything]
    assert scores == sorted(scores, reverse=True)
    cut = round((scores[1] + scores[2]) / 2, 6)
    assert any(row["cosine"] >= cut > row["score"] for row in everything)  # a cosine cut-off would keep more
    result = runner.invoke(app, ["query", "rocket", "-k", "12", "--threshold", str(cut), "--index", str(index), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["results"] == everything[:2]


class _Engine:
    exiting: bool | None = None

    def close(self, exiting: bool = False) -> None:
        self.exiting = exiting


@pytest.mark.parametrize("exits_at_once", [False, True])
def test_held_closes_the_engine_as_for_an_exit_only_when_the_process_ends_at_once(monkeypatch, exits_at_once):
    """In-process (tests, CliRunner) a command closes what it opened; a command run by
    main() closes it as for an exit (flushed, left open: Qdrant keeps what it read in
    the page cache), even when the command fails."""
    import cli.app

    monkeypatch.setattr(cli.app, "_exits_at_once", exits_at_once)
    engine = _Engine()
    with pytest.raises(RuntimeError), cli.app.held(engine):
        raise RuntimeError("a failed query")
    assert engine.exiting is exits_at_once


def test_a_query_process_leaves_the_index_free_for_the_next(served_photos):
    """``python -m cli query`` ends without closing its index (held): the lock dies with
    the process, so the next process, or this one, opens it, and answers the same."""
    _, index = served_photos
    command = [sys.executable, "-m", "cli", "query", "rocket", "-k", "5", "--index", str(index), "--json"]
    first, second = (subprocess.run(command, capture_output=True, text=True, timeout=120) for _ in range(2))
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    assert json.loads(first.stdout) == json.loads(second.stdout)
    with xmodal.open(index) as engine:
        assert [r.path for r in engine.query("rocket", k=5).results] == [r["path"] for r in json.loads(first.stdout)["results"]]


def test_words_reads_a_photos_words_with_their_sentences_in_a_sentence_space():
    """`xmodal words PHOTO` reads each word with "a photo of WORD" too (as `Engine.query`
    does for `xmodal query PHOTO --words` and the page); word arithmetic stays among the
    words as typed."""
    from xmodal.devise.encoder import Encoder
    from xmodal.search.feedback import TEMPLATE
    from xmodal.text.factory import load_space
    from xmodal.text.vocabulary import nearest_words

    photo = str(Path(__file__).resolve().parents[2] / "docs" / "photos" / "chelsea.jpg")
    result = runner.invoke(app, ["words", photo, "--json", "-k", "5"])
    assert result.exit_code == 0, result.output
    shown = [row["word"] for row in json.loads(result.stdout)["results"]]
    space = load_space()
    vector = Encoder.load(space).at_precision("int8").encode_image(photo)  # as a new index embeds it
    assert shown == [hit.word for hit in nearest_words(space, vector, 5, TEMPLATE)]
    assert shown != [hit.word for hit in nearest_words(space, vector, 5)]
    result = runner.invoke(app, ["words", photo, "--json", "-k", "5", "--limit", "100"])
    assert result.exit_code == 0 and "note: --limit left out" in result.stderr  # said, not silently ignored
    assert [row["word"] for row in json.loads(result.stdout)["results"]] == shown
    result = runner.invoke(app, ["words", "king - man + woman", "--json", "-k", "8"])
    assert result.exit_code == 0, result.output
    typed = [hit.word for hit in space.nearest("king - man + woman", k=8)]
    assert [row["word"] for row in json.loads(result.stdout)["results"]] == typed and typed[0] == "queen"
    read = nearest_words(space, space.query("king - man + woman").vector, 11, TEMPLATE)
    assert [hit.word for hit in read if hit.word not in {"king", "man", "woman"}][:8] != typed  # so the check above can tell


def test_words_gives_a_photo_what_query_words_gives_it_once_indexed_spaces_in_its_name_and_all(served_photos):
    photos, index = served_photos
    photo = str(photos / "few" / "my camera.jpg")
    words = runner.invoke(app, ["words", photo, "--json", "-k", "5"])
    indexed = runner.invoke(app, ["query", photo, "--words", "--index", str(index), "--json", "-k", "5"])
    assert words.exit_code == indexed.exit_code == 0, words.output + indexed.output
    found, stored = (json.loads(result.stdout)["results"] for result in (words, indexed))
    assert [row["word"] for row in found] == [row["word"] for row in stored]
    # the index's copy of the vector went through the store: the same scores to its rounding
    assert [row["score"] for row in found] == pytest.approx([row["score"] for row in stored], abs=2e-4)


def test_words_reads_an_analogy_as_query_words_does(served_photos):
    """An expression mixing a photo and words reads the photo as the texts that describe it
    (xmodal.search.analogy) in `xmodal words` too, as `xmodal query --words` and the page do."""
    from xmodal.devise.encoder import Encoder
    from xmodal.text.factory import load_space
    from xmodal.text.vocabulary import nearest_words

    photos, index = served_photos
    expression = f"{photos / 'chelsea.jpg'} - cat + dog"
    words = runner.invoke(app, ["words", expression, "--json", "-k", "8"])
    indexed = runner.invoke(app, ["query", expression, "--words", "--index", str(index), "--json", "-k", "8"])
    assert words.exit_code == indexed.exit_code == 0, words.output + indexed.output
    found, stored = (json.loads(result.stdout)["results"] for result in (words, indexed))
    assert [row["word"] for row in found] == [row["word"] for row in stored]
    # the index's copy of the vector went through the store: the same scores to its rounding
    assert [row["score"] for row in found] == pytest.approx([row["score"] for row in stored], abs=2e-4)
    space = load_space()  # summed as typed, the answer would differ: so the check above can tell
    summed = space.query(expression, Encoder.load(space).at_precision("int8").encode_image)
    assert [word for word, _ in found] != [hit.word for hit in nearest_words(space, summed.vector, 8, None, summed.inputs)]


def test_words_answers_a_photo_from_the_vocabulary_in_a_word_space_too():
    """GloVe: a photo's words come from the vocabulary (ImageNet names and frequent words),
    as `xmodal query PHOTO --words` gives them, not from all 400,000 words."""
    from xmodal.devise.encoder import Encoder
    from xmodal.text.factory import load_space
    from xmodal.text.vocabulary import default_vocabulary, nearest_words

    photo = str(Path(__file__).resolve().parents[2] / "docs" / "photos" / "chelsea.jpg")
    result = runner.invoke(app, ["words", photo, "--json", "-k", "6", "--space", "glove-6b-50d"])
    assert result.exit_code == 0, result.output
    shown = [row["word"] for row in json.loads(result.stdout)["results"]]
    space = load_space("glove-6b-50d")
    vector = Encoder.load(space).encode_image(photo)
    assert shown == [hit.word for hit in nearest_words(space, vector, 6)]
    assert shown != [hit.word for hit in space.nearest(vector, k=6)]  # all 400,000 words would answer otherwise
    assert set(shown) <= set(default_vocabulary(space)[0])


def test_eval_scores_the_shipped_phase_2_model_and_refuses_sets_it_cannot_score(tmp_path):
    """eval loads a model's own network as index and query do (a phase-2 one included: it
    refused them by name), and refuses a captioned set and a one-class set (which scored 1.000)."""
    import shutil

    from xmodal.devise.encoder import DEFAULT_MODEL

    photos = Path(__file__).resolve().parents[2] / "docs" / "photos"
    for label, names in (("cat", ("chelsea.jpg",)), ("rocket", ("rocket.jpg",))):
        (tmp_path / "two" / label).mkdir(parents=True)
        for name in names:
            shutil.copy(photos / name, tmp_path / "two" / label / name)
    result = runner.invoke(app, ["eval", str(DEFAULT_MODEL), str(tmp_path / "two"), "--json", "-q"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["all"]["hit@1"] == 1.0  # a cat and a rocket, each nearest its own label
    shutil.rmtree(tmp_path / "two" / "rocket")
    result = runner.invoke(app, ["eval", str(DEFAULT_MODEL), str(tmp_path / "two")])
    assert result.exit_code == 1 and "has 1 class(es) to score (cat)" in result.output
    (tmp_path / "captioned").mkdir()
    (tmp_path / "captioned" / "captions.csv").write_text("path,caption,split\nx.jpg,a cat,val\n")
    result = runner.invoke(app, ["eval", str(DEFAULT_MODEL), str(tmp_path / "captioned")])
    assert result.exit_code == 1 and "is a captioned set" in result.output


def test_a_ctrl_c_inside_any_command_says_interrupted_and_exits_130(monkeypatch, tmp_path):
    """typer alone turns a Ctrl-C into a silent exit 130; every command says so in one line."""
    import xmodal.search.engine

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(xmodal.search.engine, "open", interrupted)
    result = runner.invoke(app, ["query", "dog", "--index", str(tmp_path / "index")])
    assert result.exit_code == 130 and result.stderr == "interrupted\n" and result.stdout == ""
