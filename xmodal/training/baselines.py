"""Baselines that DeViSE is compared with on the same features: a softmax
classifier, ConSE (Norouzi et al. 2014) on top of any classifier, and random
label vectors in place of word vectors (the DeViSE paper's control)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from xmodal.core.vectors import unit_rows
from xmodal.devise.model import InputSpec, build_inputs


def fit_softmax(
    inputs: np.ndarray, targets: np.ndarray, classes: int, epochs: int = 20, lr: float = 1e-3, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """A linear softmax classifier (weight (in, classes), bias) fitted with Adam."""
    import torch

    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    x = torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.float32))
    y = torch.from_numpy(np.asarray(targets, dtype=np.int64))
    layer = torch.nn.Linear(x.shape[1], classes)
    optimizer = torch.optim.Adam(layer.parameters(), lr=lr)
    for _ in range(epochs):
        for batch in torch.randperm(len(x), generator=generator).split(256):
            loss = torch.nn.functional.cross_entropy(layer(x[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return layer.weight.detach().numpy().T.copy(), layer.bias.detach().numpy().copy()


def conse(logits: np.ndarray, class_vectors: np.ndarray, top: int = 10) -> np.ndarray:
    """ConSE: the convex combination of the top-T classes' word vectors, weighted by
    their renormalised probabilities, as unit vectors. Classes without a vector
    (zero rows) are left out before taking the top T."""
    usable = np.linalg.norm(class_vectors, axis=1) > 0
    inputs = build_inputs(InputSpec(("conse",), top), None, logits, None, usable)
    return unit_rows(inputs @ class_vectors)


def random_label_vectors(names: Sequence[str], dim: int, seed: int = 0) -> np.ndarray:
    """A fixed random unit vector per label name: the same name gets the same vector
    in every label set, so a model trained on them can still be scored."""
    rows = []
    for name in names:
        digest = hashlib.sha256(f"{seed}:{name}".encode()).digest()
        rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
        rows.append(rng.normal(size=dim))
    matrix = np.array(rows, dtype=np.float32).reshape(len(rows), dim)
    return unit_rows(matrix)
