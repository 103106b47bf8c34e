import numpy as np
import pytest

from xmodal import XmodalError
from xmodal.text.hierarchy import Hierarchy, Synset
from xmodal.training.evaluate import (
    generalized,
    hierarchical_correct_sets,
    hierarchical_precision,
    hit_at_k,
    mcnemar,
    ranked_labels,
    retrieval,
)

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


# A hand-made is-a hierarchy; the labels being ranked are the nodes marked *:
#
#   root ── animal ──┬── dog ──┬── beagle*
#                    │         ├── collie*
#                    │         └── sled dog ── husky*
#                    └── cat* ─┬── tabby*
#                              └── siamese*
#        └─ vehicle ─┬── car*
#                    └── bus*
#        └─ pet ── (also a parent of siamese: a second hypernym)
TREE = Hierarchy(
    {
        "root": Synset(("root",)),
        "animal": Synset(("animal",), ("root",)),
        "vehicle": Synset(("vehicle",), ("root",)),
        "pet": Synset(("pet",), ("root",)),
        "dog": Synset(("dog",), ("animal",)),
        "cat": Synset(("cat",), ("animal",)),
        "beagle": Synset(("beagle",), ("dog",)),
        "collie": Synset(("collie",), ("dog",)),
        "sled dog": Synset(("sled dog",), ("dog",)),
        "husky": Synset(("husky",), ("sled dog",)),
        "tabby": Synset(("tabby",), ("cat",)),
        "siamese": Synset(("siamese",), ("cat", "pet")),
        "car": Synset(("car",), ("vehicle",)),
        "bus": Synset(("bus",), ("vehicle",)),
    }
)
NODES = ["beagle", "collie", "husky", "cat", "tabby", "siamese", "car", "bus"]
ONE_HOT = np.eye(len(NODES), dtype=np.float32)


def ranking(*order: str) -> np.ndarray:
    """A unit image vector that ranks the named labels first, in this order, then the rest."""
    scores = np.zeros(len(NODES), dtype=np.float32)
    for i, name in enumerate(order):
        scores[NODES.index(name)] = len(order) - i
    return scores / np.linalg.norm(scores)


def correct(truth: str, k: int) -> set[str]:
    return {NODES[row] for row in hierarchical_correct_sets([truth], NODES, [k], TREE)[truth][k]}


def test_correct_sets_grow_by_ancestor_with_all_its_descendants():
    assert correct("beagle", 1) == {"beagle"}
    # Radius 1 is dog and everything below it, grandchildren too: husky is 3 edges from beagle.
    assert correct("beagle", 2) == {"beagle", "collie", "husky"}
    assert correct("beagle", 3) == {"beagle", "collie", "husky"}
    # Radius 2 is animal: all cats as well; six labels, more than k = 4.
    assert correct("beagle", 4) == {"beagle", "collie", "husky", "cat", "tabby", "siamese"}
    assert correct("beagle", 7) == set(NODES)  # the root's radius: every label
    assert correct("beagle", 50) == set(NODES)  # fewer labels than k: all there are
    # A true label's own descendants enter with its parent, not at radius 0.
    assert correct("cat", 1) == {"cat"}
    assert correct("cat", 2) == {"beagle", "collie", "husky", "cat", "tabby", "siamese"}
    # Every hypernym path counts: siamese is a cat and a pet; pet brings no other label.
    assert correct("siamese", 2) == {"cat", "tabby", "siamese"}
    # A true label that is not among the ranked labels: radius 0 holds none, and its
    # descendants too wait for its parent, here animal.
    assert correct("dog", 1) == {"beagle", "collie", "husky", "cat", "tabby", "siamese"}


def test_hierarchical_precision_by_hand():
    images = np.stack(
        [
            ranking("beagle", "car", "collie", "tabby", "bus"),  # right at once
            ranking("collie", "car", "husky", "bus", "siamese"),  # a sibling, then a cousin's kin
            ranking("tabby", "car", "bus", "beagle", "siamese"),
        ]
    )
    truth = ["beagle", "beagle", "beagle"]
    result = hierarchical_precision(images, truth, NODES, ONE_HOT, ks=(1, 2, 3, 5), hierarchy=TREE)
    # C_1 = {beagle}; C_2 = C_3 = {beagle, collie, husky}; C_5 = those and the cats.
    # image 0: top1 beagle 1; top2 {beagle, car} 1/2; top3 + collie 2/3; top5 + tabby 3/5 (bus not).
    # image 1: top1 0; top2 {collie, car} 1/2; top3 + husky 2/3; top5 + siamese 3/5.
    # image 2: top1 0; top2 0; top3 0; top5 {tabby, beagle, siamese} 3/5.
    assert result["hp@1"] == pytest.approx(1 / 3)
    assert result["hp@2"] == pytest.approx((1 / 2 + 1 / 2 + 0) / 3)
    assert result["hp@3"] == pytest.approx((2 / 3 + 2 / 3 + 0) / 3)
    assert result["hp@5"] == pytest.approx(3 / 5)
    assert hit_at_k(images, np.zeros(3, int), ONE_HOT, ks=(1,))["hit@1"] == result["hp@1"]


def test_hp_at_1_is_hit_at_1():
    rng = np.random.default_rng(0)
    images = rng.normal(size=(40, len(NODES))).astype(np.float32)
    images /= np.linalg.norm(images, axis=1, keepdims=True)
    truth = rng.integers(0, len(NODES), size=40)
    hp = hierarchical_precision(images, [NODES[t] for t in truth], NODES, ONE_HOT, ks=(1, 8), hierarchy=TREE)
    assert hp["hp@1"] == hit_at_k(images, truth, ONE_HOT, ks=(1,))["hit@1"]
    assert hp["hp@8"] == 1.0  # every label is within the root's radius


def test_hierarchical_precision_refuses_unknown_truth_and_mismatched_rows():
    image = ranking("beagle")[None]
    with pytest.raises(XmodalError, match="unknown WordNet id 'zebra'"):
        hierarchical_precision(image, ["zebra"], NODES, ONE_HOT, hierarchy=TREE)
    with pytest.raises(ValueError, match="8 label vectors with 7 wnids"):
        hierarchical_precision(image, ["beagle"], NODES[:7], ONE_HOT, hierarchy=TREE)


def test_hierarchical_precision_on_wordnet():
    # English springer: C_2 is springer spaniel and below, C_5 reaches all spaniels in the label set.
    springer, welsh, clumber, tench = "n02102040", "n02102177", "n02101556", "n01440764"
    labels = [springer, welsh, clumber, tench]
    sets = hierarchical_correct_sets([springer], labels, [1, 2, 3, 4])[springer]
    assert [set(sets[k]) for k in (1, 2, 3)] == [{0}, {0, 1}, {0, 1, 2}]
    assert set(sets[4]) == {0, 1, 2, 3}  # only the fish's and the dogs' common ancestor, animal, holds four
