import numpy as np
import pytest

from xmodal import XmodalError
from xmodal.text.hierarchy import Hierarchy, Synset
from xmodal.text.labels import (
    Label,
    embed_labels,
    imagenet_labels,
    label_matrix,
    label_texts,
    parse_synonyms,
)


def test_name_first_then_synonyms_then_dropped(tiny_space):
    labels = [
        Label("king", ("king", "monarch")),
        Label("qwzx", ("qwzx", "royal family")),  # name unknown: its synonym stands in
        Label("zzyzx", ("zzyzx", "xyzzy")),  # nothing known: reported, never invented
    ]
    found = embed_labels(tiny_space, labels)
    assert found.names == ["king", "qwzx"]
    assert [label.name for label in found.dropped] == ["zzyzx"]
    assert np.allclose(found.vectors[0], tiny_space.vector("king"))
    assert np.allclose(found.vectors[1], tiny_space.vector("royal family"))


def test_label_matrix_keeps_order_with_zero_rows(tiny_space):
    matrix = label_matrix(tiny_space, [Label("dog"), Label("zzyzx"), Label("queen")])
    assert matrix.shape == (3, 4)
    assert np.allclose(matrix[1], 0)
    assert np.allclose(matrix[2], tiny_space.vector("queen"))


def test_parse_synonyms():
    assert parse_synonyms("goldfish, Carassius auratus") == ("goldfish", "Carassius auratus")
    assert parse_synonyms(" , ") == ()


def test_imagenet_label_sets_ship_with_timm():
    one_k = imagenet_labels("1k")
    assert len(one_k) == 1000
    assert one_k[0] == Label("tench", ("tench", "Tinca tinca"), "n01440764")  # logit 0 of every ImageNet classifier
    assert len(imagenet_labels("21k")) > 20_000
    with pytest.raises(XmodalError, match="unknown ImageNet subset '5k'"):
        imagenet_labels("5k")


def test_most_imagenet_names_have_glove_vectors(default_space):
    found = embed_labels(default_space, imagenet_labels("1k"))
    assert len(found.labels) == 987  # the 13 left out are rare breed and bird names
    assert "brambling" in [label.name for label in found.dropped]


# A hand-made hierarchy over the tiny space's words: a queen is royal family, which is family;
# a qwzx is family too, and its only known name counts as taxonomic.
TINY = Hierarchy(
    {
        "n1": Synset(("family",)),
        "n2": Synset(("royal family", "royalty"), ("n1",)),
        "n3": Synset(("queen", "Regina regina", "monarch"), ("n2",), frozenset({"Regina regina"})),
        "n4": Synset(("qwzx", "royal family"), ("n1",), frozenset({"royal family"})),  # as if Latin
    }
)


def unit(v):
    return v / np.linalg.norm(v)


def test_label_texts_add_broader_names_and_leave_out_latin():
    labels = [
        Label("queen", ("queen", "Regina regina", "monarch"), "n3"),
        Label("king", ("king", "monarch")),  # no wnid: its own names only
        Label("dog", ("dog",), "n99"),  # a wnid the table lacks: the same
    ]
    assert label_texts(labels, 0, TINY) == ["queen, monarch", "king, monarch", "dog"]
    assert label_texts(labels, 1, TINY)[0] == "queen, monarch, royal family"
    assert label_texts(labels, 5, TINY)[0] == "queen, monarch, royal family, family"


def test_label_texts_of_imagenet_labels():
    one_k = imagenet_labels("1k")
    assert label_texts(one_k[:1]) == ["tench"]  # 'Tinca tinca' left out
    springer = next(label for label in one_k if label.wnid == "n02102040")
    assert label_texts([springer], 2) == ["English springer, English springer spaniel, springer spaniel, spaniel"]


def test_hierarchy_depth_averages_known_terms(tiny_space):
    labels = [Label("queen", ("queen", "Regina regina", "monarch"), "n3"), Label("king", ("king",))]
    assert np.array_equal(label_matrix(tiny_space, labels, 0, TINY), label_matrix(tiny_space, labels))
    matrix = label_matrix(tiny_space, labels, hierarchy_depth=2, hierarchy=TINY)
    # 'monarch' is unknown; queen, royal family and family are known.
    v = tiny_space.vector
    assert np.allclose(matrix[0], unit(v("queen") + v("royal family") + v("family")))
    assert np.allclose(matrix[1], v("king"))  # nothing broader to say about a label without a wnid
    one = label_matrix(tiny_space, labels, hierarchy_depth=1, hierarchy=TINY)
    assert np.allclose(one[0], unit(v("queen") + v("royal family")))


def test_hierarchy_depth_drops_the_same_labels(tiny_space):
    labels = [
        Label("zzyzx", ("zzyzx",), "n3"),  # no vector of its own: dropped, however well its ancestors are known
        Label("qwzx", ("qwzx", "royal family"), "n4"),  # known only by a Latin name: it stands in
    ]
    found = embed_labels(tiny_space, labels, hierarchy_depth=1, hierarchy=TINY)
    assert [label.name for label in found.dropped] == ["zzyzx"]
    assert label_texts(labels[1:], 1, TINY) == ["qwzx, family"]
    v = tiny_space.vector
    assert np.allclose(found.vectors[0], unit(v("royal family") + v("family")))


def test_imagenet_labels_with_hierarchy_keep_the_same_labels(default_space):
    one_k = imagenet_labels("1k")
    flat = embed_labels(default_space, one_k)
    rich = embed_labels(default_space, one_k, hierarchy_depth=2)
    assert rich.labels == flat.labels and rich.dropped == flat.dropped
    assert np.allclose(np.linalg.norm(rich.vectors, axis=1), 1, atol=1e-5)
    assert not np.allclose(rich.vectors, flat.vectors)
