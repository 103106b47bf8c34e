"""xmodal.training.fit: the losses, the settings and the loops that fit the map."""

import numpy as np
import pytest
import torch

from tests.conftest import synthetic
from xmodal import XmodalError
from xmodal.training.evaluate import hit_at_k
from xmodal.training.fit import (
    LOSSES,
    TrainConfig,
    fit_map,
    l2_loss,
    rank_first_loss,
    rank_loss,
)

LABELS = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
GEN = torch.Generator().manual_seed(0)


def test_rank_loss_by_hand():
    # Output at 45 degrees between label 0 and 1: cos to labels = (.707, .707, -.707).
    output = torch.tensor([[2.0, 2.0]])
    target = torch.tensor([0])
    # wrong label 1: max(0, .1 - .707 + .707) = .1; wrong label 2: max(0, .1 - .707 - .707) = 0.
    assert float(rank_loss(output, target, LABELS, 0.1, GEN)) == pytest.approx(0.1, abs=1e-6)
    # A perfectly placed output violates nothing.
    assert float(rank_loss(torch.tensor([[3.0, 0.0]]), target, LABELS, 0.1, GEN)) == 0.0


def test_rank_first_loss_takes_one_violating_label():
    # Target 0, output (-1, .2): cosines (-.981, .196, .981); both wrong labels violate the
    # margin: label 1 by .1 + .981 + .196 = 1.277, label 2 by .1 + .981 + .981 = 2.061.
    output = torch.tensor([[-1.0, 0.2]])
    target = torch.tensor([0])
    values = {round(float(rank_first_loss(output, target, LABELS, 0.1, torch.Generator().manual_seed(s))), 3) for s in range(40)}
    assert values == {1.277, 2.061}  # one of the two violators, in random order
    total = float(rank_loss(output, target, LABELS, 0.1, GEN))
    assert total == pytest.approx(1.277 + 2.061, abs=2e-3)


def test_rank_first_loss_is_zero_without_violations():
    assert float(rank_first_loss(torch.tensor([[5.0, 0.0]]), torch.tensor([0]), LABELS, 0.1, GEN)) == 0.0


def test_l2_loss_is_on_the_raw_output():
    output = torch.tensor([[2.0, 0.0]])
    assert float(l2_loss(output, torch.tensor([0]), LABELS, 0.1, GEN)) == pytest.approx(1.0)


@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_every_loss_learns_a_separable_map(loss):
    x, y, labels = synthetic()
    weight = fit_map(x, y, labels, TrainConfig(loss=loss, epochs=60, batch_size=32, lr=0.05))
    out = x @ weight
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    assert hit_at_k(out, y, labels, ks=(1,))["hit@1"] > 0.95


def test_training_is_reproducible_and_anchor_holds_the_start():
    x, y, labels = synthetic()
    config = TrainConfig(epochs=5, batch_size=32, lr=0.05, seed=3)
    assert np.array_equal(fit_map(x, y, labels, config), fit_map(x, y, labels, config))
    start = np.random.default_rng(1).normal(size=(8, 3)).astype(np.float32)
    free = fit_map(x, y, labels, TrainConfig(epochs=10, batch_size=16, lr=0.05), init=start)
    held = fit_map(x, y, labels, TrainConfig(epochs=10, batch_size=16, lr=0.05, anchor=100.0), init=start)
    assert np.linalg.norm(held - start) < 0.5 * np.linalg.norm(free - start)


def test_training_optimises_the_centred_output():
    x, y, labels = synthetic()
    centre = np.full(3, 0.5, dtype=np.float32)
    config = TrainConfig(epochs=60, batch_size=32, lr=0.05)
    weight = fit_map(x, y, labels, config, centre=centre)
    out = x @ weight
    out = out / np.linalg.norm(out, axis=1, keepdims=True) - centre
    assert hit_at_k(out / np.linalg.norm(out, axis=1, keepdims=True), y, labels, ks=(1,))["hit@1"] > 0.95
    assert not np.allclose(weight, fit_map(x, y, labels, config))


def test_unknown_loss_is_a_clear_error():
    with pytest.raises(XmodalError, match="unknown loss 'hinge'"):
        TrainConfig(loss="hinge")
    with pytest.raises(XmodalError, match="centre must be 0 or more"):
        TrainConfig(centre=-1)


def test_distill_keeps_outputs_near_the_starting_map():
    x, y, labels = synthetic()
    start = np.random.default_rng(2).normal(size=(8, 3)).astype(np.float32)

    def drift(weight):
        a = x @ weight / np.linalg.norm(x @ weight, axis=1, keepdims=True)
        b = x @ start / np.linalg.norm(x @ start, axis=1, keepdims=True)
        return np.abs(a - b).mean()

    free = fit_map(x, y, labels, TrainConfig(epochs=10, batch_size=16, lr=0.05), init=start)
    held = fit_map(x, y, labels, TrainConfig(epochs=10, batch_size=16, lr=0.05, distill=100.0), init=start)
    assert drift(held) < 0.5 * drift(free)
