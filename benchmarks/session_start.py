"""How long an onnxruntime session takes to start: from the export vs from xmodal.runtime's saved copy.

    .venv/bin/python benchmarks/session_start.py [--runs 5]

For the sentence encoder (all-MiniLM-L6-v2) and the shipped visual model
(EfficientNet-Lite2), each already exported in the user cache: the median
time to open a session straight on the export with onnxruntime's defaults
(the baseline, what xmodal did before) and through ``xmodal.runtime.session``,
the largest difference between the two sessions' outputs, and the visual
model's batch throughput through each (the saved copy must not run slower).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import onnxruntime

from xmodal.runtime import session
from xmodal.spaces import load_space


def plain(model, threads: int):
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    return onnxruntime.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])


def median_start(open_session, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        open_session()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    from xmodal.encoder import Encoder

    space = load_space()
    visual = Encoder.load(space).visual
    texts = space.tokenizer.encode_batch(["a dog on the beach", "two children play in the snow with a red sled"])
    text_inputs = {
        "input_ids": np.array([e.ids for e in texts], dtype=np.int64),
        "attention_mask": np.array([e.attention_mask for e in texts], dtype=np.int64),
    }
    pixels = {"image": np.random.default_rng(0).standard_normal((32, 3, visual.image_size, visual.image_size)).astype(np.float32)}
    models = {
        "all-MiniLM-L6-v2": (space.folder / "model.onnx", text_inputs),
        visual.id: (visual.onnx_path(), pixels),
    }
    print(f"median of {args.runs} session starts each, 2 threads")
    for name, (model, inputs) in models.items():
        session(model, 2)  # makes the saved copy once, outside the timing
        before = median_start(lambda: plain(model, 2), args.runs)
        after = median_start(lambda: session(model, 2), args.runs)
        a, b = plain(model, 2), session(model, 2)
        difference = max(float(np.abs(x - y).max()) for x, y in zip(a.run(None, inputs), b.run(None, inputs)))
        line = f"{name:20s} export {before:.3f} s   saved copy {after:.3f} s   ({before / after:.1f}x)   max output difference {difference:.1e}"
        if name == visual.id:
            rates = []
            for s in (a, b):
                s.run(None, inputs)  # warm-up
                started = time.perf_counter()
                for _ in range(3):
                    s.run(None, inputs)
                rates.append(96 / (time.perf_counter() - started))
            line += f"   batch of 32: {rates[0]:.1f} vs {rates[1]:.1f} photos/s"
        print(line)


if __name__ == "__main__":
    main()
