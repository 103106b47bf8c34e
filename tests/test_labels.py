import numpy as np
import pytest

from xmodal import XmodalError
from xmodal.labels import Label, embed_labels, imagenet_labels, label_matrix, parse_synonyms


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
