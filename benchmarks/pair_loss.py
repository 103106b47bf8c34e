"""The pair rank loss's settings, chosen on dev: margin, every negative or the hardest, batch size.

    cd benchmarks && ../.venv/bin/python pair_loss.py [--json pair-loss.json]

Issue 15's caption targets (val R@10 66, R@1 24) stand 5 and 3 points above what ships.
The map, its inputs and the hub penalty were each chosen on dev; the hinge rank loss's own
settings never were: margin 0.1 against every other text and photo of a batch of 256 came
with the sentence space (2026-11-30). VSE++ (Faghri et al., 2018) found that counting only
each pair's hardest negative, with a margin of 0.2, raises R@1 over the summed hinge, most
when it starts from a trained map. This trains phase 1 of the shipped recipe
(``language.SHIPPED_CONFIG``: the two-way pair rank loss plus the class-text loss, Adam)
on train minus dev (``hubness.dev_split``) with each setting below, from the same start and
seed, scoring after every epoch (``EPOCHS``):

- dev caption R@1 / R@5 / R@10 (the 1,000 dev photos' 5,000 captions, with the model's hub
  penalty, as searches rank);
- dev scene P@10 (the 15 seen scene names over the 1,200 dev scene photos, with the penalty);
- tiny/1k hit@1 (2,000 Tiny ImageNet val photos against the 1,000 ImageNet class texts, as
  ``phase2_dev.py`` checks the ImageNet rows).

The settings (``SETTINGS``), fixed before any was run:

1. as shipped: every negative, margin 0.1, batch 256, lr 1e-3;
2. every negative, margin 0.05; 3. margin 0.2;
4. the hardest negative (VSE++), margin 0.1; 5. the hardest, margin 0.2;
6. every negative, batch 128; 7. batch 512;
8. as shipped for 3 epochs, then the hardest negative, margin 0.2, at lr 1e-4 (VSE++'s warm start);
9. as shipped, the map's weights averaged over the epochs so far (a running mean from epoch 1:
   one linear map still, so searches cost nothing more).

The rule, fixed with the settings: among every (setting, epoch), the highest dev
R@1 + R@10 whose scene P@10 and tiny/1k hit@1 are each no more than 0.01 below the shipped
setting's at its shipped epoch (3); a setting is taken forward only if it beats that row's
R@1 + R@10 by at least 1.0 (about one standard error of the sum on 5,000 captions). Taken
forward means: the shipped recipe's phase 2 rerun on dev from it (``phase2_dev.py``), and
only if phase 2's dev R@1 + R@10 also rises by 1.0 does the shipped model change (val then
scored once). Nothing here looks at val.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace

import numpy as np
from hubness import dev_split
from language import DEFAULT_SPEC, DEFAULT_VISUAL, SETS, SHIPPED_CONFIG
from phase2_bank import set_photos
from phase2_dev import phase1_on_dev
from results import data_arguments, unpack

from xmodal.devise.model import build_inputs
from xmodal.text.labels import imagenet_labels
from xmodal.text.sentences import SentenceSpace
from xmodal.text.space import embed_texts
from xmodal.training.datasets import read_captions, read_labeled
from xmodal.training.evaluate import caption_retrieval, hit_at_k, relevant_retrieval
from xmodal.training.fit import pair_batch_loss
from xmodal.training.train import class_centre, initial_map, visual_outputs
from xmodal.vision.visual import load_visual

EPOCHS = 8
SHIPPED_EPOCH = 3
TOLERANCE = 0.01
GAIN = 1.0


@dataclass(frozen=True)
class Setting:
    name: str
    margin: float = 0.1
    hardest: bool = False
    batch: int = 256
    # from this epoch on (1-based), the hardest negative with margin ``then_margin`` at ``then_lr``
    switch: int = 0
    then_margin: float = 0.2
    then_lr: float = 1e-4
    average: bool = False  # score the running mean of the weights, not the last ones


SETTINGS = [
    Setting("every negative, margin 0.1, batch 256 (as shipped)"),
    Setting("every negative, margin 0.05", margin=0.05),
    Setting("every negative, margin 0.2", margin=0.2),
    Setting("hardest negative, margin 0.1", hardest=True),
    Setting("hardest negative, margin 0.2", margin=0.2, hardest=True),
    Setting("every negative, batch 128", batch=128),
    Setting("every negative, batch 512", batch=512),
    Setting("as shipped, then hardest (margin 0.2, lr 1e-4) from epoch 4", switch=SHIPPED_EPOCH + 1),
    Setting("as shipped, weights averaged over epochs", average=True),
]


def main() -> None:
    import torch
    from torch.nn.functional import normalize

    def unit(v):
        return normalize(v, dim=1)

    parser = data_arguments(__doc__.splitlines()[0])
    args = parser.parse_args()
    started = time.perf_counter()
    roots = unpack(args.shared, args.work, SETS)
    sources = dev_split(roots, args.work / "dev")
    space = SentenceSpace.load()
    visual = load_visual(DEFAULT_VISUAL)
    phase1, pairs, texts, classes = phase1_on_dev(sources, space)
    usable = np.linalg.norm(classes, axis=1) > 0

    def inputs_of(paths):
        features, logits = visual_outputs(visual, list(paths), quiet=True)
        return torch.from_numpy(build_inputs(DEFAULT_SPEC, features, logits, phase1.standardizer, usable)), logits

    inputs, logits = inputs_of(pairs.photos)
    flickr = read_captions(sources["flickr8k-captions"])
    dev = np.flatnonzero(flickr.in_split("dev"))
    dev_inputs, _ = inputs_of(flickr.photos[i] for i in dev)
    keep = np.isin(flickr.photo_of, dev)
    captions = embed_texts(space, [c for c, k in zip(flickr.captions, keep) if k])
    truth = np.searchsorted(dev, flickr.photo_of[keep])
    places = read_labeled(sources["mini-places-20"])
    places = places.select(places.in_split("dev"))
    scene_inputs, _ = inputs_of(places.paths)
    scenes = sorted(set(places.labels))
    scene_relevant = np.array(places.labels)[None, :] == np.array(scenes)[:, None]
    scene_vectors = embed_texts(space, scenes)
    tiny = read_labeled(roots["tiny-imagenet-200"])
    wanted = set(str(p) for p in set_photos(roots)["tiny-imagenet-200"])
    rows = [i for i, p in enumerate(tiny.paths) if str(p) in wanted]
    tiny_inputs, _ = inputs_of(tiny.paths[i] for i in rows)
    wnids = [label.wnid for label in imagenet_labels("1k")]
    tiny_truth = np.array([wnids.index(tiny.classes[tiny.labels[i]].wnid) for i in rows])

    config = SHIPPED_CONFIG
    cut = visual.feature_dim
    init = initial_map(DEFAULT_SPEC, classes, cut)
    offset = torch.from_numpy(np.asarray(class_centre(classes, usable, config.centre), dtype=np.float32))
    vectors = torch.from_numpy(np.ascontiguousarray(texts, dtype=np.float32))
    class_vectors = torch.from_numpy(np.ascontiguousarray(classes, dtype=np.float32))
    class_of = torch.from_numpy(np.argmax(np.where(usable, logits, -np.inf), axis=1))
    photo, text, group = (torch.from_numpy(np.asarray(a, dtype=np.int64)) for a in (pairs.photo, pairs.text, pairs.group))

    def forward(x, pooled, conse):
        return unit(unit(config.mix * unit(x[:, :cut] @ pooled) + unit(x[:, cut:] @ conse)) - offset)

    def score(pooled, conse) -> dict[str, float]:
        with torch.no_grad():
            row = caption_retrieval(forward(dev_inputs, pooled, conse).numpy(), captions, truth, phase1.hub)
            row["scene P@10"] = relevant_retrieval(
                forward(scene_inputs, pooled, conse).numpy(), scene_relevant, scene_vectors, penalty=phase1.hub
            )["P@10"]
            row["tiny/1k hit@1"] = hit_at_k(forward(tiny_inputs, pooled, conse).numpy(), tiny_truth, classes)["hit@1"]
        return {k: round(v, 4) for k, v in row.items()}

    table: dict[str, dict[str, float]] = {}
    for setting in SETTINGS:
        torch.manual_seed(config.seed)
        generator = torch.Generator().manual_seed(config.seed)
        pooled = torch.nn.Parameter(torch.randn(cut, init.shape[1], generator=generator) * 1e-3)  # as _fit starts a zero block
        conse = torch.nn.Parameter(torch.from_numpy(init[cut:].copy()))
        optimizer = torch.optim.Adam([{"params": [pooled, conse], "lr": config.lr}])
        sums = [torch.zeros_like(pooled), torch.zeros_like(conse)]
        for epoch in range(1, EPOCHS + 1):
            switched = setting.switch and epoch >= setting.switch
            margin = setting.then_margin if switched else setting.margin
            if switched:
                for group_ in optimizer.param_groups:
                    group_["lr"] = setting.then_lr
            run = replace(config, margin=margin)
            for batch in torch.randperm(len(photo), generator=generator).split(setting.batch):
                output = forward(inputs[photo[batch]], pooled, conse)
                of_batch = (class_vectors, class_of[photo[batch]])
                loss = pair_batch_loss(output, text[batch], group[batch], vectors, run, generator, of_batch, setting.hardest or bool(switched))
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            with torch.no_grad():
                sums[0] += pooled
                sums[1] += conse
            weights = (sums[0] / epoch, sums[1] / epoch) if setting.average else (pooled.detach(), conse.detach())
            row = table[f"{setting.name}, epoch {epoch}"] = score(*weights)
            print(f"{setting.name}, epoch {epoch}: " + ", ".join(f"{k} {v:.4g}" for k, v in row.items())
                  + f" ({time.perf_counter() - started:.0f} s so far)", flush=True)

    base = table[f"{SETTINGS[0].name}, epoch {SHIPPED_EPOCH}"]
    allowed = {
        name: row for name, row in table.items()
        if row["scene P@10"] >= base["scene P@10"] - TOLERANCE and row["tiny/1k hit@1"] >= base["tiny/1k hit@1"] - TOLERANCE
    }
    best = max(allowed, key=lambda name: allowed[name]["R@1"] + allowed[name]["R@10"])
    gain = allowed[best]["R@1"] + allowed[best]["R@10"] - base["R@1"] - base["R@10"]
    verdict = "taken forward to phase 2 on dev" if gain >= GAIN else "not taken forward"
    print(f"best by the rule: {best} (R@1 + R@10 {gain:+.2f} over as shipped): {verdict}")
    seconds = round(time.perf_counter() - started, 1)
    print(f"{seconds} s")
    if args.json:
        args.json.write_text(json.dumps({"table": table, "best": best, "gain": gain, "verdict": verdict, "seconds": seconds}, indent=1))


if __name__ == "__main__":
    main()
