"""The DeViSE paper's phase 2 for the everyday-language default: fine-tune the top of the
visual model together with the map, and report whether it pays.

    cd benchmarks && ../.venv/bin/python phase2_language.py [--epochs 2] "1e-5,1e-4" "1e-4,1e-4" ...

Each argument is ``CLASSIFIER_LR,MAP_LR``. The top layer fine-tuned is
EfficientNet-Lite2's ImageNet-1k classifier (1280 -> 1000), whose top-13
probabilities the shipped map reads; everything below it stays frozen, so the
cached pooled features are its input. Training starts from the shipped model
and uses its pairs and losses (``language.DEFAULT_*``). Prints the rows of
benchmarks/language.py for the shipped model (both rates 0: a check that the
torch path here equals DeviseModel.encode) and for each setting.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
import torch
from language import (
    DEFAULT_CONFIG,
    DEFAULT_SOURCES,
    DEFAULT_VISUAL,
    HIERARCHY,
    SETS,
    Bench,
    score,
)
from results import shared_paths, unpack

from xmodal.devise.encoder import SHIPPED
from xmodal.devise.model import DeviseModel
from xmodal.text.labels import imagenet_labels, label_matrix
from xmodal.text.sentences import SentenceSpace
from xmodal.text.space import embed_texts
from xmodal.training.finetune import MapModule
from xmodal.training.fit import pair_batch_loss
from xmodal.training.pairs import join
from xmodal.training.train import read_pair_sources, visual_outputs
from xmodal.vision.visual import load_visual


class TopAndMap(torch.nn.Module):
    """Pooled features -> classifier -> DeviseModel.encode in torch (xmodal.training.finetune.MapModule)."""

    def __init__(self, model: DeviseModel, classifier: torch.nn.Linear) -> None:
        super().__init__()
        self.classifier = classifier
        self.map = MapModule(model)

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        return self.classifier(features)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.map(features, self.logits(features))


def main() -> None:
    shared, work = shared_paths()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("settings", nargs="*", default=["1e-5,1e-4", "1e-4,1e-4"])
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    roots = unpack(shared, work, SETS)
    visual = load_visual(DEFAULT_VISUAL)
    bench = Bench(roots, visual)
    space = SentenceSpace.load()
    shipped = DeviseModel.load(SHIPPED["all-minilm-l6-v2"], space=space.identity)
    parts = read_pair_sources([roots[name] for name in DEFAULT_SOURCES], HIERARCHY)
    pairs = join(parts)
    features = torch.from_numpy(np.concatenate([np.asarray(visual_outputs(visual, p.photos, True)[0]) for p in parts]))
    texts = torch.from_numpy(embed_texts(space, pairs.texts))
    classes = torch.from_numpy(label_matrix(space, imagenet_labels("1k"), HIERARCHY))
    fc = visual.torch_module().net._fc
    top_class = fc(features).argmax(dim=1).detach()
    photo, text, group = (torch.from_numpy(a) for a in (pairs.photo, pairs.text, pairs.group))

    def scored(module: TopAndMap) -> dict[str, float]:
        """The language rows, with each photo's logits from the (fine-tuned) classifier."""
        model = dataclasses.replace(shipped, weight=module.map.weight())
        with torch.no_grad():
            relogit = lambda pair: (pair[0], module.logits(torch.from_numpy(pair[0])).numpy())  # noqa: E731
            saved = (bench.caption_photos, bench.scene_photos, bench.nette_photos)
            bench.caption_photos, bench.scene_photos, bench.nette_photos = (relogit(p) for p in saved)
            try:
                return score(model, space, bench)
            finally:
                bench.caption_photos, bench.scene_photos, bench.nette_photos = saved

    for setting in ["0,0", *args.settings]:
        classifier_lr, map_lr = (float(x) for x in setting.split(","))
        torch.manual_seed(0)
        module = TopAndMap(shipped, torch.nn.Linear(1280, 1000))
        module.classifier.load_state_dict(fc.state_dict())
        if setting == "0,0":  # the torch path must be DeviseModel.encode
            rows = slice(0, 500)
            with torch.no_grad():
                ours = module(features[rows]).numpy()
            theirs = shipped.encode(features[rows].numpy(), fc(features[rows]).detach().numpy())
            assert np.abs(ours - theirs).max() < 1e-4, np.abs(ours - theirs).max()
        else:
            optimizer = torch.optim.Adam(
                [{"params": module.classifier.parameters(), "lr": classifier_lr},
                 {"params": module.map.parameters(), "lr": map_lr}]
            )
            generator = torch.Generator().manual_seed(0)
            started = time.perf_counter()
            for _ in range(args.epochs):
                for batch in torch.randperm(len(photo), generator=generator).split(DEFAULT_CONFIG.batch_size):
                    loss = pair_batch_loss(
                        module(features[photo[batch]]), text[batch], group[batch], texts, DEFAULT_CONFIG, generator,
                        (classes, top_class[photo[batch]]),
                    )
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
            print(f"  trained in {time.perf_counter() - started:.0f} s", flush=True)
        row = scored(module)
        print(f"classifier lr {classifier_lr:g}, map lr {map_lr:g}: " + ", ".join(f"{k} {v:.4g}" for k, v in row.items()), flush=True)


if __name__ == "__main__":
    main()
