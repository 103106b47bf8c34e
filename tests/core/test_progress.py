"""The photo progress bar."""

import time

from xmodal.core.progress import _RateColumn, photo_progress


def test_a_short_run_ends_on_its_real_rate_not_zero():
    progress = photo_progress(quiet=True)
    task_id = progress.add_task("photos", total=12)
    time.sleep(0.05)
    progress.update(task_id, completed=12)  # one update: rich has no speed samples to go on
    task = progress.tasks[0]
    text = _RateColumn().render(task).plain
    rate = float(text.split()[0])
    assert 12 / 1.0 < rate <= 12 / 0.05 + 1e-6  # between 12 photos/s and 12 per 0.05 s
    assert text.endswith("images/s")


def test_no_photos_yet_says_so_without_a_number():
    progress = photo_progress(quiet=True)
    progress.add_task("photos", total=12)
    assert _RateColumn().render(progress.tasks[0]).plain == "- images/s"


def test_one_time_steps_show_nothing_when_silenced(capfd, monkeypatch):
    """``xmodal index -q``: the export spinner and the vocabulary bar stay quiet; without it they show."""
    from rich.console import Console

    from xmodal.core import progress

    monkeypatch.setattr(progress, "Console", lambda stderr: Console(stderr=stderr, force_terminal=True))

    def one_time_steps():
        with progress.status("exporting a model (once)"):
            pass
        with progress.task_progress("embedding 3 words (once)") as advance:
            advance(3, 3)

    with progress.silenced():
        one_time_steps()
    assert capfd.readouterr().err == ""
    one_time_steps()
    assert "embedding 3 words" in capfd.readouterr().err


def test_a_bar_written_to_a_log_is_one_whole_line(capfd, monkeypatch):
    """Not a terminal (a log, a pipe): the bar is drawn once at the end, with room for a
    long model name, the count and the rate, not squeezed into ellipses at 80 columns."""
    monkeypatch.setenv("COLUMNS", "80")
    with photo_progress() as progress:
        task = progress.add_task("indexing (efficientnet-lite2/tuned-from-block-19-stock-classes, int8)", total=700)
        progress.update(task, completed=700)
    line = capfd.readouterr().err.strip()
    assert line.startswith("indexing (efficientnet-lite2/tuned-from-block-19-stock-classes, int8) ")
    assert " 700/700 " in line and "images/s" in line and "…" not in line
