"""Photos as several vectors: parts of the picture mapped beside the whole (issue 15; dev only).

    .venv/bin/python benchmarks/regions.py [--shared ../shared/data] [--work data] [--json regions-dev.json]

A photo is stored today as one vector: the map applied to features pooled over the
whole picture. A caption names several things and a short everyday word often names
one part ("steeple", "angler"), which the whole picture's average can drown. The
network's last grid (9 x 9 cells of 1,280 channels for EfficientNet-Lite2) can be
pooled over parts of the picture as well, and the same map applied to each part
(its classifier block reads the stock classifier applied to the part's own pooling),
giving a photo several vectors, as fragment models (Karpathy et al. 2014) and
Qdrant's multivectors with MaxSim do.

Through the phase-2 dev model (``hubness.dev_model --phase2``: the shipped recipe
trained on train minus dev; its network run here in torch to keep the grid), every
dev photo gets its whole-picture vector and the vectors of two sets of parts:
``quad5`` (the four corner windows two thirds of each side, and the centre one)
and ``grid9`` (the 3 x 3 cells). A query scores a photo as

    (1 - lam) * cos(query, whole) + lam * max over parts cos(query, part) - penalty(whole)

with lam 0.25 or 0.5, or ``max`` (the best of the whole and its parts, less the
whole's penalty). The penalty is the dev model's hub penalty at the shipped setting,
applied to every photo (no candidate pool), in the baseline row too.

Scored on dev only: caption R@1 / R@10 (the 5,000 dev captions over the 1,000
dev Flickr8k photos), seen scene P@10 (the dev scene photos), and the dev list of
everyday_words.json (P@10, each word read as ``SentenceSpace.lookup`` reads it,
over its set's photos, as ``everyday.py dev`` scores it).

The rule, fixed before this script first ran: a variant is acceptable when no row is
lower than the whole-photo baseline by more than 0.5 points of caption R@10, 0.005
of everyday P@10 or 0.01 of scene P@10; the best acceptable variant by
(R@10 gain / 100 + everyday gain) is reported. Building parts into the index (several
vectors a photo, against issue 17's footprint) is worth proposing only if that
variant gains at least 1.5 points of dev caption R@10 or 0.02 of dev everyday
P@10. Val is not scored here.
"""

from __future__ import annotations

import json
import re

import numpy as np
import torch
from everyday import CAPTION_MATCHES, LISTS, TINY_PER_CLASS, query_vectors
from hubness import dev_model, dev_split
from language import SHIPPED_CONFIG
from results import data_arguments, timed_figures, unpack

from xmodal.devise.hubness import HubPenalty
from xmodal.text.sentences import SentenceSpace
from xmodal.text.space import embed_texts
from xmodal.training.datasets import read_captions, read_labeled
from xmodal.vision.decode import read_pixels

VARIANTS = [(parts, lam) for parts in ("quad5", "grid9") for lam in (0.25, 0.5, "max")]
BATCH = 32


def windows(size: int) -> dict[str, list[tuple[slice, slice]]]:
    """The parts of a ``size`` x ``size`` grid each set pools over."""
    big = round(size * 2 / 3)
    start = [0, size - big]
    centre = (size - big) // 2
    third = [round(size * i / 3) for i in range(4)]
    return {
        "quad5": [(slice(r, r + big), slice(c, c + big)) for r in start for c in start]
        + [(slice(centre, centre + big), slice(centre, centre + big))],
        "grid9": [(slice(third[i], third[i + 1]), slice(third[j], third[j + 1])) for i in range(3) for j in range(3)],
    }


def part_vectors(model, visual, paths: list[str]) -> dict[str, np.ndarray]:
    """Unit vectors of each photo: ``whole`` (n, d) and each part set's (n, parts, d)."""
    tower = visual.torch_module()  # the tuned top's features, the stock top's classes, one bottom
    out: dict[str, list] = {"whole": [], "quad5": [], "grid9": []}
    for start in range(0, len(paths), BATCH):
        pixels = torch.from_numpy(np.stack([read_pixels(p, visual) for p in paths[start : start + BATCH]]))
        with torch.no_grad():
            activations = tower.bottom.grid(pixels)
            grids = []
            for top in (tower.tuned, tower.stock):
                x = activations
                for block in top.blocks:
                    x = block(x)
                grids.append(top.head(x))
            tuned, stock = grids
            classifier = tower.stock.fc
            parts = {"whole": [(slice(None), slice(None))], **windows(tuned.shape[-1])}
            for name, cells in parts.items():
                vectors = []
                for rows, cols in cells:
                    features = tuned[:, :, rows, cols].mean(dim=(2, 3)).numpy()
                    logits = classifier(stock[:, :, rows, cols].mean(dim=(2, 3))).numpy()
                    vectors.append(model.encode(features, logits))
                out[name].append(np.stack(vectors, axis=1))
        print(f"  {min(start + BATCH, len(paths))}/{len(paths)} photos", end="\r", flush=True)
    print()
    arrays = {name: np.concatenate(chunks) for name, chunks in out.items()}
    arrays["whole"] = arrays["whole"][:, 0]
    return arrays


def scores(queries: np.ndarray, photos: dict[str, np.ndarray], penalty: HubPenalty, variant) -> np.ndarray:
    """Queries x photos, as the docstring's formula."""
    whole = queries @ photos["whole"].T - penalty.of(photos["whole"])[None, :]
    if variant is None:
        return whole
    parts, lam = variant
    cosine = queries @ photos["whole"].T
    best = np.einsum("qd,npd->qnp", queries, photos[parts]).max(axis=2)
    if lam == "max":
        return whole + np.maximum(best - cosine, 0)
    return whole + lam * (best - cosine)


def precision_at_10(score: np.ndarray, relevant: np.ndarray) -> list[float]:
    top = np.argsort(-score, axis=1, kind="stable")[:, :10]
    return [float(relevant[q, top[q]].mean()) for q in range(len(score)) if relevant[q].any()]


def compute(args) -> dict:
    space = SentenceSpace.load()
    roots = unpack(args.shared, args.work, ("flickr8k-captions", "mini-places-20", "tiny-imagenet-200"))
    sources = dev_split(roots, args.work / "dev")
    args.phase2 = True
    model, visual = dev_model(args, sources, space)
    penalty = HubPenalty(model.hub.bank, SHIPPED_CONFIG.hub_neighbours, SHIPPED_CONFIG.hub_weight)
    lists = json.loads(LISTS.read_text())["dev"]

    flickr = read_captions(sources["flickr8k-captions"])
    dev = np.flatnonzero(flickr.in_split("dev"))
    keep = np.isin(flickr.photo_of, dev)
    texts = [c for c, k in zip(flickr.captions, keep) if k]
    truth = np.searchsorted(dev, flickr.photo_of[keep])
    captions = embed_texts(space, texts)
    owner_matches = []
    for pattern in lists["flickr8k-captions"].values():
        hits = np.array([re.search(pattern, t, re.IGNORECASE) is not None for t in texts])
        owner_matches.append(np.bincount(truth[hits], minlength=len(dev)) >= CAPTION_MATCHES)
    places = read_labeled(sources["mini-places-20"])
    places = places.select(places.in_split("dev"))
    tiny = read_labeled(roots["tiny-imagenet-200"])
    tiny = tiny.select(tiny.in_split("val"))
    first = {label: i for i, label in reversed(list(enumerate(tiny.labels)))}
    tiny_keep = [i for i, label in enumerate(tiny.labels) if i - first[label] < TINY_PER_CLASS]

    print("photo vectors (Flickr8k dev, scenes dev, Tiny ImageNet val)", flush=True)
    sets = {
        "flickr": part_vectors(model, visual, [flickr.photos[i] for i in dev]),
        "places": part_vectors(model, visual, list(places.paths)),
        "tiny": part_vectors(model, visual, [tiny.paths[i] for i in tiny_keep]),
    }
    place_labels, tiny_labels = np.array(places.labels), np.array([tiny.labels[i] for i in tiny_keep])
    scenes = sorted(set(place_labels))
    scene_vectors = embed_texts(space, scenes)
    scene_relevant = place_labels[None, :] == np.array(scenes)[:, None]
    word_sets = [
        ("tiny", list(lists["tiny-imagenet-200"]), np.array([np.isin(tiny_labels, v) for v in lists["tiny-imagenet-200"].values()])),
        ("places", list(lists["mini-places-20"]), np.array([np.isin(place_labels, v) for v in lists["mini-places-20"].values()])),
        ("flickr", list(lists["flickr8k-captions"]), np.array(owner_matches)),
    ]
    word_queries = [query_vectors(space, words) for _, words, _ in word_sets]

    table = {}
    for variant in [None, *VARIANTS]:
        name = "whole photo (baseline)" if variant is None else f"{variant[0]}, {variant[1]}"
        score = scores(captions, sets["flickr"], penalty, variant)
        own = score[np.arange(len(truth)), truth]
        rank = (score > own[:, None]).sum(axis=1) + 1
        row = {"R@1": float((rank <= 1).mean() * 100), "R@10": float((rank <= 10).mean() * 100)}
        row["scene P@10"] = float(np.mean(precision_at_10(scores(scene_vectors, sets["places"], penalty, variant), scene_relevant)))
        words = []
        for (set_name, _, relevant), queries in zip(word_sets, word_queries):
            words += precision_at_10(scores(queries, sets[set_name], penalty, variant), relevant)
        row["everyday P@10"] = float(np.mean(words))
        table[name] = row
        print(f"{name}: " + ", ".join(f"{k} {v:.4f}" for k, v in row.items()), flush=True)

    base = table["whole photo (baseline)"]
    acceptable = {
        name: row for name, row in table.items() if name != "whole photo (baseline)"
        and row["R@10"] >= base["R@10"] - 0.5 and row["everyday P@10"] >= base["everyday P@10"] - 0.005
        and row["scene P@10"] >= base["scene P@10"] - 0.01
    }

    def gain(row: dict) -> float:
        return (row["R@10"] - base["R@10"]) / 100 + row["everyday P@10"] - base["everyday P@10"]

    best = max(acceptable, key=lambda name: gain(acceptable[name]), default=None)
    worth = best is not None and (
        acceptable[best]["R@10"] - base["R@10"] >= 1.5 or acceptable[best]["everyday P@10"] - base["everyday P@10"] >= 0.02
    )
    print(f"best acceptable: {best}; worth building: {worth}")
    return {"table": table, "best": best, "worth building": worth}


def main() -> None:
    args = data_arguments(__doc__.splitlines()[0]).parse_args()
    timed_figures(args, lambda: compute(args))


if __name__ == "__main__":
    main()
