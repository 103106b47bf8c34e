"""The layout's contracts (pyproject.toml's [tool.importlinter], docs/architecture.md):
kept by the code as it is, and broken by an upward import or a cycle, so they guard something."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")


def lint(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(root)}  # ahead of the editable install's path
    return subprocess.run(
        [str(LINT), "--no-cache", "--no-logo"], cwd=root, env=env, capture_output=True, text=True, check=False
    )


def copy_with(tmp_path: Path, module: str, line: str) -> Path:
    """The project's packages and contracts in ``tmp_path``, with ``line`` added to ``module``."""
    for package in ("xmodal", "indexer", "cli"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__", "data", "models", "static"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    path = tmp_path / (module.replace(".", "/") + ".py")
    path.write_text(path.read_text() + f"\n{line}\n")
    return tmp_path


def test_the_code_keeps_the_layout_contracts():
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_an_upward_import_breaks_the_layers(tmp_path):
    """The text side asking the engine for something: the layers contract names the import."""
    result = lint(copy_with(tmp_path, "xmodal.text.words", "import xmodal.search.engine  # noqa"))
    assert result.returncode == 1
    assert "Layers: the CLI and the page on top, the core at the bottom BROKEN" in result.stdout
    assert "xmodal.text.words -> xmodal.search.engine" in result.stdout


def test_text_and_vision_may_not_import_each_other(tmp_path):
    result = lint(copy_with(tmp_path, "xmodal.vision.features", "import xmodal.text.words  # noqa"))
    assert result.returncode == 1
    assert "xmodal.vision.features -> xmodal.text.words" in result.stdout


def test_a_cycle_inside_one_folder_breaks_the_acyclic_contract(tmp_path):
    """``space`` imports ``expression``; the reverse closes a loop that no layer would see."""
    result = lint(copy_with(tmp_path, "xmodal.text.expression", "import xmodal.text.space  # noqa"))
    assert result.returncode == 1
    assert "No import cycles between modules, in any folder BROKEN" in result.stdout
