"""Images per second of a visual model: plain torch against onnxruntime.

    python benchmarks/visual_throughput.py [N] [--model NAME] [--batch 32] [--threads T] [--rounds 2]

Both run in this one process on the same preprocessed batches with the same
number of threads, so the ratio is a fair one; each gets a warm-up batch and
its best of ``--rounds`` timed passes counts, which damps a busy machine.
The pictures are the first N (default 500) of Imagenette val when
``../shared/data/imagenette-val.tar`` is beside the project, else N random
pictures. Decoding and preprocessing happen once, untimed: this measures the
network alone.
"""

from __future__ import annotations

import argparse
import os
import tarfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from xmodal.vision.visual import DEFAULT_VISUAL, VisualModel, load_visual

IMAGENETTE = Path(__file__).resolve().parents[2] / "shared" / "data" / "imagenette-val.tar"


def pictures(model: VisualModel, count: int) -> tuple[np.ndarray, str]:
    """``count`` preprocessed pictures and where they came from."""
    if IMAGENETTE.is_file():
        with tarfile.open(IMAGENETTE) as tar:
            members = [m for m in tar if m.isfile() and m.name.endswith(".JPEG")][:count]
            images = [model.preprocess(Image.open(tar.extractfile(m))) for m in members]
        return np.stack(images), f"Imagenette val ({IMAGENETTE})"
    rng = np.random.default_rng(0)
    images = [model.preprocess(Image.fromarray(rng.integers(0, 256, (240, 320, 3), np.uint8))) for _ in range(count)]
    return np.stack(images), "random 320x240 pictures (Imagenette not found)"


def images_per_second(run: Callable[[np.ndarray], object], batches: list[np.ndarray], rounds: int) -> float:
    run(batches[0])  # warm-up: first-call allocation, and the ONNX export if not yet cached
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for batch in batches:
            run(batch)
        best = min(best, time.perf_counter() - start)
    return sum(len(batch) for batch in batches) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("count", nargs="?", type=int, default=500, help="pictures (default 500)")
    parser.add_argument("--model", default=DEFAULT_VISUAL)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    model = load_visual(args.model, threads=args.threads)
    images, source = pictures(model, args.count)
    batches = [images[i : i + args.batch] for i in range(0, len(images), args.batch)]
    torch.set_num_threads(args.threads)
    module = model.torch_module()

    def run_torch(batch: np.ndarray) -> object:
        with torch.no_grad():
            return module(torch.from_numpy(batch))

    torch_rate = images_per_second(run_torch, batches, args.rounds)
    onnx_rate = images_per_second(model.embed, batches, args.rounds)
    print(f"{model.id}: {len(images)} pictures from {source}")
    print(f"batch {args.batch}, {args.threads} threads ({os.cpu_count()} CPUs), best of {args.rounds} rounds")
    print(f"torch (no_grad)  {torch_rate:8.1f} images/s")
    print(f"onnxruntime      {onnx_rate:8.1f} images/s")
    print(f"onnxruntime / torch: {onnx_rate / torch_rate:.2f}x")


if __name__ == "__main__":
    main()
