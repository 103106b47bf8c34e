import numpy as np

from xmodal.training.baselines import conse, fit_softmax, random_label_vectors


def test_conse_by_hand():
    vectors = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0]], dtype=np.float32)
    logits = np.log(np.array([[0.1, 0.2, 0.3, 0.4]], dtype=np.float32))
    # Class 3 has no vector and is skipped; top-2 of the rest: classes 2 (.3) and 1 (.2) -> (0, .4, .6).
    expected = np.array([[0, 0.4, 0.6]]) / np.linalg.norm([0, 0.4, 0.6])
    assert np.allclose(conse(logits, vectors, top=2), expected, atol=1e-6)
    # T = 1 is the top class's vector.
    assert np.allclose(conse(logits, vectors, top=1), [[0, 0, 1]], atol=1e-6)


def test_softmax_classifier_learns_separable_classes():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 5)) * 3
    y = np.repeat(np.arange(3), 50)
    x = centres[y] + rng.normal(size=(150, 5))
    weight, bias = fit_softmax(x, y, classes=3, epochs=30, lr=0.05)
    assert ((x @ weight + bias).argmax(axis=1) == y).mean() > 0.95


def test_random_label_vectors_are_unit_and_stable_per_name():
    a = random_label_vectors(["cat", "dog"], 8)
    b = random_label_vectors(["dog", "bird"], 8)
    assert np.allclose(np.linalg.norm(a, axis=1), 1)
    assert np.array_equal(a[1], b[0])
    assert not np.allclose(a[0], a[1])
    assert random_label_vectors([], 8).shape == (0, 8)
