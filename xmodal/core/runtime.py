"""onnxruntime sessions that start in tens of milliseconds, for a command that runs once.

Opening a session on an exported model spends most of its time rewriting the
graph (fusing operators) and copying the weights out of the protobuf. Both
are done once per model: the rewritten graph is saved to the user cache with
its weights in a file of their own, which onnxruntime memory-maps, and later
sessions start from it and compute the same numbers (tests/core/test_runtime.py;
benchmarks/session_start.py times both ways: 0.205 -> 0.048 s for MiniLM,
0.061 -> 0.034 s for EfficientNet-Lite2 on the 2-core machine).

Only the processor-independent ("extended") rewrites are saved; the layout
changes onnxruntime makes at its highest level are tied to the processor, and
a cache folder may be copied to another machine, so each session still makes
them (the same script reports the batch throughput both ways).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING

from xmodal.core.cache import cached_dir

if TYPE_CHECKING:
    from onnxruntime import InferenceSession

_FORMAT = 1  # bump when the saved layout changes
_WEIGHTS = "weights.bin"
_EXACT_INT8 = "session.x64quantprecision"
_PROBE_FORMAT = 2
_PROBE_DEPTH = 8  # four pairs of 255 x (127, 1): 32,640 each, the most a pair-safe int8 network can ask of 16 bits


def session(model: Path, threads: int | None = None, *, prepack: bool = True, spin: bool = True,
            int8: str | None = None) -> InferenceSession:
    """An ``InferenceSession`` on ``model`` (an exported .onnx in the cache), via its saved
    optimised copy, made on first use; ``threads`` intra-op threads (default: every CPU).

    ``prepack=False`` skips re-laying the weights out for fast matrix products: the
    session starts sooner and each run is slower (MiniLM, a 12-word sentence:
    start 57 -> 15 ms, first run 5 -> 13 ms, later runs 3.1 -> 5.6 ms;
    benchmarks/session_start.py), the better deal for a process that encodes one
    text. ``spin=False`` stops the worker threads busy-waiting for the next run,
    which would otherwise hold both cores while a query goes on to search the index.

    ``int8`` says how a network with int8 products runs them: ``"exact"`` (what callers
    want), ``"fast"`` (onnxruntime's default kernel whatever it does), or ``None`` for a
    float network, which has none. On an x86 processor without VNNI (AVX2, or AVX-512
    without it) the default uint8 x int8 kernel adds pairs of products in 16 bits, which
    saturate unless no two same-signed neighbouring weights sum above 128: xmodal's int8
    networks are made so (:func:`xmodal.vision.quantized.pair_safe`), and the default
    kernel is then exact on every processor seen. ``"exact"`` sets
    ``session.x64quantprecision`` (onnxruntime's uint8 x uint8 kernel, which never
    saturates, and runs at about fp32's speed) only where :func:`int8_saturates` finds the
    default kernel wrong even for such weights; the option rewrites the weights on every
    x86 processor, and where it is not needed only slows the network (191 -> 75
    images/s on a Xeon with AVX-512 VNNI, benchmarks/int8_visual.py, 2026-12-07).
    """
    import onnxruntime

    if int8 not in (None, "exact", "fast"):
        raise ValueError(f"int8 must be None, 'exact' or 'fast', not {int8!r}")
    key = f"{model.parent.name}-{model.stem}-ort{onnxruntime.__version__}-v{_FORMAT}"
    folder = cached_dir("onnx-optimised", key, lambda tmp: _optimise(model, tmp))
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads or os.cpu_count() or 1
    if not prepack:
        options.add_session_config_entry("session.disable_prepacking", "1")
    if not spin:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if int8 == "exact" and int8_saturates():
        options.add_session_config_entry(_EXACT_INT8, "1")
    return onnxruntime.InferenceSession(str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"])


@functools.cache
def int8_saturates() -> bool:
    """Whether onnxruntime's default uint8 x int8 kernel gets a pair-safe product wrong on this
    processor, found by running it: 255s by weights alternating 127 and 1, whose pairs come to
    32,640, the most a 16-bit sum holds that :func:`xmodal.vision.quantized.pair_safe` allows
    (a 234-byte model, made once into the cache), against the exact answer. Every kernel seen
    gets it right (VNNI adds in 32 bits, AVX2 in 16-bit pairs that fit); the probe stands guard
    for a kernel that sums more in 16 bits. Asking the processor instead would repeat
    onnxruntime's own choice of kernel, which may change between its releases. A few
    milliseconds, once per process that runs an int8 network."""
    import numpy as np
    import onnxruntime

    probe = cached_dir("int8-probe", f"v{_PROBE_FORMAT}", _write_probe) / "probe.onnx"
    run = onnxruntime.InferenceSession(str(probe), onnxruntime.SessionOptions(), providers=["CPUExecutionProvider"])
    product = run.run(None, {"a": np.full((4, _PROBE_DEPTH), 255, np.uint8)})[0]
    return not np.all(product == _PROBE_DEPTH // 2 * 255 * 128)


def _write_probe(folder: Path) -> None:
    """A MatMulInteger of a uint8 input by int8 weights alternating 127 and 1 down each column
    (onnx is needed only here)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    column = np.resize(np.array([127, 1], np.int8), _PROBE_DEPTH)
    weights = numpy_helper.from_array(np.repeat(column[:, None], 16, axis=1), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["a", "w"], ["y"])], "int8-probe",
        [helper.make_tensor_value_info("a", TensorProto.UINT8, [4, _PROBE_DEPTH])],
        [helper.make_tensor_value_info("y", TensorProto.INT32, [4, 16])], [weights])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(folder / "probe.onnx"))


def _optimise(model: Path, folder: Path) -> None:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(folder / "model.onnx")
    options.add_session_config_entry("session.optimized_model_external_initializers_file_name", _WEIGHTS)
    options.add_session_config_entry("session.optimized_model_external_initializers_min_size_in_bytes", "1024")
    onnxruntime.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
