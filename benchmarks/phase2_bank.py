"""Every photo phase 2 reads, as the frozen bottom's activations, computed once per set.

    .venv/bin/python benchmarks/phase2_bank.py [--first 17]

Fine-tuning the top of EfficientNet-Lite2 (benchmarks/phase2_dev.py) starts from
the activations below block ``first`` (9x9x208 for block 17, 67 KB a photo in
float32). They are cached per set, over all of the set's photos in a fixed order
(xmodal.training.train.visual_outputs), so every dev setting, whichever photos it trains
and scores on, reads one cache.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from language import DEFAULT_VISUAL, SETS
from results import shared_paths, unpack

from xmodal.training.datasets import read_captions, read_labeled
from xmodal.training.train import visual_outputs
from xmodal.vision.visual import tower_split

FIRST = 17  # the block phase 2 starts at (the probe: blocks 17-20 and the head)
TINY_PER_CLASS = 10  # Tiny ImageNet val photos per class: the dev check of the ImageNet rows


def set_photos(roots: dict[str, Path]) -> dict[str, list[Path]]:
    """Each set's photos phase 2 may read, in a fixed order."""
    flickr = read_captions(roots["flickr8k-captions"])
    tiny = read_labeled(roots["tiny-imagenet-200"])
    tiny = tiny.select(tiny.in_split("val"))
    kept, per_class = [], {}
    for path, label in zip(tiny.paths, tiny.labels):
        if per_class.setdefault(label, 0) < TINY_PER_CLASS:
            per_class[label] += 1
            kept.append(path)
    return {
        "flickr8k-captions": sorted(flickr.photos),
        "mini-places-20": sorted(read_labeled(roots["mini-places-20"]).paths),
        "imagenette-val": sorted(read_labeled(roots["imagenette-val"]).paths),
        "tiny-imagenet-200": sorted(kept),
    }


class Bank:
    """Activations of every photo of the sets, looked up by path."""

    def __init__(self, bottom, photos: dict[str, list[Path]], quiet: bool = False) -> None:
        self.arrays, self.rows = [], {}
        for name, paths in photos.items():
            self.arrays.append(visual_outputs(bottom, paths, quiet)[0])
            for row, path in enumerate(paths):
                self.rows[str(Path(path).resolve())] = (len(self.arrays) - 1, row)

    def __call__(self, paths) -> np.ndarray:
        """The activations of ``paths``, in their order (float32, copied into memory)."""
        found = [self.rows[str(Path(p).resolve())] for p in paths]
        return np.stack([self.arrays[a][r] for a, r in found])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--first", type=int, default=FIRST)
    args = parser.parse_args()
    shared, work = shared_paths()
    roots = unpack(shared, work, SETS)
    bottom, _ = tower_split(DEFAULT_VISUAL, args.first)
    photos = set_photos(roots)
    print({name: len(paths) for name, paths in photos.items()}, flush=True)
    Bank(bottom, photos)


if __name__ == "__main__":
    main()
