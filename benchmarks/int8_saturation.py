"""Where the int8 network's products saturate without VNNI, and the remedies tried for it.

    .venv/bin/python benchmarks/int8_saturation.py   # about 3 minutes on 2 cores

On an x86 processor without VNNI (AVX2 alone), onnxruntime's uint8 x int8 kernel
multiplies with ``vpmaddubsw``, which adds each pair of neighbouring products
(inputs 2i and 2i+1 of a 1x1 convolution) in 16 bits and saturates there. Until
2026-12-07 xmodal ran the exact (uint8 x uint8) kernel on such processors, at
fp32's speed. This script looks for an int8 copy whose fast kernel is exact:

1. For every int8 1x1 convolution of the copy as made before (only the stem,
   the last convolution and the classifier in float32; "before"), the share of
   neighbouring pairs that would saturate, computed in numpy from the uint8
   activations the network produces on 16 Imagenette photos, and the relative
   error saturation adds to the layer's sums. (Depthwise convolutions run
   another kernel and are left out.)
2. Copies scored by feature cosine to fp32 on int8_visual.py's 96 train photos
   (computed here, where every kernel is exact if the processor has VNNI, as
   the fast kernel is for a pair-safe copy anywhere) and by the network's rate
   (batch 32, best of 5, 2 threads):
   - before, and before with its weights pair-safe two ways: *pairs clipped*
     (:func:`xmodal.vision.quantized.clip_pairs` alone: no same-signed
     neighbours above 128 in sum, 255 x 128 fitting 16 bits) and *rows
     rescaled* (:func:`xmodal.vision.quantized.pair_safe`);
   - *signed activations* (S8S8), which an emulated AVX2 processor multiplies exactly;
   - the first one or two blocks kept in float32 too, as they are and pair-safe.
   What ships (``quantize``'s defaults) is block 0 in float32 and pair-safe:
   the fastest pair-safe copy, within 0.001 of before's mean cosine and above its
   minimum. (That choice was made after a first run of these rows, on train
   photos; val is scored once for it in int8_visual.py.)
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from int8_visual import photos
from results import data_arguments, unpack

from xmodal.devise.encoder import DEFAULT_MODEL, Encoder
from xmodal.text.sentences import SentenceSpace
from xmodal.vision.decode import read_pixels
from xmodal.vision.quantized import (
    clip_pairs,
    int8_convs,
    int8_visual,
    pair_safe,
    quantize,
    ranges_file,
)


def saturation(model, images: np.ndarray) -> None:
    """Print, per int8 1x1 convolution, how many neighbouring pairs a 16-bit kernel would saturate."""
    import onnx
    import onnxruntime
    from onnx import numpy_helper

    weights = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    convs = int8_convs(model)
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    for name in sorted({c[1] for c in convs}):
        probe.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.UINT8, None))
    run = onnxruntime.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    outputs = dict(zip([o.name for o in run.get_outputs()], run.run(None, {"image": images})))
    total = 0
    for node, x, w, _, group in convs:
        if group != 1:
            continue
        a = outputs[x].astype(np.int64).reshape(len(images), outputs[x].shape[1], -1)
        q = weights[w].astype(np.int64).reshape(weights[w].shape[0], -1)
        if a.shape[1] % 2:
            a, q = np.pad(a, ((0, 0), (0, 1), (0, 0))), np.pad(q, ((0, 0), (0, 1)))
        saturated, error, norm = 0, 0.0, 0.0
        for one in a:
            sums = q[:, 0::2, None] * one[None, 0::2] + q[:, 1::2, None] * one[None, 1::2]  # rows, pairs, positions
            kept = np.clip(sums, -32768, 32767)
            saturated += int((sums != kept).sum())
            error += float(np.abs((sums - kept).sum(1)).sum())
            norm += float(np.abs(sums.sum(1)).sum())
        total += saturated
        print(f"{node.name}: {q.shape[0]}x{q.shape[1]}, saturated pairs {saturated / sums.size / len(a):.2e} "
              f"of all, relative error of the sums {error / max(norm, 1.0):.1e}")
    print(f"saturated pairs in all: {total}")


def clipped(model) -> bytes:
    """``model`` with every int8 dense convolution's weights cut by :func:`clip_pairs` alone."""
    import onnx
    from onnx import numpy_helper

    fixed = onnx.ModelProto()
    fixed.CopyFrom(model)
    inits = {init.name: init for init in fixed.graph.initializer}
    for _, _, w, _, group in int8_convs(fixed):
        if group == 1:
            q = numpy_helper.to_array(inits[w])
            inits[w].CopyFrom(numpy_helper.from_array(clip_pairs(q.reshape(q.shape[0], -1)).reshape(q.shape), w))
    return fixed.SerializeToString()


def safe(model) -> bytes:
    import onnx

    fixed = onnx.ModelProto()
    fixed.CopyFrom(model)
    pair_safe(fixed)
    return fixed.SerializeToString()


def made(base, folder: Path, name: str, *, float_convs: int, signed: bool = False) -> Path:
    """An int8 copy from the shipped ranges, not pair-safe, ``signed`` for int8 activations."""
    import onnxruntime.quantization as quantization

    out, plain = folder / f"{name}.onnx", quantization.quantize_static

    def with_int8_activations(*args, **kwargs):
        return plain(*args, **{**kwargs, "activation_type": quantization.QuantType.QInt8})

    quantization.quantize_static = with_int8_activations if signed else plain
    try:
        ranges = folder / f"{name}-ranges.json"
        ranges.write_bytes(ranges_file(base.id, base.weights_checksum).read_bytes())  # onnxruntime may rewrite it
        quantize(base.onnx_path(), ranges, out, float_convs=float_convs, safe=False)
    finally:
        quantization.quantize_static = plain
    return out


def main() -> None:
    import onnx
    import onnxruntime

    args = data_arguments(__doc__.splitlines()[0]).parse_args()
    roots = unpack(args.shared, args.work, ("flickr8k-captions", "imagenette-val"))
    space = SentenceSpace.load()
    base = Encoder.load(space, DEFAULT_MODEL).visual
    work = Path(tempfile.mkdtemp(prefix="xmodal-int8-"))
    before = onnx.load(str(made(base, work, "before", float_convs=1)))
    nette = sorted((roots["imagenette-val"]).glob("val/*/*"))[::250][:16]
    saturation(before, np.stack([read_pixels(p, base) for p in nette]))

    check = np.stack([read_pixels(p, base) for p in photos(roots["flickr8k-captions"], "train", 61, 96, start=7)])
    reference = base.embed(check)[0]

    def session(source):
        return onnxruntime.InferenceSession(source, providers=["CPUExecutionProvider"])

    def scored(name: str, run) -> None:
        features = run.run(None, {"image": check})[0]
        cosine = (features * reference).sum(1) / np.linalg.norm(features, axis=1) / np.linalg.norm(reference, axis=1)
        best = min(_seconds(run, check[:32]) for _ in range(5))
        print(f"{name}: feature cosine to fp32 {cosine.mean():.4f} mean / {cosine.min():.4f} min, "
              f"{32 / best:.1f} images/s", flush=True)

    scored("before: the stem in float32", session(before.SerializeToString()))
    scored("before, pairs clipped", session(clipped(before)))
    scored("before, rows rescaled (pair-safe)", session(safe(before)))
    scored("before, signed activations (S8S8)", session(str(made(base, work, "s8s8", float_convs=1, signed=True))))
    for blocks, convs in (("block 0", 3), ("blocks 0-1", 6)):  # the stem, then 2 convolutions in block 0, 3 in block 1
        kept = made(base, work, f"float-{convs}", float_convs=convs)
        scored(f"{blocks} in float32 too", session(str(kept)))
        scored(f"{blocks} in float32 too, pair-safe{' (ships)' if convs == 3 else ''}", session(safe(onnx.load(str(kept)))))
    scored("shipped (int8_visual, made by quantize's defaults)", session(str(int8_visual(base).onnx_path())))
    shutil.rmtree(work)


def _seconds(run, batch: np.ndarray) -> float:
    started = time.perf_counter()
    run.run(None, {"image": batch})
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
