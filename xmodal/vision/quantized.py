"""An int8 copy of a visual model: photos embed about 1.6 times as fast (with VNNI), with the same answers.

onnxruntime's static quantization (QDQ: per-channel int8 weights, uint8
activations; the first convolution and the first block, the last convolution and
the classifier stay float32, chosen by agreement with fp32 on training photos in
benchmarks/int8_visual.py and benchmarks/int8_saturation.py) needs the range of
every activation, measured on photos. Those are training
photos a user does not have, so the measured ranges ship in the package
(``xmodal/data/int8/``, written by ``scripts/build_int8_ranges.py`` from 256
Flickr8k train photos) and the int8 network is made from the user's own fp32
export on first use, beside it in the cache (``model-int8-v2.onnx``). Dynamic
quantization needs no ranges but was 13 times slower here and far off
(docs/performance.md), so it is not offered.

Its weights are made *pair-safe* (:func:`pair_safe`): on an x86 processor without
VNNI (AVX2 alone) onnxruntime's fast uint8 x int8 kernel adds each two neighbouring
products in 16 bits, which saturate when both weights are large; with no two
same-signed neighbours of a row summing above 128 in magnitude, 255 x 128 fits, so
that kernel is exact on every processor and gives the same vectors everywhere
(docs/performance.md: feature cosine to fp32 0.992 against 0.987 for the copy before,
run by that kernel without VNNI).

An index records the precision its photos were embedded at and keeps it
(:class:`xmodal.search.engine.Engine`), so fp32 and int8 vectors never mix in one index.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from xmodal.core.cache import write_atomically
from xmodal.core.errors import XmodalError
from xmodal.vision.exported import OnnxVisual

if TYPE_CHECKING:
    from onnx import ModelProto

RANGES = Path(__file__).parents[1] / "data" / "int8"
PRECISIONS = ("fp32", "int8")
PAIR = 128  # the largest same-signed sum of two neighbouring int8 weights: 255 x 128 fits 16 bits
FLOAT_CONVS = 3  # the stem and the first block (depthwise, projection): where saturation cost most
FLOAT_TAIL = 0  # convolutions kept float32 before each head, besides the head itself (benchmarks/int8_tail.py)


def ranges_file(id: str, weights_checksum: str) -> Path:
    """Where the activation ranges of visual model ``id`` with these weights ship (or would)."""
    return RANGES / f"{id.replace('/', '_')}-{weights_checksum.removeprefix('sha256:')}.json"  # a tuned tower's id has a /


def has_int8(visual: OnnxVisual) -> bool:
    """Whether an int8 copy of ``visual`` can be made: its ranges ship with xmodal."""
    return ranges_file(visual.id, visual.weights_checksum).is_file()


def new_index_precision(visual: OnnxVisual) -> str:
    """The precision a new index embeds with: int8 where a copy of ``visual`` can be made, else fp32.
    A photo embedded outside any index (``xmodal words PHOTO``) uses it too, so that it gets
    the words it would get once indexed."""
    return "int8" if has_int8(visual) else "fp32"


def int8_visual(visual: OnnxVisual) -> OnnxVisual:
    """The int8 copy of ``visual`` (an fp32 export or a torch model of one), made on first use."""
    if visual.precision == "int8":
        return visual
    ranges = ranges_file(visual.id, visual.weights_checksum)
    if not ranges.is_file():
        raise XmodalError(f"no int8 copy of visual model {visual.id} ({visual.weights_checksum}): use --precision fp32")
    fp32 = visual.onnx_path()  # a torch model exports itself here on first use
    target = fp32.with_name(OnnxVisual.FILES["int8"])
    if not target.is_file():
        from xmodal.core.progress import status

        with status(f"making the int8 copy of {visual.id} (once)"):
            write_atomically(target, lambda out: quantize(fp32, ranges, out))
    return visual.at_precision("int8")


def quantize(
    fp32: Path, ranges: Path, out: Path, *, float_convs: int = FLOAT_CONVS, float_tail: int = FLOAT_TAIL,
    safe: bool = True,
) -> None:
    """Write the int8 network of the export ``fp32`` with the activation ranges in ``ranges``:
    its first ``float_convs`` convolutions and the ``float_tail`` nearest each head kept in
    float32, its weights :func:`pair_safe` if ``safe`` (the other values are rivals in
    benchmarks/int8_saturation.py and benchmarks/int8_tail.py)."""
    _static(fp32, out, calibration_cache=ranges, batches=None, float_convs=float_convs, float_tail=float_tail,
            safe=safe)


def calibrate(
    fp32: Path, batches: Iterable[np.ndarray], ranges: Path, out: Path, *, every_layer: bool = False
) -> None:
    """Measure the activation ranges of ``fp32`` on preprocessed photo batches into ``ranges``
    (onnxruntime's calibration cache format) and write the int8 network they give to ``out``;
    ``every_layer`` quantizes the layers the shipped copy keeps in float32 too, without making
    it pair-safe (a benchmark's rival)."""
    _static(fp32, out, calibration_cache=ranges, batches=batches, float_convs=0 if every_layer else FLOAT_CONVS,
            safe=not every_layer, every_layer=every_layer)


def prepare(fp32: Path, out: Path) -> None:
    """onnxruntime's pre-processing for quantization (shape inference, graph clean-up) of ``fp32`` into ``out``."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    here = os.getcwd()
    os.chdir(out.parent)  # symbolic shape inference leaves a scratch file in the working folder
    try:
        quant_pre_process(str(fp32), str(out))
    finally:
        os.chdir(here)


def _static(
    fp32: Path, out: Path, calibration_cache: Path, batches: Iterable[np.ndarray] | None, *,
    float_convs: int, safe: bool, every_layer: bool = False, float_tail: int = FLOAT_TAIL,
) -> None:
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(batches or ())

        def get_next(self) -> dict | None:
            batch = next(self.batches, None)
            return None if batch is None else {"image": np.ascontiguousarray(batch, dtype=np.float32)}

    with tempfile.TemporaryDirectory(prefix="xmodal-int8-") as work:
        prepared = Path(work) / "prepared.onnx"
        prepare(fp32, prepared)
        graph = onnx.load(str(prepared)).graph
        convs = [node.name for node in graph.node if node.op_type == "Conv"]
        dense = [node.name for node in graph.node if node.op_type in ("Gemm", "MatMul")]
        quantize_static(
            str(prepared), str(out), Reader() if batches is not None else None,
            quant_format=QuantFormat.QDQ, per_channel=True, activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=[] if every_layer else [
                *convs[:float_convs], *_head_convs(graph), *_tail_convs(graph, float_tail), *dense],
            calibration_cache_path=str(calibration_cache),
        )
    if safe:
        safe = onnx.load(str(out))
        pair_safe(safe)
        onnx.save(safe, str(out))


def int8_convs(model: ModelProto) -> list[tuple[object, str, str, str, int]]:
    """(node, its uint8 input, weight initializer, weight scale initializer, group) of each int8 Conv of a QDQ model."""
    from onnx import helper

    producer = {output: node for node in model.graph.node for output in node.output}
    found = []
    for node in model.graph.node:
        x, w = (producer.get(name) for name in node.input[:2]) if node.op_type == "Conv" else (None, None)
        if x is not None and w is not None and x.op_type == w.op_type == "DequantizeLinear":
            group = next((helper.get_attribute_value(a) for a in node.attribute if a.name == "group"), 1)
            found.append((node, x.input[0], w.input[0], w.input[1], group))
    return found


def pair_safe(model: ModelProto) -> None:
    """Make every int8 dense convolution of ``model`` (a QDQ ModelProto, changed in place) pair-safe:
    a row whose largest same-signed neighbouring pair of weights sums above ``PAIR`` gets a
    scale that wide larger, and its int32 bias the matching scale (input scale x weight scale,
    which onnxruntime's fused QLinearConv needs). Depthwise convolutions run another kernel."""
    from onnx import numpy_helper

    inits = {init.name: init for init in model.graph.initializer}
    producer = {output: node for node in model.graph.node for output in node.output}
    for node, _, w, s, group in int8_convs(model):
        if group != 1:
            continue
        q = numpy_helper.to_array(inits[w])
        flat, scale = rescale_rows(q.reshape(q.shape[0], -1), numpy_helper.to_array(inits[s]))
        inits[w].CopyFrom(numpy_helper.from_array(flat.reshape(q.shape), w))
        inits[s].CopyFrom(numpy_helper.from_array(scale, s))
        bias = producer.get(node.input[2]) if len(node.input) > 2 else None
        if bias is not None and bias.op_type == "DequantizeLinear":
            x_scale = numpy_helper.to_array(inits[producer[node.input[0]].input[1]])
            b, b_scale = (numpy_helper.to_array(inits[name]) for name in bias.input[:2])
            wanted = (x_scale * scale).astype(np.float32)
            inits[bias.input[0]].CopyFrom(numpy_helper.from_array(np.round(b * b_scale / wanted).astype(np.int32),
                                                                  bias.input[0]))
            inits[bias.input[1]].CopyFrom(numpy_helper.from_array(wanted, bias.input[1]))


def largest_pairs(q: np.ndarray) -> np.ndarray:
    """Per row of int8 weights ``q`` (rows, inputs), the largest magnitude a 16-bit pair kernel can
    multiply 255 by: the sum of two same-signed neighbours (inputs 2i, 2i+1), else the larger one."""
    w = q.astype(np.int64)
    even, odd = w[:, 0 : w.shape[1] // 2 * 2 : 2], w[:, 1 : w.shape[1] // 2 * 2 : 2]
    pairs = np.where(np.sign(even) == np.sign(odd), np.abs(even + odd), np.maximum(np.abs(even), np.abs(odd)))
    return pairs.max(1, initial=0)


def clip_pairs(q: np.ndarray) -> np.ndarray:
    """``q`` (rows, inputs) with each same-signed neighbouring pair cut to ``PAIR`` in sum, the
    excess taken from both (the larger first). Alone it wrecks the network (int8_saturation.py);
    after :func:`rescale_rows` it only mends a pair that rounding left one over."""
    w = q.astype(np.int64).copy()
    span = slice(0, w.shape[1] // 2 * 2, 2), slice(1, w.shape[1] // 2 * 2, 2)
    even, odd = w[:, span[0]], w[:, span[1]]
    excess = np.where(np.sign(even) == np.sign(odd), np.maximum(np.abs(even + odd) - PAIR, 0), 0)
    from_even = np.where(np.abs(even) >= np.abs(odd), excess - excess // 2, excess // 2)
    w[:, span[0]] = even - np.sign(even) * from_even
    w[:, span[1]] = odd - np.sign(odd) * (excess - from_even)
    return w.astype(np.int8)


def rescale_rows(q: np.ndarray, scale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``q`` requantized with each row's ``scale`` raised until its largest pair fits ``PAIR``."""
    wider = scale * np.maximum(largest_pairs(q) / PAIR, 1.0)
    again = np.clip(np.round(q.astype(np.float64) * (scale / wider)[:, None]), -127, 127).astype(np.int8)
    return clip_pairs(again), wider.astype(np.float32)


def _head_convs(graph) -> list[str]:
    """The convolutions whose output is pooled into features: the head of the network (the last
    convolution), or each head of a network with two tops (phase 2 with stock classes)."""
    producer = {output: node for node in graph.node for output in node.output}
    heads = []
    for pool in (node for node in graph.node if node.op_type in ("ReduceMean", "GlobalAveragePool")):
        node = producer.get(pool.input[0])
        while node is not None and node.op_type != "Conv":
            node = producer.get(node.input[0]) if node.input else None
        if node is not None and node.name not in heads:
            heads.append(node.name)
    return heads


def _tail_convs(graph, count: int) -> list[str]:
    """The last ``count`` convolutions before each head convolution (:func:`_head_convs`) among
    those it reads from, in the graph's order: for EfficientNet, the last blocks of each top."""
    producer = {output: node for node in graph.node for output in node.output}
    order = {node.name: i for i, node in enumerate(graph.node)}
    by_name = {node.name: node for node in graph.node}
    tail: list[str] = []
    for head in _head_convs(graph):
        ancestors, frontier = set(), [by_name[head]]
        while frontier:
            for name in frontier.pop().input:
                node = producer.get(name)
                if node is not None and node.name not in ancestors:
                    ancestors.add(node.name)
                    frontier.append(node)
        convs = sorted((name for name in ancestors if by_name[name].op_type == "Conv"), key=order.get, reverse=True)
        tail.extend(name for name in convs[:count] if name not in tail)
    return tail
