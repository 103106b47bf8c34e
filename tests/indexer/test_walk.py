"""indexer.walk: which files a folder holds, and the spellings a path may be stored under."""

from __future__ import annotations

import os

from indexer.walk import walk


def test_walk_finds_photos_by_suffix_in_any_case_and_skips_hidden(folder):
    names = sorted(os.path.relpath(f.path, folder) for f in walk(folder).files)
    assert names == ["a.jpg", "f.tiff", "g.gif", "trip/b.JPG", "trip/c.png", "trip/day1/d.webp", "trip/day1/e.bmp"]


def test_a_path_is_looked_up_under_each_spelling_the_index_may_use(folder, tmp_path):
    from indexer.walk import canonical, spellings

    link = tmp_path / "link"
    link.symlink_to(folder)
    assert canonical(link / "a.jpg") == str(folder.resolve() / "a.jpg")
    assert canonical(link) == str(tmp_path.resolve() / "link")  # a folder the user names keeps its own name
    # as typed first (links kept, as the walk stores them), then the folders above resolved
    found = spellings(link / "trip" / ".." / "a.jpg")
    assert (found[0], found[-1]) == (str(link / "a.jpg"), str(folder.resolve() / "a.jpg"))
    # a link to a photo ends with the file it leads to
    (tmp_path / "mine.jpg").symlink_to(link / "a.jpg")
    assert spellings(tmp_path / "mine.jpg")[-1] == str(folder.resolve() / "a.jpg")
