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

import os
from pathlib import Path

from xmodal.core.cache import cached_dir

_FORMAT = 1  # bump when the saved layout changes
_WEIGHTS = "weights.bin"


def session(model: Path, threads: int | None = None, *, prepack: bool = True, spin: bool = True, exact_int8: bool = True):
    """An ``InferenceSession`` on ``model`` (an exported .onnx in the cache), via its saved
    optimised copy, made on first use; ``threads`` intra-op threads (default: every CPU).

    ``prepack=False`` skips re-laying the weights out for fast matrix products: the
    session starts sooner and each run is slower (MiniLM, a 12-word sentence:
    start 57 -> 15 ms, first run 5 -> 13 ms, later runs 3.1 -> 5.6 ms;
    benchmarks/session_start.py), the better deal for a process that encodes one
    text. ``spin=False`` stops the worker threads busy-waiting for the next run,
    which would otherwise hold both cores while a query goes on to search the index.

    ``exact_int8`` (the default) runs an int8 network's products exactly on every x86
    processor. On one without VNNI (AVX2, or AVX-512 without it: many laptops and
    servers) onnxruntime's fast uint8 x int8 kernel adds pairs of products in 16 bits,
    which saturate; the int8 EfficientNet-Lite2 then drifts from fp32 (feature cosine
    0.987 on a Zen 3 EPYC, 0.993 with the exact kernel: docs/performance.md).
    ``session.x64quantprecision`` makes those processors use the uint8 x uint8 kernel,
    which does not saturate, and changes nothing on the others or for a float network.
    """
    import onnxruntime

    key = f"{model.parent.name}-{model.stem}-ort{onnxruntime.__version__}-v{_FORMAT}"
    folder = cached_dir("onnx-optimised", key, lambda tmp: _optimise(model, tmp))
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads or os.cpu_count() or 1
    if not prepack:
        options.add_session_config_entry("session.disable_prepacking", "1")
    if not spin:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if exact_int8:
        options.add_session_config_entry("session.x64quantprecision", "1")
    return onnxruntime.InferenceSession(str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"])


def _optimise(model: Path, folder: Path) -> None:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(folder / "model.onnx")
    options.add_session_config_entry("session.optimized_model_external_initializers_file_name", _WEIGHTS)
    options.add_session_config_entry("session.optimized_model_external_initializers_min_size_in_bytes", "1024")
    onnxruntime.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
