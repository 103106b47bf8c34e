"""More views of each training photo: mirrored and cropped copies, chosen on dev.

    cd benchmarks && ../.venv/bin/python augment.py [--json augment.json]
    cd benchmarks && ../.venv/bin/python augment.py --phase2 [--json augment-phase2.json]

Issue 15's caption targets (val R@10 66, R@1 24) stand 5 and 3 points above what ships, and
every dev probe so far (the map's form, its loss, phase 2's depth) says the 5,090 training
photos are what holds captions back. The map has only ever seen each training photo one way,
its whole frame; image models trained on few photos are usually trained on many views of each
(mirrored, cropped), which costs a search nothing. This trains phase 1 of the shipped recipe
on train minus dev (``dev_probe.Probe``), each training pair reading, at every step, one view
of its photo drawn at random from the setting's views, and scores every epoch (``EPOCHS``)
on dev captions, dev scenes and tiny/1k as ``pair_loss.py`` does.

The views (``VIEWS``), made once per training photo at its own size, written as JPEG quality 95
under ``WORK/augment/VIEW/`` and read by the visual model as any photo is:

- ``whole``: the photo as it is (what ships);
- ``mirror``: mirrored left to right;
- ``crop1`` to ``crop4``: a random crop of 50 to 100% of the area with an aspect ratio
  between 3:4 and 4:3 (Inception's random resized crop), resized back to the photo's size,
  mirrored half the time; seeded by the photo's path and the view's name.

The settings (``SETTINGS``), fixed before any was run:

1. the whole photo only (as shipped);
2. whole and mirror;
3. whole, mirror and the 4 crops;
4. as 3, the map's weights averaged over the epochs so far (``pair_loss.py``'s best row).

The rule, ``pair_loss.py``'s, fixed with the settings: among every (setting, epoch), the
highest dev R@1 + R@10 whose scene P@10 and tiny/1k hit@1 stay within 0.01 of setting 1 at the
shipped epoch (3); a setting is taken forward only if it beats that row's R@1 + R@10 by at
least 1.0. Taken forward means: phase 2 on dev rerun with the same views of the photos it
fine-tunes on, and the shipped model changes only if phase 2's dev R@1 + R@10 also rises by
1.0 (val then scored once). Nothing here looks at val.

**Phase 2 (``--phase2``)**, written after the phase-1 run above chose setting 4 at epoch 8
(+2.84 dev R@1 + R@10) and before this part ran. Phase 1 is setting 4 for 8 epochs (its
weights averaged). Phase 2 then fine-tunes blocks 19-20 and the map from it exactly as the
shipped recipe does (``phase2_dev.SHIPPED_TUNE``: lr 3e-4, map lr 1e-4, stock classes, 8
epochs, every epoch scored), each epoch's pair reading one of the 6 views of its photo drawn at
random (``xmodal.training.finetune``, the bottom's activations of each view cached like the
photos'). The views are those written above (crops seeded by the photo's path under WORK;
``xmodal train --views`` seeds them by the file name: other crops, drawn the same way).
The baseline is the shipped recipe on dev (``phase2_dev.shipped_on_dev``, the
model file kept at ``WORK/dev/phase2-dev.safetensors``), scored here with today's penalty.
The candidates: phase 1 with views alone (the stock tower), and each epoch of phase 2 with
views. The rule: among the candidates whose scene P@10 and tiny/1k hit@1 stay within 0.01 of
the baseline's, the highest R@1 + R@10 ships if it beats the baseline's by at least 1.0 (the
rebuild then runs phase 2 for that many epochs, or none); val is then scored once.

``--phase2 --whole`` (written after the ``--phase2`` run above, which kept the shipped recipe:
+0.72 within the guards; committed before this ran): the same, but phase 2 reads each photo
whole, as the shipped phase 2 does; only phase 1 sees the views. Same baseline, candidates
(phase 1 with views, and each epoch of this phase 2) and rule. Whatever it finds, shipping it
needs the model rebuilt with views in phase 1 only, and val scored once.

``--phase2 --whole --tune-average`` (written after that run chose, and val scored, phase 1
with views and phase 2 on whole photos, which ships since 2026-12-07; committed before this
ran): phase 2's weights (the top's and the map's) averaged over its epochs
(``TuneConfig.average``), as averaging phase 1's map gained most there. In one run: phase 2
on whole photos as shipped, every epoch scored (its epoch 8 is the shipped recipe, the
baseline), then the same training with its weights averaged, every epoch scored (the
candidates). The rule: among the candidates whose scene P@10 and tiny/1k hit@1 stay within
0.01 of the baseline's, the highest R@1 + R@10 ships if it beats the baseline's by at least
1.0 (the rebuild then runs that many averaged epochs), and val is then scored once.

``--phase2 --whole --tune-average --share-floor 0.4`` (written after that run, which kept
the shipped recipe: averaging gained up to +2.1 but every averaged epoch held the scene
names at 0.920 against 0.947; committed before this ran): the same averaged phase 2 with
scene photos drawn twice as often (``TuneConfig.share_floor``: a photo with one pair is in
an epoch with probability 0.4, not 1/5), to keep the scene names while averaging. One run,
the averaged epochs only: the baseline is ``BASELINE``, the shipped recipe's epoch 8 as the
two committed runs above measured it (each repeated the other to the digit). Same guards,
gain and rule; if it ships, the rebuild runs that many epochs and val is scored once.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from dev_probe import GAIN, SHIPPED_EPOCH, TOLERANCE, Probe, choose, conclude, show
from results import data_arguments

from xmodal.training.views import QUALITY, VIEWS, view_of

EPOCHS = 10
# the shipped recipe on dev (phase 2 on whole photos, epoch 8), as --phase2 --whole and
# --phase2 --whole --tune-average measured it in two runs, to the digit
BASELINE = {"R@1": 19.42, "R@5": 43.86, "R@10": 56.9, "scene P@10": 0.9467, "tiny/1k hit@1": 0.258}
EPOCHS_PHASE2 = 8  # phase 1's epochs before phase 2: setting 4's best on dev


@dataclass(frozen=True)
class Setting:
    name: str
    views: tuple[str, ...]
    average: bool = False


SETTINGS = [
    Setting("whole photo only (as shipped)", VIEWS[:1]),
    Setting("whole + mirror", VIEWS[:2]),
    Setting("whole + mirror + 4 crops", VIEWS),
    Setting("whole + mirror + 4 crops, weights averaged over epochs", VIEWS, average=True),
]


def write_views(paths: list[str], name: str, work: Path) -> list[Path]:
    """View ``name`` of every photo in ``paths``, written once under ``work/augment/name``."""
    from PIL import Image

    if name == "whole":
        return [Path(p) for p in paths]
    out = []
    for path in paths:
        target = work / "augment" / name / Path(path).resolve().relative_to(work.resolve())
        if not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            with Image.open(path) as image:
                view_of(image.convert("RGB"), name, str(Path(path).resolve().relative_to(work.resolve()))).save(
                    target.with_suffix(".part.jpg"), quality=QUALITY
                )
            target.with_suffix(".part.jpg").replace(target)
        out.append(target)
    return out


def train(probe: Probe, setting: Setting, inputs, classes, epochs: int, table: dict, started: float):
    """Phase 1 of ``setting`` for ``epochs``, each epoch scored into ``table``; its last weights
    (averaged, with ``setting.average``)."""
    import torch

    pooled, conse, generator = probe.start()
    optimizer = torch.optim.Adam([{"params": [pooled, conse], "lr": probe.config.lr}])
    sums = [torch.zeros_like(pooled), torch.zeros_like(conse)]
    count = len(setting.views)

    def view(rows):
        if count == 1:
            return inputs[0, rows], classes[0, rows]
        drawn = torch.randint(count, (len(rows),), generator=generator)
        return inputs[drawn, rows], classes[drawn, rows]

    for epoch in range(1, epochs + 1):
        probe.epoch(optimizer, generator, lambda x: probe.forward(x, pooled, conse), view=view)
        weights = probe.scored_epoch(table, setting.name, epoch, pooled, conse, sums, setting.average, started)
    return weights


def phase2(args, probe: Probe, weight, table: dict, started: float) -> None:
    """Phase 2 with views from phase 1's ``weight``, against the shipped recipe on dev."""
    import copy
    import dataclasses

    import numpy as np
    import torch
    from language import DEFAULT_VISUAL
    from phase2_bank import Bank, set_photos
    from phase2_dev import SHIPPED_TUNE, Dev, shipped_on_dev

    from xmodal.training.finetune import TunedTower, finetune
    from xmodal.training.train import visual_outputs
    from xmodal.vision.visual import tower_split

    phase1 = dataclasses.replace(probe.phase1, weight=weight)
    bottom, top = tower_split(DEFAULT_VISUAL, SHIPPED_TUNE.first)
    bank = Bank(bottom, set_photos(probe.roots), quiet=True)
    dev = Dev(probe.roots, probe.sources, bank, probe.space)
    photos = [str(p) for p in probe.pairs.photos]
    activations = [bank(photos)] + [
        np.asarray(visual_outputs(bottom, write_views(photos, name, args.work), quiet=True)[0]) for name in VIEWS[1:] if not args.whole
    ]
    print(f"the bottom's activations of {len(activations)} views ({time.perf_counter() - started:.0f} s so far)", flush=True)

    def scored(name: str, model, tower) -> None:
        show(table, name, {k: round(v, 4) for k, v in dev.score(tower.eval(), model.hub).items()}, started)

    shipped, _ = shipped_on_dev(probe.roots, probe.sources, probe.space, args.work / "dev" / "phase2-dev.safetensors")
    shipped_top = tower_split(DEFAULT_VISUAL, SHIPPED_TUNE.first)[1]
    shipped_top.load_state_dict({k: torch.from_numpy(np.asarray(v, dtype=np.float32)) for k, v in shipped.top.items()}, strict=False)
    scored("baseline: the shipped recipe on dev", shipped, TunedTower(shipped_top, shipped, top))
    scored("phase 1 with views (stock tower)", phase1, TunedTower(top, phase1))
    stock = copy.deepcopy(top)

    def tuned_top(model):  # the top the model file holds (an averaged model's is not the module trained)
        tuned = copy.deepcopy(stock)
        tuned.load_state_dict({k: torch.from_numpy(np.asarray(v, dtype=np.float32)) for k, v in model.top.items()}, strict=False)
        return tuned

    def run(name: str, tune) -> None:
        def on_epoch(epoch: int, model) -> None:
            scored(f"{name}, epoch {epoch}", model, TunedTower(tuned_top(model), model, stock))

        finetune(phase1, copy.deepcopy(stock), activations, probe.pairs, probe.texts, probe.classes, probe.config, tune, on_epoch)

    averaged = "phase 2 on whole photos, weights averaged"
    if args.share_floor:
        baseline = "baseline: the shipped recipe's epoch 8 (two runs above)"
        table[baseline] = BASELINE
        run(f"{averaged}, share floor {args.share_floor}",
            dataclasses.replace(SHIPPED_TUNE, average=True, share_floor=args.share_floor))
        prefixes, floor = (averaged,), BASELINE
    else:
        run(f"phase 2 with {'whole photos' if args.whole else 'views'}", SHIPPED_TUNE)
        if args.tune_average:
            run(averaged, dataclasses.replace(SHIPPED_TUNE, average=True))
            baseline = f"phase 2 with whole photos, epoch {SHIPPED_TUNE.epochs}"
            prefixes, floor = (averaged,), table[baseline]
        else:
            baseline, floor = "baseline", table["baseline: the shipped recipe on dev"]
            prefixes = ("phase 1 with views", "phase 2 with")
    candidates = {k: v for k, v in table.items() if k.startswith(prefixes)}
    best, gain, verdict = choose({**candidates, baseline: floor}, baseline, TOLERANCE, GAIN)
    verdict = "ships (rebuild, then val once)" if best != baseline and gain >= GAIN else "the shipped recipe stays"
    print(f"best by the rule: {best} (R@1 + R@10 {gain:+.2f} over the shipped recipe on dev): {verdict}")
    if args.json:
        args.json.write_text(json.dumps({"table": table, "best": best, "gain": gain, "verdict": verdict,
                                         "seconds": round(time.perf_counter() - started, 1)}, indent=1))


def main() -> None:
    import torch

    parser = data_arguments(__doc__.splitlines()[0])
    parser.add_argument("--phase2", action="store_true", help="phase 2 with views from setting 4's phase 1")
    parser.add_argument("--whole", action="store_true", help="with --phase2: phase 2 reads the photos whole")
    parser.add_argument("--tune-average", action="store_true", help="with --phase2 --whole: phase 2's weights averaged too")
    parser.add_argument("--share-floor", type=float, default=0.0, help="with --tune-average: scene photos drawn at least this often")
    args = parser.parse_args()
    if args.whole and not args.phase2:
        parser.error("--whole is for --phase2")
    if args.tune_average and not args.whole:
        parser.error("--tune-average is for --phase2 --whole")
    if args.share_floor and not args.tune_average:
        parser.error("--share-floor is for --phase2 --whole --tune-average")
    started = time.perf_counter()
    probe = Probe(args)
    photos = [str(p) for p in probe.pairs.photos]
    inputs, classes = [probe.inputs], [probe.class_of]
    for name in VIEWS[1:]:
        x, logits = probe.inputs_of(write_views(photos, name, args.work))
        inputs.append(x)
        classes.append(probe.classes_of(logits))
        print(f"view {name}: {len(photos)} photos ({time.perf_counter() - started:.0f} s so far)", flush=True)
    inputs, classes = torch.stack(inputs), torch.stack(classes)

    table: dict[str, dict[str, float]] = {}
    for setting in SETTINGS[-1:] if args.phase2 else SETTINGS:
        pooled, conse = train(probe, setting, inputs, classes, EPOCHS_PHASE2 if args.phase2 else EPOCHS, table, started)
    if args.phase2:
        return phase2(args, probe, torch.cat([pooled, conse]).numpy(), table, started)

    conclude(args, table, f"{SETTINGS[0].name}, epoch {SHIPPED_EPOCH}", started, TOLERANCE, GAIN)


if __name__ == "__main__":
    main()
