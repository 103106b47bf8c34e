import json

import numpy as np
import pytest
from typer.testing import CliRunner

from cli.app import app
from tests.conftest import mean_colour_model
from xmodal import IncompatibleSpace, WordSpace, XmodalError
from xmodal.devise.encoder import Encoder
from xmodal.devise.model import InputSpec
from xmodal.training.datasets import read_labeled
from xmodal.training.fit import TrainConfig
from xmodal.training.train import train


@pytest.fixture
def trained(colour_photos, default_space, monkeypatch):
    """A colour model file, and load_visual patched to give its visual model by name."""
    import xmodal.vision.visual

    visual = mean_colour_model(None)
    monkeypatch.setattr(xmodal.vision.visual, "load_visual", lambda name: visual)
    data = read_labeled(colour_photos)
    config = TrainConfig(epochs=60, batch_size=8, lr=0.05)
    model = train(data, default_space, visual, config, InputSpec(("pooled",)), quiet=True).model
    return model.save(colour_photos / "colours.safetensors"), visual, data


def test_encodes_photos_like_the_model_does(trained, default_space):
    path, visual, data = trained
    encoder = Encoder.load(default_space, path)
    vectors = encoder.encode_images(data.paths[:4])
    assert vectors.shape == (4, 50)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    assert np.allclose(encoder.encode_image(data.paths[0]), vectors[0], atol=1e-6)
    colours = np.stack([default_space.vector(c) for c in ("red", "green", "blue")])
    truth = {"red": 0, "green": 1, "blue": 2}
    assert all((vectors @ colours.T).argmax(1) == [truth[label] for label in data.labels[:4]])


def test_a_cached_export_runs_without_torch(trained, default_space):
    """Once exported, the visual model a DeViSE file names loads from the cache: same vectors, no torch."""
    import subprocess
    import sys

    from xmodal.devise.model import DeviseModel
    from xmodal.vision.exported import find_export

    path, visual, data = trained  # training ran the visual model, so it is exported
    with_torch = Encoder(visual, DeviseModel.load(path)).encode_images(data.paths[:4])
    exported = find_export(visual.id, visual.weights_checksum)
    assert (exported.feature_dim, exported.image_size, exported.classes) == (3, 16, None)
    assert find_export(visual.id, "sha256:0000000000000000") is None  # other weights: another export
    probe = (
        "import sys, numpy as np; from xmodal import WordSpace; from xmodal.devise.encoder import Encoder; "
        f"space = WordSpace.load(); encoder = Encoder.load(space, {str(path)!r}); "
        f"np.save(sys.argv[1], encoder.encode_images({[str(p) for p in data.paths[:4]]!r})); "
        "print(type(encoder.visual).__name__, 'torch' in sys.modules)"
    )
    out = path.parent / "vectors.npy"
    done = subprocess.run([sys.executable, "-c", probe, str(out)], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["OnnxVisual", "False"]
    np.testing.assert_allclose(np.load(out), with_torch, atol=1e-6)


def test_refuses_a_model_from_another_space_or_visual_model(trained, tmp_path):
    path, visual, _ = trained
    (tmp_path / "v.txt").write_text("2 50\n" + "\n".join(f"w{i} " + " ".join(["0.1"] * 50) for i in range(2)) + "\n")
    with pytest.raises(IncompatibleSpace, match="colours.safetensors was built with word space 'glove-6b-50d'"):
        Encoder.load(WordSpace.load(tmp_path / "v.txt"), path)
    from xmodal.devise.model import DeviseModel

    with pytest.raises(XmodalError, match="was trained on mean-colour-0"):
        Encoder(mean_colour_model(["a", "b"]), DeviseModel.load(path))


def test_image_terms_in_words(trained, default_space):
    path, _, data = trained
    photo = data.paths[0]
    result = CliRunner().invoke(app, ["words", f"{photo} - 0.5*colour", "--model", str(path), "--json", "-k", "5"])
    assert result.exit_code == 0, result.output
    from xmodal.text.vocabulary import nearest_words

    encoder = Encoder.load(default_space, path)
    expected = encoder.encode_image(photo) - 0.5 * default_space.vector("colour")
    # a model without a text bank sums the photo with the words as typed; with a photo in it,
    # the expression asks among the vocabulary, as xmodal query --words does
    hits = nearest_words(default_space, expected / np.linalg.norm(expected), 5, None, {"colour"})
    assert [r["word"] for r in json.loads(result.output)["results"]] == [h.word for h in hits]


def test_the_shipped_model_belongs_to_the_default_space_and_visual_model(default_space):
    from safetensors import safe_open

    from xmodal.devise.encoder import DEFAULT_MODEL, SHIPPED
    from xmodal.devise.model import DeviseModel
    from xmodal.text.factory import load_space

    sentence = load_space()
    model = DeviseModel.load(DEFAULT_MODEL, space=sentence.identity)
    # Phase 2 with stock classes (docs/results.md): EfficientNet-Lite2's blocks 19-20 and head tuned,
    # its classes from the stock blocks beside them.
    assert model.visual["id"] == "efficientnet-lite2/tuned-from-block-19-stock-classes"
    assert model.visual["base"]["id"] == "efficientnet-lite2" and model.visual["stock_classes"] is True
    assert model.training["phase2"] == {
        "first": 19, "epochs": 7, "lr": 3e-4, "map_lr": 1e-4, "batch_size": 128, "seed": 0, "stock_classes": True,
        "average": True, "share_floor": 0.4,  # averaged over its 7 epochs, scene photos drawn at 0.4 (since 2026-12-08)
    }
    assert model.spec.layers == ("pooled", "conse") and model.spec.top == 13
    assert model.mix == 1.0 and model.centre is not None and model.weight.shape == (2280, 384)
    # Phase 1 on six views of each photo, its weights averaged over 8 epochs (since 2026-12-07).
    assert model.training["data"][0].endswith("flickr8k-captions") and model.training["epochs"] == 8
    assert model.training["views"] == 6 and model.training["average"] is True
    # The file written by `xmodal train` with the command in docs/results.md.
    assert model.checksum() == "sha256:48efe8ec4ca63788"
    # Its hub penalty (docs/search.md): the setting benchmarks/hubness.py chose on dev, and a bank of
    # 1,000 sampled captions, the 15 seen scene names and the 1,000 ImageNet class texts.
    assert (model.hub.neighbours, model.hub.weight, model.hub.map) == (20, 0.7, model.checksum())
    assert model.hub.bank.shape == (2015, 384)
    assert np.allclose(np.linalg.norm(model.hub.bank, axis=1), 1, atol=1e-2)
    with safe_open(str(DEFAULT_MODEL), framework="numpy") as handle:  # older xmodal refuses it
        assert json.loads(handle.metadata()["xmodal"])["format"] == "xmodal-devise/4"
    # The previous default still ships, for indexes built in GloVe.
    glove = DeviseModel.load(SHIPPED["glove-6b-50d"], space=default_space.identity)
    assert glove.visual["id"] == "efficientnet-lite0" and glove.spec.layers == ("conse",)
    with safe_open(str(SHIPPED["glove-6b-50d"]), framework="numpy") as handle:
        assert json.loads(handle.metadata()["xmodal"])["format"] == "xmodal-devise/2"


def test_the_shipped_model_names_real_photos(shared_set):
    """Imagenette photos (classes the map never trained on) land nearest their own ImageNet name."""
    from xmodal.text.factory import load_space
    from xmodal.text.labels import embed_labels, imagenet_labels
    from xmodal.training.datasets import read_labeled

    space = load_space()
    data = read_labeled(shared_set("imagenette-val"))
    picks = list(range(0, len(data), 200))  # 20 photos across the 10 classes
    vectors = Encoder.load(space).encode_images([data.paths[i] for i in picks])
    names = embed_labels(space, imagenet_labels("1k"), hierarchy_depth=1)
    wnids = [label.wnid for label in names.labels]
    predicted = [wnids[i] for i in (vectors @ names.vectors.T).argmax(1)]
    truth = [data.classes[data.labels[i]].wnid for i in picks]
    assert np.mean(np.array(predicted) == np.array(truth)) >= 0.6


def test_an_index_opened_with_another_named_model_is_refused_at_open(trained, tmp_path):
    """Before, a text search ran with the named model's hub penalty (or none) and only a
    photo search was refused: now the index is refused when it opens, as another space is."""
    import xmodal
    from xmodal.devise.encoder import SHIPPED

    path, _, data = trained
    index = tmp_path / "index"
    with xmodal.open(index, model=path, create=True) as engine:  # the colour model fills it
        engine.index(data.paths[0].parent)
    with pytest.raises(IncompatibleSpace, match="was built with another encoder .* use the model it was built with, or"):
        xmodal.open(index, model=SHIPPED["glove-6b-50d"])
    with xmodal.open(index, model=path) as engine:  # its own model still opens it: the refusal let the lock go
        assert engine.query("red", 1).results
