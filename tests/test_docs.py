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


def test_expressions_example_prints_what_the_docs_say():
    """The sentence query of docs/expressions.md: a typo dropped with its note, content words found."""
    doc = (ROOT / "docs" / "expressions.md").read_text()
    code, expected = re.search(r"```python\n(.*?)```\n\nprints\n\n```\n(.*?)```", doc, flags=re.S).groups()
    printed = StringIO()
    with redirect_stdout(printed):
        exec(code, {})
    assert printed.getvalue() == expected
