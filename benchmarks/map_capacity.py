"""Is the linear map what holds caption search back? A residual MLP beside it, on dev.

    .venv/bin/python benchmarks/map_capacity.py [--json map-capacity.json]

Issue 15's caption targets (R@10 66, R@1 24 on val) are about 5 and 3 points
above what ships. DeViSE's map is linear; a wider map is the first thing to rule out.
This trains phase 1 of the shipped recipe (``dev_probe.Probe``: the
two-way pair rank loss plus the class-text loss, the pooled and classifier
blocks normalised apart and centred, Adam, batch 256) on train minus dev
(``hubness.dev_split``), once as shipped and then with a residual MLP added to
the pooled block (``pooled @ W + V relu(U pooled)``, ``V`` starting at zero so
that training starts from the same map), and scores every epoch on the 1,000
dev photos' 5,000 captions with the shipped hub penalty (``SHIPPED_CONFIG``'s;
docs/results.md's table was made when it had 50 neighbours). Nothing here is
chosen on val; the linear row's third epoch is phase 1 as it ships.
"""

from __future__ import annotations

import json
import time

from dev_probe import Probe
from results import data_arguments

from xmodal.training.evaluate import caption_retrieval

EPOCHS = 6
SETTINGS = [  # (hidden units, dropout, the MLP's learning rate); 0 hidden units: the shipped linear map
    (0, 0.0, 0.0),
    (1024, 0.5, 1e-3),
    (1024, 0.5, 3e-4),
    (2048, 0.5, 3e-4),
]


def main() -> None:
    import torch

    parser = data_arguments(__doc__.splitlines()[0])
    args = parser.parse_args()
    started = time.perf_counter()
    probe = Probe(args, guards=False)
    cut, width = probe.cut, probe.init.shape[1]
    assert not probe.init[:cut].any(), "the pooled block starts at zero (ConSE), as _fit then starts it"

    table = {}
    for hidden, dropout, mlp_lr in SETTINGS:
        pooled, conse, generator = probe.start()
        groups = [{"params": [pooled, conse], "lr": probe.config.lr}]
        if hidden:
            up, down = torch.nn.Linear(cut, hidden), torch.nn.Linear(hidden, width)
            torch.nn.init.zeros_(down.weight)
            torch.nn.init.zeros_(down.bias)
            groups.append({"params": [*up.parameters(), *down.parameters()], "lr": mlp_lr})
        optimizer = torch.optim.Adam(groups)
        drop = torch.nn.Dropout(dropout)

        def forward(x, training: bool):
            block = x[:, :cut] @ pooled
            if hidden:
                h = torch.relu(up(x[:, :cut]))
                block = block + down(drop(h) if training else h)
            return probe.forward(x, pooled, conse, block)

        name = "linear (as shipped)" if not hidden else f"+ MLP {hidden} hidden, dropout {dropout:g}, lr {mlp_lr:g}"
        table[name] = []
        for epoch in range(EPOCHS):
            probe.epoch(optimizer, generator, lambda x: forward(x, True))
            with torch.no_grad():
                scored = caption_retrieval(forward(probe.dev_inputs, False).numpy(), probe.captions, probe.truth, probe.phase1.hub)
            table[name].append({k: round(v, 1) for k, v in scored.items() if k.startswith("R@")})
            print(f"{name}, epoch {epoch + 1}: " + ", ".join(f"{k} {v:.1f}" for k, v in scored.items() if k.startswith("R@")), flush=True)
    seconds = round(time.perf_counter() - started, 1)
    print(f"{seconds} s")
    if args.json:
        args.json.write_text(json.dumps({"table": table, "seconds": seconds}, indent=1))


if __name__ == "__main__":
    main()
