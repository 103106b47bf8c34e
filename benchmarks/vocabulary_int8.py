"""The vocabulary's first embedding with all-MiniLM-L6-v2 in fp32, fused fp32 and as dynamic int8 models.

    .venv/bin/python benchmarks/vocabulary_int8.py

Issue 17 asks that the first ``--words`` query, which embeds the 36,588
vocabulary texts once per machine (``SentenceSpace.vocabulary``, then cached),
take at most 20 s. This times that batch through ``SentenceSpace.encode`` (2
threads) with the fp32 export and with onnxruntime's ``quantize_dynamic`` of it
(int8 weights; a transformer's matrix products are what dynamic quantization
is for: one scale per tensor, one per output channel, and per channel with the
feed-forward outputs left in fp32), in one run, and measures what int8 costs: each text's cosine to its
fp32 vector, and the overlap of the 10 nearest vocabulary words for 200
vocabulary words as queries. A third row runs the fp32 export after
onnxruntime's transformer optimizer (``optimize_model``, model type bert:
fused Attention, SkipLayerNormalization, EmbedLayerNormalization), the fp32
way to a faster batch. No int8 model ships. (Commit d7dbc1a also timed the
model's weights in bfloat16 through torch, on this CPU's native bf16: 28.0 s
against 32.1 s for fp32 in one run, 0.87x, not worth a torch import and
answers that differ by machine; it was taken out again.)

What an int8 text model must do to ship for this batch (written 2026-12-06,
before any variant beyond the first was scored): the whole batch in at most
20 s and at most 0.45x fp32's time in the same run; a mean top-10 overlap of
at least 0.95 with fp32's nearest words; each text's cosine to its fp32 vector
at least 0.97 at the 1st percentile. Variants (per-channel weights, layers
left in fp32) are chosen on the queries drawn with seed 0 and reported on
those drawn with seed 1.
"""

from __future__ import annotations

import time

import numpy as np

from xmodal.core.cache import cache_root
from xmodal.core.runtime import session
from xmodal.text.sentences import SentenceSpace
from xmodal.text.vocabulary import vocabulary_texts


def quantized(space: SentenceSpace, variant: str = "dynamic"):
    """A dynamic int8 copy of the space's export, made once into the cache: ``dynamic``
    (one scale per weight tensor), ``per-channel`` (one per output column), or
    ``per-channel, FFN out fp32`` (each layer's second feed-forward product, whose
    inputs have the widest range, left in fp32)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    source = space.folder / "model.onnx"
    path = cache_root() / "onnx-int8" / f"{space.folder.name}-{variant.replace(' ', '').replace(',', '-')}" / "model.onnx"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        nodes = [n.name for n in onnx.load(str(source), load_external_data=False).graph.node if n.op_type == "MatMul"]
        ffn_out = [n for n in nodes if n.endswith("/output/dense/MatMul") and "attention" not in n]
        options = {
            "dynamic": {},
            "per-channel": {"per_channel": True},
            "per-channel, FFN out fp32": {"per_channel": True, "nodes_to_exclude": ffn_out},
        }[variant]
        quantize_dynamic(str(source), str(path), weight_type=QuantType.QInt8, **options)
    return path


def fused(space: SentenceSpace):
    """The fp32 export with BERT's operators fused by onnxruntime's transformer optimizer, made once."""
    from onnxruntime.transformers.optimizer import optimize_model

    path = cache_root() / "onnx-int8" / f"{space.folder.name}-fused" / "model.onnx"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        optimize_model(str(space.folder / "model.onnx"), model_type="bert", num_heads=12, hidden_size=384,
                       opt_level=1, use_gpu=False).save_model_to_file(str(path))
    return path


VARIANTS = ("int8 dynamic", "int8 per-channel", "int8 per-channel, FFN out fp32")


def main() -> None:
    space = SentenceSpace.load()
    texts = list(vocabulary_texts(space.speller.words).values())
    vectors, seconds = {}, {}
    models = {"fp32": space.folder / "model.onnx", "fp32 fused": fused(space)}
    models.update({name: quantized(space, name.removeprefix("int8 ")) for name in VARIANTS})
    for name, path in models.items():
        # the batch session encode() uses for many texts; these int8 copies are not pair-safe, so on a
        # processor without VNNI their products saturate unless the probe finds the kernel wrong (it does not)
        space._session = session(path, 2, spin=False, int8="exact" if name.startswith("int8") else None)
        started = time.perf_counter()
        vectors[name] = space.encode(texts)
        seconds[name] = time.perf_counter() - started
        print(f"{name}: {seconds[name]:.1f} s for {len(texts):,} texts", flush=True)
    full = vectors["fp32"]
    print(f"fused / fp32 time: {seconds['fp32 fused'] / seconds['fp32']:.2f}, "
          f"cosine to fp32 min {(vectors['fp32 fused'] * full).sum(1).min():.6f}")
    queries = np.random.default_rng(1).choice(len(full), 200, replace=False)  # seed 0 chose the variants
    for name in VARIANTS:
        small = vectors[name]
        cosine = (full * small).sum(1)  # both unit rows
        overlap = np.mean([
            len(set(np.argsort(-(full @ full[q]))[:10]) & set(np.argsort(-(small @ full[q]))[:10])) / 10 for q in queries
        ])
        ratio = seconds[name] / seconds["fp32"]
        ships = seconds[name] <= 20 and ratio <= 0.45 and overlap >= 0.95 and np.percentile(cosine, 1) >= 0.97
        print(f"{name}: {seconds[name]:.1f} s ({ratio:.2f}x fp32); cosine to fp32 mean {cosine.mean():.4f}, "
              f"1st percentile {np.percentile(cosine, 1):.4f}, min {cosine.min():.4f}; "
              f"top-10 nearest-word overlap (200 word queries) {overlap:.3f}; meets the bar: {ships}")


if __name__ == "__main__":
    main()
