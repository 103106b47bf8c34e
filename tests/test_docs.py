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
    assert "chelsea.jpg" in lines[1]  # "cat" finds the cat first
    assert "espresso" in lines[4]
    assert "gravel.jpg" not in lines[5]
    assert lines[6].endswith("rocket.jpg")
