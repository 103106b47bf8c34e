"""Fitting the DeViSE map: the losses, the settings, the training loops (torch).

Losses (``LOSSES``) compare the map's output with unit label vectors: the
paper's hinge rank loss summed over wrong labels (``rank``) or with its trick
of stopping at the first wrong label, in random order, that violates the margin
(``rank-first``); an L2 regression to the label vector (``l2``, Socher et al.
2013); and a softmax over cosine similarities (``softmax``). Pairs of a photo
and a text train with the two-way rank loss (:func:`pair_rank_loss`).

What is fitted here is used through :class:`xmodal.devise.model.DeviseModel`,
which imports no torch.
"""


from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from xmodal.core.errors import XmodalError

if TYPE_CHECKING:
    import torch

# -- losses ---------------------------------------------------------------------
# Each takes the raw map output (B, D), the label rows (B,), all label vectors
# (C, D, unit), the margin and a torch generator, and returns a scalar.


def _unit(x):
    import torch.nn.functional as F

    return F.normalize(x, dim=1)


def _margin_violations(output, targets, label_vectors, margin):
    import torch

    scores = _unit(output) @ label_vectors.T
    true = scores.gather(1, targets[:, None])
    hinge = torch.clamp(margin - true + scores, min=0)
    return hinge.scatter(1, targets[:, None], 0.0)


def rank_loss(
    output: torch.Tensor, targets: torch.Tensor, label_vectors: torch.Tensor, margin: float, generator: torch.Generator
) -> torch.Tensor:
    """The paper's hinge rank loss, summed over all wrong labels."""
    return _margin_violations(output, targets, label_vectors, margin).sum(dim=1).mean()


def rank_first_loss(
    output: torch.Tensor, targets: torch.Tensor, label_vectors: torch.Tensor, margin: float, generator: torch.Generator
) -> torch.Tensor:
    """The paper's trick: only the first margin-violating wrong label in a random order counts."""
    import torch

    hinge = _margin_violations(output, targets, label_vectors, margin)
    order = torch.rand(hinge.shape, generator=generator, device=hinge.device)
    order = torch.where(hinge > 0, order, torch.full_like(order, 2.0))
    first = order.argmin(dim=1, keepdim=True)
    return hinge.gather(1, first).mean()


def l2_loss(
    output: torch.Tensor, targets: torch.Tensor, label_vectors: torch.Tensor, margin: float, generator: torch.Generator
) -> torch.Tensor:
    """Regression of the raw output onto the label vector (Socher et al. 2013)."""
    return ((output - label_vectors[targets]) ** 2).sum(dim=1).mean()


def softmax_loss(
    output: torch.Tensor,
    targets: torch.Tensor,
    label_vectors: torch.Tensor,
    margin: float,
    generator: torch.Generator,
    temperature: float = 0.05,
) -> torch.Tensor:
    """Cross-entropy over cosine similarities to all training labels."""
    import torch.nn.functional as F

    return F.cross_entropy(_unit(output) @ label_vectors.T / temperature, targets)


LOSSES: dict[str, Callable] = {
    "rank": rank_loss,
    "rank-first": rank_first_loss,
    "l2": l2_loss,
    "softmax": softmax_loss,
}


OPTIMIZERS = ("adam", "sgd")
VIEW_COUNT = 6  # len(xmodal.training.views.VIEWS), which needs PIL
PAIR_HARDEST = "rank-hardest"  # pairs only: the two-way rank loss on each batch's worst negative


@dataclass
class TrainConfig:
    """How to fit the map; saved with the model so a figure can be traced to its settings."""

    loss: str = "rank"
    margin: float = 0.1
    epochs: int = 20
    batch_size: int = 256
    lr: float = 1e-3
    anchor: float = 0.0  # L2 pull toward the initial map's weights (keeps a ConSE start from drifting)
    distill: float = 0.0  # pull toward the initial map's outputs on the training photos (its teacher)
    optimizer: str = "adam"  # or "sgd": steps in proportion to the gradient, so rows rarely used barely move
    centre: float = 0.0  # subtract this multiple of the class vectors' mean from each unit output (conse input)
    conse_lr: float | None = None  # pair training: the classifier block's own learning rate (0 keeps ConSE)
    mix: float = 0.0  # pair training: output = mix * unit(pooled block) + unit(classifier block), not their sum
    weight_decay: float = 0.0  # pair training: AdamW's decay of the pooled block (not of the ConSE block)
    class_weight: float = 0.0  # pair training: weight of the rank loss toward each photo's class name (all classes)
    hub_weight: float = 0.0  # pair training: > 0 ships a hub penalty of this weight with the model (xmodal.devise.hubness)
    hub_neighbours: int = 20  # the bank texts a photo's penalty averages over
    views: int = 1  # pair training: views of each photo drawn from at every step (xmodal.training.views: whole, mirror, 4 crops)
    average: bool = False  # the map's weights averaged over the epochs, not the last epoch's
    seed: int = 0

    def __post_init__(self) -> None:
        if self.loss not in (*LOSSES, PAIR_HARDEST):
            raise XmodalError(f"unknown loss {self.loss!r}; choose from {', '.join((*LOSSES, PAIR_HARDEST))}")
        if self.optimizer not in OPTIMIZERS:
            raise XmodalError(f"unknown optimizer {self.optimizer!r}; choose from {', '.join(OPTIMIZERS)}")
        if self.centre < 0:
            raise XmodalError(f"centre must be 0 or more, not {self.centre}")
        if self.hub_weight < 0 or self.hub_neighbours < 1:
            raise XmodalError(f"hub weight must be 0 or more and hub neighbours 1 or more: {self.hub_weight}, {self.hub_neighbours}")
        if not 1 <= self.views <= VIEW_COUNT:
            raise XmodalError(f"views must be 1 to {VIEW_COUNT} (the photo, its mirror image, 4 crops), not {self.views}")


@dataclass(frozen=True)
class TuneConfig:
    """What phase 2 trains: the blocks from ``first`` up (and the head) at ``lr``, the map at
    ``map_lr``, for ``epochs`` passes over the photos. ``first`` 0 turns phase 2 off."""

    first: int = 0
    epochs: int = 4
    lr: float = 1e-4
    map_lr: float = 1e-3
    batch_size: int = 128
    seed: int = 0
    # the map's classifier block reads the stock top's classes (a frozen copy beside the tuned
    # one) rather than the tuned top's, so only the pooled features move
    stock_classes: bool = False
    views: int = 1  # views of each photo phase 2 draws from (xmodal.training.views), apart from phase 1's
    average: bool = False  # the top's and the map's weights averaged over the epochs so far, not the last epoch's
    share_floor: float = 0.0  # a photo with fewer pairs (a scene photo's one name) is in an epoch at least this often

    def __post_init__(self) -> None:
        if self.first < 0 or self.epochs < 0 or self.lr < 0 or self.map_lr < 0 or self.batch_size < 2:
            raise XmodalError(f"phase 2 settings out of range: {self}")
        if not 1 <= self.views <= VIEW_COUNT:
            raise XmodalError(f"phase 2 views must be 1 to {VIEW_COUNT}, not {self.views}")
        if not 0 <= self.share_floor <= 1:
            raise XmodalError(f"phase 2's share floor must be 0 to 1, not {self.share_floor}")


# Settings added after models shipped, left out of a model file's record at their defaults, so
# that rebuilding a model made before them writes the same bytes.
LATER_DEFAULTS = {"views": 1, "average": False, "share_floor": 0.0}


def recorded(settings: TrainConfig | TuneConfig) -> dict:
    """``settings`` as a model file records them (``LATER_DEFAULTS`` left out where they hold)."""
    from dataclasses import asdict

    return {k: v for k, v in asdict(settings).items() if not (k in LATER_DEFAULTS and v == LATER_DEFAULTS[k])}


def fit_map(
    inputs: np.ndarray,
    targets: np.ndarray,
    label_vectors: np.ndarray,
    config: TrainConfig,
    init: np.ndarray | None = None,
    on_epoch: Callable[[int, float], None] | None = None,
    centre: np.ndarray | None = None,
) -> np.ndarray:
    """Fit the (in_dim, word_dim) map toward class label vectors; returns its weight.

    With ``centre``, the loss sees the centred outputs, as the model will use them.
    """
    import torch

    x = torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.float32))
    y = torch.from_numpy(np.asarray(targets, dtype=np.int64))
    vectors = torch.from_numpy(np.asarray(label_vectors, dtype=np.float32))
    loss_fn = LOSSES[config.loss]

    def batch_loss(batch, rows, output, generator):
        return loss_fn(output, y[batch], vectors, config.margin, generator)

    return _fit(x, len(x), lambda batch, generator: batch, batch_loss, vectors.shape[1], config, init, on_epoch, centre)


def pair_rank_loss(
    output: torch.Tensor, text_vectors: torch.Tensor, same: torch.Tensor, margin: float, hardest: bool = False
) -> torch.Tensor:
    """The hinge rank loss both ways over a batch of (photo, text) pairs: each photo's
    output must beat every other text of the batch by ``margin``, and each text must
    rank its own photo above every other photo. ``same`` masks the pairs that are not
    each other's negatives. ``hardest`` counts only the worst negative (VSE++)."""
    import torch

    scores = _unit(output) @ text_vectors.T
    true = scores.diagonal()
    same = same | torch.eye(len(scores), dtype=torch.bool, device=scores.device)  # a pair is not its own negative
    wrong_text = torch.clamp(margin - true[:, None] + scores, min=0).masked_fill(same, 0.0)
    wrong_photo = torch.clamp(margin - true[None, :] + scores, min=0).masked_fill(same, 0.0)
    if hardest:
        return (wrong_text.amax(dim=1) + wrong_photo.amax(dim=0)).mean()
    return (wrong_text.sum(dim=1) + wrong_photo.sum(dim=0)).mean()


def pair_batch_loss(
    output: torch.Tensor,
    texts: torch.Tensor,
    groups: torch.Tensor,
    text_vectors: torch.Tensor,
    config: TrainConfig,
    generator: torch.Generator,
    classes: tuple[torch.Tensor, torch.Tensor] | None = None,
    hardest: bool = False,
) -> torch.Tensor:
    """The loss of one batch of pair training, phase 1's and phase 2's alike: the two-way
    :func:`pair_rank_loss` (``texts`` and ``groups``: the batch pairs' text rows and groups,
    ``text_vectors``: every text's unit vector; pairs of one group or one text are not each
    other's negatives), plus, with ``classes`` (the class vectors and each batch photo's class
    row), ``config.class_weight`` times the :func:`rank_loss` toward each photo's class text."""
    same = (groups[:, None] == groups[None, :]) | (texts[:, None] == texts[None, :])
    loss = pair_rank_loss(output, text_vectors[texts], same, config.margin, hardest)
    if classes is not None and config.class_weight:
        loss = loss + config.class_weight * rank_loss(output, classes[1], classes[0], config.margin, generator)
    return loss


def fit_pairs(
    inputs: np.ndarray,
    text_vectors: np.ndarray,
    photo: np.ndarray,
    text: np.ndarray,
    group: np.ndarray,
    config: TrainConfig,
    init: np.ndarray | None = None,
    on_epoch: Callable[[int, float], None] | None = None,
    centre: np.ndarray | None = None,
    conse_rows: slice | None = None,
    classes: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Fit the map on (photo, text) pairs with :func:`pair_rank_loss`; returns its weight.

    ``inputs`` has one row per photo, or is a stack of views (views, photos, dims): then
    each pair reads one view of its photo drawn at random at every step, and ``classes[1]``
    (each photo's class row) is stacked alike. ``text_vectors`` has one unit row per text;
    pair ``i`` is photo ``photo[i]`` with text ``text[i]``, in group ``group[i]``.
    ``config.loss`` is ``rank`` (every negative) or ``rank-hardest`` (the worst one).
    """
    import torch

    x = torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.float32))
    views, photos = (x.shape[0], x.shape[1]) if x.dim() == 3 else (1, x.shape[0])
    x = x.reshape(views * photos, -1)  # view v of photo p is row v * photos + p
    vectors = torch.from_numpy(np.ascontiguousarray(text_vectors, dtype=np.float32))
    photo_t, text_t, group_t = (torch.from_numpy(np.asarray(a, dtype=np.int64)) for a in (photo, text, group))
    hardest = config.loss == PAIR_HARDEST
    if classes is not None:
        class_vectors = torch.from_numpy(np.ascontiguousarray(classes[0], dtype=np.float32))
        class_of = torch.from_numpy(np.asarray(classes[1], dtype=np.int64)).reshape(-1)

    def rows_of(batch, generator):
        if views == 1:
            return photo_t[batch]
        return torch.randint(views, (len(batch),), generator=generator) * photos + photo_t[batch]

    def batch_loss(batch, rows, output, generator):
        of_batch = (class_vectors, class_of[rows]) if classes is not None else None
        return pair_batch_loss(output, text_t[batch], group_t[batch], vectors, config, generator, of_batch, hardest)

    return _fit(x, len(photo_t), rows_of, batch_loss, vectors.shape[1], config, init, on_epoch, centre, conse_rows)


def _fit(x, rows, inputs_of, batch_loss, out_dim, config, init, on_epoch, centre, conse_rows=None) -> np.ndarray:
    """The loop both fits share: Adam (or SGD) on shuffled mini-batches of ``rows`` items,
    the map's input rows of a batch given by ``inputs_of(batch, generator)``. With
    ``config.average`` the weights returned are the mean of each epoch's (one map still)."""
    import torch

    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    if init is None:
        start = torch.randn(x.shape[1], out_dim, generator=generator) / np.sqrt(x.shape[1])
    else:
        start = torch.from_numpy(np.asarray(init, dtype=np.float32)).clone()
    # One parameter per block of input rows, so the classifier's block (a ConSE start) can
    # move at its own, smaller pace: Adam moves every weight by about ``lr`` a step, and
    # class vectors have entries of a few hundredths.
    cut = x.shape[1] if conse_rows is None else conse_rows.start
    if config.mix and cut < x.shape[1] and not start[:cut].any():  # a zero block has no direction to normalise
        start[:cut] = torch.randn(cut, out_dim, generator=generator) * 1e-3
    blocks = [torch.nn.Parameter(part.clone()) for part in (start[:cut], start[cut:]) if len(part)]
    groups = [{"params": [blocks[0]], "lr": config.lr, "weight_decay": config.weight_decay}]
    if len(blocks) > 1:
        conse_lr = config.lr if config.conse_lr is None else config.conse_lr
        groups.append({"params": [blocks[1]], "lr": conse_lr, "weight_decay": 0.0})
    if config.optimizer == "sgd":
        optimizer = torch.optim.SGD(groups, lr=config.lr, momentum=0.9)
    else:
        optimizer = torch.optim.AdamW(groups, lr=config.lr) if config.weight_decay else torch.optim.Adam(groups, lr=config.lr)
    offset = None if centre is None else torch.from_numpy(np.asarray(centre, dtype=np.float32))

    def forward(inputs, weights):  # as DeviseModel.encode does, before its final normalisation
        if config.mix and cut < x.shape[1]:
            output = config.mix * _unit(inputs[:, :cut] @ weights[:cut]) + _unit(inputs[:, cut:] @ weights[cut:])
        else:
            output = inputs @ weights
        return output if offset is None else _unit(_unit(output) - offset)

    mean = torch.zeros_like(start)
    for epoch in range(config.epochs):
        order = torch.randperm(rows, generator=generator)
        total = 0.0
        for batch in order.split(config.batch_size):
            weight = torch.cat(blocks) if len(blocks) > 1 else blocks[0]
            picked = inputs_of(batch, generator)
            inputs = x[picked]
            output = forward(inputs, weight)
            loss = batch_loss(batch, picked, output, generator)
            if config.distill:
                teacher = _unit(forward(inputs, start))
                loss = loss + config.distill * ((_unit(output) - teacher) ** 2).sum(dim=1).mean()
            if config.anchor:
                loss = loss + config.anchor * ((weight - start) ** 2).sum()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(batch)
        with torch.no_grad():
            mean += (torch.cat(blocks) - mean) / (epoch + 1)
        if on_epoch:
            on_epoch(epoch, total / rows)
    weight = mean if config.average and config.epochs else torch.cat(blocks).detach()
    return weight.numpy().copy()


