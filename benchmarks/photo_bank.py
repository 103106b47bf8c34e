"""Sentences read with the training photos their nearest training captions describe: tried on dev.

    .venv/bin/python benchmarks/photo_bank.py [--shared ../shared/data] [--work data] [--json photo-bank-dev.json]
    .venv/bin/python benchmarks/photo_bank.py --all-sets [--json photo-bank-all-dev.json]
    .venv/bin/python benchmarks/photo_bank.py --short [--json photo-bank-short-dev.json]

Issue 15's captions miss (val R@10 61.1 against 66) is the map's: a caption's
vector is a text's, and the photos it should find sit in the photos' own part
of the space (the modality gap), placed there by a linear map of ImageNet
features. Every earlier reading of a sentence moved it among texts (the bank's
nearest texts, round 4: every row lost) or toward the index's own first answers
(feedback: every row lost R@10). Untried: text-to-text nearness, which the
sentence encoder does well, used to reach *photos*. A caption's nearest training
captions belong to training photos; those photos' mapped vectors say where
photos that answer such a caption land. The query becomes
``unit(q + weight * unit(mean of those photos' vectors)))``.

Dev only, through the phase-2 dev model of ``everyday.py dev --phase2`` (the
shipped recipe trained on train minus dev) and its hub penalty as searches
rank. The bank: the Flickr8k train-minus-dev photos (mapped by that model, as
an index stores them) and their captions (as typed, ``SentenceSpace.encode``).
Queries: the Flickr8k dev captions, as typed (``SentenceSpace.lookup``),
ranked against the dev photos.

Grid (written 2026-12-07, committed before it ran), in this order:

- "as typed";
- "captions, k": the ``k`` training captions nearest the query (by text
  cosine), their photos' mean (a photo counted once per caption), ``k`` 5 / 10 / 20
  x ``weight`` 0.25 / 0.5 / 1;
- "described, k": the ``k`` training photos whose unit mean caption vector is
  nearest the query, ``k`` 5 / 10 / 20 x ``weight`` 0.25 / 0.5 / 1;
- "shift": the query plus ``weight`` x the unit difference of the bank photos'
  mean and the bank captions' mean (one direction for every query: the gap
  alone), ``weight`` 0.25 / 0.5 / 1.

Guards, because the bank is Flickr8k's and so are the dev photos (a gain there
may be a pull toward Flickr8k-like photos, which a user's photos are not):
sentences about other photos, "a photo of a NAME", for the 15 seen dev scenes
on the mini-places dev photos and the 200 Tiny ImageNet classes (first WordNet
name) on the dev Tiny photos, mean P@10 each.

The rule: a row that loses more than 0.01 of either guard's P@10 against "as
typed" is out. Of the rest, the row with the highest dev caption R@10 is taken up
if it beats "as typed" by at least 0.5 R@10 and loses at most 0.5 R@1
(``feedback.CAPTION_GAIN``, the rule sentences had in rounds 3 and 4); otherwise
sentences stay as typed and val is not scored.

Round 1 (2026-12-07 10:20 UTC): up to +1.8 R@10, but every bank row cost the
scene sentences 0.027 to 0.067 at weight 0.25 (more at higher weights): out by the
guard; sentences stay as typed.

``--all-sets`` (round 2, written and committed before it ran): a bank of every
training source, so that a sentence about a scene or a class finds photos of its
own kind rather than Flickr8k's. Entries, each a text vector and a photo vector:
each Flickr8k train-minus-dev photo (its captions' unit mean; its mapped
vector); each of the 15 seen scenes (its name as typed; the unit mean of its
train-minus-dev photos' vectors); each of the 160 seen Tiny ImageNet classes
(its first WordNet name; the unit mean of its first ``TINY_BANK`` train photos).
A query's ``k`` nearest entries by text, their photo vectors' mean, ``k`` 1 / 3 /
5 / 10 x ``weight`` 0.25 / 0.5; and for comparison round 1's "described, 5" and
"described, 10" at 0.25 (the Flickr8k entries alone). Guards: round 1's two
(their photos now mostly of the bank's own kinds: 160 of the 200 Tiny classes
have an entry), and two kinds no bank entry holds:
the 5 **unseen** scenes ("a photo of a NAME" over their 1,600 train photos
pooled with the 1,200 dev scene photos, P@10 of the unseen names) and **CIFAR-10**
("a photo of a NAME", 10 classes, over ``CIFAR_PER_CLASS`` test photos of each).
The rule: out if any of the four guards loses more than 0.01 against "as typed";
of the rest, the best dev caption R@10 is taken up with at least +0.5 R@10 and at
most -0.5 R@1; otherwise sentences stay as typed and val is not scored.

Round 2 (2026-12-07 10:21 UTC): no row gained captions within the guards; with
``k`` 1 at weight 0.25 every guard gained (class sentences +0.067, CIFAR-10 +0.050).

``--short`` (round 3, written and committed before it ran): that lead for short
queries. Each dev list word (``everyday.py dev``'s three sets) is read as
``Engine.query`` reads a short query (definition, "a photo of WORDS" unless it
is a bank text, the 3 nearest bank texts: ``mixed_library.py``'s reading), then
moved ``weight`` toward the photo vector of its nearest entry by text, then
asked twice (``SHORT_QUERIES``), ranking the 6,200-photo pool of the three sets
(``mixed_library.py``'s "mixed" P@10). Rows: as shipped; the 175 name entries
alone (15 seen scenes, 160 seen Tiny classes: what a model file could carry) at
``weight`` 0.25 / 0.5; round 2's every-set bank at 0.25 / 0.5. Guards, kinds no
entry holds, read and asked the same way: the 5 unseen scene names over the
2,800 pooled scene photos, and CIFAR-10's 10 names over its 2,000 photos. The
rule: a row losing more than 0.01 of either guard's P@10 is out; the best
mixed P@10 of the rest is adopted if it beats as shipped by at least 0.02
(``mixed_library.GAIN``); then built into the query path and val scored once.

Round 3 (2026-12-07 10:26 UTC): every row lost 0.04 on the unseen scene names and
none gained 0.02 pooled (0.488 to 0.501 at best): short queries stay as shipped.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import numpy as np
from everyday import dev_sets
from feedback import (
    CAPTION_GAIN,
    caption_queries,
    precision,
    read_short,
    recalls,
    scores,
)
from hubness import dev_model, dev_split
from mixed_library import GAIN, as_typed_if_bank_text, typed_and_templated, unit
from results import data_arguments, unpack
from unseen_scenes import encoded

from xmodal.search.feedback import BANK_TEXT, NEAREST_TEXTS, SHORT_QUERIES
from xmodal.text.sentences import SentenceSpace
from xmodal.training.datasets import read_captions, read_labeled
from xmodal.training.evaluate import ranking

GUARD_LOSS = 0.01
KS = (5, 10, 20)
WEIGHTS = (0.25, 0.5, 1.0)
TEMPLATE = "a photo of a {}"
TINY_BANK = 50  # round 2: train photos of each seen Tiny ImageNet class in its bank entry
CIFAR_PER_CLASS = 200  # round 2: CIFAR-10 test photos of each class in its guard


class PhotoBank:
    """Training photos (mapped vectors) and their captions' vectors."""

    def __init__(self, photos: np.ndarray, captions: np.ndarray, owner: np.ndarray) -> None:
        self.photos, self.captions, self.owner = photos, captions, owner
        sums = np.zeros_like(photos)
        np.add.at(sums, owner, captions)
        self.described = unit(sums)
        self.gap = unit(photos.mean(axis=0) - captions.mean(axis=0))

    def read(self, queries: np.ndarray, how: str, k: int, weight: float) -> np.ndarray:
        if how == "shift":
            return unit(queries + weight * self.gap)
        if how == "described":
            return toward_entries(queries, self.described, self.photos, k, weight)
        chosen = self.owner[np.argsort(-(queries @ self.captions.T), axis=1)[:, :k]]
        return unit(queries + weight * unit(self.photos[chosen].mean(axis=1)))


def grid() -> list[tuple[str, int, float]]:
    rows = [("captions", k, w) for k in KS for w in WEIGHTS] + [("described", k, w) for k in KS for w in WEIGHTS]
    return rows + [("shift", 0, w) for w in WEIGHTS]


def name(row: tuple[str, int, float]) -> str:
    how, k, weight = row
    return f"shift, weight {weight:g}" if how == "shift" else f"{how}, {k}, weight {weight:g}"


def toward_entries(queries: np.ndarray, texts: np.ndarray, photos: np.ndarray, k: int, weight: float) -> np.ndarray:
    """Each query moved toward the mean photo vector of its ``k`` nearest entries by text."""
    chosen = np.argsort(-(queries @ texts.T), axis=1)[:, :k]
    return unit(queries + weight * unit(photos[chosen].mean(axis=1)))


def guard_precision(photos: np.ndarray, labels: list[str], names: list[str], vectors: np.ndarray, penalty) -> float:
    """Mean P@10 of each name's sentence over ``photos``, ranked as a search ranks."""
    ranked = ranking(photos, vectors, penalty)
    top = np.argsort(-ranked, axis=1, kind="stable")[:, :10]
    labels_array = np.array(labels)
    return float(np.mean([(labels_array[t] == label).mean() for t, label in zip(top, names)]))


def guard(space: SentenceSpace, photos: np.ndarray, labels: list[str], names: list[str]) -> tuple:
    return photos, labels, names, space.encode([TEMPLATE.format(n) for n in names])


def prototypes(model, visual, rows, names: list[str], per_name: int | None = None) -> np.ndarray:
    """The unit mean photo vector of each name's photos in ``rows`` (its first ``per_name``)."""
    labels = np.array(rows.labels)
    chosen = [np.flatnonzero(labels == n)[:per_name] for n in names]
    photos = encoded(model, visual, [rows.paths[i] for c in chosen for i in c])
    starts = np.cumsum([0] + [len(c) for c in chosen])
    return unit(np.stack([photos[a:b].mean(axis=0) for a, b in zip(starts[:-1], starts[1:])]))


def short_queries(args, space: SentenceSpace, found, entries: dict[str, tuple[np.ndarray, np.ndarray]], guards: dict) -> dict:
    """Round 3 (module docstring): short queries moved toward their nearest entry's photos."""
    bank, sets = found.model.hub.bank, found.sets
    lists = [*(s.words for s in sets), *(g[2] for g in guards.values())]
    typed, templated = typed_and_templated(space, found.model, args.wordnet, lists)
    read = [
        read_short(words, as_typed_if_bank_text(a, unit(unit(a) + unit(b)), bank), bank, NEAREST_TEXTS, BANK_TEXT)
        for words, a, b in zip(lists, typed, templated)
    ]
    pool = np.concatenate([s.photos for s in sets])
    offsets = np.cumsum([0, *(len(s.photos) for s in sets)])
    rows: dict[str, Callable[[np.ndarray], np.ndarray]] = {"as shipped": lambda q: q}
    for bank_name, (texts, photos) in entries.items():
        for weight in (0.25, 0.5):
            rows[f"{bank_name}, 1, weight {weight:g}"] = (
                lambda q, texts=texts, photos=photos, weight=weight: toward_entries(q, texts, photos, 1, weight))
    table = {}
    for row_name, move in rows.items():
        found_at = []
        for i, word_set in enumerate(sets):
            wanted = np.zeros((len(word_set.words), len(pool)), dtype=bool)
            wanted[:, offsets[i] : offsets[i + 1]] = word_set.relevant
            found_at.append(precision(scores(pool, move(read[i]), found.penalty, SHORT_QUERIES), wanted))
        row = {"mixed P@10": float(np.concatenate(found_at).mean())}
        row |= {f"mixed P@10, {n}": float(f.mean()) for n, f in zip(("tiny", "places", "flickr"), found_at)}
        for j, (kind, (photos_, labels, names, _)) in enumerate(guards.items()):
            relevant = np.array(labels)[None, :] == np.array(names)[:, None]
            ranked = scores(photos_, move(read[len(sets) + j]), found.penalty, SHORT_QUERIES)
            row[f"{kind} P@10"] = float(precision(ranked, relevant).mean())
        table[row_name] = row
        print(f"{row_name}: " + ", ".join(f"{k} {v:.4f}" for k, v in row.items()), flush=True)
    shipped = table["as shipped"]
    allowed = [n for n in table if n != "as shipped" and all(
        shipped[f"{g} P@10"] - table[n][f"{g} P@10"] <= GUARD_LOSS for g in guards)]
    best = max(allowed, key=lambda n: table[n]["mixed P@10"]) if allowed else None
    adopted = best is not None and table[best]["mixed P@10"] >= shipped["mixed P@10"] + GAIN
    print(f"best within the guards: {best}; {'adopted' if adopted else 'short queries stay as shipped'}")
    return {"table": table, "best": best, "adopted": bool(adopted)}


def main() -> None:
    parser = data_arguments(__doc__.splitlines()[0])
    parser.add_argument("--all-sets", action="store_true", help="round 2: a bank of every training source, four guards")
    parser.add_argument("--short", action="store_true", help="round 3: short queries moved toward their nearest entry")
    parser.add_argument("--wordnet", default="/usr/share/wordnet")
    args = parser.parse_args()
    args.phase2 = True
    started = time.perf_counter()
    space = SentenceSpace.load()
    found = dev_sets(args, space)
    roots = unpack(args.shared, args.work, ("flickr8k-captions", "mini-places-20", "tiny-imagenet-200", "cifar10"))
    sources = dev_split(roots, args.work / "dev")
    model, visual = dev_model(args, sources, space)
    flickr = read_captions(sources["flickr8k-captions"])
    train = np.flatnonzero(flickr.in_split("train"))
    photos = encoded(model, visual, [flickr.photos[i] for i in train])
    keep = np.isin(flickr.photo_of, train)
    texts = [c for c, k in zip(flickr.captions, keep) if k]
    bank = PhotoBank(photos, space.encode(texts), np.searchsorted(train, flickr.photo_of[keep]))
    print(f"bank: {len(train)} photos, {len(texts)} captions ({time.perf_counter() - started:.0f} s)", flush=True)

    captions, truth = caption_queries(space, found.flickr, found.flickr_dev)
    scenes = sorted(set(found.places_labels))
    classes = sorted(set(found.tiny_labels))
    guards = {
        "scenes": guard(space, found.sets[1].photos, found.places_labels, scenes),
        "classes": guard(space, found.sets[0].photos, found.tiny_labels, classes),
    }
    reads: dict[str, Callable[[np.ndarray], np.ndarray]] = {"as typed": lambda q: q}
    if not (args.all_sets or args.short):
        for row in grid():
            reads[name(row)] = lambda q, row=row: bank.read(q, *row)
    else:
        places = read_labeled(sources["mini-places-20"])
        seen_train = places.select(places.in_split("train") & (np.array(places.zero_shot) == "seen"))
        held = places.select((np.array(places.zero_shot) == "unseen") & places.in_split("train"))
        dev_places = places.select(places.in_split("dev"))
        tiny = read_labeled(roots["tiny-imagenet-200"])
        tiny_train = tiny.select(tiny.in_split("train") & (np.array(tiny.zero_shot) == "seen"))
        tiny_names = list(dict.fromkeys(tiny_train.labels))
        texts_all = np.concatenate([bank.described, space.encode(scenes), space.encode(tiny_names)])
        photos_all = np.concatenate([
            bank.photos, prototypes(model, visual, seen_train, scenes), prototypes(model, visual, tiny_train, tiny_names, TINY_BANK)
        ])
        print(f"bank of every set: {len(texts_all)} entries ({time.perf_counter() - started:.0f} s)", flush=True)
        hidden = sorted(set(held.labels))
        pooled = np.concatenate([encoded(model, visual, held.paths), found.sets[1].photos])
        guards["unseen scenes"] = guard(space, pooled, list(held.labels) + list(dev_places.labels), hidden)
        cifar = read_labeled(roots["cifar10"] / "test")
        cifar_labels = np.array(cifar.labels)
        cifar_names = sorted(set(cifar.labels))
        chosen = np.concatenate([np.flatnonzero(cifar_labels == n)[:CIFAR_PER_CLASS] for n in cifar_names])
        cifar_photos = encoded(model, visual, [cifar.paths[i] for i in chosen])
        guards["cifar-10"] = guard(space, cifar_photos, list(cifar_labels[chosen]), cifar_names)
        if args.short:
            names = len(scenes) + len(tiny_names)
            figures = short_queries(args, space, found, {
                "name entries": (texts_all[-names:], photos_all[-names:]), "every set's entries": (texts_all, photos_all),
            }, {g: guards[g] for g in ("unseen scenes", "cifar-10")})
            print(f"total {time.perf_counter() - started:.0f} s")
            if args.json:
                args.json.write_text(json.dumps(figures, indent=1))
            return
        for k in (5, 10):
            reads[f"Flickr8k entries alone (round 1's described), {k}, weight 0.25"] = (
                lambda q, k=k: toward_entries(q, bank.described, bank.photos, k, 0.25))
        for k in (1, 3, 5, 10):
            for weight in (0.25, 0.5):
                reads[f"every set's entries, {k}, weight {weight:g}"] = (
                    lambda q, k=k, weight=weight: toward_entries(q, texts_all, photos_all, k, weight))

    def score(read) -> dict[str, float]:
        row = recalls(found.sets[2].photos, read(captions), truth, found.penalty, None)
        for kind, (photos_, labels, names, vectors) in guards.items():
            row[f"{kind} P@10"] = guard_precision(photos_, labels, names, read(vectors), found.penalty)
        return row

    table = {row_name: score(read) for row_name, read in reads.items()}
    for row_name, row in table.items():
        print(f"{row_name}: " + ", ".join(f"{key} {value:.3f}" for key, value in row.items()), flush=True)
    typed = table["as typed"]
    allowed = [
        n for n in table
        if n != "as typed" and all(typed[f"{g} P@10"] - table[n][f"{g} P@10"] <= GUARD_LOSS for g in guards)
    ]
    best = max(allowed, key=lambda n: table[n]["R@10"]) if allowed else None
    taken = best is not None and (
        table[best]["R@10"] - typed["R@10"] >= CAPTION_GAIN and typed["R@1"] - table[best]["R@1"] <= CAPTION_GAIN
    )
    print(f"best within the guards: {best}; {'taken up' if taken else 'sentences stay as typed'}")
    print(f"total {time.perf_counter() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({"table": table, "best": best, "taken up": bool(taken)}, indent=1))


if __name__ == "__main__":
    main()
