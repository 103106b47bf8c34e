"""Helpers the store's tests share (and their child processes import): an index on
each back end, and photos to put in it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
from qdrant_client import QdrantClient

from xmodal.store import EdgeStore, ImageInfo, ImageRecord, ServerStore, Store, point_id

BACKENDS = ["edge", "server"]
TESTS = Path(__file__).resolve().parent
STORED = 1e-3  # a new index keeps vectors as float16: a unit vector's entries and cosines to about 5e-4


def open_backend(backend: str, root: Path, dim: int | None = 4, visual_dim: int | None = 3) -> Store:
    """The store of ``backend`` kept under ``root``; the same root reopens the same index."""
    if backend == "edge":
        return EdgeStore(root / "index", dim=dim, visual_dim=visual_dim)
    client = QdrantClient(path=str(root / "qdrant"))
    return ServerStore(client, dim=dim, visual_dim=visual_dim, where=str(root / "qdrant"))


def unit(*values: float) -> np.ndarray:
    vector = np.array(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)


def photo(path: str, semantic, visual=(1, 0, 0), content: str | None = None, taken: str | None = None) -> ImageRecord:
    info = ImageInfo(
        path, content or f"sha256:{path}", size=1234, mtime_ns=1_700_000_000_250_000_000, width=640, height=480,
        taken=taken, taken_from=taken and "exif", camera=taken and "Canon EOS 80D",
    )
    return ImageRecord(info, unit(*semantic), None if visual is None else unit(*visual))


def run_python(code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter that can import xmodal and this module."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(TESTS.parents[1]), str(TESTS)]))
    command = [sys.executable, "-c", textwrap.dedent(code)]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)


def old_photos(store: Store, paths: list[str]) -> None:
    """Photos as an index made before the folders field stores them."""
    from dataclasses import asdict

    from xmodal.store.base import _Point

    records = [photo(path, (1, i, 0, 0)) for i, path in enumerate(paths)]
    store._upsert("images", [_Point(point_id(r.info.path), {"semantic": r.semantic.tolist(), "visual": r.visual.tolist()}, asdict(r.info)) for r in records])


PLUS_ONE = timezone(timedelta(hours=1))


def moment(text: str, zone: timezone = PLUS_ONE) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=zone)
