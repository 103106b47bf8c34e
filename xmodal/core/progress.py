"""Progress on stderr: the bar every long photo job shows (count, images/s, time left),
and the spinner or bar of a one-time step (an export, embedding a vocabulary)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class _RateColumn(ProgressColumn):
    """Throughput in pictures, which rich's byte-oriented speed columns cannot say."""

    def render(self, task: Task) -> Text:
        # rich's own speed needs samples spread over time; a short run has too few, and
        # would end on "0.0 images/s", so the overall rate stands in for it.
        speed = task.finished_speed or task.speed
        if not speed and task.elapsed and task.completed:
            speed = task.completed / task.elapsed
        return Text(f"{speed:.1f} images/s" if speed else "- images/s", style="progress.data.speed")


def _stderr() -> Console:
    """The console bars draw on. Written to a log or a pipe, a bar is drawn once, when it
    ends, at the width rich assumes there (80): too narrow for a model's name, a count and a
    rate, which came out as "indexing (…) ━ 1… … 0:…". There it gets room for one whole line."""
    console = Console(stderr=True)
    return console if console.is_terminal else Console(stderr=True, width=max(console.width, 160))


def photo_progress(quiet: bool = False) -> Progress:
    """A rich Progress for photo counts; ``quiet`` shows nothing (for scripts)."""
    return Progress(
        TextColumn("{task.description}", markup=False),  # a model id may hold brackets
        BarColumn(),
        MofNCompleteColumn(),
        _RateColumn(),
        TimeRemainingColumn(),
        console=_stderr(),
        disable=quiet,
    )


_silent = False


@contextmanager
def silenced() -> Iterator[None]:
    """No spinner or bar of a one-time step inside (``xmodal index -q``: scripts want nothing)."""
    global _silent
    before, _silent = _silent, True
    try:
        yield
    finally:
        _silent = before


@contextmanager
def status(message: str) -> Iterator[None]:
    """A one-time step with no count (an export): a spinner on stderr while it runs."""
    if _silent:
        yield
        return
    with Console(stderr=True).status(message):
        yield


@contextmanager
def task_progress(description: str) -> Iterator[Callable[[int, int], None]]:
    """A bar for a counted one-time job; yields ``advance(done_now, total)``."""
    progress = Progress(
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=_stderr(),
        disable=_silent,
    )
    with progress:
        task = progress.add_task(description, total=None)

        def advance(amount: int, total: int) -> None:
            progress.update(task, advance=amount, total=total)

        yield advance
