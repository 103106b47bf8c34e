"""A product the fast uint8 x int8 kernel saturates without VNNI; imported by test_runtime.py
and, under an emulated processor, by its subprocess (so it imports neither torch nor pytest)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime


def unsafe_product(path: Path, depth: int) -> int:
    """A uint8 x int8 MatMulInteger of 255s by 127s down ``depth``, run by the default kernel."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = numpy_helper.from_array(np.full((depth, 16), 127, np.int8), "w")
    graph = helper.make_graph([helper.make_node("MatMulInteger", ["a", "w"], ["y"])], "unsafe",
                              [helper.make_tensor_value_info("a", TensorProto.UINT8, [1, depth])],
                              [helper.make_tensor_value_info("y", TensorProto.INT32, [1, 16])], [weights])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    run = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return int(run.run(None, {"a": np.full((1, depth), 255, np.uint8)})[0][0, 0])
