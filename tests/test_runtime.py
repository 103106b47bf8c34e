"""Fast-starting onnxruntime sessions: the saved optimised copy computes what the export computes."""

from __future__ import annotations

import numpy as np
import onnxruntime
import torch

from xmodal.runtime import session


class Small(torch.nn.Module):
    """Big enough that its weights go to their own file (the runtime externalises tensors of 1 KiB and more)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 16, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(16)  # folded into the convolution by the saved rewrite
        self.fc = torch.nn.Linear(16, 64)

    def forward(self, x):
        return self.fc(torch.relu(self.bn(self.conv(x))).mean(dim=(2, 3)))


def test_optimised_session_matches_the_export_and_is_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("XMODAL_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "export"
    folder.mkdir()
    model = folder / "model.onnx"
    module = Small().eval()
    x = np.random.default_rng(0).standard_normal((4, 3, 8, 8)).astype(np.float32)
    torch.onnx.export(module, (torch.from_numpy(x),), str(model), dynamo=False, input_names=["x"], output_names=["y"])
    plain = onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]

    fast = session(model, threads=1).run(None, {"x": x})[0]
    np.testing.assert_allclose(fast, plain, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fast, module(torch.from_numpy(x)).detach().numpy(), rtol=1e-4, atol=1e-5)
    (saved,) = (tmp_path / "cache" / "onnx-optimised").iterdir()
    assert {p.name for p in saved.iterdir()} == {"model.onnx", "weights.bin"}  # weights memory-mapped, not in the graph
    assert (saved / "model.onnx").stat().st_size < (saved / "weights.bin").stat().st_size

    stamp = (saved / "model.onnx").stat().st_mtime_ns
    np.testing.assert_array_equal(session(model).run(None, {"x": x})[0], fast)  # a second session reuses the copy
    assert (saved / "model.onnx").stat().st_mtime_ns == stamp
