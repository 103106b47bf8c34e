"""Is the linear map what holds caption search back? A residual MLP beside it, on dev.

    .venv/bin/python benchmarks/map_capacity.py [--json map-capacity.json]

Issue 15's caption targets (R@10 66, R@1 24 on val) are about 5 and 3 points
above what ships. DeViSE's map is linear; a wider map is the first thing to rule out.
This trains phase 1 of the shipped recipe (``language.DEFAULT_CONFIG``: the
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

import numpy as np
from hubness import dev_split
from language import DEFAULT_CONFIG, DEFAULT_SPEC, DEFAULT_VISUAL
from phase2_dev import phase1_on_dev
from results import data_arguments, unpack

from xmodal.devise.model import build_inputs
from xmodal.text.sentences import SentenceSpace
from xmodal.text.space import embed_texts
from xmodal.training.datasets import read_captions
from xmodal.training.evaluate import caption_retrieval
from xmodal.training.fit import pair_batch_loss
from xmodal.training.train import class_centre, initial_map, visual_outputs
from xmodal.vision.visual import load_visual

EPOCHS = 6
SETTINGS = [  # (hidden units, dropout, the MLP's learning rate); 0 hidden units: the shipped linear map
    (0, 0.0, 0.0),
    (1024, 0.5, 1e-3),
    (1024, 0.5, 3e-4),
    (2048, 0.5, 3e-4),
]


def main() -> None:
    import torch
    from torch.nn.functional import normalize

    def unit(v):
        return normalize(v, dim=1)

    parser = data_arguments(__doc__.splitlines()[0])
    args = parser.parse_args()
    started = time.perf_counter()
    roots = unpack(args.shared, args.work, ("flickr8k-captions", "mini-places-20"))
    sources = dev_split(roots, args.work / "dev")
    space = SentenceSpace.load()
    visual = load_visual(DEFAULT_VISUAL)
    phase1, pairs, texts, classes = phase1_on_dev(sources, space)
    usable = np.linalg.norm(classes, axis=1) > 0
    features, logits = visual_outputs(visual, pairs.photos, quiet=True)
    inputs = torch.from_numpy(build_inputs(DEFAULT_SPEC, features, logits, phase1.standardizer, usable))
    flickr = read_captions(sources["flickr8k-captions"])
    dev = np.flatnonzero(flickr.in_split("dev"))
    dev_features, dev_logits = visual_outputs(visual, [flickr.photos[i] for i in dev], quiet=True)
    dev_inputs = torch.from_numpy(build_inputs(DEFAULT_SPEC, dev_features, dev_logits, phase1.standardizer, usable))
    keep = np.isin(flickr.photo_of, dev)
    captions = embed_texts(space, [c for c, k in zip(flickr.captions, keep) if k])
    truth = np.searchsorted(dev, flickr.photo_of[keep])

    cut, config = visual.feature_dim, DEFAULT_CONFIG
    init = initial_map(DEFAULT_SPEC, classes, cut)
    assert not init[:cut].any(), "the pooled block starts at zero (ConSE), as _fit then starts it"
    offset = torch.from_numpy(np.asarray(class_centre(classes, usable, config.centre), dtype=np.float32))
    vectors = torch.from_numpy(np.ascontiguousarray(texts, dtype=np.float32))
    class_vectors = torch.from_numpy(np.ascontiguousarray(classes, dtype=np.float32))
    class_of = torch.from_numpy(np.argmax(np.where(usable, logits, -np.inf), axis=1))
    photo, text, group = (torch.from_numpy(np.asarray(a, dtype=np.int64)) for a in (pairs.photo, pairs.text, pairs.group))

    table = {}
    for hidden, dropout, mlp_lr in SETTINGS:
        torch.manual_seed(config.seed)
        generator = torch.Generator().manual_seed(config.seed)
        pooled = torch.nn.Parameter(torch.randn(cut, init.shape[1], generator=generator) * 1e-3)  # as _fit starts a zero block
        conse = torch.nn.Parameter(torch.from_numpy(init[cut:].copy()))
        groups = [{"params": [pooled, conse], "lr": config.lr}]
        if hidden:
            up, down = torch.nn.Linear(cut, hidden), torch.nn.Linear(hidden, init.shape[1])
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
            return unit(unit(config.mix * unit(block) + unit(x[:, cut:] @ conse)) - offset)

        name = "linear (as shipped)" if not hidden else f"+ MLP {hidden} hidden, dropout {dropout:g}, lr {mlp_lr:g}"
        table[name] = []
        for epoch in range(EPOCHS):
            for batch in torch.randperm(len(photo), generator=generator).split(config.batch_size):
                output = forward(inputs[photo[batch]], True)
                of_batch = (class_vectors, class_of[photo[batch]])
                loss = pair_batch_loss(output, text[batch], group[batch], vectors, config, generator, of_batch)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            with torch.no_grad():
                scored = caption_retrieval(forward(dev_inputs, False).numpy(), captions, truth, phase1.hub)
            table[name].append({k: round(v, 1) for k, v in scored.items() if k.startswith("R@")})
            print(f"{name}, epoch {epoch + 1}: " + ", ".join(f"{k} {v:.1f}" for k, v in scored.items() if k.startswith("R@")), flush=True)
    seconds = round(time.perf_counter() - started, 1)
    print(f"{seconds} s")
    if args.json:
        args.json.write_text(json.dumps({"table": table, "seconds": seconds}, indent=1))


if __name__ == "__main__":
    main()
