"""xmodal.devise.model: the map applied to visual outputs, and its file."""

import json

import numpy as np
import pytest

from tests.conftest import synthetic
from xmodal import IncompatibleSpace, XmodalError
from xmodal.devise.hubness import HubPenalty
from xmodal.devise.model import (
    DeviseModel,
    InputSpec,
    Standardizer,
    build_inputs,
    space_name,
    top_probabilities,
)
from xmodal.text.identity import SpaceIdentity


def test_top_probabilities_keeps_the_top_t_and_renormalises():
    logits = np.log(np.array([[0.5, 0.3, 0.15, 0.05]], dtype=np.float32))
    probs = top_probabilities(logits, top=2)
    assert np.allclose(probs, [[0.625, 0.375, 0, 0]], atol=1e-6)
    assert np.allclose(top_probabilities(logits, top=10), [[0.5, 0.3, 0.15, 0.05]], atol=1e-6)


def test_input_spec_builds_layers_side_by_side():
    features = np.array([[1.0, 2.0], [3.0, 6.0]], dtype=np.float32)
    logits = np.zeros((2, 3), dtype=np.float32)
    standardizer = Standardizer.fit(features)
    inputs = build_inputs(InputSpec.parse("pooled+conse", top=3), features, logits, standardizer)
    assert inputs.shape == (2, 5)
    assert np.allclose(inputs[:, :2], [[-1, -1], [1, 1]], atol=1e-5)
    assert np.allclose(inputs[:, 2:], 1 / 3)
    with pytest.raises(XmodalError, match="unknown input layer"):
        InputSpec.parse("pixels")
    with pytest.raises(XmodalError, match="has none"):
        build_inputs(InputSpec.parse("conse"), features, None, None)


def conse_model(centre):
    return DeviseModel(
        weight=np.eye(2, dtype=np.float32),  # class 0's word vector is (1, 0), class 1's (0, 1)
        spec=InputSpec(("conse",), top=2),
        space=SpaceIdentity("tiny", "sha256:abc", 2, 4),
        visual={"id": "efficientnet-lite0", "checksum": "sha256:123"},
        labels=["a", "b"],
        centre=centre,
    )


def test_a_centred_model_subtracts_the_centre_from_its_unit_output(tmp_path):
    logits = np.log(np.array([[0.75, 0.25]], dtype=np.float32))
    plain = conse_model(None).encode(None, logits)  # ConSE: (.75, .25) normalised
    assert np.allclose(plain, [[0.9487, 0.3162]], atol=1e-4)
    centred = conse_model(np.array([0.5, 0.5], dtype=np.float32))
    # (.9487 - .5, .3162 - .5) = (.4487, -.1838), normalised:
    assert np.allclose(centred.encode(None, logits), [[0.9253, -0.3791]], atol=1e-4)
    loaded = DeviseModel.load(centred.save(tmp_path / "c.safetensors"))
    assert np.array_equal(loaded.centre, centred.centre)
    assert np.allclose(loaded.encode(None, logits), centred.encode(None, logits))
    assert loaded.checksum() != conse_model(None).checksum()
    # A row with no output stays zero instead of becoming the centre's opposite.
    centred.weight = np.zeros((2, 2), dtype=np.float32)
    assert np.array_equal(centred.encode(None, logits), [[0, 0]])


def test_older_readers_cannot_mistake_a_centred_model_for_a_plain_one(tmp_path):
    from safetensors import safe_open
    from safetensors.numpy import save_file

    def file_format(model):
        with safe_open(str(model.save(tmp_path / "m.safetensors")), framework="numpy") as handle:
            return json.loads(handle.metadata()["xmodal"])["format"]

    assert file_format(conse_model(None)) == "xmodal-devise/1"
    assert file_format(conse_model(np.array([0.5, 0.5], dtype=np.float32))) == "xmodal-devise/2"
    meta = safe_open(str(tmp_path / "m.safetensors"), framework="numpy").metadata()  # a good centred model's
    tensors = {"weight": np.eye(2, dtype=np.float32), "centre": np.zeros(3, dtype=np.float32)}  # 3-d centre, 2-d map
    save_file(tensors, str(tmp_path / "bad"), meta)
    with pytest.raises(XmodalError, match="centre of shape"):
        DeviseModel.load(tmp_path / "bad")


def test_the_checksum_tells_apart_maps_that_keep_a_different_top_t():
    model = conse_model(None)
    other = conse_model(None)
    other.spec = InputSpec(("conse",), top=3)
    assert model.checksum() != other.checksum()


def make_model():
    x, y, labels = synthetic()
    return DeviseModel(
        weight=np.arange(16, dtype=np.float32).reshape(8, 2),
        spec=InputSpec(("pooled",)),
        space=SpaceIdentity("tiny", "sha256:abc", 2, 4),
        visual={"id": "efficientnet-lite0", "checksum": "sha256:123"},
        labels=["a", "b"],
        standardizer=Standardizer.fit(x),
        training={"loss": "rank"},
        evaluation={"hit@1": 0.5},
    ), x


def test_a_model_names_the_space_to_load_unless_one_is_named(tmp_path):
    """What the engine, the page and the CLI ask before load_space: text knows nothing of models."""
    path = make_model()[0].save(tmp_path / "m.safetensors")
    assert space_name(None, path) == space_name("default", path) == "tiny"  # the model knows where it was trained
    assert space_name("glove-6b-50d", path) == "glove-6b-50d"  # a named space wins
    assert space_name(None, None) is None  # neither: load_space's default


def test_save_and_load_round_trip(tmp_path):
    model, x = make_model()
    path = model.save(tmp_path / "m.safetensors")
    loaded = DeviseModel.load(path, space=model.space)
    assert np.array_equal(loaded.weight, model.weight)
    assert loaded.labels == ["a", "b"] and loaded.visual == model.visual
    assert loaded.evaluation == {"hit@1": 0.5} and loaded.spec == model.spec
    assert np.allclose(loaded.encode(x, None), model.encode(x, None))
    assert np.allclose(np.linalg.norm(loaded.encode(x, None), axis=1), 1, atol=1e-5)


def test_a_hub_penalty_travels_in_the_model_file_without_changing_the_map(tmp_path):
    model, x = make_model()
    plain = model.checksum()
    bank = np.array([[1, 0], [0.6, 0.8]], dtype=np.float16)
    model.hub = HubPenalty(bank, neighbours=1, weight=0.4)
    assert model.checksum() == plain  # query-side: the photo vectors, and so every index, are the same
    path = model.save(tmp_path / "m.safetensors")
    for hub in (DeviseModel.load(path).hub, DeviseModel.hub_of(path)):
        assert (hub.neighbours, hub.weight, hub.map) == (1, 0.4, plain)
        assert hub.bank.dtype == np.float32 and np.array_equal(hub.bank, bank.astype(np.float32))
    model.hub = None
    assert DeviseModel.hub_of(model.save(tmp_path / "none.safetensors")) is None


def test_loading_with_another_space_is_refused(tmp_path):
    model, _ = make_model()
    path = model.save(tmp_path / "m.safetensors")
    with pytest.raises(IncompatibleSpace, match="model m.safetensors was built with word space 'tiny'"):
        DeviseModel.load(path, space=SpaceIdentity("other", "sha256:def", 2, 4))


def test_bad_model_files_are_clear_errors(tmp_path):
    with pytest.raises(XmodalError, match="model file not found"):
        DeviseModel.load(tmp_path / "none.safetensors")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a model")
    with pytest.raises(XmodalError, match="not an xmodal model file"):
        DeviseModel.load(junk)
