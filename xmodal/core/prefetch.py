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


class WriteBehind:
    """Work done one step behind its producer, by a thread of its own: the indexer's
    writes, while the model embeds the next batch. At most one call is in flight and
    each finishes before the next starts, so they land whole and in order; leaving
    the ``with`` block waits for the last one, however often Ctrl-C comes."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(1)
        self._pending: Future | None = None

    def submit(self, work: Callable[..., object], *args: object) -> None:
        self.wait()
        self._pending = self._pool.submit(work, *args)

    def wait(self) -> None:
        """Until the call in flight is done; raises what it raised."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def __enter__(self) -> WriteBehind:
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        try:
            if kind is None:
                self.wait()
        finally:
            while True:
                try:
                    self._pool.shutdown(wait=True)
                    break
                except KeyboardInterrupt:
                    continue
