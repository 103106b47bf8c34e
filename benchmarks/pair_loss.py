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

import time
from dataclasses import dataclass, replace

from dev_probe import GAIN, SHIPPED_EPOCH, TOLERANCE, Probe, conclude
from results import data_arguments

EPOCHS = 8


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

    parser = data_arguments(__doc__.splitlines()[0])
    args = parser.parse_args()
    started = time.perf_counter()
    probe = Probe(args)
    config = probe.config

    table: dict[str, dict[str, float]] = {}
    for setting in SETTINGS:
        pooled, conse, generator = probe.start()
        optimizer = torch.optim.Adam([{"params": [pooled, conse], "lr": config.lr}])
        sums = [torch.zeros_like(pooled), torch.zeros_like(conse)]
        for epoch in range(1, EPOCHS + 1):
            switched = setting.switch and epoch >= setting.switch
            margin = setting.then_margin if switched else setting.margin
            if switched:
                for group_ in optimizer.param_groups:
                    group_["lr"] = setting.then_lr
            run = replace(config, margin=margin)
            probe.epoch(optimizer, generator, lambda x: probe.forward(x, pooled, conse), run, setting.batch, setting.hardest or bool(switched))
            probe.scored_epoch(table, setting.name, epoch, pooled, conse, sums, setting.average, started)

    conclude(args, table, f"{SETTINGS[0].name}, epoch {SHIPPED_EPOCH}", started, TOLERANCE, GAIN)


if __name__ == "__main__":
    main()
