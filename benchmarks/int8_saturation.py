"""Where the int8 network's products saturate without VNNI, and two remedies tried for it.

    .venv/bin/python benchmarks/int8_saturation.py   # about 2 minutes on 2 cores

On an x86 processor without VNNI (AVX2 alone), onnxruntime's uint8 x int8 kernel
multiplies with ``vpmaddubsw``, which adds each pair of neighbouring products
(inputs 2i and 2i+1 of a 1x1 convolution) in 16 bits and saturates there. So
xmodal runs the exact (uint8 x uint8) kernel on such processors, at fp32's speed
(docs/performance.md). This script looks for a way to keep the fast kernel:

1. For every int8 1x1 convolution of the shipped int8 network, the share of
   neighbouring pairs that would saturate, computed in numpy from the uint8
   activations the network really produces on 16 Imagenette photos, and the
   relative error that saturation adds to the layer's sums. (Depthwise
   convolutions are listed; onnxruntime's depthwise kernel is not this GEMM.)
2. Remedies that would make the fast kernel exact on every processor, scored
   by feature cosine to fp32 on int8_visual.py's 96 train photos (this machine
   computes them exactly if it has VNNI, as the fast kernel then would):
   - *pairs clipped*: the int8 weights changed so no two same-signed neighbours
     add up to more than 128 (255 x 128 fits 16 bits), the excess taken from both;
   - *rows rescaled*: each output row's scale raised until its largest pair fits;
   - *signed activations*: quantized with int8 activations (S8S8), which the
     emulated AVX2 processor of tests/core/test_runtime.py multiplies exactly.
   Each is printed with the shipped int8 network's cosine and, for the signed
   copy, its speed beside the shipped one's (batch 32, best of 5).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
from int8_visual import photos
from results import data_arguments, unpack

from xmodal.devise.encoder import DEFAULT_MODEL, Encoder
from xmodal.text.sentences import SentenceSpace
from xmodal.vision.decode import read_pixels
from xmodal.vision.quantized import int8_visual, quantize, ranges_file

PAIR = 128  # 255 x 128 = 32,640 fits a signed 16-bit sum; 255 x 129 does not


def int8_convs(model) -> list[tuple[object, str, str, str, int]]:
    """(node, uint8 input tensor, weight initializer, weight scale initializer, group) of each int8 Conv."""
    from onnx import helper

    producer = {output: node for node in model.graph.node for output in node.output}
    found = []
    for node in model.graph.node:
        if node.op_type != "Conv":
            continue
        x, w = producer.get(node.input[0]), producer.get(node.input[1])
        if not (x and w and x.op_type == w.op_type == "DequantizeLinear"):
            continue
        group = next((helper.get_attribute_value(a) for a in node.attribute if a.name == "group"), 1)
        found.append((node, x.input[0], w.input[0], w.input[1], group))
    return found


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


def pairs_clipped(q: np.ndarray) -> np.ndarray:
    """``q`` (rows, inputs) with every same-signed neighbouring pair cut to ``PAIR`` in sum."""
    w = q.astype(np.int64).copy()
    even, odd = w[:, 0 : w.shape[1] // 2 * 2 : 2], w[:, 1 : w.shape[1] // 2 * 2 : 2]
    excess = np.where(np.sign(even) == np.sign(odd), np.maximum(np.abs(even + odd) - PAIR, 0), 0)
    larger = np.abs(even) >= np.abs(odd)
    from_even = np.where(larger, excess - excess // 2, excess // 2)
    even -= np.sign(even) * from_even
    odd -= np.sign(odd) * (excess - from_even)
    w[:, 0 : w.shape[1] // 2 * 2 : 2], w[:, 1 : w.shape[1] // 2 * 2 : 2] = even, odd
    return w.astype(np.int8)


def rows_rescaled(q: np.ndarray, scale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``q`` requantized with each row's scale raised until its largest same-signed pair fits."""
    w = q.astype(np.int64)
    even, odd = w[:, 0 : w.shape[1] // 2 * 2 : 2], w[:, 1 : w.shape[1] // 2 * 2 : 2]
    largest = np.where(np.sign(even) == np.sign(odd), np.abs(even + odd), np.maximum(np.abs(even), np.abs(odd)))
    factor = np.maximum(largest.max(1) / PAIR, 1.0)
    wider = scale * factor
    again = np.clip(np.round(w * (scale / wider)[:, None]), -127, 127).astype(np.int8)
    return pairs_clipped(again), wider.astype(np.float32)  # rounding can leave a pair one over


def remedy(model, how: str):
    import onnx
    from onnx import numpy_helper

    fixed = onnx.ModelProto()
    fixed.CopyFrom(model)
    inits = {init.name: init for init in fixed.graph.initializer}
    for _, _, w, s, group in int8_convs(fixed):
        if group != 1:
            continue
        q = numpy_helper.to_array(inits[w])
        flat = q.reshape(q.shape[0], -1)
        if how == "pairs clipped":
            flat = pairs_clipped(flat)
        else:
            flat, scale = rows_rescaled(flat, numpy_helper.to_array(inits[s]))
            inits[s].CopyFrom(numpy_helper.from_array(scale, s))
        inits[w].CopyFrom(numpy_helper.from_array(flat.reshape(q.shape), w))
    return fixed.SerializeToString()


def signed(base, folder: Path) -> Path:
    """The shipped recipe with int8 activations (S8S8), from the shipped ranges."""
    import onnxruntime.quantization as quantization

    out, plain = folder / "s8s8.onnx", quantization.quantize_static

    def with_int8_activations(*args, **kwargs):
        return plain(*args, **{**kwargs, "activation_type": quantization.QuantType.QInt8})

    quantization.quantize_static = with_int8_activations
    try:
        ranges = folder / "ranges.json"
        ranges.write_bytes(ranges_file(base.id, base.weights_checksum).read_bytes())  # onnxruntime may rewrite it
        quantize(base.onnx_path(), ranges, out)
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
    shipped = int8_visual(base)
    model = onnx.load(str(shipped.onnx_path()))
    nette = sorted((roots["imagenette-val"]).glob("val/*/*"))[::250][:16]
    saturation(model, np.stack([read_pixels(p, base) for p in nette]))

    check = np.stack([read_pixels(p, base) for p in photos(roots["flickr8k-captions"], "train", 61, 96, start=7)])
    reference = base.embed(check)[0]

    def session(source):
        return onnxruntime.InferenceSession(source, providers=["CPUExecutionProvider"])

    def scored(name: str, run, timed: bool = False) -> None:
        features = run.run(None, {"image": check})[0]
        cosine = (features * reference).sum(1) / np.linalg.norm(features, axis=1) / np.linalg.norm(reference, axis=1)
        line = f"{name}: feature cosine to fp32 {cosine.mean():.4f} mean / {cosine.min():.4f} min"
        if timed:
            best = min(_seconds(run, check[:32]) for _ in range(5))
            line += f", {32 / best:.1f} images/s"
        print(line, flush=True)

    scored("shipped int8", session(str(shipped.onnx_path())), timed=True)
    for how in ("pairs clipped", "rows rescaled"):
        scored(how, session(remedy(model, how)))
    with tempfile.TemporaryDirectory(prefix="xmodal-s8s8-") as folder:
        scored("signed activations (S8S8)", session(str(signed(base, Path(folder)))), timed=True)


def _seconds(run, batch: np.ndarray) -> float:
    started = time.perf_counter()
    run.run(None, {"image": batch})
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
