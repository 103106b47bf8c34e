"""Shared fixtures: a private cache per test session and tiny hand-made word spaces."""

from __future__ import annotations

import struct
import time
from datetime import datetime
from functools import partial
from pathlib import Path

import gensim
import numpy as np
import pytest
import torch
from gensim.models import KeyedVectors
from PIL import Image

from xmodal.devise.encoder import Encoder
from xmodal.devise.model import DeviseModel, InputSpec
from xmodal.text.identity import SpaceIdentity

GENSIM_DATA = Path(gensim.__file__).parent / "test" / "test_data"


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tests never read or write the user's real cache."""
    root = tmp_path_factory.mktemp("xmodal-cache")
    mp = pytest.MonkeyPatch()
    mp.setenv("XMODAL_CACHE_DIR", str(root))
    yield root
    mp.undo()


def tiny_vectors(cased: bool = False) -> KeyedVectors:
    """A 4-d space where king - man + woman = queen exactly, plus phrase material."""
    rows = {
        "king": [1, 1, 0, 0],
        "queen": [1, 0, 1, 0],
        "man": [0, 1, 0, 0],
        "woman": [0, 0, 1, 0],
        "dog": [0, 0, 0, 1],
        "dogs": [0.1, 0, 0, 1],
        "school": [1, 0, 0, 1],
        "bus": [0, 1, 0, 1],
        "royal": [1, 0.5, 0.5, 0],
        "family": [0, 0.5, 0.5, 0.2],
        "e-mail": [0.3, 0.3, 0.3, 0.3],
        "zero": [0, 0, 0, 0],
    }
    if cased:
        rows |= {"New_York": [0.5, 0.5, 0.5, 0.5], "Paris": [1, 0, 0, 0.5], "new": [0, 0, 1, 1]}
    else:
        rows |= {"school_bus": [0.2, 0.9, 0, 0.3]}
    vectors = KeyedVectors(4, count=0)
    vectors.add_vectors(list(rows), np.array(list(rows.values()), dtype=np.float32) * 3)
    return vectors


class MeanColour(torch.nn.Module):
    """Features are the mean preprocessed colour, so every row can be checked by hand;
    logits, when there are classes, are a fixed random linear function of them."""

    def __init__(self, classes: int | None) -> None:
        super().__init__()
        self.head = torch.nn.Linear(3, classes) if classes else None

    def forward(self, images):
        features = images.mean(dim=(2, 3))
        return features, (self.head(features) if self.head is not None else None)


def mean_colour_model(classes: list[str] | None):
    """A VisualModel that is cheap and exact: 16-px input, 3-d features; its export
    runs without torch (its preprocessing is EfficientNet's)."""
    from xmodal.vision.exported import tf_preprocess
    from xmodal.vision.visual import VisualModel

    torch.manual_seed(0)
    module = MeanColour(len(classes) if classes else None)
    name = f"mean-colour-{len(classes) if classes else 0}"
    return VisualModel(name, module, partial(tf_preprocess, size=16), 16, classes, preprocessing="tf")


class CountingEncoder(Encoder):
    """A cheap real encoder (mean colour -> 3-d 'word space') that counts what it embeds."""

    def __init__(self) -> None:
        visual = mean_colour_model(None)
        model = DeviseModel(
            weight=np.eye(3, dtype=np.float32),
            spec=InputSpec(("pooled",)),
            space=SpaceIdentity("tiny", "sha256:0", 3, 3),
            visual={"id": visual.id, "checksum": visual.weights_checksum},
            labels=[],
            standardizer=None,
        )
        super().__init__(visual, model)
        self.embedded: list[int] = []
        self.fail_after: int | None = None

    def embed_pixels(self, batch):
        if self.fail_after is not None and len(self.embedded) >= self.fail_after:
            raise KeyboardInterrupt
        self.embedded.append(len(batch))
        return batch.mean(axis=(2, 3)), batch.mean(axis=(2, 3))


def tiny_engine(index: Path):
    """An Engine on a new or tiny index filled by :class:`CountingEncoder`: indexing and
    photo look-alikes with no real model (no word space either: no text queries)."""
    from types import SimpleNamespace

    from xmodal.search.engine import Engine
    from xmodal.store import open_store

    encoder = CountingEncoder()
    return Engine(open_store(index, dim=3, visual_dim=3), SimpleNamespace(identity=encoder.model.space), None, encoder)


@pytest.fixture
def tiny_space():
    from xmodal import WordSpace

    return WordSpace.from_keyed_vectors(tiny_vectors(), "tiny")


@pytest.fixture
def cased_space():
    from xmodal import WordSpace

    return WordSpace.from_keyed_vectors(tiny_vectors(cased=True), "tiny-cased")


def camera_exif(taken: str | None = None, camera: str | None = None, offset: str | None = None) -> Image.Exif:
    """EXIF as a camera writes it: DateTimeOriginal (``2019:03:05 14:22:01``) and
    OffsetTimeOriginal (``+01:00``) in the Exif IFD, the model in IFD0."""
    exif = Image.Exif()
    if camera is not None:
        exif[272] = camera
    details = exif.get_ifd(0x8769)
    if taken is not None:
        details[36867] = taken
    if offset is not None:
        details[36881] = offset
    return exif


def add_exif(jpeg: Path, exif: Image.Exif) -> None:
    """Put ``exif`` into a JPEG as an APP1 segment after its start, without re-encoding
    it: the pixels, and so the photo's vectors, stay the same."""
    data, segment = jpeg.read_bytes(), exif.tobytes()
    jpeg.write_bytes(data[:2] + b"\xff\xe1" + struct.pack(">H", len(segment) + 2) + segment + data[2:])


@pytest.fixture
def paris_time():
    """This process's local time is Paris time (UTC+1, +2 in summer) during the test."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TZ", "Europe/Paris")
        time.tzset()
        yield
    time.tzset()


LABELED_COLOURS = {"red": (220, 20, 20), "green": (20, 200, 20), "blue": (20, 20, 220), "qwzxv": (128, 128, 128)}


@pytest.fixture
def colour_photos(tmp_path, monkeypatch):
    """Noisy solid-colour photos: 6 train and 3 val per colour, in a CSV."""
    monkeypatch.setenv("XMODAL_CACHE_DIR", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    lines = ["path,label,split"]
    for name, colour in LABELED_COLOURS.items():
        for i in range(9):
            pixels = np.clip(np.array(colour) + rng.normal(0, 25, size=(20, 20, 3)), 0, 255).astype(np.uint8)
            path = f"{name}/{i}.png"
            (tmp_path / name).mkdir(exist_ok=True)
            Image.fromarray(pixels).save(tmp_path / path)
            lines.append(f"{path},{name},{'train' if i < 6 else 'val'}")
    (tmp_path / "labels.csv").write_text("\n".join(lines) + "\n")
    return tmp_path


@pytest.fixture(scope="session")
def default_space():
    from xmodal import WordSpace

    return WordSpace.load()


SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_set(tmp_path_factory: pytest.TempPathFactory):
    """``shared_set("cifar10")``: a real photo set from ../shared/data, unpacked once per
    session on first use; the test skips when ../shared/data is absent."""
    import tarfile

    unpacked: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in unpacked:
            archives = sorted(SHARED_DATA.glob(f"{name}.tar*"))
            if not archives:
                pytest.skip(f"../shared/data/{name} is absent")
            root = tmp_path_factory.mktemp(name)
            with tarfile.open(archives[0]) as tar:
                tar.extractall(root, filter="data")
            unpacked[name] = root / name
        return unpacked[name]

    return get


EXAMPLE_PHOTOS = Path(__file__).resolve().parents[1] / "docs" / "photos"


@pytest.fixture(scope="session")
def served_photos(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The example photos indexed once for the serve tests (API and browser): one in a
    subfolder under a name with a space, and ``gone.jpg``, indexed and then deleted.
    ``my camera.jpg`` has EXIF (taken 2019-03-05 14:22:01, a Hasselblad 500C/M);
    the others are dated by their files' times: rocket.jpg 2015-06-01, the rest 2024-06-01."""
    import os
    import shutil

    from PIL import ImageOps

    import xmodal

    root = tmp_path_factory.mktemp("served")
    photos = root / "photos"
    shutil.copytree(EXAMPLE_PHOTOS, photos)
    (photos / "few").mkdir()
    (photos / "camera.jpg").rename(photos / "few" / "my camera.jpg")
    with Image.open(photos / "chelsea.jpg") as image:
        ImageOps.mirror(image).save(photos / "gone.jpg")
    add_exif(photos / "few" / "my camera.jpg", camera_exif("2019:03:05 14:22:01", "Hasselblad 500C/M"))
    for photo in photos.rglob("*.jpg"):
        moment = "2015-06-01T12:00:00+00:00" if photo.name == "rocket.jpg" else "2024-06-01T12:00:00+00:00"
        stamp = datetime.fromisoformat(moment).timestamp()
        os.utime(photo, (stamp, stamp))
    index = root / "index"
    with xmodal.open(index, create=True) as engine:
        assert engine.index(photos).added == 13
    (photos / "gone.jpg").unlink()
    return photos, index


@pytest.fixture(scope="session")
def photo_copies(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The example photos with copies in ``copies/``, indexed once for the duplicates tests:
    an exact copy of chelsea.jpg, astronaut.jpg at half size, and coffee.jpg cropped by 8 %
    on each edge and re-encoded at JPEG quality 40. The rest are distinct photos."""
    import shutil

    import xmodal

    root = tmp_path_factory.mktemp("copies")
    photos = root / "photos"
    shutil.copytree(EXAMPLE_PHOTOS, photos)
    copies = photos / "copies"
    copies.mkdir()
    shutil.copyfile(photos / "chelsea.jpg", copies / "chelsea copy.jpg")
    with Image.open(photos / "astronaut.jpg") as image:
        image.resize((image.width // 2, image.height // 2), Image.Resampling.LANCZOS).save(copies / "astronaut half.jpg", quality=90)
    with Image.open(photos / "coffee.jpg") as image:
        width, height = image.size
        image.crop((width * 8 // 100, height * 8 // 100, width * 92 // 100, height * 92 // 100)).save(
            copies / "coffee crop.jpg", quality=90
        )
        image.save(copies / "coffee q40.jpg", quality=40)
    index = root / "index"
    with xmodal.open(index, create=True) as engine:
        assert engine.index(photos).added == 16
    return photos, index


def synthetic(n_per_class=40, seed=0):
    """Four labels in a 3-d word space; 8-d features that are a noisy linear image of them."""
    rng = np.random.default_rng(seed)
    labels = rng.normal(size=(4, 3)).astype(np.float32)
    labels /= np.linalg.norm(labels, axis=1, keepdims=True)
    mixing = rng.normal(size=(3, 8))
    y = np.repeat(np.arange(4), n_per_class)
    x = (labels[y] @ mixing + 0.1 * rng.normal(size=(len(y), 8))).astype(np.float32)
    return x, y, labels
