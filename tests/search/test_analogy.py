"""xmodal.search.analogy: a photo read as the mean of the bank texts nearest it."""

from __future__ import annotations

import numpy as np

from xmodal.search.analogy import described


def unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=-1, keepdims=True)


def test_a_photo_is_the_unit_mean_of_its_nearest_texts():
    rng = np.random.default_rng(0)
    bank = unit(rng.normal(size=(50, 8))).astype(np.float16)
    photo = unit(rng.normal(size=8))
    texts = bank.astype(np.float32)
    nearest = np.argsort(-(texts @ photo))[:5]
    mean = texts[nearest].mean(axis=0)
    assert np.allclose(described(photo, bank, k=5), mean / np.linalg.norm(mean), atol=1e-6)


def test_the_far_texts_do_not_count_and_k_beyond_the_bank_takes_all():
    bank = np.eye(4, dtype=np.float32)
    photo = unit(np.array([0.9, 0.4, 0.1, 0.0]))
    assert np.allclose(described(photo, bank, k=2), unit(np.array([1.0, 1.0, 0.0, 0.0])))
    assert np.allclose(described(photo, bank, k=10), unit(np.ones(4)))
