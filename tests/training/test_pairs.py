"""Pairs of photos and texts, and the map trained on them."""

import numpy as np
import pytest
import torch

from xmodal.core.vectors import unit_rows
from xmodal.devise.model import DeviseModel, InputSpec
from xmodal.text.identity import SpaceIdentity
from xmodal.training.datasets import read_captions, read_labeled
from xmodal.training.evaluate import caption_retrieval
from xmodal.training.fit import TrainConfig, fit_pairs, pair_rank_loss
from xmodal.training.pairs import caption_pairs, join, label_pairs


def write_captions(folder):
    folder.mkdir()
    (folder / "captions.csv").write_text(
        "path,caption,split\n"
        "a.jpg,A dog runs .,train\n"
        "a.jpg,  a   brown dog,train\n"
        "b.jpg,Snow on a hill,val\n"
        "c.jpg,A dog runs .,train\n"
    )
    return folder


def test_captions_keep_each_photo_once_and_group_its_captions(tmp_path):
    data = read_captions(write_captions(tmp_path / "caps"))
    assert [p.name for p in data.photos] == ["a.jpg", "b.jpg", "c.jpg"]
    assert data.captions[1] == "a brown dog"  # spaces as typed are folded
    pairs = caption_pairs(data, "train")
    assert [p.name for p in pairs.photos] == ["a.jpg", "c.jpg"]
    assert pairs.texts == ("A dog runs .", "a brown dog")  # the same caption of two photos is one text
    assert pairs.photo.tolist() == [0, 0, 1]
    assert pairs.text.tolist() == [0, 1, 0]
    assert pairs.group.tolist() == [0, 0, 1]


def test_label_pairs_keep_unseen_classes_out_and_cap_each_class(tmp_path):
    rows = ["path,label,split,zero_shot_split"]
    rows += [f"{c}{i}.jpg,{c},train,{'unseen' if c == 'z' else 'seen'}" for c in "xyz" for i in range(4)]
    rows += ["v.jpg,x,val,seen"]
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    data = read_labeled(tmp_path)
    pairs = label_pairs(data, {"x": "an x", "y": "a y", "z": "a z"}, per_class=3)
    assert pairs.texts == ("an x", "a y")
    assert [p.name for p in pairs.photos] == ["x0.jpg", "x1.jpg", "x2.jpg", "y0.jpg", "y1.jpg", "y2.jpg"]
    assert pairs.group.tolist() == pairs.text.tolist() == [0, 0, 0, 1, 1, 1]


def test_joined_pairs_renumber_rows_and_groups(tmp_path):
    caps = caption_pairs(read_captions(write_captions(tmp_path / "caps")), "train")
    joined = join([caps, caps])
    assert len(joined) == 6 and len(joined.photos) == 4 and len(joined.texts) == 4
    assert joined.photo.tolist() == [0, 0, 1, 2, 2, 3]
    assert joined.group.tolist() == [0, 0, 1, 2, 2, 3]


def test_pair_rank_loss_by_hand():
    texts = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    output = torch.tensor([[1.0, 0.0], [1.0, 0.0]])  # the second photo looks like the first text
    same = torch.zeros(2, 2, dtype=torch.bool)
    # photo 1: its text scores 0, the wrong one 1 -> 1.1; photo 0: the wrong text scores 0 -> 0;
    # text 0 scores photo 1 as high as its own (1.0): 0.1; text 1 scores photo 0 as its own (0): 0.1.
    assert pair_rank_loss(output, texts, same, 0.1).item() == pytest.approx((1.1 + 0.1 + 0.1) / 2)
    assert pair_rank_loss(output, texts, torch.ones(2, 2, dtype=torch.bool), 0.1).item() == 0.0


def synthetic_captions(seed=0, photos=120, dim=8, words=6):
    """Photos whose features say what their caption says, through a hidden linear map,
    and classifier outputs that know nothing of it."""
    rng = np.random.default_rng(seed)
    hidden = rng.normal(size=(dim, words))
    features = rng.normal(size=(photos, dim)).astype(np.float32)
    texts = unit_rows((features @ hidden + 0.1 * rng.normal(size=(photos, words))).astype(np.float32))
    logits = rng.normal(size=(photos, 5)).astype(np.float32)
    classes = unit_rows(rng.normal(size=(5, words)).astype(np.float32))
    return features, logits, texts, classes


def test_the_trained_map_beats_its_conse_start_on_captions():
    features, logits, texts, classes = synthetic_captions()
    spec = InputSpec(("pooled", "conse"), top=3)
    from xmodal.devise.model import Standardizer, build_inputs

    std = Standardizer.fit(features)
    inputs = build_inputs(spec, features, logits, std)
    start = np.concatenate([np.zeros((features.shape[1], texts.shape[1]), np.float32), classes])
    train, val = np.arange(100), np.arange(100, 120)
    config = TrainConfig(epochs=30, batch_size=20, lr=0.01, mix=1.0, conse_lr=0.0)
    weight = fit_pairs(inputs[train], texts, train, train, train, config, init=start, conse_rows=slice(8, None))
    identity = SpaceIdentity("toy", "sha256:0", texts.shape[1], 6)
    before = DeviseModel(start, spec, identity, {}, [], std)
    after = DeviseModel(weight, spec, identity, {}, [], std, mix=1.0)
    score = lambda model: caption_retrieval(model.encode(features[val], logits[val]), texts[val], np.arange(20))
    assert score(after)["R@1"] > score(before)["R@1"] + 30
    assert np.array_equal(weight[8:], classes)  # conse_lr 0: the ConSE block did not move


def _pair_inputs():
    from xmodal.devise.model import Standardizer, build_inputs

    features, logits, texts, classes = synthetic_captions()
    inputs = build_inputs(InputSpec(("pooled", "conse"), top=3), features, logits, Standardizer.fit(features))
    start = np.concatenate([np.zeros((features.shape[1], texts.shape[1]), np.float32), classes])
    return inputs, texts, start, np.argmax(logits, axis=1)


def test_one_view_stacked_trains_as_the_photos_alone_and_more_views_train_on_each():
    inputs, texts, start, class_of = _pair_inputs()
    rows = np.arange(100)
    config = TrainConfig(epochs=3, batch_size=20, lr=0.01, mix=1.0, class_weight=0.5, views=2)
    kwargs = dict(init=start, conse_rows=slice(8, None))
    alone = fit_pairs(inputs[rows], texts, rows, rows, rows, config, classes=(start[8:], class_of[rows]), **kwargs)
    stacked = fit_pairs(inputs[rows][None], texts, rows, rows, rows, config, classes=(start[8:], class_of[rows][None]), **kwargs)
    assert np.array_equal(alone, stacked)
    # a second view that is noise: the map now learns from both, so it moves away from the first view's map
    noise = np.random.default_rng(1).normal(size=inputs[rows].shape).astype(np.float32)
    two = fit_pairs(np.stack([inputs[rows], noise]), texts, rows, rows, rows, config,
                    classes=(start[8:], np.stack([class_of[rows]] * 2)), **kwargs)
    assert np.abs(two - alone).max() > 1e-2


def test_each_pair_reads_its_own_photo_in_whichever_view_is_drawn():
    """Two identical views: whichever is drawn, a pair must read its own photo's row, so one
    epoch (the same batches; the draws change only later epochs' order) trains the same map."""
    inputs, texts, start, class_of = _pair_inputs()
    rows = np.arange(100)
    config = TrainConfig(epochs=1, batch_size=20, lr=0.01, mix=1.0, class_weight=0.5)
    kwargs = dict(init=start, conse_rows=slice(8, None))
    one = fit_pairs(inputs[rows], texts, rows, rows, rows, config, classes=(start[8:], class_of[rows]), **kwargs)
    two = fit_pairs(np.stack([inputs[rows]] * 2), texts, rows, rows, rows, config,
                    classes=(start[8:], np.stack([class_of[rows]] * 2)), **kwargs)
    assert np.allclose(one, two, atol=1e-6)


def test_averaged_weights_are_the_mean_of_each_epochs():
    inputs, texts, start, _ = _pair_inputs()
    rows = np.arange(100)
    fit = lambda epochs, average: fit_pairs(
        inputs[rows], texts, rows, rows, rows, TrainConfig(epochs=epochs, batch_size=20, lr=0.01, mix=1.0, average=average),
        init=start, conse_rows=slice(8, None),
    )
    first, second = fit(1, False), fit(2, False)
    assert np.allclose(fit(2, True), (first + second) / 2, atol=1e-6)
    assert not np.allclose(second, (first + second) / 2, atol=1e-3)


def test_views_are_one_to_six_and_left_out_of_the_record_at_their_defaults():
    from xmodal import XmodalError
    from xmodal.training.fit import TuneConfig, recorded

    with pytest.raises(XmodalError, match="views must be 1 to 6"):
        TrainConfig(views=7)
    with pytest.raises(XmodalError, match="phase 2 views must be 1 to 6"):
        TuneConfig(views=0)
    # a model made before these settings existed is rebuilt to the same bytes
    assert "views" not in recorded(TrainConfig()) and "average" not in recorded(TrainConfig())
    assert recorded(TrainConfig(views=6, average=True))["views"] == 6
    assert "views" not in recorded(TuneConfig(first=19)) and recorded(TuneConfig(first=19, views=2))["views"] == 2
