"""The photo progress bar."""

import time

from xmodal.progress import _RateColumn, photo_progress


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
