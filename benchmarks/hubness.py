"""Choosing the hub penalty on a dev split held out of *train*, never on val.

    .venv/bin/python benchmarks/hubness.py [--shared ../shared/data] [--work data] [--json hubness.json]
    .venv/bin/python benchmarks/hubness.py --phase2 [--json hubness-dev2.json]

The data's README asks that settings are not chosen on val. So the last 1,000
Flickr8k train photos and the last 80 train photos of each seen mini-places-20
scene become a dev split (written as derived CSVs under ``WORK/dev``), a map
is trained with the default recipe (``language.DEFAULT_CONFIG``) on the rest,
and every penalty setting is scored on dev: caption R@1/R@10 (each dev caption
ranks the 1,000 dev photos) and scene P@10/mAP (each seen scene name ranks the
1,200 dev scene photos). The rule, fixed before the grid was run: the setting
with the highest dev R@1 + R@10 whose dev scene P@10 is no lower than without
a penalty. The grid's first weight, 0, is the map without one.

``--phase2`` (added 2026-12-06, before it ran): the same grid and rule through the
shipped recipe (phase 1, then phase 2) trained on train minus dev
(``phase2_dev.shipped_on_dev``), its photos through its own network: the penalty was
chosen through a phase-1 map, and phase 2 now ships.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from language import DEFAULT_CONFIG, DEFAULT_SPEC, DEFAULT_VISUAL, HIERARCHY, SETS
from results import data_arguments, unpack

from xmodal.devise.hubness import HubPenalty
from xmodal.devise.model import DeviseModel
from xmodal.text.sentences import SentenceSpace
from xmodal.text.space import embed_texts
from xmodal.training.datasets import read_captions, read_labeled
from xmodal.training.evaluate import caption_retrieval, relevant_retrieval
from xmodal.training.train import train_pairs, visual_outputs
from xmodal.vision.visual import load_visual

DEV_PHOTOS = 1000  # Flickr8k: the last train photos
DEV_PER_SCENE = 80  # mini-places-20: the last train photos of each seen scene
NEIGHBOURS = (10, 20, 50)
WEIGHTS = (0.0, 0.3, 0.5, 0.7)


def dev_split(roots: dict[str, Path], work: Path) -> dict[str, Path]:
    """Derived copies of the two training sets' CSVs with a dev split carved out of train."""
    out = {}
    flickr = roots["flickr8k-captions"] / "captions.csv"
    rows = list(csv.DictReader(flickr.open(encoding="utf-8")))
    train_photos = list(dict.fromkeys(r["path"] for r in rows if r["split"] == "train"))
    dev = set(train_photos[-DEV_PHOTOS:])
    out["flickr8k-captions"] = _write(work / "flickr8k-captions" / "captions.csv", rows, flickr.parent, dev)
    places = roots["mini-places-20"] / "labels.csv"
    rows = list(csv.DictReader(places.open(encoding="utf-8")))
    dev = set()
    for scene in {r["label"] for r in rows if r["zero_shot_split"] == "seen"}:
        dev.update([r["path"] for r in rows if r["label"] == scene and r["split"] == "train"][-DEV_PER_SCENE:])
    out["mini-places-20"] = _write(work / "mini-places-20" / "labels.csv", rows, places.parent, dev)
    return out


def dev_map(sources: dict[str, Path], space, visual) -> DeviseModel:
    """The default recipe trained on train minus dev (``sources`` from :func:`dev_split`),
    with a hub bank (of its own training texts) but no weight chosen yet."""
    config = replace(DEFAULT_CONFIG, hub_weight=1.0)  # any weight: the bank is what this needs
    return train_pairs(list(sources.values()), space, visual, config, DEFAULT_SPEC, HIERARCHY, quiet=True).model


def dev_model(args, sources: dict[str, Path], space) -> tuple[DeviseModel, object]:
    """The model dev choices are made through, and its network: with ``args.phase2`` the
    shipped recipe (phase 1, then phase 2) trained on train minus dev and kept in
    ``WORK/dev`` (:func:`phase2_dev.shipped_on_dev`); else :func:`dev_map` over the stock network."""
    if getattr(args, "phase2", False):
        # imported here, not at the top: phase2_dev builds on this module's split
        from phase2_dev import shipped_on_dev

        roots = unpack(args.shared, args.work, SETS)
        return shipped_on_dev(roots, sources, space, args.work / "dev" / "phase2-dev.safetensors")
    visual = load_visual(DEFAULT_VISUAL)
    return dev_map(sources, space, visual), visual


def _write(path: Path, rows: list[dict], root: Path, dev: set[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            split = "dev" if row["path"] in dev else row["split"]
            writer.writerow({**row, "path": str(root / row["path"]), "split": split})
    return path


@dataclass
class DevQueries:
    """The dev model and what it is scored on: the dev photos through it, their captions as
    queries (each caption's photo in ``truth``), the dev scene photos and their seen scene names."""

    model: DeviseModel
    photos: np.ndarray
    captions: np.ndarray
    truth: np.ndarray
    scene_photos: np.ndarray
    relevant: np.ndarray
    scene_vectors: np.ndarray


def dev_queries(description: str) -> tuple[argparse.Namespace, DevQueries]:
    """Parse a dev script's options (``--phase2`` among them), train or load its dev model,
    and embed the dev photos, captions and scene names (this script's and described_photos.py's)."""
    parser = data_arguments(description)
    parser.add_argument("--phase2", action="store_true", help="through the shipped recipe (phase 2) on train minus dev")
    args = parser.parse_args()
    roots = unpack(args.shared, args.work, ("flickr8k-captions", "mini-places-20"))
    sources = dev_split(roots, args.work / "dev")
    space = SentenceSpace.load()
    model, visual = dev_model(args, sources, space)

    flickr = read_captions(sources["flickr8k-captions"])
    dev = np.flatnonzero(flickr.in_split("dev"))
    photos = model.encode(*visual_outputs(visual, [flickr.photos[i] for i in dev], quiet=True))
    keep = np.isin(flickr.photo_of, dev)
    captions = embed_texts(space, [c for c, k in zip(flickr.captions, keep) if k])
    truth = np.searchsorted(dev, flickr.photo_of[keep])
    places = read_labeled(sources["mini-places-20"])
    places = places.select(places.in_split("dev"))
    scene_photos = model.encode(*visual_outputs(visual, list(places.paths), quiet=True))
    scenes = sorted(set(places.labels))
    relevant = np.array(places.labels)[None, :] == np.array(scenes)[:, None]
    return args, DevQueries(model, photos, captions, truth, scene_photos, relevant, embed_texts(space, scenes))


def main() -> None:
    started = time.perf_counter()
    args, found = dev_queries(__doc__.splitlines()[0])
    model, photos, captions, truth = found.model, found.photos, found.captions, found.truth
    scene_photos, relevant, scene_vectors = found.scene_photos, found.relevant, found.scene_vectors

    table = {}
    for neighbours in NEIGHBOURS:
        for weight in WEIGHTS:
            penalty = HubPenalty(model.hub.bank, neighbours, weight) if weight else None
            row = caption_retrieval(photos, captions, truth, penalty)
            found = relevant_retrieval(scene_photos, relevant, scene_vectors, penalty=penalty)
            row["scene P@10"], row["scene mAP"] = found["P@10"], found["mAP"]
            table[f"neighbours {neighbours}, weight {weight}"] = row
            print(f"neighbours {neighbours}, weight {weight}: " + ", ".join(f"{k} {v:.4g}" for k, v in row.items()))
    baseline = table[f"neighbours {NEIGHBOURS[0]}, weight 0.0"]
    allowed = {name: row for name, row in table.items() if row["scene P@10"] >= baseline["scene P@10"]}
    chosen = max(allowed, key=lambda name: allowed[name]["R@1"] + allowed[name]["R@10"])
    print(f"chosen: {chosen} (bank of {len(model.hub.bank)} texts; {time.perf_counter() - started:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps({"table": table, "chosen": chosen, "bank": len(model.hub.bank)}, indent=1))


if __name__ == "__main__":
    main()
