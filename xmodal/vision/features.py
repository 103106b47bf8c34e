"""Features of many pictures: decoded in threads, embedded in batches, cached on disk.

Training DeViSE reads the frozen network's features of tens of thousands of
photos again and again, so they are computed once into memory-mappable
``features.npy`` and ``logits.npy``, beside a manifest naming the model, its
weights and the paths. A run that is cut short keeps every finished batch and
the next call picks up from there; a cache is returned only once it is whole.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib.format import open_memmap

from xmodal.core.cache import write_json
from xmodal.core.prefetch import prefetched_batches
from xmodal.core.progress import photo_progress
from xmodal.vision.decode import read_pixels
from xmodal.vision.visual import VisualModel

_CACHE_FORMAT = 1  # bump when the cached layout changes, so old caches are rebuilt
_AHEAD = 2  # batches decoded ahead of inference: enough to overlap the two, little memory
MANIFEST, PROGRESS, FEATURES, LOGITS = "manifest.json", "progress.json", "features.npy", "logits.npy"


def extract_features(
    paths: Sequence[str | os.PathLike],
    model: VisualModel,
    cache: str | os.PathLike | None = None,
    *,
    batch_size: int = 32,
    workers: int | None = None,
    quiet: bool = False,
) -> tuple[np.ndarray, np.ndarray | None]:
    """``(features, logits)`` of each picture, row ``i`` for ``paths[i]``; logits are
    ``None`` when the model has no classifier.

    With ``cache`` (a folder) the rows are written there and returned as read-only
    memory maps; a later call with the same model and paths reads them back
    without running the model, and finishes an interrupted run instead of
    redoing it. ``workers`` threads decode pictures (default: every CPU).
    """
    names = [os.path.abspath(path) for path in paths]
    logit_dim = len(model.classes) if model.classes is not None else None
    if cache is None:
        features = np.empty((len(names), model.feature_dim), np.float32)
        logits = np.empty((len(names), logit_dim), np.float32) if logit_dim else None
        _fill(names, model, features, logits, 0, lambda done: None, batch_size, workers, quiet)
        return features, logits

    folder = Path(cache)
    manifest = {
        "format": _CACHE_FORMAT,
        "model": model.id,
        "weights_checksum": model.weights_checksum,
        "feature_dim": model.feature_dim,
        "logit_dim": logit_dim,
        "paths": names,
    }
    features, logits, done = _open_cache(folder, manifest)

    def checkpoint(rows: int) -> None:
        for array in (features, logits):
            if array is not None:
                array.flush()
        write_json(folder / PROGRESS, {"done": rows})  # only after the rows are on disk

    _fill(names, model, features, logits, done, checkpoint, batch_size, workers, quiet)
    return open_memmap(folder / FEATURES, mode="r"), (open_memmap(folder / LOGITS, mode="r") if logit_dim else None)


def _fill(
    paths: list[str],
    model: VisualModel,
    features: np.ndarray,
    logits: np.ndarray | None,
    start: int,
    checkpoint: Callable[[int], None],
    batch_size: int,
    workers: int | None,
    quiet: bool,
) -> None:
    """Compute rows ``start:`` batch by batch, calling ``checkpoint(rows done)`` after each."""
    if start >= len(paths):
        return  # all cached: no bar that would only say "0.0 images/s"
    progress = photo_progress(quiet)
    with progress, closing(_decoded_batches(paths[start:], model, batch_size, workers)) as batches:
        task = progress.add_task(f"features ({model.id})", total=len(paths), completed=start)
        row = start
        for batch in batches:
            batch_features, batch_logits = model.embed(batch)
            features[row : row + len(batch)] = batch_features
            if logits is not None:
                logits[row : row + len(batch)] = batch_logits
            row += len(batch)
            checkpoint(row)
            progress.update(task, completed=row)


def _decoded_batches(
    paths: Sequence[str], model: VisualModel, batch_size: int, workers: int | None
) -> Iterator[np.ndarray]:
    """Preprocessed batches, decoded ahead of inference by a thread pool (as the indexer decodes)."""
    for batch in prefetched_batches(paths, lambda path: read_pixels(path, model), batch_size, workers, _AHEAD):
        yield np.stack(batch)


def _open_cache(folder: Path, manifest: dict[str, Any]) -> tuple[np.memmap, np.memmap | None, int]:
    """Writable maps of the cache and how many rows they already hold.

    A folder holding this very job (same manifest, arrays of the right shape,
    a progress record) is resumed; anything else is started afresh.
    """
    rows, logit_dim = len(manifest["paths"]), manifest["logit_dim"]
    for stale in folder.glob(".*.tmp"):  # a progress record a killed run never renamed (write_json)
        stale.unlink(missing_ok=True)
    if _read_json(folder / MANIFEST) == manifest:
        try:
            done = int(_read_json(folder / PROGRESS)["done"])
            features = open_memmap(folder / FEATURES, mode="r+")
            logits = open_memmap(folder / LOGITS, mode="r+") if logit_dim else None
        except (OSError, ValueError, TypeError, KeyError):  # missing, truncated or garbled
            pass
        else:
            logit_shape = None if logits is None else logits.shape
            expected_logit_shape = (rows, logit_dim) if logit_dim else None
            fits = features.shape == (rows, manifest["feature_dim"]) and logit_shape == expected_logit_shape
            if fits and 0 <= done <= rows:
                return features, logits, done

    folder.mkdir(parents=True, exist_ok=True)
    (folder / PROGRESS).unlink(missing_ok=True)  # first, so a rebuild cut short is never taken as done
    (folder / LOGITS).unlink(missing_ok=True)
    features = open_memmap(folder / FEATURES, mode="w+", dtype=np.float32, shape=(rows, manifest["feature_dim"]))
    logits = open_memmap(folder / LOGITS, mode="w+", dtype=np.float32, shape=(rows, logit_dim)) if logit_dim else None
    write_json(folder / MANIFEST, manifest)
    write_json(folder / PROGRESS, {"done": 0})
    return features, logits, 0


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
