"""An int8 copy of a visual model: photos embed about 1.7 times as fast, with the same answers,
on a processor with VNNI; on one without, as fast as fp32 (:func:`xmodal.core.runtime.session`
runs onnxruntime's exact int8 kernel where a probe finds its fast one saturating: docs/performance.md).

onnxruntime's static quantization (QDQ: per-channel int8 weights, uint8
activations; the first and last convolutions and the classifier stay float32,
chosen by agreement with fp32 on training photos in benchmarks/int8_visual.py)
needs the range of every activation, measured on photos. Those are training
photos a user does not have, so the measured ranges ship in the package
(``xmodal/data/int8/``, written by ``scripts/build_int8_ranges.py`` from 256
Flickr8k train photos) and the int8 network is made from the user's own fp32
export on first use, beside it in the cache (``model-int8.onnx``). Dynamic
quantization needs no ranges but was 13 times slower here and far off
(docs/performance.md), so it is not offered.

An index records the precision its photos were embedded at and keeps it
(:class:`xmodal.search.engine.Engine`), so fp32 and int8 vectors never mix in one index.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from xmodal.core.cache import write_atomically
from xmodal.core.errors import XmodalError
from xmodal.vision.exported import OnnxVisual

RANGES = Path(__file__).parents[1] / "data" / "int8"
PRECISIONS = ("fp32", "int8")


def ranges_file(id: str, weights_checksum: str) -> Path:
    """Where the activation ranges of visual model ``id`` with these weights ship (or would)."""
    return RANGES / f"{id.replace('/', '_')}-{weights_checksum.removeprefix('sha256:')}.json"  # a tuned tower's id has a /


def has_int8(visual: OnnxVisual) -> bool:
    """Whether an int8 copy of ``visual`` can be made: its ranges ship with xmodal."""
    return ranges_file(visual.id, visual.weights_checksum).is_file()


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


def quantize(fp32: Path, ranges: Path, out: Path) -> None:
    """Write the int8 network of the export ``fp32`` with the activation ranges in ``ranges``."""
    _static(fp32, out, calibration_cache=ranges, batches=None)


def calibrate(
    fp32: Path, batches: Iterable[np.ndarray], ranges: Path, out: Path, *, every_layer: bool = False
) -> None:
    """Measure the activation ranges of ``fp32`` on preprocessed photo batches into ``ranges``
    (onnxruntime's calibration cache format) and write the int8 network they give to ``out``;
    ``every_layer`` quantizes the layers the shipped copy keeps in float32 too (a benchmark's rival)."""
    _static(fp32, out, calibration_cache=ranges, batches=batches, every_layer=every_layer)


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
    fp32: Path, out: Path, calibration_cache: Path, batches: Iterable[np.ndarray] | None, every_layer: bool = False
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
            nodes_to_exclude=[] if every_layer else [convs[0], *_head_convs(graph), *dense],
            calibration_cache_path=str(calibration_cache),
        )


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
