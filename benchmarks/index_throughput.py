"""Indexing throughput against the visual model's own throughput, in one process.

    .venv/bin/python benchmarks/index_throughput.py [--photos N] [--folder DIR]

The photos are Imagenette val from ../shared/data (unpacked into data/), or
any folder given. The visual model alone runs over the photos, decoded and
preprocessed beforehand and untimed: this is the pace the indexer cannot
beat. Then `index_folder` indexes the same photos into a fresh embedded
index: walk, hash, decode, embed, write and flush, all timed. The two
alternate for --rounds rounds, so a drift in the machine's speed (this
2-core machine's own rates move by 5 % within minutes) lands on both.
Printed: each round, then the median rates and ratio.

``--int8`` also runs the int8 network that a new index uses by default
(:mod:`xmodal.vision.quantized`, made from the shipped ranges on first use) in every
round, and prints its end-to-end rate against fp32's from the same rounds.
``--baseline MODEL`` runs another model file (fp32, and int8 with ``--int8`` where its ranges
ship) in the same rounds, as ``baseline fp32``/``baseline int8``, for two models' rates side by side.
``--no-spin`` also runs each network with onnxruntime's worker threads not busy-waiting between
operators (``runtime.session(spin=False)``), as ``fp32 no-spin``/``int8 no-spin``: indexing decodes
the next batch on the same 2 cores while the network runs, and spinning threads compete with it.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from indexer.run import index_folder
from indexer.walk import walk
from xmodal.devise.encoder import Encoder
from xmodal.store import open_store
from xmodal.text.factory import load_space
from xmodal.vision.decode import read_pixels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = Path(__file__).resolve().parents[1]
    parser.add_argument("--folder", type=Path, default=None)
    parser.add_argument("--photos", type=int, default=None, help="use only the first N photos")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3, help="model-alone and indexing runs, alternated")
    parser.add_argument("--int8", action="store_true", help="also the int8 network (xmodal.vision.quantized)")
    parser.add_argument("--baseline", type=Path, default=None, help="another model file, run in the same rounds")
    parser.add_argument("--no-spin", action="store_true", help="also each network with its threads not spinning")
    args = parser.parse_args()
    folder = args.folder
    if folder is None:
        folder = here / "data" / "imagenette-val"
        if not folder.is_dir():
            import tarfile

            with tarfile.open(here.parent / "shared" / "data" / "imagenette-val.tar") as tar:
                tar.extractall(here / "data", filter="data")
    files = walk(folder).files[: args.photos]
    encoder = Encoder.load(load_space(), precision="fp32")  # EfficientNet-Lite2 into all-MiniLM-L6-v2
    visual = encoder.visual

    with tempfile.TemporaryDirectory() as work:
        subset = Path(work) / "photos"
        for facts in files:  # the same photos, as a folder of their own
            target = subset / Path(facts.path).relative_to(folder)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(facts.path, target)

        pixels = np.stack([read_pixels(f.path, visual) for f in files])
        encoders = {"fp32": encoder}
        if args.int8:
            encoders["int8"] = encoder.at_precision("int8")
        if args.baseline:
            from xmodal.vision.quantized import has_int8

            baseline = Encoder.load(load_space(), args.baseline, precision="fp32")
            encoders["baseline fp32"] = baseline
            if args.int8 and has_int8(baseline.visual):
                encoders["baseline int8"] = baseline.at_precision("int8")
        if args.no_spin:
            for name in [name for name in encoders if name in ("fp32", "int8")]:
                encoders[f"{name} no-spin"] = not_spinning(encoders[name])
        rates: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in encoders}
        for one in encoders.values():
            one.embed_pixels(pixels[: args.batch])  # warm-up: session start, first allocations
        for n in range(args.rounds):  # alternated, so a machine that speeds up or slows down hits both
            for name, one in encoders.items():
                model_rates, index_rates = rates[name]
                started = time.perf_counter()
                for start in range(0, len(pixels), args.batch):
                    one.embed_pixels(pixels[start : start + args.batch])
                model_rates.append(len(pixels) / (time.perf_counter() - started))
                index = Path(work) / f"index-{name}-{n}"
                with open_store(index, dim=one.model.space.dim, visual_dim=visual.feature_dim) as store:
                    started = time.perf_counter()
                    summary = index_folder(subset, store, one, quiet=True, batch_size=args.batch)
                    index_rates.append(len(files) / (time.perf_counter() - started))
                    assert summary.added == len(files), summary
                    started = time.perf_counter()
                    again = index_folder(subset, store, one, quiet=True)
                    if name == "fp32":
                        rerun, rerun_seconds, last = again, time.perf_counter() - started, index
                print(f"round {n + 1}, {name}: model {model_rates[-1]:.1f}, indexing {index_rates[-1]:.1f} images/s, "
                      f"ratio {index_rates[-1] / model_rates[-1]:.2f}", flush=True)
        del pixels
        # Allocated blocks of the last closed fp32 index (photos only: this index has no vocabulary).
        size = sum(p.stat().st_blocks * 512 for p in last.rglob("*") if p.is_file())
    model_rates, index_rates = rates["fp32"]
    ratios = [i / m for i, m in zip(index_rates, model_rates)]
    print(f"{len(files)} photos from {folder}, batch {args.batch}, {visual.threads} threads, {args.rounds} rounds")
    print(f"visual model alone (onnxruntime, predecoded): {statistics.median(model_rates):7.1f} images/s (median)")
    print(f"xmodal indexing, end to end:                  {statistics.median(index_rates):7.1f} images/s (median)")
    print(f"ratio indexing / model:                       {statistics.median(ratios):7.2f} (median; "
          f"{min(ratios):.2f} to {max(ratios):.2f})")
    print(f"index size on disk: {size / len(files) / 1024:.1f} KiB per photo")
    print(f"unchanged rerun: {rerun_seconds:.2f} s ({rerun.unchanged} unchanged)")
    if "int8" in rates:
        model8, index8 = rates["int8"]
        print(f"int8 model alone:                             {statistics.median(model8):7.1f} images/s (median)")
        print(f"int8 indexing, end to end:                    {statistics.median(index8):7.1f} images/s (median)")
        print(f"int8 / fp32 end to end:                       {statistics.median(index8) / statistics.median(index_rates):7.2f}")
    for name in ("fp32 no-spin", "int8 no-spin"):
        if name in rates:
            model_n, index_n = rates[name]
            spun = rates[name.split()[0]][1]
            print(f"{name}: model alone {statistics.median(model_n):.1f}, indexing {statistics.median(index_n):.1f} images/s "
                  f"(median); indexing against spinning: {statistics.median(index_n) / statistics.median(spun):.2f}")
    if "int8 no-spin" in rates:
        print(f"int8 no-spin / fp32 (spinning, today's) end to end: "
              f"{statistics.median(rates['int8 no-spin'][1]) / statistics.median(index_rates):.2f}; "
              f"int8 no-spin / fp32 no-spin: "
              f"{statistics.median(rates['int8 no-spin'][1]) / statistics.median(rates['fp32 no-spin'][1]):.2f}")
    for name in ("baseline fp32", "baseline int8"):
        if name in rates:
            model_b, index_b = rates[name]
            print(f"{name}: model alone {statistics.median(model_b):.1f}, indexing {statistics.median(index_b):.1f} images/s "
                  f"(median); this model's {name.split()[1]} indexing / it: "
                  f"{statistics.median(rates[name.split()[1]][1]) / statistics.median(index_b):.2f}")


def not_spinning(encoder: Encoder) -> Encoder:
    """The same network and map, its session opened with spinning threads off."""
    from xmodal.core.runtime import session

    visual = encoder.visual.at_precision(encoder.visual.precision)  # a visual of its own, same file
    visual._session = session(visual.onnx_path(), visual.threads, int8=visual.int8_kernel, spin=False)
    return Encoder(visual, encoder.model)


if __name__ == "__main__":
    main()
