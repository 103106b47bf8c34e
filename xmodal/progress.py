"""The progress bar every long photo job shows: count, images/s and time left, on stderr."""

from __future__ import annotations

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
        return Text(f"{task.speed or 0:.1f} images/s", style="progress.data.speed")


def photo_progress(quiet: bool = False) -> Progress:
    """A rich Progress for photo counts; ``quiet`` shows nothing (for scripts)."""
    return Progress(
        TextColumn("{task.description}", markup=False),  # a model id may hold brackets
        BarColumn(),
        MofNCompleteColumn(),
        _RateColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=quiet,
    )
