"""The sentence model as torch runs it: read from its wheel, mean-pooled and normalised.

Two things need it, and both take what they need from here so that they cannot
drift apart: the ONNX export (once per machine, :mod:`xmodal.text.sentences`),
and the vocabulary's one big batch on a CPU that multiplies bfloat16 natively
(AVX512-BF16 or AMX). There the model's matrix products in bf16 run about
1.6 times as fast as onnxruntime's fp32, with every vector within a cosine of
0.9997 of the fp32 one (docs/performance.md, ``benchmarks/vocabulary_int8.py``).
Elsewhere bf16 is emulated and slower, so fp32 stays. Queries never come here:
torch is imported only by these two one-off steps.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

_BF16_FLAGS = re.compile(r"\b(avx512_bf16|amx_bf16)\b")


def mean_pooled(source: Path, attention: str = "eager"):
    """A torch module: (input ids, attention mask) -> unit mean of the last hidden states,
    the sentence-transformers reading of all-MiniLM-L6-v2."""
    import torch
    import torch.nn.functional as F
    from transformers import BertModel
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # its own bar for reading weights from disk
    transformers_logging.set_verbosity_error()
    bert = BertModel.from_pretrained(str(source), attn_implementation=attention).eval()

    class MeanPooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask):
            hidden = self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=torch.zeros_like(input_ids)
            ).last_hidden_state.float()
            weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)
            return F.normalize(pooled, dim=1)

    return MeanPooled().eval()


def native_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether this CPU multiplies bfloat16 natively (read from Linux's CPU flags; elsewhere, no)."""
    try:
        return bool(_BF16_FLAGS.search(cpuinfo.read_text()))
    except OSError:
        return False


def bf16_runner(source: Path, threads: int | None = None) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """``run(ids, mask) -> unit vectors`` with the model's weights in bfloat16."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    model = mean_pooled(source).to(torch.bfloat16)

    def run(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return model(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()

    return run
