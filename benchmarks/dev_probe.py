"""What every phase-1 probe on dev starts from and is scored on (pair_loss.py, augment.py, map_capacity.py).

Each probe trains phase 1 of the shipped recipe (``language.SHIPPED_CONFIG``: the two-way
pair rank loss plus the class-text loss, Adam) on train minus dev (``hubness.dev_split``)
with one thing changed, from the same start and seed, and scores every epoch on:

- dev caption R@1 / R@5 / R@10 (the 1,000 dev photos' 5,000 captions, with the model's hub
  penalty, as searches rank);
- dev scene P@10 (the 15 seen scene names over the 1,200 dev scene photos, with the penalty);
- tiny/1k hit@1 (2,000 Tiny ImageNet val photos against the 1,000 ImageNet class texts, as
  ``phase2_dev.py`` checks the ImageNet rows).

Nothing here looks at val.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from hubness import dev_split
from language import DEFAULT_SPEC, DEFAULT_VISUAL, SETS, SHIPPED_CONFIG
from phase2_bank import set_photos
from phase2_dev import phase1_on_dev
from results import unpack

from xmodal.devise.model import build_inputs
from xmodal.text.labels import imagenet_labels
from xmodal.text.sentences import SentenceSpace
from xmodal.text.space import embed_texts
from xmodal.training.datasets import read_captions, read_labeled
from xmodal.training.evaluate import caption_retrieval, hit_at_k, relevant_retrieval
from xmodal.training.train import class_centre, initial_map, visual_outputs
from xmodal.vision.visual import load_visual

# The rule pair_loss.py and augment.py share: rows within TOLERANCE of the shipped setting's
# scene P@10 and tiny/1k hit@1 at its epoch (SHIPPED_EPOCH) compete; a gain of GAIN goes on.
SHIPPED_EPOCH = 3
TOLERANCE = 0.01
GAIN = 1.0


def unit(v):
    from torch.nn.functional import normalize

    return normalize(v, dim=1)


class Probe:
    """Phase 1 on train minus dev: its training pairs as tensors, a fresh map, and the dev scores."""

    def __init__(self, args: argparse.Namespace, guards: bool = True) -> None:
        import torch

        self.config = SHIPPED_CONFIG
        self.roots = unpack(args.shared, args.work, SETS)
        self.sources = dev_split(self.roots, args.work / "dev")
        space = SentenceSpace.load()
        self.visual = load_visual(DEFAULT_VISUAL)
        self.space = space
        self.phase1, self.pairs, self.texts, self.classes = phase1_on_dev(self.sources, space)
        self.usable = np.linalg.norm(self.classes, axis=1) > 0
        self.inputs, logits = self.inputs_of(self.pairs.photos)
        self.class_of = self.classes_of(logits)

        flickr = read_captions(self.sources["flickr8k-captions"])
        dev = np.flatnonzero(flickr.in_split("dev"))
        self.dev_inputs, _ = self.inputs_of(flickr.photos[i] for i in dev)
        keep = np.isin(flickr.photo_of, dev)
        self.captions = embed_texts(space, [c for c, k in zip(flickr.captions, keep) if k])
        self.truth = np.searchsorted(dev, flickr.photo_of[keep])
        self.guards = guards
        if guards:
            places = read_labeled(self.sources["mini-places-20"])
            places = places.select(places.in_split("dev"))
            self.scene_inputs, _ = self.inputs_of(places.paths)
            scenes = sorted(set(places.labels))
            self.scene_relevant = np.array(places.labels)[None, :] == np.array(scenes)[:, None]
            self.scene_vectors = embed_texts(space, scenes)
            tiny = read_labeled(self.roots["tiny-imagenet-200"])
            wanted = set(str(p) for p in set_photos(self.roots)["tiny-imagenet-200"])
            rows = [i for i, p in enumerate(tiny.paths) if str(p) in wanted]
            self.tiny_inputs, _ = self.inputs_of(tiny.paths[i] for i in rows)
            wnids = [label.wnid for label in imagenet_labels("1k")]
            self.tiny_truth = np.array([wnids.index(tiny.classes[tiny.labels[i]].wnid) for i in rows])

        self.cut = self.visual.feature_dim
        self.init = initial_map(DEFAULT_SPEC, self.classes, self.cut)
        self.offset = torch.from_numpy(np.asarray(class_centre(self.classes, self.usable, self.config.centre), dtype=np.float32))
        self.vectors = torch.from_numpy(np.ascontiguousarray(self.texts, dtype=np.float32))
        self.class_vectors = torch.from_numpy(np.ascontiguousarray(self.classes, dtype=np.float32))
        self.photo, self.text, self.group = (
            torch.from_numpy(np.asarray(a, dtype=np.int64)) for a in (self.pairs.photo, self.pairs.text, self.pairs.group)
        )

    def inputs_of(self, paths: Iterable[str | Path]):
        """The map's inputs for ``paths`` (standardised as phase 1's), and the classifier's logits."""
        import torch

        features, logits = visual_outputs(self.visual, list(paths), quiet=True)
        return torch.from_numpy(build_inputs(DEFAULT_SPEC, features, logits, self.phase1.standardizer, self.usable)), logits

    def classes_of(self, logits: np.ndarray):
        """Each photo's most likely ImageNet class that has a text: the class-text loss's target."""
        import torch

        return torch.from_numpy(np.argmax(np.where(self.usable, logits, -np.inf), axis=1))

    def start(self):
        """A fresh map as the shipped recipe starts it (pooled block near zero, the classifier
        block at ConSE), and the seeded generator that orders its batches."""
        import torch

        torch.manual_seed(self.config.seed)
        generator = torch.Generator().manual_seed(self.config.seed)
        pooled = torch.nn.Parameter(torch.randn(self.cut, self.init.shape[1], generator=generator) * 1e-3)  # as _fit starts a zero block
        conse = torch.nn.Parameter(torch.from_numpy(self.init[self.cut:].copy()))
        return pooled, conse, generator

    def forward(self, x, pooled, conse, block=None):
        """The map's output for inputs ``x``; ``block`` replaces the pooled block's product."""
        pooled_block = x[:, : self.cut] @ pooled if block is None else block
        return unit(unit(self.config.mix * unit(pooled_block) + unit(x[:, self.cut:] @ conse)) - self.offset)

    def score(self, pooled, conse) -> dict[str, float]:
        """Dev captions, and with ``guards`` dev scenes and tiny/1k, for a linear map."""
        import torch

        with torch.no_grad():
            row = caption_retrieval(self.forward(self.dev_inputs, pooled, conse).numpy(), self.captions, self.truth, self.phase1.hub)
            if self.guards:
                row["scene P@10"] = relevant_retrieval(
                    self.forward(self.scene_inputs, pooled, conse).numpy(), self.scene_relevant, self.scene_vectors, penalty=self.phase1.hub
                )["P@10"]
                row["tiny/1k hit@1"] = hit_at_k(self.forward(self.tiny_inputs, pooled, conse).numpy(), self.tiny_truth, self.classes)["hit@1"]
        return {k: round(v, 4) for k, v in row.items()}

    def epoch(self, optimizer, generator, output, config=None, batch: int | None = None, hardest: bool = False, view=None) -> None:
        """One pass over the training pairs in the seeded generator's order. ``output(x)`` is the
        map being trained; ``view(photos)``, when given, gives a batch's inputs and class targets
        (by default each photo's one view)."""
        import torch

        from xmodal.training.fit import pair_batch_loss

        config = config or self.config
        for rows in torch.randperm(len(self.photo), generator=generator).split(batch or config.batch_size):
            photos = self.photo[rows]
            x, class_of = view(photos) if view else (self.inputs[photos], self.class_of[photos])
            loss = pair_batch_loss(output(x), self.text[rows], self.group[rows], self.vectors, config, generator, (self.class_vectors, class_of), hardest)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    def scored_epoch(self, table: dict, name: str, epoch: int, pooled, conse, sums: list, average: bool, started: float):
        """After epoch ``epoch`` (from 1): add the weights to ``sums``, score the last weights (or
        with ``average`` their running mean) into ``table`` and print the row; the weights scored."""
        import torch

        with torch.no_grad():
            sums[0] += pooled
            sums[1] += conse
        weights = (sums[0] / epoch, sums[1] / epoch) if average else (pooled.detach(), conse.detach())
        show(table, f"{name}, epoch {epoch}", self.score(*weights), started)
        return weights


def show(table: dict, name: str, row: dict[str, float], started: float) -> None:
    """Put ``row`` into ``table`` and print it, with the time so far."""
    table[name] = row
    print(f"{name}: " + ", ".join(f"{k} {v:.4g}" for k, v in row.items()) + f" ({time.perf_counter() - started:.0f} s so far)", flush=True)


def conclude(args: argparse.Namespace, table: dict, base: str, started: float, tolerance: float, gain: float) -> None:
    """Apply :func:`choose` against row ``base``, print the verdict and write ``--json``."""
    best, won, verdict = choose(table, base, tolerance, gain)
    print(f"best by the rule: {best} (R@1 + R@10 {won:+.2f} over {base}): {verdict}")
    seconds = round(time.perf_counter() - started, 1)
    print(f"{seconds} s")
    if args.json:
        args.json.write_text(json.dumps({"table": table, "best": best, "gain": won, "verdict": verdict, "seconds": seconds}, indent=1))


def choose(table: dict[str, dict[str, float]], base: str, tolerance: float, gain: float) -> tuple[str, float, str]:
    """The pair-loss rule: the highest dev R@1 + R@10 among rows whose scene P@10 and tiny/1k
    hit@1 stay within ``tolerance`` of row ``base``'s, taken forward only if it gains ``gain``."""
    floor = table[base]
    allowed = {
        name: row for name, row in table.items()
        if row["scene P@10"] >= floor["scene P@10"] - tolerance and row["tiny/1k hit@1"] >= floor["tiny/1k hit@1"] - tolerance
    }
    best = max(allowed, key=lambda name: allowed[name]["R@1"] + allowed[name]["R@10"])
    won = allowed[best]["R@1"] + allowed[best]["R@10"] - floor["R@1"] - floor["R@10"]
    return best, won, "taken forward to phase 2 on dev" if won >= gain else "not taken forward"
