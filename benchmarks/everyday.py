"""Everyday words: how a short query is read, chosen on dev, then scored on val once.

    .venv/bin/python benchmarks/everyday.py dev [--shared ../shared/data] [--work data] [--json everyday-dev.json]
    .venv/bin/python benchmarks/everyday.py val [--shared ../shared/data] [--work data] [--json everyday-val.json]
    .venv/bin/python benchmarks/everyday.py dev --phase2 [--json everyday-dev2.json]

The lists are benchmarks/everyday_words.json, committed before anything was
scored with them. Each word goes through the query path (``SentenceSpace.lookup``,
what ``xmodal query`` encodes) and ranks the photos of its set as a search does
(the model's hub penalty); the figure is its P@10, averaged over the list.

dev: Tiny ImageNet val (``TINY_PER_CLASS`` photos of each of the 200 classes;
no map here ever trained on Tiny's photos) and the Flickr8k and mini-places-20
dev splits of benchmarks/hubness.py, every photo through the map hubness.py
trains on train minus dev, with that map's hub bank and the shipped penalty
setting. Gloss tables come from scripts/build_glosses.py with each of its sense
rules (WordNet's first sense; the sense nearest the dev map's bank, by its 5
nearest texts or by its mean). The grid: no expansion;
then for each table, the word and its definition as one text ("prefix") or as
two unit vectors summed with the definition weighted 0.5, 1 or 2, each for
every short query and for multi-piece words only.

The rule, fixed before the grid was run: the row with the highest mean dev
P@10 wins; a row earlier in the grid's order (simpler: none first, first sense
before the bank's rules, nearest before centroid, prefix before sums, lower
weights first, multi-piece words before every word) that is within 0.005 of
the best wins instead.

``dev --phase2`` (added 2026-12-06, before it ran; benchmarks/feedback.py takes it too):
the same grid and rule, every dev photo through the shipped recipe (phase 1, then
phase 2) trained on train minus dev (``phase2_dev.shipped_on_dev``) instead of the
phase-1 map: the settings were chosen through a phase-1 map, and phase 2 now ships.

(Since 2026-12-07 a short query is also summed with "a photo of WORDS" before
the bank's texts, which this script does not do: benchmarks/mixed_library.py scores it.)

val: the shipped model file and the shipped table (``xmodal.text.glosses.DEFAULT``)
against no expansion and the prefix, on the val list, on the 30 words of
``language.EVERYDAY`` (Imagenette val) and on the Flickr8k val captions through
the same path (R@1/5/10: sentences are never expanded, so these must not move),
and the Imagenette class names and seen scene names typed as queries (P@10, mAP:
benchmarks/language.py embeds those in a batch, where no definition is read).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from hubness import dev_model, dev_split
from language import EVERYDAY, SHIPPED_CONFIG
from results import data_arguments, timed_figures, unpack

from xmodal.devise.encoder import DEFAULT_MODEL, Encoder
from xmodal.devise.hubness import HubPenalty
from xmodal.devise.model import DeviseModel
from xmodal.text.glosses import DEFAULT, Expansion, GlossTable
from xmodal.text.sentences import SentenceSpace
from xmodal.training.datasets import read_captions, read_labeled
from xmodal.training.evaluate import caption_retrieval, relevant_retrieval, retrieval
from xmodal.training.train import visual_outputs

ROOT = Path(__file__).resolve().parents[1]
LISTS = Path(__file__).with_name("everyday_words.json")
TINY_PER_CLASS = 20  # Tiny ImageNet val photos per class on dev (of 50): 4,000 photos on 2 cores
CAPTION_MATCHES = 2  # a photo answers a caption pattern when this many of its 5 captions match
TIE = 0.005
GRID = [
    Expansion(how, weight, scope)
    for how, weight in (("prefix", 1.0), ("sum", 0.5), ("sum", 1.0), ("sum", 2.0))
    for scope in ("pieces", "all")
]


class WordSet:
    """The photos of one set and, per word of a list, which of them answer it."""

    def __init__(self, photos: np.ndarray, words: list[str], relevant: np.ndarray) -> None:
        self.photos, self.words, self.relevant = photos, words, relevant

    def precisions(self, space: SentenceSpace, penalty: HubPenalty | None) -> dict[str, float]:
        """P@10 of each word, its vector from the query path."""
        queries = query_vectors(space, self.words)
        return {
            word: relevant_retrieval(self.photos, wanted[None], vector[None], penalty=penalty)["P@10"]
            for word, wanted, vector in zip(self.words, self.relevant, queries)
        }


def query_vectors(space: SentenceSpace, texts: list[str]) -> np.ndarray:
    """Each text as a query of its own reads it (``SentenceSpace.lookup``)."""
    return np.stack([space.lookup(text)[0] for text in texts])


def labeled_set(model, visual, paths, labels, entries: dict[str, list[str]]) -> WordSet:
    photos = model.encode(*visual_outputs(visual, list(paths), quiet=True))
    labels = np.array(labels)
    return WordSet(photos, list(entries), np.array([np.isin(labels, entries[w]) for w in entries]))


def caption_set(model, visual, captions, photos: np.ndarray, entries: dict[str, str]) -> WordSet:
    """Photos ``photos`` (rows of ``captions.photos``); relevant = enough captions match."""
    vectors = model.encode(*visual_outputs(visual, [captions.photos[i] for i in photos], quiet=True))
    keep = np.isin(captions.photo_of, photos)
    texts = [c for c, k in zip(captions.captions, keep) if k]
    owner = np.searchsorted(photos, captions.photo_of[keep])
    relevant = []
    for pattern in entries.values():
        hits = np.array([re.search(pattern, text, re.IGNORECASE) is not None for text in texts])
        relevant.append(np.bincount(owner[hits], minlength=len(photos)) >= CAPTION_MATCHES)
    return WordSet(vectors, list(entries), np.array(relevant))


def mean_precision(sets: list[WordSet], space: SentenceSpace, penalty: HubPenalty | None) -> tuple[float, dict]:
    words = {w: p for word_set in sets for w, p in word_set.precisions(space, penalty).items()}
    return float(np.mean(list(words.values()))), words


@dataclass
class DevSets:
    """The dev split's map, its hub penalty, and the three word sets its photos make, with the
    Tiny ImageNet labels of their photos, the Flickr8k captions (for caption retrieval) and the
    dev scene photos' labels (for scene names typed as queries)."""

    model: DeviseModel
    penalty: HubPenalty
    sets: list[WordSet]
    tiny_labels: list[str]
    flickr: Any
    flickr_dev: np.ndarray
    places_labels: list[str]


def dev_sets(args, space: SentenceSpace) -> DevSets:
    lists = json.loads(LISTS.read_text())["dev"]
    roots = unpack(args.shared, args.work, ("flickr8k-captions", "mini-places-20", "tiny-imagenet-200"))
    sources = dev_split(roots, args.work / "dev")
    model, visual = dev_model(args, sources, space)
    penalty = HubPenalty(model.hub.bank, SHIPPED_CONFIG.hub_neighbours, SHIPPED_CONFIG.hub_weight)
    tiny = read_labeled(roots["tiny-imagenet-200"])
    tiny = tiny.select(tiny.in_split("val"))
    first = {label: i for i, label in reversed(list(enumerate(tiny.labels)))}
    keep = [i for i, label in enumerate(tiny.labels) if i - first[label] < TINY_PER_CLASS]
    places = read_labeled(sources["mini-places-20"])
    places = places.select(places.in_split("dev"))
    flickr = read_captions(sources["flickr8k-captions"])
    flickr_dev = np.flatnonzero(flickr.in_split("dev"))
    tiny_labels = [tiny.labels[i] for i in keep]
    sets = [
        labeled_set(model, visual, [tiny.paths[i] for i in keep], tiny_labels, lists["tiny-imagenet-200"]),
        labeled_set(model, visual, places.paths, places.labels, lists["mini-places-20"]),
        caption_set(model, visual, flickr, flickr_dev, lists["flickr8k-captions"]),
    ]
    return DevSets(model, penalty, sets, tiny_labels, flickr, flickr_dev, list(places.labels))


def dev(args, space: SentenceSpace) -> dict:
    found = dev_sets(args, space)
    model, penalty, sets = found.model, found.penalty, found.sets
    sys.path.insert(0, str(ROOT / "scripts"))
    from build_glosses import SENSES, build

    table, words, order = {}, {}, []
    space.expansion = None
    table["none"], words["none"] = mean_precision(sets, space, penalty)
    order.append("none")
    with tempfile.TemporaryDirectory() as folder:
        for senses in SENSES:
            path = Path(folder) / f"{senses}.tsv"
            path.write_text(build(Path(args.wordnet), senses, space, model.hub.bank, "dev map"), encoding="utf-8")
            space.glosses = GlossTable(path)
            for expansion in GRID:
                name = f"{senses} sense, {expansion}"
                space.expansion = expansion
                table[name], words[name] = mean_precision(sets, space, penalty)
                order.append(name)
                print(f"{name}: dev P@10 {table[name]:.4f}", flush=True)
    best = max(table.values())
    chosen = next(name for name in order if table[name] >= best - TIE)
    print(f"none: dev P@10 {table['none']:.4f}\nchosen: {chosen} ({table[chosen]:.4f}; best {best:.4f})")
    return {"table": table, "chosen": chosen, "words": words, "photos": {
        "tiny": len(sets[0].photos), "places": len(sets[1].photos), "flickr": len(sets[2].photos)}}


@dataclass
class ValSets:
    """The shipped model; the val list's three word sets and the 30 words' set; the sets
    they come from (Imagenette, the val scenes, Flickr8k and its val photos)."""

    model: DeviseModel
    new: list[WordSet]
    old: list[WordSet]
    nette: Any
    places: Any
    flickr: Any
    photos: np.ndarray


def val_sets(args, space: SentenceSpace, visual) -> ValSets:
    lists = json.loads(LISTS.read_text())["val"]
    roots = unpack(args.shared, args.work, ("flickr8k-captions", "mini-places-20", "imagenette-val"))
    model = DeviseModel.load(DEFAULT_MODEL, space=space.identity)
    nette = read_labeled(roots["imagenette-val"])
    places = read_labeled(roots["mini-places-20"])
    places = places.select(places.in_split("val"))
    flickr = read_captions(roots["flickr8k-captions"])
    photos = np.flatnonzero(flickr.in_split("val"))
    new = [
        labeled_set(model, visual, nette.paths, nette.labels, lists["imagenette-val"]),
        labeled_set(model, visual, places.paths, places.labels, lists["mini-places-20"]),
        caption_set(model, visual, flickr, photos, lists["flickr8k-captions"]),
    ]
    old = [labeled_set(model, visual, nette.paths, nette.labels, EVERYDAY)]
    return ValSets(model, new, old, nette, places, flickr, photos)


def val(args, space: SentenceSpace, visual) -> dict:
    found = val_sets(args, space, visual)
    model, new, old, nette, places, flickr, photos = (
        found.model, found.new, found.old, found.nette, found.places, found.flickr, found.photos)
    keep = np.isin(flickr.photo_of, photos)
    captions = [c for c, k in zip(flickr.captions, keep) if k]
    truth = np.searchsorted(photos, flickr.photo_of[keep])
    caption_photos = new[2].photos
    names = sorted(nette.classes)  # the class names and seen scene names, typed as queries
    name_truth = np.array([names.index(label) for label in nette.labels])
    seen = sorted({label for label, split in zip(places.labels, places.zero_shot) if split != "unseen"})
    scene_relevant = np.array(places.labels)[None, :] == np.array(seen)[:, None]
    table, words = {}, {}
    for name, expansion in (("none", None), ("prefix", Expansion("prefix")), (f"chosen: {DEFAULT}", DEFAULT)):
        space.expansion = expansion
        row = {}
        row["new list P@10"], words[name] = mean_precision(new, space, model.hub)
        row["EVERYDAY (30) P@10"], words[name + " (30)"] = mean_precision(old, space, model.hub)
        row.update(caption_retrieval(caption_photos, query_vectors(space, captions), truth, model.hub))
        found = retrieval(new[0].photos, name_truth, query_vectors(space, names), penalty=model.hub)
        row["class name P@10"], row["class name mAP"] = found["P@10"], found["mAP"]
        found = relevant_retrieval(new[1].photos, scene_relevant, query_vectors(space, seen), penalty=model.hub)
        row["scene P@10"], row["scene mAP"] = found["P@10"], found["mAP"]
        table[name] = row
        print(f"{name}: " + ", ".join(f"{k} {v:.4g}" for k, v in row.items()), flush=True)
    return {"table": table, "words": words}


def split_arguments(description: str) -> argparse.ArgumentParser:
    """The options of a script scored on dev or val over these word lists."""
    parser = data_arguments(description)
    parser.add_argument("split", choices=("dev", "val"))
    parser.add_argument("--wordnet", default="/usr/share/wordnet")
    parser.add_argument("--phase2", action="store_true", help="dev: through the shipped recipe (phase 2) on train minus dev")
    return parser


def run_split(args: argparse.Namespace, dev: Callable, val: Callable) -> None:
    """Score ``args.split`` with the shipped space, timed, its figures to ``--json``: dev through
    ``hubness.dev_model``'s model and network, val through the shipped model's own network (a
    phase-2 tower: the photos must be embedded as searches embed them)."""
    def compute() -> dict:
        space = SentenceSpace.load()
        return dev(args, space) if args.split == "dev" else val(args, space, Encoder.load(space).visual)

    timed_figures(args, compute)


def main() -> None:
    run_split(split_arguments(__doc__.splitlines()[0]).parse_args(), dev, val)


if __name__ == "__main__":
    main()
