from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from cli.app import app
from tests.conftest import tiny_vectors

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
