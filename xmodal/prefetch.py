"""Work a thread pool does a few batches ahead of its consumer.

PIL decoding and onnxruntime inference both release the GIL, so photos for
the next batches are decoded while the current one runs through the network;
keeping only a few batches in flight bounds memory on any number of photos.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def prefetched_batches(
    items: Sequence[T], load: Callable[[T], R], batch_size: int, workers: int | None = None, ahead: int = 2
) -> Iterator[list[R]]:
    """``load`` applied to every item, yielded in order as lists of ``batch_size``."""
    pool = ThreadPoolExecutor(workers or os.cpu_count())
    pending: deque[list[Future[R]]] = deque()
    try:
        for start in range(0, len(items), batch_size):
            pending.append([pool.submit(load, item) for item in items[start : start + batch_size]])
            if len(pending) > ahead:
                yield [future.result() for future in pending.popleft()]
        while pending:
            yield [future.result() for future in pending.popleft()]
    finally:
        pool.shutdown(cancel_futures=True)
