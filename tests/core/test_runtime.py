"""Fast-starting onnxruntime sessions: the saved optimised copy computes what the export computes;
and the runtime path (index, query, serve) runs on them alone, without torch or any CUDA library."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch

from xmodal.core.runtime import session

ROOT = Path(__file__).resolve().parents[2]


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


def test_sessions_run_int8_products_exactly_unless_asked_not_to(tmp_path, monkeypatch):
    """``session.x64quantprecision``: without it an x86 processor lacking VNNI saturates uint8 x int8
    products (tests/vision/test_quantized.py fails there); it changes nothing elsewhere."""
    monkeypatch.setenv("XMODAL_CACHE_DIR", str(tmp_path / "cache"))
    model = tmp_path / "model.onnx"
    torch.onnx.export(Small().eval(), (torch.zeros(1, 3, 8, 8),), str(model), dynamo=False, input_names=["x"], output_names=["y"])
    key = "session.x64quantprecision"
    assert session(model).get_session_options().get_session_config_entry(key) == "1"
    with pytest.raises(Exception, match="does not have configuration with key"):
        session(model, exact_int8=False).get_session_options().get_session_config_entry(key)


# Run in a fresh process: refuse torch and every CUDA package, do ``WORK``, then list the
# CUDA and torch shared libraries the process has mapped (from /proc/self/maps).
NO_CUDA = """
import importlib.abc, json, re, sys
BLOCKED = {"torch", "torchvision", "triton", "nvidia", "cuda"}
tried = []

class NoCuda(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            tried.append(name)
            raise ImportError(f"{name} is blocked: the runtime path must not need it")

if sys.argv[1] == "block":
    sys.meta_path.insert(0, NoCuda())
done = {}
exec(sys.argv[2])
cuda = re.compile(r"/lib(cuda|cudart|cublas|cudnn|cufft|cufile|curand|cusolver|cusparse|cupti|nccl|nvrtc|nvjitlink|nvshmem|torch|c10)[^/]*[.]so|/nvidia/", re.I)
mapped = {line.split()[-1] for line in open("/proc/self/maps") if line.split()[-1].startswith("/")}
print(json.dumps({"done": done, "tried": tried, "modules": sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED),
                  "libraries": sorted(path for path in mapped if cuda.search(path))}))
"""

RUNTIME_PATH = """
import shutil, sys
from pathlib import Path
from PIL import Image, ImageOps
from starlette.testclient import TestClient
import xmodal
from xmodal.web.serve import Library, create_app

photos, work = Path(sys.argv[3]), Path(sys.argv[4])
folder = work / "photos"
folder.mkdir()
for name in ("chelsea.jpg", "rocket.jpg", "coffee.jpg"):
    shutil.copy(photos / name, folder / name)
outside = work / "mirrored coffee.jpg"  # in no index: embedded by the visual model at query time
with Image.open(photos / "coffee.jpg") as image:
    ImageOps.mirror(image.convert("RGB")).save(outside)
with xmodal.open(work / "index", create=True) as engine:
    done["added"] = engine.index(folder).added
    done["text"] = [Path(r.path).name for r in engine.query("a cat", k=1).results]
    done["looks"] = [Path(r.path).name for r in engine.query(outside, k=1).results]
    done["meaning"] = [Path(r.path).name for r in engine.query(outside, k=1, using="semantic").results]
library = Library(work / "index")
client = TestClient(create_app(library), base_url="http://127.0.0.1")
done["api"] = [Path(r["path"]).name for r in client.get("/api/query", params={"q": "rocket", "k": 1}).json()["results"]]
upload = client.post("/api/upload", params={"name": "mine.jpg", "k": 1}, content=outside.read_bytes()).json()
done["upload"] = [Path(r["path"]).name for r in upload["results"]]
done["thumbnail"] = client.get("/api/thumbnail", params={"path": str(folder / "rocket.jpg"), "size": 320}).status_code
library.close()
"""


def in_a_fresh_process(mode: str, code: str, *args: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", NO_CUDA, mode, code, *args], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads /proc/self/maps (Linux)")
def test_index_query_and_serve_run_without_torch_or_any_cuda_library(served_photos, tmp_path):
    """Once the models are exported (the first run, which uses torch; served_photos did it),
    indexing, text and photo queries and the page's API neither import torch nor map a CUDA
    library: with torch and the nvidia packages refused, the same answers come back."""
    photos, _ = served_photos
    found = in_a_fresh_process("block", RUNTIME_PATH, str(photos), str(tmp_path))
    assert found["done"] == {
        "added": 3, "text": ["chelsea.jpg"], "looks": ["coffee.jpg"], "meaning": ["coffee.jpg"],
        "api": ["rocket.jpg"], "upload": ["coffee.jpg"], "thumbnail": 200,
    }
    assert (found["tried"], found["modules"], found["libraries"]) == ([], [], [])


@pytest.mark.skipif(torch.version.cuda is None, reason="this torch is a CPU build: it maps no CUDA library to find")
def test_the_library_scan_sees_what_importing_a_cuda_torch_maps():
    """The scan above can fail: importing this (CUDA) torch maps its CUDA libraries, and it lists them."""
    found = in_a_fresh_process("allow", "import torch")
    assert found["modules"] and any("libcudart" in path for path in found["libraries"])
