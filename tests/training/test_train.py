import json

import numpy as np
import pytest
from typer.testing import CliRunner

from cli.app import app
from tests.conftest import mean_colour_model
from xmodal import XmodalError
from xmodal.devise.model import DeviseModel, InputSpec
from xmodal.text.labels import imagenet_labels
from xmodal.text.words import WordSpace
from xmodal.training.baselines import conse
from xmodal.training.datasets import read_labeled
from xmodal.training.fit import TrainConfig
from xmodal.training.train import (
    class_centre,
    classifier_label_matrix,
    evaluate,
    train,
    visual_outputs,
)

FAST = TrainConfig(epochs=60, batch_size=8, lr=0.05)


def test_trains_a_map_that_finds_the_right_colour(colour_photos, default_space):
    visual = mean_colour_model(None)
    data = read_labeled(colour_photos)
    result = train(data, default_space, visual, FAST, InputSpec(("pooled",)), quiet=True)
    assert result.dropped == ["qwzxv"]  # no word vector: reported and left out, not invented
    assert sorted(result.model.labels) == ["blue", "green", "red"]
    assert result.images == 18
    assert result.model.training["dropped_labels"] == ["qwzxv"]
    scores = evaluate(result.model, data, default_space, visual, quiet=True)
    assert scores["all"]["hit@1"] == 1.0


def test_seen_split_trains_only_seen_classes_and_reports_zero_shot(colour_photos, default_space):
    visual = mean_colour_model(None)
    data = read_labeled(colour_photos)
    split = ({"red"}, {"green", "blue"})
    result = train(data, default_space, visual, FAST, InputSpec(("pooled",)), seen=split[0], quiet=True)
    assert result.model.labels == ["red"]
    scores = evaluate(result.model, data, default_space, visual, split, quiet=True)
    assert set(scores) == {"seen", "zero-shot", "generalized"}
    assert scores["seen"]["hit@1"] == 1.0  # one seen label
    # Zero-shot, by hand: each green or blue val photo against the two unseen labels only.
    val = data.select(data.in_split("val") & data.of_classes(split[1]))
    photos = result.model.encode(*visual_outputs(visual, val.paths, quiet=True))
    names = ["green", "blue"]
    vectors = np.stack([default_space.vector(name) for name in names])
    by_hand = np.mean([names[i] == label for i, label in zip((photos @ vectors.T).argmax(1), val.labels)])
    assert scores["zero-shot"]["hit@1"] == pytest.approx(by_hand)
    # Generalized: against all three labels, seen photos can only lose hits, and H is S and U's harmonic mean.
    g = scores["generalized"]
    assert g["seen"] <= scores["seen"]["hit@1"] and g["unseen"] <= scores["zero-shot"]["hit@1"]
    assert g["H"] == pytest.approx(2 * g["seen"] * g["unseen"] / (g["seen"] + g["unseen"]) if g["seen"] + g["unseen"] else 0)


@pytest.mark.parametrize("centre", [0.0, 1.0])
def test_a_map_reading_the_classifier_starts_at_conse_or_centred_conse(colour_photos, default_space, centre):
    """With no steps the map is ConSE; centred, ConSE minus the class vectors' mean, renormalised."""
    visual = mean_colour_model([label.name for label in imagenet_labels("1k")])
    data = read_labeled(colour_photos)
    model = train(data, default_space, visual, TrainConfig(epochs=0, centre=centre), InputSpec(("conse",), top=13),
                  quiet=True).model
    _, logits = visual_outputs(visual, data.paths, quiet=True)
    classes = classifier_label_matrix(default_space, visual)
    plain = conse(np.asarray(logits), classes, top=13)
    expected = plain - centre * classes[np.linalg.norm(classes, axis=1) > 0].mean(axis=0)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    assert np.allclose(model.encode(None, np.asarray(logits)), expected, atol=1e-5)
    assert np.allclose(expected, plain, atol=1e-2) == (centre == 0)
    assert model.usable is not None and not model.usable.all()  # some ImageNet names have no GloVe vector
    reloaded = DeviseModel.load(model.save(colour_photos / "conse.safetensors"))
    assert np.array_equal(reloaded.usable, model.usable)
    assert np.allclose(reloaded.encode(None, np.asarray(logits)), expected, atol=1e-5)


def test_centring_needs_the_classifier_input(colour_photos, default_space):
    data = read_labeled(colour_photos)
    with pytest.raises(XmodalError, match="centring needs the conse input"):
        train(data, default_space, mean_colour_model(None), TrainConfig(centre=1.0), InputSpec(("pooled",)), quiet=True)


def test_a_centre_as_long_as_an_output_is_refused():
    classes = np.array([[0.6, 0.8], [0.6, -0.8], [0.0, 0.0]], dtype=np.float32)  # mean of usable rows: (.6, 0)
    usable = np.array([True, True, False])
    assert np.allclose(class_centre(classes, usable, 1.0), [0.6, 0])
    with pytest.raises(XmodalError, match="use less than 1.67"):
        class_centre(classes, usable, 2.0)


def test_no_steps_on_a_map_with_no_meaningful_start_is_refused(colour_photos, default_space):
    data = read_labeled(colour_photos)
    with pytest.raises(XmodalError, match="epochs 0 keeps the starting map"):
        train(data, default_space, mean_colour_model(None), TrainConfig(epochs=0), InputSpec(("pooled",)), quiet=True)


def test_classifier_start_needs_a_classifier(default_space):
    with pytest.raises(XmodalError, match="has no ImageNet-1k classifier"):
        classifier_label_matrix(default_space, mean_colour_model(None))


def test_train_and_eval_commands(colour_photos, monkeypatch, tmp_path):
    import xmodal.vision.visual

    monkeypatch.setattr(xmodal.vision.visual, "load_visual", lambda name="x": mean_colour_model(None))
    runner = CliRunner()
    out = tmp_path / "colours.safetensors"
    args = ["train", str(colour_photos), "--out", str(out), "--epochs", "60", "--batch-size", "8", "--lr", "0.05", "-q", "--space", "glove-6b-50d"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "left out 1 labels with no word vector: qwzxv" in result.output
    model = DeviseModel.load(out)
    assert model.evaluation["all"]["hit@1"] == 1.0
    result = runner.invoke(app, ["eval", str(out), str(colour_photos), "--json", "-q"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["all"]["hit@1"] == 1.0


def test_train_command_with_no_steps_writes_centred_conse(colour_photos, monkeypatch, tmp_path):
    import xmodal.vision.visual

    visual = mean_colour_model([label.name for label in imagenet_labels("1k")])
    monkeypatch.setattr(xmodal.vision.visual, "load_visual", lambda name="x": visual)
    out = tmp_path / "centred.safetensors"
    args = ["train", str(colour_photos), "--input", "conse", "--top", "13", "--centre", "1", "--epochs", "0", "-q",
            "--out", str(out), "--space", "glove-6b-50d"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    model = DeviseModel.load(out)
    assert model.spec.top == 13 and model.centre is not None and model.training["epochs"] == 0
    classes = classifier_label_matrix(WordSpace.load(), visual)
    assert np.allclose(model.weight, classes)  # no step taken


def test_train_command_refuses_centring_a_pooled_map(colour_photos, monkeypatch, tmp_path):
    import xmodal.vision.visual

    monkeypatch.setattr(xmodal.vision.visual, "load_visual", lambda name="x": mean_colour_model(None))
    result = CliRunner().invoke(app, ["train", str(colour_photos), "--centre", "1", "-q", "--out", str(tmp_path / "m")])
    assert result.exit_code == 1
    assert "centring needs the conse input" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "nowhere"], "labeled data not found: nowhere"),
        (["train", ".", "--loss", "hinge"], "unknown loss 'hinge'"),
        (["train", ".", "--input", "pixels"], "unknown input layer"),
        (["eval", "none.safetensors", "."], "model file not found: none.safetensors"),
        (["train", "a", "b", "--tune-from", "19"], "--tune-from fine-tunes a mixed, centred pooled+conse map: add --input pooled+conse"),
        (["train", ".", "--tune-from", "19"], "--hub-weight, --tune-from and --views are for pair training"),
        (["train", ".", "--views", "2"], "--hub-weight, --tune-from and --views are for pair training"),
        (["train", ".", "--tune-share-floor", "2"], "phase 2's share floor must be 0 to 1, not 2.0"),
    ],
)
def test_train_and_eval_errors_are_one_line(args, message):
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output


def test_an_int8_copy_never_reads_the_fp32_features_cache(monkeypatch, tmp_path):
    """An int8 network has its fp32 export's id and checksum; its cached outputs must be its own."""
    from types import SimpleNamespace

    import xmodal.vision.features
    from xmodal.training.train import visual_outputs

    caches = []
    monkeypatch.setattr(xmodal.vision.features, "extract_features", lambda paths, visual, cache, quiet: caches.append(cache))
    visual = SimpleNamespace(id="efficientnet-lite2/tuned-from-block-19-stock-classes", weights_checksum="sha256:96414400a085a9af")
    for precision in ("fp32", "int8"):
        visual_outputs(SimpleNamespace(**vars(visual), precision=precision), [tmp_path / "a.jpg"])
    visual_outputs(visual, [tmp_path / "a.jpg"])  # a torch model: no precision, fp32
    assert caches[0] != caches[1] and caches[0] == caches[2]
    assert "model-int8-v2" in caches[1].parent.name  # a new int8 recipe (a new file) never reads the old one's


def test_pair_training_reads_views_of_each_photo(tmp_path, monkeypatch):
    """``views`` > 1 writes each photo's mirror image and crops into the cache once, trains on
    them beside the photos, and says so in the model file."""
    import shutil
    from pathlib import Path

    from xmodal.training.train import train_pairs
    from xmodal.vision.visual import load_visual

    monkeypatch.setenv("XMODAL_CACHE_DIR", str(tmp_path / "cache"))
    photos = sorted((Path(__file__).resolve().parents[2] / "docs" / "photos").glob("*.jpg"))
    folder = tmp_path / "captions"
    folder.mkdir()
    lines = ["path,caption,split"]
    for photo in photos:
        shutil.copy(photo, folder / photo.name)
        lines.append(f"{photo.name},a photo of {photo.stem.replace('_', ' ')},train")
    (folder / "captions.csv").write_text("\n".join(lines) + "\n")
    visual = load_visual("efficientnet-lite0")
    spec = InputSpec(("pooled", "conse"), top=13)
    space = WordSpace.load()

    def run(views):
        config = TrainConfig(epochs=2, batch_size=4, mix=1.0, centre=1.0, class_weight=0.5, views=views, average=True)
        return train_pairs([folder], space, visual, config, spec, quiet=True).model

    one, three = run(1), run(3)
    for name in ("mirror", "crop1"):
        assert len(list((tmp_path / "cache" / "views" / "v1" / name).rglob("*.jpg"))) == len(photos)
    assert not (tmp_path / "cache" / "views" / "v1" / "crop2").exists()
    assert three.training["views"] == 3 and three.training["average"] is True
    assert "views" not in one.training and one.training["average"] is True  # views 1: left out of the record
    assert np.abs(three.weight - one.weight).max() > 1e-4
