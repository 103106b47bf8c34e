"""Where xmodal keeps what it derives once and reuses (converted word spaces,
exported models): the user's cache, never the project or the package."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

CACHE_ENV = "XMODAL_CACHE_DIR"


def cache_root() -> Path:
    """``$XMODAL_CACHE_DIR``, else ``$XDG_CACHE_HOME/xmodal``, else ``~/.cache/xmodal``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "xmodal"


def cached_dir(kind: str, key: str, build: Callable[[Path], None]) -> Path:
    """Return the cache folder ``kind/key``, calling ``build(tmp)`` to fill it if absent.

    The folder is built under a temporary name and renamed into place, so a
    crash or a second process never leaves a half-written entry behind.
    """
    final = cache_root() / kind / key
    if final.is_dir():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=final.parent))
    try:
        build(tmp)
        try:
            tmp.rename(final)
        except OSError:
            if not final.is_dir():  # lost a race only if the winner left a folder
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def write_atomically(path: Path, write: Callable[[Path], None], durable: bool = False) -> None:
    """Fill ``path`` by ``write(tmp)`` into a temporary file beside it, then rename: a killed
    run, or a second writer, never leaves (or lets anyone read) a half-written file.
    ``durable``: the bytes reach the disk before the rename, so a power cut after it
    cannot leave an empty file in place of the old one (an index's settings)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")  # created by write(), umask's mode
    try:
        write(tmp)
        if durable:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json(path: Path, data: Any, durable: bool = False) -> None:
    """``data`` as a JSON file, written whole or not at all (:func:`write_atomically`)."""
    write_atomically(path, lambda tmp: tmp.write_text(json.dumps(data, indent=1), encoding="utf-8"), durable)


def file_stamp(path: Path, version: int) -> str:
    """A short digest of a file's place, size and mtime and of a cache layout version:
    a cache entry derived from the file is rebuilt when any of them changes."""
    stat = path.stat()
    return hashlib.sha1(f"{path}|{stat.st_size}|{stat.st_mtime_ns}|{version}".encode()).hexdigest()[:12]
