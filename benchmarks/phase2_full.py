"""The shipped model's rebuild on all of train, keeping the model after every phase-2 epoch.

    cd benchmarks && ../.venv/bin/python phase2_full.py [--epochs 6] [--out ../data/phase2-full]

It runs what ``xmodal train ... --tune-from 17 --tune-epochs N`` runs (docs/results.md has
the command; ``language.SHIPPED_CONFIG``, the phase-2 settings of ``TUNE``) once, for the
largest N considered, and writes ``epoch-K.safetensors`` after each epoch K: the model after
epoch K of a longer run is the model of a K-epoch run (same seeds, same order), so the
epoch count chosen on dev (benchmarks/phase2_dev.py) can be shipped without a second run.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import replace
from pathlib import Path

from language import DEFAULT_SOURCES, DEFAULT_SPEC, DEFAULT_VISUAL, HIERARCHY, SETS, SHIPPED_CONFIG
from results import shared_paths, unpack
from xmodal.devise import TuneConfig
from xmodal.sentences import SentenceSpace
from xmodal.train import train_pairs
from xmodal.visual import load_visual

TUNE = TuneConfig(first=17, lr=1e-4, map_lr=1e-4)
ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    shared, work = shared_paths()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--out", type=Path, default=work / "phase2-full")
    args = parser.parse_args()
    args.out = args.out.resolve()
    started = time.perf_counter()
    roots = unpack(shared, work, SETS)
    args.out.mkdir(parents=True, exist_ok=True)

    def save(epoch: int, model) -> None:
        model.save(args.out / f"epoch-{epoch}.safetensors")
        print(f"epoch {epoch}: saved ({time.perf_counter() - started:.0f} s)", flush=True)

    # From the project's folder with relative paths, as the documented command runs: the model
    # file records its data as given, so the two write the same bytes.
    os.chdir(ROOT)
    sources = [os.path.relpath(roots[name], ROOT) for name in DEFAULT_SOURCES]
    train_pairs(
        sources, SentenceSpace.load(), load_visual(DEFAULT_VISUAL), SHIPPED_CONFIG,
        DEFAULT_SPEC, HIERARCHY, quiet=True, tune=replace(TUNE, epochs=args.epochs), on_tuned=save,
    )


if __name__ == "__main__":
    main()
