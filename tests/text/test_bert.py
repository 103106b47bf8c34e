"""xmodal.text.bert: the sentence model in torch, and the vocabulary's bf16 batch built on it."""

import numpy as np
import pytest

from xmodal.text import bert
from xmodal.text.sentences import SentenceSpace


@pytest.fixture(scope="module")
def space() -> SentenceSpace:
    return SentenceSpace.load()


def test_native_bf16_is_read_from_the_cpu_flags(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("flags\t\t: fpu sse2 avx2 avx512f avx512_vnni\n")
    assert not bert.native_bf16(cpuinfo)  # AVX-512 without BF16: emulated, slower than fp32
    cpuinfo.write_text("flags\t\t: fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni\n")
    assert bert.native_bf16(cpuinfo)
    cpuinfo.write_text("flags\t\t: fpu amx_bf16 amx_tile\n")
    assert bert.native_bf16(cpuinfo)
    assert not bert.native_bf16(tmp_path / "missing")  # not Linux: fp32


def test_without_native_bf16_the_big_batch_is_plain_encode(space, monkeypatch):
    monkeypatch.setattr(bert, "native_bf16", lambda: False)
    assert space.bulk_encoder() == space.encode


def test_the_bf16_batch_agrees_with_the_fp32_export(space, monkeypatch):
    """Run wherever torch runs (emulated where the CPU lacks bf16): the vectors the vocabulary
    would get, against the ONNX export's, text by text and in which words come nearest."""
    monkeypatch.setattr(bert, "native_bf16", lambda: True)
    texts = ["beach", "snow", "golden retriever, a retriever", "church", "a dog runs on the grass",
             "kitchen", "sunset", "cassette player, a device", "English springer, a spaniel", "queen"] * 3
    fp32 = space.encode(texts)
    bf16 = space.bulk_encoder()(texts)
    assert bf16.shape == fp32.shape and bf16.dtype == np.float32
    assert np.allclose(np.linalg.norm(bf16, axis=1), 1, atol=1e-5)
    assert (bf16 * fp32).sum(axis=1).min() > 0.999
    assert np.array_equal(np.argsort(-(bf16 @ fp32[0]))[:3], np.argsort(-(fp32 @ fp32[0]))[:3])
