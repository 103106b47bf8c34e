"""Measure the activation ranges that make the shipped visual model's int8 copy.

    .venv/bin/python scripts/build_int8_ranges.py [--shared ../shared/data] [--work data]

Static int8 quantization (:mod:`xmodal.vision.quantized`) needs the range of every
activation of the network, measured on photos like the ones it will see. This
runs the shipped model's fp32 EfficientNet-Lite2 export over 256 Flickr8k
*train* photos (every 23rd, decoded as the indexer decodes them) with
onnxruntime's MinMax calibration and writes its calibration cache to
``xmodal/data/int8/<visual>-<weights checksum>.json``, which ships; users'
machines make the int8 network from it and their own fp32 export. The same
photos, code and onnxruntime give the same file.
"""

from __future__ import annotations

import argparse
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
PHOTOS, EVERY, BATCH = 256, 23, 16


def train_photos(root: Path) -> list[Path]:
    """Every ``EVERY``-th distinct Flickr8k train photo, ``PHOTOS`` of them, in captions.csv's order."""
    import csv

    rows = csv.DictReader((root / "captions.csv").open(encoding="utf-8"))
    paths = list(dict.fromkeys(row["path"] for row in rows if row["split"] == "train"))
    return [root / path for path in paths[::EVERY][:PHOTOS]]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--work", type=Path, default=ROOT / "data", help="where flickr8k-captions is unpacked")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))  # the xmodal beside this script, not another installed copy
    from xmodal.devise.encoder import Encoder
    from xmodal.text.factory import load_space
    from xmodal.vision.decode import read_pixels
    from xmodal.vision.quantized import calibrate, ranges_file

    root = args.work / "flickr8k-captions"
    if not (root / "captions.csv").is_file():
        archive = next(args.shared.glob("flickr8k-captions.tar*"), None)
        if archive is None:
            raise SystemExit(f"flickr8k-captions not found in {args.work} or {args.shared}")
        with tarfile.open(archive) as tar:
            tar.extractall(args.work, filter="data")
    visual = Encoder.load(load_space()).visual
    pixels = np.stack([read_pixels(path, visual) for path in train_photos(root)])
    out = ranges_file(visual.id, visual.weights_checksum)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)  # onnxruntime reads an existing cache instead of measuring
    with tempfile.TemporaryDirectory() as work:
        batches = (pixels[i : i + BATCH] for i in range(0, len(pixels), BATCH))
        calibrate(visual.onnx_path(), batches, out, Path(work) / "int8.onnx")
    out.chmod(0o644)  # onnxruntime writes it private, as a temporary file
    print(f"{out}: {out.stat().st_size:,} bytes from {len(pixels)} photos")


if __name__ == "__main__":
    main()
