"""DeViSE phase 2: the fine-tuned top trains, is stored in the model file, exports and loads,
and an index built with the stock tower is told to re-index."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

import xmodal
from xmodal.core.errors import XmodalError
from xmodal.devise.encoder import SHIPPED, Encoder
from xmodal.devise.model import TUNED_FORMAT, DeviseModel, _read_file
from xmodal.training.finetune import MapModule, TunedTower, finetune
from xmodal.training.fit import TrainConfig, TuneConfig
from xmodal.training.pairs import Pairs
from xmodal.vision.features import extract_features
from xmodal.vision.visual import tower_split

PHOTOS = Path(__file__).resolve().parents[2] / "docs" / "photos"
FIRST = 19  # the last two blocks: the smallest top that still has blocks, to keep the test quick
TEXTS = {
    "astronaut": "an astronaut in a white space suit", "brick": "a red brick wall",
    "camera": "a man holding an old camera", "chelsea": "a tabby cat", "clock_motion": "a clock on a wall",
    "coffee": "a cup of coffee", "coins": "old coins on a table", "grass": "green grass",
    "gravel": "grey gravel stones", "hubble_deep_field": "galaxies in the night sky",
    "retina": "an eye's retina", "rocket": "a rocket launching into the sky",
}


@pytest.fixture(scope="module")
def space():
    from xmodal.text.sentences import SentenceSpace

    return SentenceSpace.load()


def stock_model(space) -> DeviseModel:
    """The shipped model's map on the stock EfficientNet-Lite2 tower: phase 2's start."""
    model = DeviseModel.load(SHIPPED["all-minilm-l6-v2"], space=space.identity)
    return dataclasses.replace(model, visual=model.visual.get("base", model.visual), top=None)


def test_the_torch_map_is_devise_encode(space):
    model = stock_model(space)
    rng = np.random.default_rng(0)
    features = rng.gamma(1.0, 0.3, size=(16, 1280)).astype(np.float32)
    logits = rng.normal(0.0, 3.0, size=(16, 1000)).astype(np.float32)
    with torch.no_grad():
        ours = MapModule(model)(torch.from_numpy(features), torch.from_numpy(logits)).numpy()
    assert np.abs(ours - model.encode(features, logits)).max() < 1e-5


def test_the_bottom_and_top_are_the_whole_network():
    from xmodal.vision.visual import load_visual

    bottom, top = tower_split("efficientnet-lite2", FIRST)
    pixels = np.random.default_rng(1).normal(size=(2, 3, 260, 260)).astype(np.float32)
    with torch.no_grad():
        features, logits = top(torch.from_numpy(bottom.embed(pixels)[0]))
    whole = load_visual("efficientnet-lite2").embed(pixels)
    assert np.abs(features.numpy() - whole[0]).max() < 1e-3
    assert np.abs(logits.numpy() - whole[1]).max() < 1e-3


def test_only_efficientnet_lite_blocks_that_exist_are_tuned():
    with pytest.raises(XmodalError, match="blocks 0-20"):
        tower_split("efficientnet-lite2", 21)
    with pytest.raises(XmodalError, match="EfficientNet-Lite"):
        tower_split("openclip:ViT-B-32:none", 19)


@pytest.fixture(scope="module")
def tuned(space, tmp_path_factory) -> tuple[Path, DeviseModel, np.ndarray, list[Path], tuple[float, float]]:
    """A model fine-tuned for a few steps on the twelve example photos, saved to a file."""
    photos = sorted(PHOTOS.glob("*.jpg"))
    pairs = Pairs(
        tuple(photos), tuple(TEXTS[p.stem] for p in photos), np.arange(12), np.arange(12), np.arange(12)
    )
    bottom, top = tower_split("efficientnet-lite2", FIRST)
    activations = np.asarray(extract_features(photos, bottom, quiet=True)[0])
    start = stock_model(space)
    texts = space.encode(list(pairs.texts))
    classes = np.eye(1000, space.dim, dtype=np.float32)  # stand-ins: the test is about the pair loss
    config = TuneConfig(first=FIRST, epochs=6, lr=1e-3, map_lr=1e-3, batch_size=6)
    before = _recall(TunedTower(top, start).eval(), activations, texts)
    model = finetune(start, top, activations, pairs, texts, classes, TrainConfig(class_weight=0.0), config)
    after = _recall(TunedTower(top, model).eval(), activations, texts)
    path = model.save(tmp_path_factory.mktemp("tuned") / "tuned.safetensors")
    return path, model, activations, photos, (before, after)


def _recall(tower: TunedTower, activations: np.ndarray, texts: np.ndarray) -> float:
    """How often a text's own photo is the nearest of the twelve."""
    with torch.no_grad():
        photos = tower(torch.from_numpy(activations)).numpy()
    return float((np.argmax(texts @ photos.T, axis=1) == np.arange(len(texts))).mean())


def test_fine_tuning_fits_the_pairs_better(tuned):
    _, model, _, _, (before, after) = tuned
    assert after > before, (before, after)
    assert model.visual["id"] == f"efficientnet-lite2/tuned-from-block-{FIRST}"
    assert model.visual["checksum"] != model.visual["base"]["checksum"]
    assert model.training["phase2"]["epochs"] == 6


def test_the_model_file_stores_the_top_in_float16(tuned):
    path, model, _, _, _ = tuned
    meta, tensors = _read_file(path)
    assert meta["format"] == TUNED_FORMAT
    stored = {k: v for k, v in tensors.items() if k.startswith("visual_top.")}
    assert stored and all(v.dtype == np.float16 for v in stored.values())
    assert not any(k.startswith("visual_top.fc.") for k in stored)  # the classifier is the shipped one
    loaded = DeviseModel.load(path)
    assert loaded.visual == model.visual
    assert set(loaded.top) == set(model.top)


def test_the_tuned_tower_exports_and_loads_as_its_own_visual_model(tuned, space):
    path, model, activations, photos, _ = tuned
    first = Encoder.load(space, path)  # no export yet: built in torch from the file's top, exported
    assert first.visual.id == model.visual["id"]
    assert first.visual.weights_checksum == model.visual["checksum"]
    vectors = first.encode_images(photos[:3])  # pixels -> the exported whole network -> the map
    _, top = tower_split("efficientnet-lite2", FIRST)
    top.load_state_dict({k: torch.from_numpy(v.astype(np.float32)) for k, v in model.top.items()}, strict=False)
    with torch.no_grad():  # the same photos through the cached bottom and the top in torch
        reference = TunedTower(top, model).eval()(torch.from_numpy(activations[:3])).numpy()
    assert np.abs(vectors - reference).max() < 1e-3
    again = Encoder.load(space, path)  # now from the cached export, without building the network
    assert type(again.visual).__name__ == "OnnxVisual"
    assert np.abs(again.encode_images(photos[:3]) - vectors).max() < 1e-5


def test_an_index_built_with_the_stock_tower_is_told_to_reindex(tuned, space, tmp_path):
    path, model, _, _, _ = tuned
    stock = dataclasses.replace(  # another map too, as phase 1 and phase 2 have: so the open-time check is met
        model, visual=model.visual["base"], top=None, weight=model.weight * 1.01
    ).save(tmp_path / "stock.safetensors")
    with xmodal.open(tmp_path / "index", create=True, model=stock) as engine:
        engine.index(PHOTOS)
    with xmodal.open(tmp_path / "index", model=path) as engine:
        with pytest.raises(xmodal.XmodalError, match="stock efficientnet-lite2 tower.*re-index"):
            engine.index(PHOTOS)
        assert engine.search("a tabby cat", k=1)  # text searches keep working until then


def test_an_epoch_draws_one_pair_a_photo_with_the_pairs_own_weights():
    from xmodal.training.finetune import epoch_pairs

    photo_of_pair = np.array([0, 0, 0, 0, 0, 1, 2, 2, 2, 2, 2, 3])  # two captioned photos, two scene photos
    rng = np.random.default_rng(0)
    epochs = [epoch_pairs(photo_of_pair, rng) for _ in range(4000)]
    assert all(len(set(photo_of_pair[e])) == len(e) for e in epochs)  # at most one pair of a photo
    assert all({0, 2} <= set(photo_of_pair[e]) for e in epochs)  # the photos with the most pairs, always
    used = np.bincount(np.concatenate(epochs), minlength=12) / len(epochs)
    assert np.allclose(used, 0.2, atol=0.03), used  # every pair as often as every other, as in phase 1
    rng = np.random.default_rng(0)
    floored = [epoch_pairs(photo_of_pair, rng, 0.5) for _ in range(4000)]
    used = np.bincount(np.concatenate(floored), minlength=12) / len(floored)
    assert np.allclose(used[[5, 11]], 0.5, atol=0.03) and np.allclose(used[:5], 0.2, atol=0.03), used  # scene photos up


def test_stock_classes_tune_the_features_and_keep_the_networks_classes(space, tmp_path):
    """With ``stock_classes`` the exported network gives the tuned top's features and the stock
    top's classes, and the map sees the same two in training and in the export."""
    from xmodal.vision.visual import load_visual

    photos = sorted(PHOTOS.glob("*.jpg"))[:6]
    pairs = Pairs(tuple(photos), tuple(TEXTS[p.stem] for p in photos), np.arange(6), np.arange(6), np.arange(6))
    bottom, top = tower_split("efficientnet-lite2", FIRST)
    stock_top = copy.deepcopy(top)
    activations = np.asarray(extract_features(photos, bottom, quiet=True)[0])
    config = TuneConfig(first=FIRST, epochs=3, lr=1e-3, map_lr=1e-3, batch_size=6, stock_classes=True)
    texts = space.encode(list(pairs.texts))
    classes = np.eye(1000, space.dim, dtype=np.float32)
    model = finetune(stock_model(space), top, activations, pairs, texts, classes, TrainConfig(class_weight=0.0), config)
    assert model.visual["id"] == f"efficientnet-lite2/tuned-from-block-{FIRST}-stock-classes"
    assert model.visual["stock_classes"] is True
    path = model.save(tmp_path / "stock-classes.safetensors")

    encoder = Encoder.load(space, path)
    assert encoder.visual.id == model.visual["id"] and encoder.visual.weights_checksum == model.visual["checksum"]
    pixels = np.random.default_rng(2).normal(size=(2, 3, 260, 260)).astype(np.float32)
    features, logits = encoder.visual.embed(pixels)
    stock_features, stock_logits = load_visual("efficientnet-lite2").embed(pixels)
    assert np.abs(logits - stock_logits).max() < 1e-3  # the classes are the stock network's
    assert np.abs(features - stock_features).max() > 1e-2  # the features are the tuned top's
    with torch.no_grad():  # the export against the torch tower phase 2 trained and scored
        reference = TunedTower(top, model, stock_top).eval()(torch.from_numpy(activations[:3])).numpy()
    assert np.abs(encoder.encode_images(photos[:3]) - reference).max() < 1e-3


def test_views_of_the_photos_each_train_and_one_view_is_the_photos_alone(space):
    """A list of one view trains as the array alone; with a second view (the photos' mirror
    images) the pairs read both, so the tuned top differs; views must match the photos."""
    from xmodal.training.views import view_files

    photos = sorted(PHOTOS.glob("*.jpg"))[:6]
    pairs = Pairs(tuple(photos), tuple(TEXTS[p.stem] for p in photos), np.arange(6), np.arange(6), np.arange(6))
    bottom, top = tower_split("efficientnet-lite2", FIRST)
    whole = np.asarray(extract_features(photos, bottom, quiet=True)[0])
    mirror = np.asarray(extract_features(view_files(photos, "mirror"), bottom, quiet=True)[0])
    texts = space.encode(list(pairs.texts))
    classes = np.eye(1000, space.dim, dtype=np.float32)
    config = TuneConfig(first=FIRST, epochs=2, lr=1e-3, map_lr=1e-3, batch_size=6, stock_classes=True)

    def run(activations):
        return finetune(stock_model(space), copy.deepcopy(top), activations, pairs, texts, classes, TrainConfig(class_weight=0.5), config)

    alone, listed, both = run(whole), run([[whole[:4], whole[4:]]]), run([whole, mirror])
    assert np.array_equal(alone.weight, listed.weight)  # a view in parts (one per set) is the same view
    assert all(np.array_equal(alone.top[k], listed.top[k]) for k in alone.top)
    assert np.abs(both.weight - alone.weight).max() > 1e-4
    with pytest.raises(ValueError, match="rows of activations for 6 photos"):
        run([whole, mirror[:5]])


def test_averaged_weights_are_the_mean_of_the_epochs_and_leave_training_on_its_path(space):
    """``average``: the model after epoch N holds the mean of the first N epochs' map and top
    (the top within float16's rounding), while training goes on from each epoch's own weights."""
    photos = sorted(PHOTOS.glob("*.jpg"))[:6]
    pairs = Pairs(tuple(photos), tuple(TEXTS[p.stem] for p in photos), np.arange(6), np.arange(6), np.arange(6))
    bottom, top = tower_split("efficientnet-lite2", FIRST)
    activations = np.asarray(extract_features(photos, bottom, quiet=True)[0])
    texts = space.encode(list(pairs.texts))
    classes = np.eye(1000, space.dim, dtype=np.float32)

    def run(average: bool) -> list[DeviseModel]:
        config = TuneConfig(first=FIRST, epochs=3, lr=1e-3, map_lr=1e-3, batch_size=6, stock_classes=True, average=average)
        seen: list[DeviseModel] = []
        finetune(stock_model(space), copy.deepcopy(top), activations, pairs, texts, classes, TrainConfig(class_weight=0.5),
                 config, on_epoch=lambda epoch, model: seen.append(model))
        return seen

    plain, averaged = run(False), run(True)
    for n in (1, 2, 3):
        assert np.allclose(averaged[n - 1].weight, np.mean([m.weight for m in plain[:n]], axis=0), atol=1e-6)
        for key in plain[0].top:
            mean = np.mean([m.top[key].astype(np.float32) for m in plain[:n]], axis=0)
            assert np.allclose(averaged[n - 1].top[key].astype(np.float32), mean, rtol=2e-3, atol=1e-4), key
    assert np.abs(averaged[2].weight - plain[2].weight).max() > 1e-5  # so the check above can tell
    assert averaged[2].training["phase2"]["average"] is True and "average" not in plain[2].training["phase2"]
