"""The DeViSE paper's phase 2, on a CPU budget: fine-tune the top of the visual model
together with the map, and report whether it helps.

    .venv/bin/python benchmarks/phase2.py [--epochs 10] "1e-5,0" "1e-4,1e-5" ...

Each argument is ``CLASSIFIER_LR,MAP_LR``. The top layer fine-tuned here is
EfficientNet-Lite0's ImageNet-1k classifier (1280 -> 1000, the layer the
default map reads), trained with the rank loss through the default's own
input (top-13 probabilities, centred) on the 160 seen classes' Tiny photos.
Everything below the classifier stays frozen, so the cached pooled features
from benchmarks/results.py are its input and an epoch takes seconds; deeper
blocks would need their 7x7 activations, which no cache holds. Prints the
same columns as default_search.py, starting from the shipped default (both
learning rates 0).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from default_search import COLUMNS, HEADS  # noqa: E402
from results import (  # noqa: E402
    DEFAULT_CONFIG,
    DEFAULT_SPEC,
    Split,
    load_bench,
    score,
    shared_paths,
    word_labels,
)

from xmodal.core.vectors import unit_rows  # noqa: E402
from xmodal.devise.encoder import SHIPPED  # noqa: E402
from xmodal.devise.model import DeviseModel  # noqa: E402
from xmodal.text.labels import embed_labels  # noqa: E402
from xmodal.training.fit import LOSSES
from xmodal.training.train import class_centre, classifier_label_matrix, visual_outputs  # noqa: E402


class TopAndMap(torch.nn.Module):
    """Pooled features -> classifier -> top-T probabilities -> map -> centred unit vector:
    DeviseModel.encode (build_inputs, the map, the centre) redone in torch so that gradients
    reach the classifier. main() checks that, untrained, the two agree."""

    def __init__(self, fc: torch.nn.Linear, classes: np.ndarray, usable: np.ndarray, centre: np.ndarray):
        super().__init__()
        self.fc = fc
        self.map = torch.nn.Parameter(torch.from_numpy(classes.copy()))
        self.register_buffer("blocked", torch.from_numpy(~usable))
        self.register_buffer("centre", torch.from_numpy(centre))
        self.top, self.temperature = DEFAULT_SPEC.top, DEFAULT_SPEC.temperature

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        logits = (self.fc(features) / self.temperature).masked_fill(self.blocked, -torch.inf)
        probs = torch.softmax(logits, dim=1)
        kept = torch.zeros_like(probs).scatter(1, probs.topk(self.top, dim=1).indices, 1.0)
        probs = probs * kept
        out = torch.nn.functional.normalize(probs / probs.sum(1, keepdim=True) @ self.map, dim=1)
        return out - self.centre


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("settings", nargs="+", help="CLASSIFIER_LR,MAP_LR")
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()

    bench = load_bench(*shared_paths(), quiet=True)
    space, visual, tiny, seen = bench.space, bench.visual, bench.tiny, bench.seen
    train_rows = tiny.select(tiny.in_split("train") & tiny.of_classes(seen))
    targets = embed_labels(space, list(train_rows.classes.values()))
    train_rows = train_rows.select(np.isin(np.array(train_rows.labels), targets.names))
    features = torch.from_numpy(np.array(visual_outputs(visual, train_rows.paths, quiet=True)[0]))
    truth = torch.from_numpy(train_rows.targets(targets.names).astype(np.int64))
    label_vectors = torch.from_numpy(targets.vectors)
    classes = classifier_label_matrix(space, visual)
    usable = np.linalg.norm(classes, axis=1) > 0
    centre = class_centre(classes, usable, DEFAULT_CONFIG.centre)
    shipped = DeviseModel.load(SHIPPED["glove-6b-50d"])

    print("setting".ljust(20), " ".join(HEADS))
    for setting in ["0,0", *args.settings]:
        started = time.perf_counter()
        fc_lr, map_lr = (float(v) for v in setting.split(","))
        fc = visual.torch_module().net._fc
        model = TopAndMap(torch.nn.Linear(fc.in_features, fc.out_features), classes, usable, centre)
        model.fc.load_state_dict(fc.state_dict())
        groups = [{"params": model.fc.parameters(), "lr": fc_lr}, {"params": [model.map], "lr": map_lr}]
        optimizer = torch.optim.Adam([group for group in groups if group["lr"] > 0] or groups)
        generator = torch.Generator().manual_seed(0)
        for _ in range(args.epochs if fc_lr or map_lr else 0):
            for batch in torch.randperm(len(features), generator=generator).split(256):
                loss = LOSSES["rank"](model(features[batch]), truth[batch], label_vectors, 0.1, generator)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()

        def encode(split: Split) -> np.ndarray:
            with torch.no_grad():
                return unit_rows(model(torch.from_numpy(np.array(split.features))).numpy())

        if not (fc_lr or map_lr):  # torch logits vs onnxruntime's differ by ~1e-5
            nette = bench.data["imagenette"]
            gap = np.abs(encode(nette) - shipped.encode(nette.features, nette.logits)).max()
            assert gap < 1e-3, f"the untrained torch path is not the shipped model (max difference {gap:.2g})"
        row = score(encode, word_labels(space), bench.data, bench.seen_names)
        print(setting.ljust(20), " ".join(f"{row[c]:.4f}" for c in COLUMNS), f"{time.perf_counter() - started:.0f}s",
              flush=True)


if __name__ == "__main__":
    main()
