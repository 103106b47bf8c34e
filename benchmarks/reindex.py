"""What a user waits for on a real 10k-photo index, timed as whole cold processes.

    .venv/bin/python benchmarks/reindex.py [--photos 10000] [--runs 5] [--work DIR]

Copies --photos real photos from ../shared/data (mini-places-20, then
flickr8k-captions) into a folder, indexes it once with `xmodal index` (the
shipped model; the first run also pays any one-time export), then times fresh
processes: `xmodal index` on the unchanged folder, text queries (a word, a rare
word read with its definition, and a sentence, as JSON and as the printed table) and a photo query against the
index, beside `python -c pass`, `python -c "import numpy, onnxruntime"` (what
a text query cannot do without) and `python -c "import torch"` as baselines,
each the median of --runs after one unmeasured run (so Python has written its
bytecode caches, as on a user's machine; see ENV). --work
keeps the folder and index for a rerun (the first indexing is then skipped).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data"
XMODAL = [sys.executable, "-m", "cli"]


def sources(count: int) -> list[Path]:
    found: list[Path] = []
    for folder in (DATA / "mini-places-20" / "photos", DATA / "flickr8k-captions" / "photos"):
        found.extend(sorted(p for p in folder.rglob("*") if p.suffix.lower() in {".jpg", ".jpeg", ".png"}))
    if len(found) < count:
        sys.exit(f"only {len(found)} photos under {DATA}; unpack ../shared/data there (see README)")
    return found[:count]


# Python caches compiled modules as a user's does: this machine sets PYTHONDONTWRITEBYTECODE=1,
# which would recompile xmodal's own modules in every process (about 40 ms no user pays).
ENV = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}


def timed(command: list[str], cwd: Path | None = None) -> float:
    """Seconds a fresh process of ``command`` takes, start to exit (``cwd``: where it starts)."""
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env=ENV, cwd=cwd)
    return time.perf_counter() - started


def median_seconds(command: list[str], runs: int) -> float:
    return statistics.median(timed(command) for _ in range(runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--work", type=Path, help="keep the photos and index here between runs")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="xmodal-reindex-"))
    photos, index = work / "photos", work / "index"
    try:
        if not index.is_dir():
            for i, source in enumerate(sources(args.photos)):  # folders of 1,000, as photo libraries have
                target = photos / f"{i // 1000:02d}" / source.name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
            seconds = timed([*XMODAL, "index", str(photos), "--index", str(index), "-q"])
            print(f"first index of {args.photos:,} photos: {seconds:.0f} s ({args.photos / seconds:.1f} photos/s, one cold process)")
        info = json.loads(subprocess.run([*XMODAL, "info", "--index", str(index), "--json"], check=True,
                                         capture_output=True, text=True).stdout)
        query_photo = next(photos.rglob("*.jpg"))
        rows = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "python -c 'import numpy, onnxruntime'": [sys.executable, "-c", "import numpy, onnxruntime"],
            "python -c 'import torch'": [sys.executable, "-c", "import torch"],
            "xmodal index, folder unchanged": [*XMODAL, "index", str(photos), "--index", str(index), "-q"],
            'xmodal query "dog"': [*XMODAL, "query", "dog", "--index", str(index), "--json"],
            'xmodal query "dog", printed as a table': [*XMODAL, "query", "dog", "--index", str(index)],
            'xmodal query "steeple" (read with its WordNet definition)': [
                *XMODAL, "query", "steeple", "--index", str(index), "--json"],
            "xmodal query, a 12-word sentence": [
                *XMODAL, "query", "two young children play with a brown dog on the grass", "--index", str(index), "--json"],
            "xmodal query PHOTO (indexed: look-alikes)": [*XMODAL, "query", str(query_photo), "--index", str(index), "--json"],
        }
        for command in rows.values():  # once each, unmeasured: Python writes its bytecode caches
            timed(command)
        print(f"index: {info['photos']:,} photos; median of {args.runs} fresh processes each")
        for name, command in rows.items():
            print(f"{name:44s} {median_seconds(command, args.runs):6.2f} s")
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
