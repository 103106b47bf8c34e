"""Choosing DeViSE phase 2 (xmodal.training.finetune) on a dev split carved from train, never on val.

    cd benchmarks && ../.venv/bin/python phase2_dev.py [--epochs 6] [--json phase2_dev.json] \
        "17,1e-4,1e-3" "19,1e-4,1e-3" ...

Each argument is ``FIRST_BLOCK,LR,MAP_LR``. The dev split is benchmarks/hubness.py's
(the last 1,000 Flickr8k train photos, the last 80 train photos of each seen scene);
phase 1 (the shipped recipe, ``language.SHIPPED_CONFIG``) is trained on the rest, and
every setting fine-tunes from it on the same rest, scored on dev after each epoch:

- dev caption R@1, R@5, R@10 (each dev caption ranks the 1,000 dev photos, with the
  model's hub penalty, as searches rank);
- dev scene P@10 (each seen scene name ranks the 1,200 dev scene photos, with the penalty);
- tiny/1k hit@1: 2,000 Tiny ImageNet val photos (10 a class; no map ever trained on
  Tiny ImageNet) against the 1,000 ImageNet class texts: the dev check that the
  ImageNet rows hold.

The rule, fixed before any setting was run: among every (setting, epoch), the highest
dev R@1 + R@10 whose dev scene P@10 and tiny/1k hit@1 are each no more than 0.01 below
phase 1's; phase 2 ships only if that beats phase 1's dev R@1 + R@10. The chosen
setting and epoch count are what the shipped model's rebuild command uses on all of train.

``--stock-classes`` (added 2026-12-06, before any run with it, same rule): the map's classifier
block reads the stock top's classes (a frozen copy kept beside the tuned top), so only the
pooled features move and what the classifier knows of ImageNet cannot drift; the earlier runs
lost tiny/1k hit@1 as the tuned top moved the classes.
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import numpy as np
import torch
from hubness import dev_split
from language import DEFAULT_SPEC, DEFAULT_VISUAL, HIERARCHY, SETS, SHIPPED_CONFIG
from phase2_bank import Bank, set_photos
from results import shared_paths, unpack

from xmodal.devise.model import DeviseModel
from xmodal.text.labels import imagenet_labels, label_matrix
from xmodal.text.sentences import SentenceSpace
from xmodal.text.space import embed_texts
from xmodal.training.datasets import read_captions, read_labeled
from xmodal.training.evaluate import caption_retrieval, hit_at_k, relevant_retrieval
from xmodal.training.finetune import TuneConfig, TunedTower, finetune
from xmodal.training.pairs import join
from xmodal.training.train import read_pair_sources, train_pairs
from xmodal.vision.visual import load_visual, tower_split, tuned_visual

TOLERANCE = 0.01  # how far below phase 1 dev scene P@10 and tiny/1k hit@1 may go
SHIPPED_TUNE = TuneConfig(first=19, epochs=8, lr=3e-4, map_lr=1e-4, stock_classes=True)  # the rule's choice


def phase1_on_dev(sources: dict[str, Path], space):
    """What every phase-2 run starts from on train minus dev: the phase-1 model of the shipped
    recipe, its training pairs, their texts' vectors and the ImageNet-1k class texts' vectors."""
    phase1 = train_pairs(list(sources.values()), space, load_visual(DEFAULT_VISUAL), SHIPPED_CONFIG, DEFAULT_SPEC, HIERARCHY, quiet=True).model
    pairs = join(read_pair_sources(list(sources.values()), HIERARCHY))
    return phase1, pairs, embed_texts(space, pairs.texts), label_matrix(space, imagenet_labels("1k"), HIERARCHY)


def shipped_on_dev(roots: dict[str, Path], sources: dict[str, Path], space, cache: Path) -> tuple[DeviseModel, object]:
    """The shipped recipe, phase 1 then phase 2 (``SHIPPED_TUNE``), trained on train minus dev:
    the model and its network, for choosing a search setting on dev with the model that ships.
    About 30 min on 2 cores, so the model file is kept at ``cache`` and read from there after."""
    if not cache.exists():
        phase1, pairs, texts, classes = phase1_on_dev(sources, space)
        bottom, top = tower_split(DEFAULT_VISUAL, SHIPPED_TUNE.first)
        photos = Bank(bottom, set_photos(roots), quiet=True)(pairs.photos)
        tuned = finetune(phase1, top, photos, pairs, texts, classes, SHIPPED_CONFIG, SHIPPED_TUNE)
        cache.parent.mkdir(parents=True, exist_ok=True)
        tuned.save(cache)
    model = DeviseModel.load(cache, space=space.identity)
    return model, tuned_visual(DEFAULT_VISUAL, SHIPPED_TUNE.first, model.top, stock_classes=SHIPPED_TUNE.stock_classes)


class Dev:
    """The dev photos (as bottom activations) and their truths."""

    def __init__(self, roots: dict[str, Path], sources: dict[str, Path], bank: Bank, space) -> None:
        flickr = read_captions(sources["flickr8k-captions"])
        dev = np.flatnonzero(flickr.in_split("dev"))
        self.caption_photos = bank([flickr.photos[i] for i in dev])
        keep = np.isin(flickr.photo_of, dev)
        self.captions = embed_texts(space, [c for c, k in zip(flickr.captions, keep) if k])
        self.caption_truth = np.searchsorted(dev, flickr.photo_of[keep])
        places = read_labeled(sources["mini-places-20"])
        places = places.select(places.in_split("dev"))
        self.scene_photos = bank(places.paths)
        scenes = sorted(set(places.labels))
        self.scene_relevant = np.array(places.labels)[None, :] == np.array(scenes)[:, None]
        self.scenes = embed_texts(space, scenes)
        tiny = read_labeled(roots["tiny-imagenet-200"])
        wanted = set(str(p) for p in set_photos(roots)["tiny-imagenet-200"])
        rows = [i for i, p in enumerate(tiny.paths) if str(p) in wanted]
        self.tiny_photos = bank([tiny.paths[i] for i in rows])
        labels = imagenet_labels("1k")
        wnids = [label.wnid for label in labels]
        self.tiny_truth = np.array([wnids.index(tiny.classes[tiny.labels[i]].wnid) for i in rows])
        self.classes = label_matrix(space, labels, HIERARCHY)

    def score(self, tower: TunedTower, hub) -> dict[str, float]:
        def encode(x: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                return torch.cat([tower(torch.from_numpy(c)) for c in np.array_split(x, max(1, len(x) // 256))]).numpy()

        row = caption_retrieval(encode(self.caption_photos), self.captions, self.caption_truth, hub)
        row["scene P@10"] = relevant_retrieval(encode(self.scene_photos), self.scene_relevant, self.scenes, penalty=hub)["P@10"]
        row["tiny/1k hit@1"] = hit_at_k(encode(self.tiny_photos), self.tiny_truth, self.classes)["hit@1"]
        return row


def main() -> None:
    shared, work = shared_paths()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("settings", nargs="*", default=["17,1e-4,1e-3"])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--stock-classes", action="store_true", help="the map's classes from the stock top")
    args = parser.parse_args()
    started = time.perf_counter()
    roots = unpack(shared, work, SETS)
    sources = dev_split(roots, work / "dev")
    space = SentenceSpace.load()
    phase1, pairs, texts, classes = phase1_on_dev(sources, space)
    table: dict[str, dict[str, float]] = {}
    for setting in args.settings:
        first, lr, map_lr = setting.split(",")
        tune = TuneConfig(first=int(first), epochs=args.epochs, lr=float(lr), map_lr=float(map_lr), stock_classes=args.stock_classes)
        bottom, top = tower_split(DEFAULT_VISUAL, tune.first)
        bank = Bank(bottom, set_photos(roots), quiet=True)
        dev = Dev(roots, sources, bank, space)
        if "phase 1" not in table:
            table["phase 1"] = dev.score(TunedTower(top, phase1).eval(), phase1.hub)
            print("phase 1: " + ", ".join(f"{k} {v:.4g}" for k, v in table["phase 1"].items()), flush=True)

        stock = copy.deepcopy(top) if args.stock_classes else None

        def on_epoch(epoch: int, model, name: str = setting, top=top, stock=stock) -> None:
            tower = TunedTower(top, model, stock).eval()
            row = table[f"{name}, epoch {epoch}"] = dev.score(tower, model.hub)
            print(f"{name}, epoch {epoch}: " + ", ".join(f"{k} {v:.4g}" for k, v in row.items())
                  + f" ({time.perf_counter() - started:.0f} s so far)", flush=True)

        finetune(phase1, top, bank(pairs.photos), pairs, texts, classes, SHIPPED_CONFIG, tune, on_epoch)
    base = table["phase 1"]
    allowed = {
        name: row for name, row in table.items()
        if row["scene P@10"] >= base["scene P@10"] - TOLERANCE and row["tiny/1k hit@1"] >= base["tiny/1k hit@1"] - TOLERANCE
    }
    chosen = max(allowed, key=lambda name: allowed[name]["R@1"] + allowed[name]["R@10"])
    print(f"chosen: {chosen} ({time.perf_counter() - started:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps({"table": table, "chosen": chosen}, indent=1))


if __name__ == "__main__":
    main()
