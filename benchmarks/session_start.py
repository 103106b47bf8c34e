"""How long an onnxruntime session takes to start: from the export vs from xmodal.core.runtime's saved copy.

    .venv/bin/python benchmarks/session_start.py [--runs 5]

For the sentence encoder (all-MiniLM-L6-v2) and the shipped visual model
(EfficientNet-Lite2), each already exported in the user cache: the median
time to open a session straight on the export with onnxruntime's defaults
(the baseline, what xmodal did before) and through ``xmodal.core.runtime.session``,
the largest difference between the two sessions' outputs, and the visual
model's batch throughput through each (the saved copy must not run slower).
Then the sentence encoder's session with and without prepacked weights: its
start, its first run and its later runs on one 12-word sentence.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import onnxruntime

from xmodal.core.runtime import session
from xmodal.text.factory import load_space


def plain(model, threads: int):
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    return onnxruntime.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])


def tokens(text: str, space) -> dict[str, np.ndarray]:
    ids = np.array([space.tokenizer.encode(text)], dtype=np.int64)
    return {"input_ids": ids, "attention_mask": np.ones_like(ids)}


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
    from xmodal.devise.encoder import Encoder

    space = load_space()
    visual = Encoder.load(space).visual
    text_inputs = tokens("two young children play with a brown dog on the grass", space)
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
    # One text, as a cold query encodes it: weights prepacked or not (xmodal.text.sentences.SentenceSpace._session_for).
    model = space.folder / "model.onnx"
    for prepack in (True, False):
        start = median_start(lambda: session(model, 2, prepack=prepack, spin=False), args.runs)
        one = session(model, 2, prepack=prepack, spin=False)
        first = time.perf_counter()
        one.run(None, text_inputs)
        first = time.perf_counter() - first
        runs = []
        for _ in range(50):
            started = time.perf_counter()
            one.run(None, text_inputs)
            runs.append(time.perf_counter() - started)
        print(f"all-MiniLM-L6-v2, prepack={prepack!s:5}: start {start * 1000:.1f} ms, first run {first * 1000:.1f} ms, "
              f"then {statistics.median(runs) * 1000:.2f} ms a 12-word sentence (median of 50)")


if __name__ == "__main__":
    main()
