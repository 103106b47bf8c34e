import numpy as np
import pytest

from xmodal.evaluate import generalized, hit_at_k, mcnemar, ranked_labels, retrieval

# Three labels on the axes of a 3-d space; images placed by hand.
LABELS = np.eye(3, dtype=np.float32)
IMAGES = np.array(
    [
        [0.9, 0.4, 0.1],  # ranks 0, 1, 2
        [0.1, 0.3, 0.9],  # ranks 2, 1, 0
        [0.5, 0.6, 0.2],  # ranks 1, 0, 2
        [0.2, 0.1, 0.8],  # ranks 2, 0, 1
    ],
    dtype=np.float32,
)
IMAGES /= np.linalg.norm(IMAGES, axis=1, keepdims=True)


def test_ranked_labels_nearest_first():
    assert ranked_labels(IMAGES, LABELS, 3).tolist() == [[0, 1, 2], [2, 1, 0], [1, 0, 2], [2, 0, 1]]


def test_hit_at_k_by_hand():
    truth = np.array([0, 1, 0, 1])  # ranks of truth: 1, 2, 2, 3
    assert hit_at_k(IMAGES, truth, LABELS, ks=(1, 2, 3)) == {
        "hit@1": 0.25,
        "hit@2": 0.75,
        "hit@3": 1.0,
    }


def test_generalized_by_hand():
    truth = np.array([0, 2, 0, 1])  # correct, correct, wrong, wrong
    seen = np.array([True, False, False])  # label 0 seen; images 0, 2 are seen-class images
    result = generalized(IMAGES, truth, LABELS, seen)
    assert result["seen"] == 0.5 and result["unseen"] == 0.5
    assert result["H"] == pytest.approx(0.5)
    result = generalized(IMAGES, np.array([0, 2, 1, 1]), LABELS, seen)  # seen 1/1, unseen 2/3
    assert result["H"] == pytest.approx(2 * 1 * (2 / 3) / (1 + 2 / 3))


def test_retrieval_precision_and_average_precision_by_hand():
    truth = np.array([0, 2, 0, 1])
    # Unit images' coordinates: img0 (.91 .40 .10), img1 (.10 .30 .91), img2 (.62 .74 .25), img3 (.24 .12 .96).
    # Query 0 ranks 0, 2, 3, 1: relevant {0, 2} at ranks 1, 2 -> AP 1, P@2 1.
    # Query 1 ranks 2, 0, 1, 3: relevant {3} at rank 4 -> AP .25, P@2 0.
    # Query 2 ranks 3, 1, 2, 0: relevant {1} at rank 2 -> AP .5, P@2 .5.
    result = retrieval(IMAGES, truth, LABELS, k=2)
    assert result["mAP"] == pytest.approx((1.0 + 0.25 + 0.5) / 3)
    assert result["P@2"] == pytest.approx((1.0 + 0.0 + 0.5) / 3)


def test_retrieval_skips_queries_without_relevant_images():
    truth = np.array([0, 0, 0, 0])
    assert retrieval(IMAGES, truth, LABELS, k=1)["mAP"] == pytest.approx(1.0)


def test_mcnemar_by_hand():
    # Photos 0-2 only the first method gets right, photo 4 both, photo 5 neither:
    # a sign test on 3 discordant photos, all one way: p = 2 * (1/2)^3 = 0.25.
    first = [True, True, True, False, True, False]
    second = [False, False, False, False, True, False]
    assert mcnemar(first, second) == {"first only": 3, "second only": 0, "p": 0.25}
    # One each way: no evidence either way.
    assert mcnemar([True, False], [False, True])["p"] == 1.0
    assert mcnemar([True], [True]) == {"first only": 0, "second only": 0, "p": 1.0}
    # Many photos stay exact: 685 against 365 (CIFAR-10's default vs ConSE) is far below 1e-20.
    assert mcnemar([True] * 685 + [False] * 365, [False] * 685 + [True] * 365)["p"] < 1e-20
