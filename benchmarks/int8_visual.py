"""An int8 EfficientNet-Lite2 by onnxruntime's quantization: speed, agreement, val quality.

    .venv/bin/python benchmarks/int8_visual.py [--json int8.json]

Issue 17 asks whether an int8 visual model can index twice as fast at a quality
loss of at most 0.5 points of caption R@10 and Imagenette hit@1 on val. This
measures the candidates beside the fp32 export, in one run (nothing ships yet):

- dynamic: ``quantize_dynamic`` (int8 weights, activations quantized per run);
- static, every layer: ``quantize_static``, QDQ, per-channel int8 weights,
  uint8 activations calibrated (min/max) on 256 Flickr8k train photos (every n-th);
- static: the same with the first and last convolution and the classifier kept
  in float32, the candidate, chosen over "every layer" by agreement with fp32
  on 96 other train photos (printed), never on val: only it gets the val pass.
  It ships: this is :func:`xmodal.vision.quantized.int8_visual`, made from the ranges
  in xmodal/data/int8/ (scripts/build_int8_ranges.py measures them on the same
  256 photos), the network a new index embeds with. Since 2026-12-07 block 0
  stays in float32 too and the weights are pair-safe (benchmarks/int8_saturation.py).
- static, fast kernel: the same file run with onnxruntime's default kernel
  (``int8="fast"`` in :func:`xmodal.core.runtime.session`). On a processor
  without VNNI that kernel saturated the copy before pair-safe weights; now it
  gives the shipped row's figures on every processor. Scored on val too.
- static, uint8 x uint8 kernel: the same file with ``session.x64quantprecision``
  set whatever the processor, as shipped on 2026-12-07 before the probe
  (:func:`xmodal.core.runtime.int8_saturates`): the rate only, the baseline of that
  change.

Printed per model: the network's own rate (batch 32, preprocessed photos, best
of 5, 2 threads), agreement with fp32 on the 96 train photos, and the val rows
of benchmarks/language.py (caption R@1/R@10, Imagenette 1k hit@1, scene P@10,
everyday words) with the shipped map applied to that model's outputs.
"""

from __future__ import annotations

import csv
import hashlib
import json
import time
from pathlib import Path

import numpy as np
from language import DEFAULT_VISUAL, SETS, Bench, score
from results import data_arguments, unpack

from xmodal.core.cache import cache_root
from xmodal.core.runtime import session
from xmodal.devise.encoder import DEFAULT_MODEL, Encoder
from xmodal.devise.model import DeviseModel
from xmodal.text.sentences import SentenceSpace
from xmodal.vision.exported import OnnxVisual
from xmodal.vision.quantized import calibrate, int8_visual, prepare

CALIBRATION = 256
CHECK = 96
ROWS = ("R@1", "R@10", "nette/1k hit@1", "scene P@10", "everyday P@10")


class QuantizedVisual(OnnxVisual):
    """The fp32 export's preprocessing and facts, run from another .onnx file; ``int8`` as
    :func:`xmodal.core.runtime.session`, or ``"uint8"``: the uint8 x uint8 kernel on any processor."""

    def __init__(self, base: OnnxVisual, path: Path, name: str, int8: str = "exact") -> None:
        # features are cached by the checksum's last 12 characters: they name the row and its file
        # (a new int8 recipe renames the file), so no row reads another's, or an old file's, features
        tag = hashlib.sha1(f"{name}/{path.name}".encode()).hexdigest()[:12]
        super().__init__(f"{base.id}-{name}", f"{base.weights_checksum}-{tag}", base._preprocess,
                         base.image_size, base.feature_dim, base.classes)
        self.path, self.kernel = path, int8

    def onnx_path(self) -> Path:
        return self.path

    @property
    def int8_kernel(self) -> str:
        return self.kernel

    @property
    def session(self):
        if self._session is None:
            self._session = kernel_session(self.onnx_path(), self.threads, self.int8_kernel)
        return self._session


def kernel_session(path: Path, threads: int, int8: str | None):
    if int8 != "uint8":
        return session(path, threads, int8=int8)
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.add_session_config_entry("session.x64quantprecision", "1")
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def photos(root: Path, split: str, every: int, count: int, start: int = 0) -> list[Path]:
    rows = csv.DictReader((root / "captions.csv").open(encoding="utf-8"))
    paths = list(dict.fromkeys(r["path"] for r in rows if r["split"] == split))
    return [root / p for p in paths[start::every][:count]]


def built(base: OnnxVisual) -> dict[str, Path]:
    """Where the int8 models of ``base`` are cached (made by :func:`build`)."""
    folder = cache_root() / "onnx-int8" / f"{base.id}-{base.weights_checksum[-16:]}"
    return {name: folder / name / "model.onnx" for name in ("dynamic", "static-every-layer")}


def build(base: OnnxVisual, calibration: np.ndarray) -> dict[str, Path]:
    """The rival int8 models, made once into the cache."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    made = built(base)
    if all(path.exists() for path in made.values()):
        return made
    for path in made.values():
        path.parent.mkdir(parents=True, exist_ok=True)
    prepared = made["dynamic"].parent.parent / "prepared.onnx"
    prepare(base.onnx_path(), prepared)
    quantize_dynamic(str(prepared), str(made["dynamic"]), weight_type=QuantType.QInt8)
    batches = (calibration[i : i + 16] for i in range(0, len(calibration), 16))
    ranges = prepared.with_name("every-layer-ranges.json")
    ranges.unlink(missing_ok=True)
    calibrate(base.onnx_path(), batches, ranges, made["static-every-layer"], every_layer=True)
    return made


def agreement(outputs: tuple[np.ndarray, np.ndarray], reference: tuple[np.ndarray, np.ndarray]) -> tuple[float, float, float]:
    """How a network's (features, logits) agree with the fp32 ``reference``'s on the same photos:
    the features' cosine (mean, min) and the share of photos with the same top class."""
    (features, logits), (fp32_features, fp32_logits) = outputs, reference
    cosine = (features * fp32_features).sum(1) / np.linalg.norm(features, axis=1) / np.linalg.norm(fp32_features, axis=1)
    return float(cosine.mean()), float(cosine.min()), float((logits.argmax(1) == fp32_logits.argmax(1)).mean())


def rate(visual: OnnxVisual, batch: np.ndarray) -> float:
    run = kernel_session(visual.onnx_path(), 2, visual.int8_kernel)
    run.run(None, {"image": batch})
    best = min(_timed(run, batch) for _ in range(5))
    return len(batch) / best


def _timed(run, batch: np.ndarray) -> float:
    started = time.perf_counter()
    run.run(None, {"image": batch})
    return time.perf_counter() - started


def main() -> None:
    args = data_arguments(__doc__.splitlines()[0]).parse_args()
    roots = unpack(args.shared, args.work, SETS)
    space = SentenceSpace.load()
    encoder = Encoder.load(space, DEFAULT_MODEL)
    base = encoder.visual
    if base.id.split("/")[0] != DEFAULT_VISUAL:  # the stock network, or a phase-2 tower of it
        raise SystemExit(f"expected {DEFAULT_VISUAL} (or a fine-tuned tower of it), the shipped model's visual, not {base.id}")
    from xmodal.vision.decode import read_pixels

    flickr = roots["flickr8k-captions"]
    calibration = np.stack([read_pixels(p, base) for p in photos(flickr, "train", 23, CALIBRATION)])
    check = np.stack([read_pixels(p, base) for p in photos(flickr, "train", 61, CHECK, start=7)])
    made = build(base, calibration)
    shipped = int8_visual(base)
    models = {"fp32": base, **{name: QuantizedVisual(base, path, f"int8-{name}") for name, path in made.items()},
              "static, fast kernel": QuantizedVisual(base, shipped.onnx_path(), "int8-fast-kernel", int8="fast"),
              "static, uint8 x uint8 kernel": QuantizedVisual(base, shipped.onnx_path(), "int8-uint8-kernel", int8="uint8"),
              "static": shipped}
    model = DeviseModel.load(DEFAULT_MODEL, space=space.identity)
    reference = base.embed(check)
    table = {}
    for name, visual in models.items():
        mean, least, top1 = agreement(visual.embed(check), reference)
        row = {"images/s (network alone)": rate(visual, check[:32]),
               "feature cosine to fp32 (mean)": mean, "feature cosine to fp32 (min)": least,
               "top-1 class agreement": top1,
               "file MB": visual.onnx_path().stat().st_size / 1e6}
        print(f"{name}: " + ", ".join(f"{k} {v:.4g}" for k, v in row.items()), flush=True)
        if name in ("fp32", "static, fast kernel", "static"):  # the candidates and their baseline: val is scored for them alone
            quality = score(model, space, Bench(roots, visual))
            row.update({k: quality[k] for k in ROWS})
            print(f"{name} val: " + ", ".join(f"{k} {quality[k]:.4g}" for k in ROWS), flush=True)
        table[name] = row
    if args.json:
        args.json.write_text(json.dumps(table, indent=1))


if __name__ == "__main__":
    main()
