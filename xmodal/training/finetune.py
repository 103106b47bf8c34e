"""DeViSE phase 2: the top of the visual model fine-tuned together with the map.

The paper's second phase "assembles the entire model and fine-tunes" the lower
layers with the same rank loss. On two CPU cores the whole network is out of
reach, but the top blocks are not: the activations below block ``first`` are
computed once per photo and cached (``xmodal.vision.visual.tower_split`` gives the
bottom as a visual model of its own), and each epoch runs only the blocks from
``first`` up, the head, the classifier and the map, in torch. BatchNorm keeps
its ImageNet statistics (the module stays in eval mode; a batch of 128 photos
is too few to re-estimate them). The classifier stays frozen: the map reads
its top-13 probabilities, and the class-text loss keeps each photo near the
text of its stock top class, so what the network knew of ImageNet stays.

Each epoch sees every photo once, with one of its texts drawn at random (a
Flickr8k photo has five captions), under the pair loss of phase 1
(``devise.pair_rank_loss``) plus ``class_weight`` times the class-text rank
loss. The result is a visual model of its own (a new id and weights checksum,
its top stored in the DeViSE model file as float16) and the map trained with it.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from xmodal.core.errors import XmodalError
from xmodal.devise.model import DeviseModel
from xmodal.training.fit import TrainConfig, TuneConfig, pair_batch_loss, recorded
from xmodal.training.pairs import Pairs
from xmodal.vision.visual import EfficientNetTop, tuned_id


class MapModule(torch.nn.Module):
    """:meth:`DeviseModel.encode` in torch, for a mixed pooled+conse map, so gradients reach
    the map and what feeds it. ``tests/training/test_finetune.py`` holds the two to the same numbers."""

    def __init__(self, model: DeviseModel) -> None:
        super().__init__()
        if not model.mix or model.standardizer is None or model.centre is None or model.usable is None:
            raise XmodalError("phase 2 fine-tunes a mixed, centred pooled+conse map (xmodal train --mix --centre)")
        cut = model.pooled_rows
        self.pooled = torch.nn.Parameter(torch.from_numpy(model.weight[:cut].copy()))
        self.conse = torch.nn.Parameter(torch.from_numpy(model.weight[cut:].copy()))
        self.register_buffer("mean", torch.from_numpy(np.array(model.standardizer.mean, dtype=np.float32)))
        self.register_buffer("scale", torch.from_numpy(np.array(model.standardizer.scale, dtype=np.float32)))
        self.register_buffer("centre", torch.from_numpy(np.array(model.centre, dtype=np.float32)))
        self.register_buffer("blocked", torch.from_numpy(~np.asarray(model.usable, dtype=bool)))
        self.top, self.temperature, self.mix = model.spec.top, model.spec.temperature, model.mix

    def forward(self, features: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        logits = (logits / self.temperature).masked_fill(self.blocked, -torch.inf)
        probs = F.softmax(logits, dim=1)
        cut = probs.topk(self.top, dim=1).values[:, -1:]
        probs = torch.where(probs >= cut, probs, torch.zeros_like(probs))
        probs = probs / probs.sum(dim=1, keepdim=True)
        pooled = (features - self.mean) / self.scale
        out = self.mix * F.normalize(pooled @ self.pooled, dim=1) + F.normalize(probs @ self.conse, dim=1)
        return F.normalize(F.normalize(out, dim=1) - self.centre, dim=1)

    def weight(self) -> np.ndarray:
        return torch.cat([self.pooled, self.conse]).detach().numpy().copy()


class TunedTower(torch.nn.Module):
    """Bottom activations -> the fine-tuned top -> the map: the whole of phase 2's model. With
    ``stock`` (a frozen copy of the top as shipped), the map's classifier block reads the stock
    top's classes and only its pooled block reads the tuned top's features."""

    def __init__(self, top: EfficientNetTop, model: DeviseModel, stock: EfficientNetTop | None = None) -> None:
        super().__init__()
        self.top = top
        self.map = MapModule(model)
        self.stock = stock

    def forward(self, activations: torch.Tensor) -> torch.Tensor:
        features, logits = self.top(activations)
        if self.stock is not None:
            with torch.no_grad():
                logits = self.stock(activations)[1]
        return self.map(features, logits)


def top_state(top: EfficientNetTop) -> dict[str, np.ndarray]:
    """The trained part of the top (blocks and head; the classifier stays as shipped), rounded
    to float16 as the model file stores it."""
    return {
        key: value.detach().numpy().astype(np.float16)
        for key, value in top.state_dict().items()
        if not key.startswith("fc.") and value.is_floating_point()
    }


def finetune(
    model: DeviseModel,
    top: EfficientNetTop,
    activations: np.ndarray | Sequence[np.ndarray | Sequence[np.ndarray]],
    pairs: Pairs,
    texts: np.ndarray,
    classes: np.ndarray,
    config: TrainConfig,
    tune: TuneConfig,
    on_epoch: Callable[[int, DeviseModel], None] | None = None,
) -> DeviseModel:
    """Fine-tune ``top`` and ``model``'s map on ``pairs`` (``activations``: the bottom's, one row
    per photo of ``pairs.photos``, or a list of such arrays, one per view of the photos
    (xmodal.training.views), each pair then reading one view drawn at random every epoch; a
    view may come as a list of arrays whose rows follow on (one per set, as cached);
    ``texts``: one unit vector per text, ``classes``: the ImageNet-1k class texts' vectors);
    the fine-tuned model, whose visual is :func:`xmodal.vision.visual.tuned_visual` of the
    stored top. ``on_epoch(epoch, model)`` sees the model after each epoch (to score it on a
    dev split)."""
    torch.manual_seed(tune.seed)
    generator = torch.Generator().manual_seed(tune.seed)
    rng = np.random.default_rng(tune.seed)
    views = list(activations) if isinstance(activations, (list, tuple)) else [activations]
    views = [list(view) if isinstance(view, (list, tuple)) else [view] for view in views]  # each view in parts
    rows = [sum(len(part) for part in view) for view in views]
    if any(count != len(pairs.photos) for count in rows):
        raise ValueError(f"{rows} rows of activations for {len(pairs.photos)} photos")
    # filled part by part through numpy, so cached maps are read once and never copied whole first
    x = torch.empty((len(views), len(pairs.photos), *np.shape(views[0][0])[1:]), dtype=torch.float32)
    for slot, view in zip(x.numpy(), views):
        start = 0
        for part in view:
            slot[start : start + len(part)] = part
            start += len(part)
    stock = copy.deepcopy(top).requires_grad_(False) if tune.stock_classes else None
    tower = TunedTower(top, model, stock).eval()  # eval: BatchNorm keeps its statistics, dropout is off
    for name, parameter in tower.top.named_parameters():
        parameter.requires_grad_(not name.startswith("fc."))
    with torch.no_grad():  # the stock top class of each view of each photo, the class-text loss's target
        logits = torch.stack([torch.cat([tower.top(chunk)[1] for chunk in view.split(256)]) for view in x])
        class_of = logits.masked_fill(tower.map.blocked, -torch.inf).argmax(dim=2)

    def encode(picked: torch.Tensor, photos: torch.Tensor) -> torch.Tensor:  # stock classes: computed once, above
        inputs = x[picked, photos]
        return tower.map(tower.top(inputs)[0], logits[picked, photos]) if stock is not None else tower(inputs)

    vectors = torch.from_numpy(np.ascontiguousarray(texts, dtype=np.float32))
    class_vectors = torch.from_numpy(np.ascontiguousarray(classes, dtype=np.float32))
    photo_t, text_t, group_t = (torch.from_numpy(a) for a in (pairs.photo, pairs.text, pairs.group))
    optimizer = torch.optim.Adam([
        {"params": [p for p in tower.top.parameters() if p.requires_grad], "lr": tune.lr},
        {"params": tower.map.parameters(), "lr": tune.map_lr},
    ])
    trained = [p for p in tower.parameters() if p.requires_grad]
    sums = [torch.zeros_like(p) for p in trained] if tune.average else None
    result = model
    for epoch in range(1, tune.epochs + 1):
        chosen = torch.from_numpy(epoch_pairs(pairs.photo, rng, tune.share_floor))
        order = torch.randperm(len(chosen), generator=generator)
        # one view of each chosen pair's photo (none drawn with one view, so a run without views repeats)
        view_of = torch.from_numpy(rng.integers(len(views), size=len(chosen))) if len(views) > 1 else torch.zeros(len(chosen), dtype=torch.int64)
        for batch in order.split(tune.batch_size):
            pair_rows, picked = chosen[batch], view_of[batch]
            photos = photo_t[pair_rows]
            loss = pair_batch_loss(
                encode(picked, photos), text_t[pair_rows], group_t[pair_rows], vectors, config, generator,
                (class_vectors, class_of[picked, photos]),
            )
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        result = tuned_model(model, tower, tune, epoch)  # its top rounded into the tower, as the file keeps it
        if sums is not None:
            result = averaged_model(model, tower, tune, epoch, trained, sums)
        if on_epoch is not None:
            on_epoch(epoch, result)
    return result


def averaged_model(
    model: DeviseModel, tower: TunedTower, tune: TuneConfig, epoch: int, trained: list, sums: list
) -> DeviseModel:
    """The model of ``tune.average``: ``trained``'s weights after each epoch so far added into
    ``sums``, and their mean made into the model. Training goes on from the last epoch's own
    weights, so its path is the one a run without averaging takes."""
    with torch.no_grad():
        last = [p.detach().clone() for p in trained]
        for total, p in zip(sums, last):
            total += p
        for total, p in zip(sums, trained):
            p.copy_(total / epoch)
        averaged = tuned_model(model, tower, tune, epoch)
        for p, own in zip(trained, last):
            p.copy_(own)
    return averaged


def epoch_pairs(photo_of_pair: np.ndarray, rng: np.random.Generator, floor: float = 0.0) -> np.ndarray:
    """One epoch's pairs: at most one per photo (a pass runs the top once per photo), drawn so
    that the sets keep the weight they have in phase 1, where every pair counts. A photo with
    the most pairs (a Flickr8k photo's five captions) is always in, with one of its pairs at
    random; a photo with fewer (a scene photo's one name) is in with probability its count over
    that most. Drawing each photo once instead gave scene photos 41 % of the batches against
    14 % of the pairs, and dev caption R@10 fell 5 points in the first epoch. ``floor`` raises
    that probability to at least itself (``TuneConfig.share_floor``: scene photos drawn more often)."""
    counts = np.bincount(photo_of_pair)
    order = np.argsort(photo_of_pair, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    kept = np.flatnonzero((counts > 0) & (rng.random(len(counts)) < np.maximum(counts / counts.max(), floor)))
    return order[starts[kept] + (rng.random(len(kept)) * counts[kept]).astype(np.int64)]


def tuned_model(model: DeviseModel, tower: TunedTower, tune: TuneConfig, epochs: int) -> DeviseModel:
    """``model`` with the tower's map and top: the top rounded to float16 first, and loaded back
    into the tower, so the map is scored and checksummed with the weights the file will hold."""
    from xmodal.vision.visual import tuned_visual

    state = top_state(tower.top)
    with torch.no_grad():
        for key, value in tower.top.state_dict().items():
            if key in state:
                value.copy_(torch.from_numpy(state[key].astype(np.float32)))
    base = model.visual.get("base", model.visual)
    visual = tuned_visual(base["id"], tune.first, state, stock_classes=tune.stock_classes)
    stock_classes = {"stock_classes": True} if tune.stock_classes else {}
    return dataclasses.replace(
        model,
        weight=tower.map.weight(),
        visual={"id": tuned_id(base["id"], tune.first, tune.stock_classes), "checksum": visual.weights_checksum,
                "base": {"id": base["id"], "checksum": base["checksum"]}, "first_tuned_block": tune.first,
                **stock_classes},
        top=state,
        # the epochs run, so the model after epoch N of a longer run is the model of an N-epoch run
        training={**model.training, "phase2": {**recorded(tune), "epochs": epochs}},
    )
