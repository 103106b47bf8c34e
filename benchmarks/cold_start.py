"""Cold start of a text query on a 10k-photo index, against Python's own start.

    .venv/bin/python benchmarks/cold_start.py [--photos 10000] [--runs 7]

Builds an embedded index of synthetic photos (unit vectors; the text path
never reads pixels) recorded as made with the default space (all-MiniLM-L6-v2), then times
whole processes: `xmodal query "dog"`, `"steeple"` (a word read with its WordNet
definition, xmodal.text.glosses) and a sentence against it, `xmodal
words "dog"` (no index) in the sentence space and in GloVe, and as baselines a bare `python -c pass` and `import torch`,
which the text path must not need. Medians of --runs fresh processes. First,
the sentence space's one-time steps in an empty cache (each a fresh process,
so each includes its imports and loads: the ONNX export, the vocabulary, and
a photo's reading of it, "a photo of WORD" summed in), and the cost of one query in a warm
process (the sentence space loaded).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import timeit
from pathlib import Path

import numpy as np
from reindex import median_seconds

from xmodal.store import ImageInfo, ImageRecord, open_store
from xmodal.text.factory import load_space

XMODAL = [sys.executable, "-m", "cli"]


def build(index: Path, photos: int) -> None:
    space = load_space()
    space.vocabulary()  # embedded once into the cache, as a first index would
    rng = np.random.default_rng(0)
    with open_store(index, dim=space.dim, visual_dim=1280) as store:
        store.set_meta({"space": space.identity.to_dict()})
        for start in range(0, photos, 1000):
            records = []
            for i in range(start, min(start + 1000, photos)):
                semantic, visual = rng.normal(size=space.dim), rng.normal(size=1280)
                info = ImageInfo(f"/photos/{i:06d}.jpg", f"{i:064x}", 1000, 0.0, 640, 480)
                records.append(ImageRecord(info, semantic / np.linalg.norm(semantic), visual / np.linalg.norm(visual)))
            store.upsert_images(records)
        store.flush()
        store.optimize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as fresh:  # the sentence space's one-time steps, in an empty cache
        env = {**os.environ, "XMODAL_CACHE_DIR": fresh}
        for step, code in (
            ("export to ONNX", "from xmodal.text.factory import load_space; load_space()"),
            ("the vocabulary (embedded, or copied from a shipped table)", "from xmodal.text.factory import load_space; load_space().vocabulary()"),
            ("a photo's reading of it", "from xmodal.search.feedback import TEMPLATE; "
             "from xmodal.text.factory import load_space; load_space().vocabulary(TEMPLATE)"),
        ):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, env=env)
            print(f"first use, {step}: {time.perf_counter() - started:.1f} s (a fresh process)")
    with tempfile.TemporaryDirectory() as work:
        index = Path(work) / "index"
        build(index, args.photos)
        rows = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "python -c 'import torch'": [sys.executable, "-c", "import torch"],
            'xmodal words "dog" (no index, GloVe)': [*XMODAL, "words", "dog", "--json", "--space", "glove-6b-50d"],
            'xmodal words "dog" (no index, MiniLM)': [*XMODAL, "words", "dog", "--json"],
            f'xmodal query "dog" ({args.photos:,} photos)': [*XMODAL, "query", "dog", "--index", str(index), "--json"],
            f'xmodal query "steeple" ({args.photos:,} photos)': [*XMODAL, "query", "steeple", "--index", str(index), "--json"],
            f'xmodal query, a 12-word sentence ({args.photos:,} photos)': [
                *XMODAL, "query", "two young children play with a brown dog on the grass", "--index", str(index), "--json"],
        }
        space = load_space()
        for _ in range(10):  # the first few texts get a session that starts fast, later ones the one
            space.query("warm up")  # that runs fast (xmodal.text.sentences.SentenceSpace._session_for)
        for text in ("dog", "two young children play with a brown dog on the grass"):
            runs = timeit.repeat(lambda: space.query(text), number=20, repeat=5)
            print(f"warm query {text!r}: {min(runs) / 20 * 1000:.2f} ms (best of 5 means of 20)")
        print(f"median of {args.runs} fresh processes each")
        for name, command in rows.items():
            print(f"{name:40s} {median_seconds(command, args.runs):6.2f} s")


if __name__ == "__main__":
    main()
