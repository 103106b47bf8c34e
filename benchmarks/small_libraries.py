"""Short queries asked twice in small libraries: does feedback still help? Dev, then val once.

    .venv/bin/python benchmarks/small_libraries.py dev [--json small-dev.json]
    .venv/bin/python benchmarks/small_libraries.py val [--json small-val.json]
    .venv/bin/python benchmarks/small_libraries.py dev --gate [--json small-gate-dev.json]
    .venv/bin/python benchmarks/small_libraries.py val --gate TAU [--json small-gate-val.json]
    .venv/bin/python benchmarks/small_libraries.py dev --analogies [--json small-analogies-dev.json]

A short query is asked twice (``xmodal.search.feedback.SHORT_QUERIES``: the
second search moves toward the first search's 3 best photos), chosen on dev
sets of 1,000 to 5,000 photos. Found by hand on a 20-photo index (the 12
example photos of docs/photos and 8 Flickr8k photos): "astronaut" put the
astronaut third, "church" put a photo of coins first; asked once, each put the
right photo first. In a small library the first three photos are mostly not
what was asked for, and the second search follows them.

dev: ``mixed_library.py``'s pool (the three dev word sets of ``everyday.py dev``
through the dev model of the shipped recipe, ``--phase2``: 6,200 photos), each
word read as ``Engine.query`` reads a short query (definition, "a photo of
WORDS", the bank's nearest texts, a bank text as typed). Libraries: random
draws of the pool at each size of ``SIZES`` (``DRAWS`` draws a size, seeded),
and the whole pool. In each draw, every word with at least one answer in the
draw (its own set's relevant photos) ranks the draw's photos as a search ranks
them (the hub penalty), asked once and asked twice as shipped. Figures per
size: mean average precision over those words and draws (the whole ranking:
in a library of 20 photos, P@10 says little), and hit@1 (the first photo is
an answer).

The rule, fixed before it ran: for each size, feedback's gain is its mean AP
less asked-once's. ``MIN_PHOTOS`` becomes the smallest size in ``SIZES`` from
which the gain is at least 0 at that size and every larger one (the whole
pool included); a short query is asked twice only in an index of at least
that many photos. If that is the smallest size, nothing changes. Analogies
(``ANALOGIES``) have their own run and rule: ``dev --analogies`` (round 12, below).

The dev run (2026-12-07, 127 s) chose 500 photos: it ships (``MIN_PHOTOS``).
Val disagreed at 50 to 200 photos (docs/results.md, round 10).

``dev --gate`` (round 11, written down and committed before it ran). Val put the
crossover elsewhere (feedback gained there from 50 photos): what decides it is
how many photos answer a word, not the library's size. The first search's own
scores say that: when its first 3 photos all sit near the query, the second
search has something to follow. Rows: asked twice always; asked once always;
the shipped size rule (500 photos); and asked twice only when the lowest cosine
of the first search's first 3 photos (as ranked, the hub penalty applied) is at
least tau, for tau at the 10th, 25th, 50th, 75th and 90th percentiles of that
figure over the dev words ranking the whole pool. Figure: mean AP over the
sizes (each size and the whole pool weighted alike). The rule: the row with
the highest figure; a row earlier in that order within 0.002 of it wins
instead; a tau row replaces the size rule only if it beats it by at least 0.005
and loses at most 0.005 AP against asking twice always on the whole pool.
``val --gate`` scores the same rows with the chosen tau (val once). The dev run
(2026-12-07, 21 s) chose the size rule: no tau matched it, so val was not scored.

``dev --analogies`` (round 12, written down and committed before it ran): the same question for
an analogy, ``PHOTO - A + B``, which is asked twice too (``ANALOGIES``: 0.5 x its first 3
photos), on benchmarks/visual_analogies.py's dev photos (the 1,000 Flickr8k dev photos
through the dev model of the shipped recipe) and its queries. Libraries: ``DRAWS`` random
draws at each size of ``SIZES`` below 1,000, each holding the query photo and that many
photos in all, and the whole 1,000. A query counts in a library where at least one other
photo shows its subject in B. Rows: the shipped reading asked once and asked twice (its
words read with "a photo of", ``visual_analogies.with_sentences``). Figure: mean AP of the
photos that show S in B (the query photo left out, as a search leaves it out). The rule:
``ANALOGY_MIN_PHOTOS`` becomes the smallest size from which asking twice is never below
asking once (the whole 1,000 included); an analogy is asked twice only in an index of at
least that many photos; if that is 20, nothing changes. ``val --analogies`` scores the
same on the Flickr8k val photos with the shipped model, once, after the choice. The dev
run (2026-12-07, 809 s) chose 100 photos; it ships (``ANALOGY_MIN_PHOTOS``), and val put
the crossover in the same place (docs/expressions.md, round 12).

val, once, after the choice: the same draws of the val list's three sets
(``mixed_library.py val``'s pool: Imagenette val, mini-places-20 val, Flickr8k
val photos, the shipped model), asked once and twice, with the rule's
threshold applied.
"""

from __future__ import annotations

import numpy as np
from everyday import dev_sets, query_vectors, split_arguments, val_sets
from feedback import read_short, scores
from mixed_library import as_typed_if_bank_text, typed_and_templated, unit
from results import timed_figures

from xmodal.devise.encoder import Encoder
from xmodal.search.feedback import (
    BANK_TEXT,
    MIN_PHOTOS,
    NEAREST_TEXTS,
    SHORT_QUERIES,
    TEMPLATE,
)
from xmodal.text.glosses import DEFAULT
from xmodal.text.sentences import SentenceSpace

SIZES = (20, 50, 100, 200, 500, 1000, 2000)  # then the whole pool
DRAWS = 20
SEED = 0


def average_precision(ranked: np.ndarray, relevant: np.ndarray) -> np.ndarray:
    """AP per query (rows that have an answer), the whole ranking read."""
    order = np.argsort(-ranked, axis=1, kind="stable")
    hits = np.take_along_axis(relevant, order, axis=1).astype(np.float64)
    found = np.cumsum(hits, axis=1)
    ranks = np.arange(1, relevant.shape[1] + 1)
    return (hits * found / ranks).sum(axis=1) / hits.sum(axis=1)


def library_figures(photos: np.ndarray, relevant: np.ndarray, queries: np.ndarray, penalty, size: int | None,
                    rng: np.random.Generator, gates: dict[str, float] | None = None) -> dict[str, dict[str, float]]:
    """Mean AP and hit@1 over ``DRAWS`` libraries of ``size`` photos (None: the whole pool, once),
    asked once and asked twice; with ``gates`` (name -> tau), also asked twice only where
    :func:`first_three` reaches tau."""
    draws = [np.arange(len(photos))] if size is None else [rng.choice(len(photos), size, replace=False) for _ in range(DRAWS)]
    names = ["once", "twice", *(gates or {})]
    found: dict[str, dict[str, list]] = {name: {"ap": [], "hit@1": []} for name in names}
    for chosen in draws:
        wanted = relevant[:, chosen]
        keep = wanted.any(axis=1)
        if not keep.any():
            continue
        ranked = {"once": scores(photos[chosen], queries[keep], penalty, None),
                  "twice": scores(photos[chosen], queries[keep], penalty, SHORT_QUERIES)}
        if gates:
            lowest = first_three(photos[chosen], queries[keep], ranked["once"])
            for name, tau in gates.items():
                ranked[name] = np.where((lowest >= tau)[:, None], ranked["twice"], ranked["once"])
        for name in names:
            found[name]["ap"].append(average_precision(ranked[name], wanted[keep]))
            first = np.argmax(ranked[name], axis=1)  # argmax takes the first of ties, as the stable sort does
            found[name]["hit@1"].append(wanted[keep][np.arange(keep.sum()), first])
    return {name: {key: float(np.concatenate(v).mean()) for key, v in figures.items()} for name, figures in found.items()}


def first_three(photos: np.ndarray, queries: np.ndarray, ranked: np.ndarray) -> np.ndarray:
    """Per query, the lowest cosine among the first 3 photos of its first search (``ranked``)."""
    top = np.argsort(-ranked, axis=1, kind="stable")[:, : SHORT_QUERIES.k]
    cosines = np.einsum("qd,qkd->qk", queries, photos[top])
    return cosines.min(axis=1)


PERCENTILES = (10, 25, 50, 75, 90)


def gate_table(photos: np.ndarray, relevant: np.ndarray, queries: np.ndarray, penalty,
               gates: dict[str, float]) -> dict[str, dict]:
    """Round 11's rows at every size: mean AP (and hit@1) of each way of asking, and the mean over sizes."""
    rng = np.random.default_rng(SEED)
    by_size = {}
    for size in (*SIZES, None):
        label = str(size) if size else f"all {len(photos)}"
        by_size[label] = library_figures(photos, relevant, queries, penalty, size, rng, gates)
    rows = {"twice always": "twice", "once always": "once", f"size rule ({MIN_PHOTOS})": None, **{g: g for g in gates}}
    table = {}
    for row, source in rows.items():
        if source is None:  # the size rule: once below MIN_PHOTOS, twice from it
            sizes = {label: figures["twice" if (label.startswith("all") or int(label) >= MIN_PHOTOS) else "once"]
                     for label, figures in by_size.items()}
        else:
            sizes = {label: figures[source] for label, figures in by_size.items()}
        table[row] = {"mean AP over sizes": float(np.mean([f["ap"] for f in sizes.values()])),
                      "sizes": {label: f["ap"] for label, f in sizes.items()},
                      "hit@1": {label: f["hit@1"] for label, f in sizes.items()}}
        print(f"{row}: mean AP {table[row]['mean AP over sizes']:.4f}; "
              + ", ".join(f"{label} {ap:.3f}" for label, ap in table[row]["sizes"].items()), flush=True)
    return table


def gate_choice(table: dict[str, dict]) -> str:
    """Round 11's rule (module docstring)."""
    best = max(row["mean AP over sizes"] for row in table.values())
    winner = next(name for name, row in table.items() if row["mean AP over sizes"] >= best - 0.002)
    size_rule = next(name for name in table if name.startswith("size rule"))
    whole = next(label for label in table["twice always"]["sizes"] if label.startswith("all"))
    if not winner.startswith("tau"):
        return winner
    beats = table[winner]["mean AP over sizes"] >= table[size_rule]["mean AP over sizes"] + 0.005
    keeps = table[winner]["sizes"][whole] >= table["twice always"]["sizes"][whole] - 0.005
    return winner if beats and keeps else size_rule


def table(photos: np.ndarray, relevant: np.ndarray, queries: np.ndarray, penalty) -> dict[str, dict]:
    rng = np.random.default_rng(SEED)
    rows = {}
    for size in (*SIZES, None):
        label = str(size) if size else f"all {len(photos)}"
        row = library_figures(photos, relevant, queries, penalty, size, rng)
        row["gain (AP)"] = row["twice"]["ap"] - row["once"]["ap"]
        rows[label] = row
        print(f"{label}: once AP {row['once']['ap']:.4f} hit@1 {row['once']['hit@1']:.4f}; "
              f"twice AP {row['twice']['ap']:.4f} hit@1 {row['twice']['hit@1']:.4f}; gain {row['gain (AP)']:+.4f}", flush=True)
    return rows


def threshold(rows: dict[str, dict]) -> int:
    """The rule of the module docstring: the smallest size from which feedback's gain is never below 0."""
    gains = [row["gain (AP)"] for row in rows.values()]
    sizes = [*SIZES, None]
    for i, size in enumerate(sizes):
        if all(g >= 0 for g in gains[i:]):
            return size if size is not None else max(SIZES) + 1
    return max(SIZES) + 1  # never seen to help: only above every size measured


def pool(sets, vectors, bank) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All sets' photos; every word read as a short query; which photos answer it (its own set's)."""
    photos = np.concatenate([s.photos for s in sets])
    offsets = np.cumsum([0, *(len(s.photos) for s in sets)])
    queries, relevant = [], []
    for i, (word_set, v) in enumerate(zip(sets, vectors)):
        queries.append(read_short(word_set.words, v, bank, NEAREST_TEXTS, BANK_TEXT))
        wanted = np.zeros((len(word_set.words), len(photos)), dtype=bool)
        wanted[:, offsets[i] : offsets[i + 1]] = word_set.relevant
        relevant.append(wanted)
    return photos, np.concatenate(relevant), np.concatenate(queries)


def dev(args) -> dict:
    space = SentenceSpace.load()
    args.phase2 = True
    found = dev_sets(args, space)
    bank, sets = found.model.hub.bank, found.sets
    typed, templated = typed_and_templated(space, found.model, args.wordnet, [s.words for s in sets])
    read = [as_typed_if_bank_text(a, unit(unit(a) + unit(b)), bank) for a, b in zip(typed, templated)]
    if args.gate is not None:
        photos, relevant, queries = pool(sets, read, bank)
        lowest = first_three(photos, queries, scores(photos, queries, found.penalty, None))
        gates = {f"tau {q}th percentile ({t:.3f})": float(t) for q, t in zip(PERCENTILES, np.percentile(lowest, PERCENTILES))}
        rows = gate_table(photos, relevant, queries, found.penalty, gates)
        chosen = gate_choice(rows)
        print(f"chosen: {chosen}")
        return {"table": rows, "chosen": chosen, "gates": gates}
    rows = table(*pool(sets, read, bank), found.penalty)
    chosen = threshold(rows)
    print(f"chosen: feedback from {chosen} photos" + (" (nothing changes)" if chosen == SIZES[0] else ""))
    return {"table": rows, "min photos": chosen}


def val(args) -> dict:
    space = SentenceSpace.load()
    found = val_sets(args, space, Encoder.load(space).visual)
    bank, sets = found.model.hub.bank, found.new
    space.expansion = DEFAULT
    typed = [query_vectors(space, s.words) for s in sets]
    templated = [query_vectors(space, [TEMPLATE.format(w) for w in s.words]) for s in sets]
    read = [as_typed_if_bank_text(a, unit(unit(a) + unit(b)), bank) for a, b in zip(typed, templated)]
    if args.gate is not None:
        return {"table": gate_table(*pool(sets, read, bank), found.model.hub, {f"tau {args.gate:g}": args.gate})}
    return {"table": table(*pool(sets, read, bank), found.model.hub)}


def analogy_libraries(args, split: str) -> dict:
    """Round 12 (module docstring): the shipped analogy reading asked once and twice in small libraries."""
    import visual_analogies as va
    from hubness import dev_model, dev_split
    from results import unpack

    from xmodal.devise.model import DeviseModel
    from xmodal.training.datasets import read_captions

    space = SentenceSpace.load()
    roots = unpack(args.shared, args.work, ("flickr8k-captions", "mini-places-20"))
    if split == "dev":
        sources = dev_split(roots, args.work / "dev")
        args.phase2 = True
        model, visual = dev_model(args, sources, space)
        flickr = read_captions(sources["flickr8k-captions"])
        hub = va.HubPenalty(model.hub.bank, va.SHIPPED_CONFIG.hub_neighbours, va.SHIPPED_CONFIG.hub_weight)
    else:
        flickr = read_captions(roots["flickr8k-captions"])
        model = DeviseModel.load(va.SHIPPED[space.name], space=space.identity)
        visual, hub = Encoder.load(space).visual, model.hub
    photos = va.flickr_photos(model, visual, flickr, np.flatnonzero(flickr.in_split(split)), hub)
    twice = va.with_sentences(model.hub.bank, space)
    once = va.texts_of(model.hub.bank, va.TEXTS, va.ADDED)
    words = twice.words[0]
    queries = photos.queries()
    rng = np.random.default_rng(SEED)
    rows = {}
    for size in (*(size for size in SIZES if size < len(photos.x)), None):
        label = str(size) if size else f"all {len(photos.x)}"
        found = {"once": [], "twice": []}
        for p, subject, a, b in queries:
            for _ in range(DRAWS if size else 1):
                others = np.delete(np.arange(len(photos.x)), p)
                chosen = np.concatenate([[p], rng.choice(others, size - 1, replace=False)]) if size else np.arange(len(photos.x))
                library = subset(photos, chosen)
                here = int(np.flatnonzero(chosen == p)[0])
                wanted = library.shows[(subject, b)].copy()
                wanted[here] = False
                if not wanted.any():
                    continue
                for name, read in (("once", once), ("twice", twice)):
                    scores = read(library, here, words[a], words[b]).copy()
                    scores[here] = -np.inf
                    keep = np.arange(len(chosen)) != here
                    found[name].append(average_precision(scores[keep][None], wanted[keep][None])[0])
        row = {name: float(np.mean(v)) for name, v in found.items()} | {"queries": len(found["once"])}
        row["gain (AP)"] = row["twice"] - row["once"]
        rows[label] = row
        print(f"{label}: once AP {row['once']:.4f}, twice AP {row['twice']:.4f}, gain {row['gain (AP)']:+.4f} "
              f"({row['queries']} queries)", flush=True)
    if split == "val":
        return {"table": rows}
    gains = [row["gain (AP)"] for row in rows.values()]
    sizes = [int(label) if not label.startswith("all") else len(photos.x) for label in rows]
    chosen = next((size for i, size in enumerate(sizes) if all(g >= 0 for g in gains[i:])), len(photos.x) + 1)
    print(f"chosen: analogies asked twice from {chosen} photos" + (" (nothing changes)" if chosen == SIZES[0] else ""))
    return {"table": rows, "min photos": chosen}


def subset(photos, chosen: np.ndarray):
    """visual_analogies.Photos restricted to the photos ``chosen``, in that order."""
    library = object.__new__(type(photos))
    library.x, library.looks, library.hub = photos.x[chosen], photos.looks[chosen], photos.hub
    library.penalty = photos.penalty[chosen]
    library.shows = {key: shown[chosen] for key, shown in photos.shows.items()}
    return library


def main() -> None:
    parser = split_arguments(__doc__.splitlines()[0])
    parser.add_argument("--gate", nargs="?", type=float, const=float("nan"), default=None,
                        help="round 11: dev, the gate's grid; val, the chosen tau (a number)")
    parser.add_argument("--analogies", action="store_true", help="round 12: analogies asked once and twice")
    args = parser.parse_args()
    if args.split == "val" and args.gate is not None and args.gate != args.gate:  # NaN: --gate without TAU
        parser.error("val --gate needs the tau dev chose: --gate TAU")
    if args.analogies:
        timed_figures(args, lambda: analogy_libraries(args, args.split))
    else:
        timed_figures(args, lambda: dev(args) if args.split == "dev" else val(args))


if __name__ == "__main__":
    main()
