"""Sentence vectors in the word space: SIF against the plain mean, and the text path's speed.

    .venv/bin/python benchmarks/phrases.py [--sweep] [--photos]

Every Flickr8k val caption (5,000: five per photo, 1,000 photos) goes through
the real query path, ``space.query(caption)`` (parse, drop unknown words,
phrase vector), once per ``WordSpace.phrase_weighting``:

- caption to caption (text only, needs nothing but GloVe): for each caption,
  the other 4,999 ranked by cosine; R@1 and R@10 say whether one of the four
  other captions of the same photo comes first / in the top 10, and the
  median rank is that of the best-ranked of them;
- ``--photos``: caption to photo with the shipped DeViSE encoder (imports
  torch and embeds the 1,000 val photos, about a minute on 2 cores): the rank
  of the caption's own photo among the 1,000;
- ``--sweep``: the same caption-to-caption figures for other values of SIF's
  ``a`` (the common component recomputed for each).

Then the per-query cost of parse + evaluate on the warm space, by timeit.
The captions (and photos) are ``--captions`` or data/flickr8k-captions/captions.csv
(columns path, caption, split), else they are unpacked from
../shared/data/flickr8k-captions.tar.gz into a temporary folder.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import tarfile
import tempfile
import time
import timeit
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from xmodal import WordSpace  # noqa: E402
from xmodal.text import words  # noqa: E402

CAPTIONS = ROOT / "data" / "flickr8k-captions" / "captions.csv"
ARCHIVE = ROOT.parent / "shared" / "data" / "flickr8k-captions.tar.gz"
WEIGHTINGS = ("mean", "sif-weights", "sif")
SENTENCE = "A black and white dog is running through the snow in a park ."  # 12 words and a period


def read_captions(path: Path | None, photos: bool, scratch: Path) -> tuple[list[dict], Path]:
    """The val rows, and the folder their photo paths are relative to: ``path``'s, else
    data/flickr8k-captions, else the archive unpacked into ``scratch`` (val photos only
    when ``photos``)."""
    if path is None and CAPTIONS.is_file():
        path = CAPTIONS
    if path is None:
        with tarfile.open(ARCHIVE) as tar:
            for member in tar:
                if member.name.endswith("captions.csv"):
                    tar.extract(member, scratch, filter="data")
                    path = scratch / member.name
                    break
        val = {row["path"] for row in _val_rows(path)}
        if photos:
            with tarfile.open(ARCHIVE) as tar:
                for member in tar:
                    if member.name.split("/", 1)[-1] in val:
                        tar.extract(member, scratch, filter="data")
    return _val_rows(path), path.parent


def _val_rows(path: Path) -> list[dict]:
    with path.open(newline="", encoding="utf-8") as handle:
        return [row for row in csv.DictReader(handle) if row["split"] == "val"]


def caption_vectors(space: WordSpace, captions: list[str]) -> np.ndarray:
    return np.stack([space.query(caption).vector for caption in captions])


def caption_retrieval(vectors: np.ndarray, photos: np.ndarray) -> dict[str, float]:
    """R@1, R@10 and median rank of the best-ranked other caption of the same photo."""
    scores = vectors @ vectors.T
    np.fill_diagonal(scores, -np.inf)
    same = photos[:, None] == photos[None, :]
    np.fill_diagonal(same, False)
    best = np.where(same, scores, -np.inf).max(axis=1)
    rank = (scores > best[:, None]).sum(axis=1) + 1
    return {"R@1": float((rank == 1).mean()), "R@10": float((rank <= 10).mean()), "median rank": float(np.median(rank))}


def photo_retrieval(vectors: np.ndarray, photo_vectors: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """R@1, R@5, R@10 and median rank of each caption's own photo among all val photos."""
    scores = vectors @ photo_vectors.T
    own = scores[np.arange(len(truth)), truth]
    rank = (scores > own[:, None]).sum(axis=1) + 1
    return {
        "R@1": float((rank == 1).mean()),
        "R@5": float((rank <= 5).mean()),
        "R@10": float((rank <= 10).mean()),
        "median rank": float(np.median(rank)),
    }


def table(title: str, rows: dict[str, dict[str, float]]) -> str:
    columns = list(next(iter(rows.values())))
    lines = [f"| {title} | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
    for name, row in rows.items():
        cells = [f"{row[c]:.0f}" if c == "median rank" else f"{row[c]:.3f}" for c in columns]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def per_query_ms(space: WordSpace, query: str, number: int = 2000) -> float:
    """Median over 5 timeit repeats of ``space.query(query)``, in milliseconds (after one
    warm-up query, which also builds the suggestion pool once)."""
    space.query(query)
    runs = timeit.repeat(lambda: space.query(query), number=number, repeat=5)
    return statistics.median(runs) / number * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--captions", type=Path, help="captions.csv (default: data/flickr8k-captions, else the archive)")
    parser.add_argument("--sweep", action="store_true", help="also try other values of SIF's a")
    parser.add_argument("--photos", action="store_true", help="also rank the val photos with the shipped encoder")
    args = parser.parse_args()

    started = time.perf_counter()
    space = WordSpace.load()
    loaded = time.perf_counter() - started
    scratch = tempfile.TemporaryDirectory(prefix="xmodal-phrases-")
    rows, root = read_captions(args.captions, args.photos, Path(scratch.name))
    captions = [row["caption"] for row in rows]
    photos = np.array([row["path"] for row in rows])
    print(f"{len(captions)} val captions of {len(set(photos))} photos; space loaded in {loaded:.2f} s")

    vectors = {}
    for weighting in WEIGHTINGS:
        space.phrase_weighting = weighting
        vectors[weighting] = caption_vectors(space, captions)
    space.phrase_weighting = "sif"
    notes = sum(len(space.query(c).notes) for c in captions)
    print(f"{notes} words dropped as unknown, with a note, over the 5,000 captions\n")
    names = {"mean": "plain mean", "sif-weights": f"SIF weights (a={words.SIF_A:g}), no common-component removal",
             "sif": f"SIF (a={words.SIF_A:g}), common component removed (default)"}
    print(table("caption → caption", {names[w]: caption_retrieval(vectors[w], photos) for w in WEIGHTINGS}))
    text_path_torch = "torch" in sys.modules

    if args.sweep:
        default = words.SIF_A
        results = {}
        for a in (1e-4, 3e-4, 1e-3, 3e-3, 1e-2):
            words.SIF_A = a
            swept = WordSpace(space.keys, space.vectors, space.identity)  # its common component is computed for this a
            for weighting in ("sif-weights", "sif"):
                swept.phrase_weighting = weighting
                results[f"a={a:g}, {weighting}"] = caption_retrieval(caption_vectors(swept, captions), photos)
        words.SIF_A = default
        print("\n" + table("caption → caption, SIF's a", results))

    if args.photos:
        if not (root / rows[0]["path"]).is_file():
            sys.exit(f"--photos needs the photos beside {root / 'captions.csv'}")
        from xmodal.devise.encoder import Encoder

        paths = list(dict.fromkeys(row["path"] for row in rows))
        begun = time.perf_counter()
        photo_vectors = Encoder.load(space).encode_images([root / p for p in paths])
        print(f"\n{len(paths)} photos embedded in {time.perf_counter() - begun:.0f} s")
        truth = np.array([paths.index(row["path"]) for row in rows])
        print(table("caption → photo", {names[w]: photo_retrieval(vectors[w], photo_vectors, truth) for w in WEIGHTINGS}))

    space.phrase_weighting = "sif"
    print("\nper query, parse + evaluate, warm (median of 5 timeit repeats):")
    for label, query in [
        (f"12-word sentence: {SENTENCE!r}", SENTENCE),
        ("the same with a typo (a note and a suggestion)", SENTENCE.replace("running", "runing")),
        ("a sentence with a word no edit away from a known one (difflib)", "A wakeboarder jumps over the waves on a lake ."),
        ("king - man + woman", "king - man + woman"),
        ("one word", "dog"),
    ]:
        print(f"  {per_query_ms(space, query):7.3f} ms  {label}")
    print(f"torch imported by the text path: {text_path_torch}")


if __name__ == "__main__":
    main()
