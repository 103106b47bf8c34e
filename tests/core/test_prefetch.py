"""Thread-pool helpers: decoding ahead of the model, writing behind it."""

from __future__ import annotations

import threading
import time

import pytest

from xmodal.core.prefetch import WriteBehind, prefetched_batches


def test_batches_come_in_order_whatever_order_the_work_finishes():
    slow_first = lambda i: (time.sleep(0.01 * (5 - i % 5)), i)[1]  # noqa: E731
    assert [b for b in prefetched_batches(list(range(12)), slow_first, 5)] == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [10, 11]]


def test_writes_run_one_at_a_time_in_order_and_the_block_waits_for_the_last():
    done, running = [], []

    def work(n: int) -> None:
        running.append(n)
        assert len(running) == 1  # never two at once
        time.sleep(0.01)
        done.append(n)
        running.remove(n)

    with WriteBehind() as writes:
        for n in range(5):
            writes.submit(work, n)
            assert done[:n] == list(range(n))  # the ones before have finished; this one may still run
    assert done == [0, 1, 2, 3, 4]


def test_a_failed_write_is_raised_by_the_next_submit_or_at_the_end():
    def fail() -> None:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        with WriteBehind() as writes:
            writes.submit(fail)
            writes.submit(lambda: None)
    with pytest.raises(OSError, match="disk full"):
        with WriteBehind() as writes:
            writes.submit(fail)


def test_an_interrupted_producer_still_waits_for_the_write_in_flight():
    started, finished = threading.Event(), []

    def slow() -> None:
        started.set()
        time.sleep(0.05)
        finished.append(True)

    with pytest.raises(KeyboardInterrupt):
        with WriteBehind() as writes:
            writes.submit(slow)
            started.wait()
            raise KeyboardInterrupt
    assert finished == [True]
