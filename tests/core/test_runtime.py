"""Fast-starting onnxruntime sessions: the saved optimised copy computes what the export computes;
and the runtime path (index, query, serve) runs on them alone, without torch or any CUDA library."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch
from unsafe_int8 import unsafe_product

from xmodal.core import runtime
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


def test_an_int8_network_gets_the_exact_kernel_only_where_the_probe_asks_for_it(tmp_path, monkeypatch):
    """``session.x64quantprecision`` runs uint8 x int8 products exactly whatever the kernel; it
    slows the network, so it is set where the probe finds pair-safe products computed wrong,
    and for int8 networks alone."""
    monkeypatch.setenv("XMODAL_CACHE_DIR", str(tmp_path / "cache"))
    model = tmp_path / "model.onnx"
    torch.onnx.export(Small().eval(), (torch.zeros(1, 3, 8, 8),), str(model), dynamo=False, input_names=["x"], output_names=["y"])

    def option(int8):
        try:
            return session(model, int8=int8).get_session_options().get_session_config_entry("session.x64quantprecision")
        except Exception as missing:
            assert "does not have configuration with key" in str(missing)
            return None

    for saturates in (True, False):
        monkeypatch.setattr(runtime, "int8_saturates", lambda saturates=saturates: saturates)
        assert option("exact") == ("1" if saturates else None)
        assert option("fast") is None
        assert option(None) is None  # a float network: no probe, no option
    with pytest.raises(ValueError, match="int8 must be"):
        session(model, int8="yes")


def cpu_flags() -> set[str]:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


@pytest.mark.skipif(platform.machine() != "x86_64" or not Path("/proc/cpuinfo").exists(), reason="an x86 Linux processor")
def test_on_this_processor_the_fast_kernel_saturates_unsafe_pairs_exactly_when_it_lacks_vnni(tmp_path):
    """onnxruntime's uint8 x int8 kernel adds pairs in 16 bits with AVX2 or AVX-512 alone, and in
    32 bits with AVX-512 VNNI or AVX-VNNI: two weights of 127 by 255s overflow only there.
    The probe's pair-safe product (127 and 1) is exact either way."""
    flags = cpu_flags()
    pair = 255 * 127 * 2
    expected = 32767 if "avx2" in flags and not flags & {"avx512_vnni", "avx_vnni"} else pair
    assert unsafe_product(tmp_path / "unsafe.onnx", 2) == expected


PROBE_UNDER_AVX2 = """
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from unsafe_int8 import unsafe_product
from xmodal.core import runtime
print(runtime.int8_saturates(), unsafe_product(Path(sys.argv[2]), 8))
"""


@pytest.mark.skipif(platform.machine() != "x86_64" or shutil.which("qemu-x86_64") is None,
                    reason="qemu-x86_64 (Debian's qemu-user) emulates a processor without VNNI")
def test_on_a_processor_without_vnni_pair_safe_products_are_exact_and_others_saturate(tmp_path):
    """The case this machine may not be: an emulated Haswell (AVX2, no VNNI), whatever the host.
    There the fast kernel saturates two weights of 127 (four such pairs come to 4 x 32,767,
    not 259,080), while the probe's pair-safe product is exact, so int8 networks keep it."""
    env = {**os.environ, "XMODAL_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(["qemu-x86_64", "-cpu", "Haswell", sys.executable, "-c", PROBE_UNDER_AVX2,
                           str(Path(__file__).parent), str(tmp_path / "unsafe.onnx")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    saturates, unsafe = done.stdout.split()
    assert (saturates, int(unsafe)) == ("False", 4 * 32767)


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
