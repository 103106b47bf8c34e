"""Is the shipped default really better than ConSE, photo by photo?

    .venv/bin/python benchmarks/paired.py

Both methods are scored on the same photos, so a paired test is the fair one:
for each hit@1 row of the bar, count the photos only the default gets right
and those only ConSE (ImageNet-1k classifier, T=10) gets right, and give the
exact two-sided McNemar p-value. Reads the features benchmarks/results.py cached.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from results import Split, imagenet_truth, load_bench, shared_paths, word_labels  # noqa: E402

from xmodal.devise.encoder import SHIPPED  # noqa: E402
from xmodal.devise.model import DeviseModel  # noqa: E402
from xmodal.text.labels import imagenet_labels  # noqa: E402
from xmodal.training.baselines import conse  # noqa: E402
from xmodal.training.evaluate import mcnemar, ranked_labels  # noqa: E402
from xmodal.training.train import classifier_label_matrix  # noqa: E402


def main() -> None:
    bench = load_bench(*shared_paths(), quiet=True)
    embed = word_labels(bench.space)
    default = DeviseModel.load(SHIPPED["glove-6b-50d"], space=bench.space.identity)
    classes = classifier_label_matrix(bench.space, bench.visual)
    methods = {"default": lambda s: default.encode(s.features, s.logits), "ConSE": lambda s: conse(s.logits, classes)}

    def nearest_is_true(split: Split, vectors, truth, rows=slice(None)) -> dict[str, np.ndarray]:
        """Per photo (of ``rows``) and method: is the nearest label vector the true one?"""
        return {name: ranked_labels(encode(split)[rows], vectors, 1)[:, 0] == truth for name, encode in methods.items()}

    rows: dict[str, dict[str, np.ndarray]] = {}
    nette = bench.data["imagenette"]
    for subset in ("1k", "21k"):
        kept, vectors = embed(imagenet_labels(subset))
        keep, truth = imagenet_truth(nette.rows, kept)
        rows[f"Imagenette vs {subset}, hit@1"] = nearest_is_true(nette, vectors, truth, keep)
    tiny = bench.data["tiny-val"]
    kept, vectors = embed(list(tiny.rows.classes.values()))
    names = [label.name for label in kept]
    unseen = np.isin(np.array(tiny.rows.labels), names) & ~np.isin(np.array(tiny.rows.labels), list(bench.seen_names))
    rows["Tiny unseen photos vs all 200 labels (gen U)"] = nearest_is_true(
        tiny, vectors, tiny.rows.select(unseen).targets(names), unseen)
    cifar = bench.data["cifar"]
    kept, vectors = embed(list(cifar.rows.classes.values()))
    rows["CIFAR-10, hit@1"] = nearest_is_true(cifar, vectors, cifar.rows.targets([label.name for label in kept]))

    print("| row | photos | only the default right | only ConSE right | McNemar p |")
    print("|---|---|---|---|---|")
    for name, right in rows.items():
        test = mcnemar(right["default"], right["ConSE"])
        print(f"| {name} | {len(right['default'])} | {test['first only']} | {test['second only']} | {test['p']:.2g} |")


if __name__ == "__main__":
    main()
