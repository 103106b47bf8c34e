"""The documentation's runnable examples run, and say what the docs say they do."""

from __future__ import annotations

import re
import shutil
from contextlib import redirect_stdout
from io import StringIO
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def python_blocks(doc: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", doc.read_text(), flags=re.S)


def test_search_api_example_runs(tmp_path, monkeypatch):
    (tmp_path / "docs").mkdir()
    shutil.copytree(ROOT / "docs" / "photos", tmp_path / "docs" / "photos")
    monkeypatch.chdir(tmp_path)
    printed = StringIO()
    with redirect_stdout(printed):
        exec(python_blocks(ROOT / "docs" / "search.md")[0], {})
    lines = printed.getvalue().splitlines()
    assert lines[0] == "12 added, 0 unchanged, 12 in the index"
    assert lines[1].startswith("photos semantic (") and '"turquiose"' in lines[1]  # the typo's note
    assert "chelsea.jpg" in lines[2]  # the cat on a sofa finds the cat first
    assert lines[5] == "visual"  # one photo: look-alikes
    assert "'path':" in lines[6] and "chelsea.jpg" in lines[6]  # to_dict
    assert "chelsea.jpg" in lines[7]  # "cat" finds the cat first
    assert "espresso" in lines[10]
    assert "gravel.jpg" not in lines[11]
    assert lines[12].endswith("rocket.jpg")
    assert lines[13].endswith("coffee.jpg")  # the sentence query


def test_readme_python_example_runs_and_finds_what_it_says(monkeypatch):
    """Every line of the README's block runs as written from the repository's root (as the README's
    set-up leaves a user), and the commented answers are the ones it gives."""
    monkeypatch.chdir(ROOT)
    block = python_blocks(ROOT / "README.md")[0]
    names: dict = {}
    exec(block, names)
    assert names["space"].nearest("king - man + woman", k=3)[0].word == "queen"
    assert names["sentences"].nearest(names["vectors"][0], k=3)[0].word == "espresso"


def test_expressions_example_prints_what_the_docs_say():
    """The sentence query of docs/expressions.md: a typo dropped with its note, content words found."""
    doc = (ROOT / "docs" / "expressions.md").read_text()
    code, expected = re.search(r"```python\n(.*?)```\n\nprints\n\n```\n(.*?)```", doc, flags=re.S).groups()
    printed = StringIO()
    with redirect_stdout(printed):
        exec(code, {})
    assert printed.getvalue() == expected
