"""Reproduce the results table of docs/results.md from ../shared/data.

    .venv/bin/python benchmarks/results.py [--shared ../shared/data] [--work data] [--json results.json]

Every method is scored on the same cached visual features (EfficientNet-Lite0,
ImageNet-1k weights) in the same word space (GloVe 6B 50-d), on the fixed
Tiny ImageNet split (train on the 160 seen classes' train images):

- seen: seen-class val images against the 160 seen labels;
- zero-shot: unseen-class val images against the 40 unseen labels;
- generalized: all val images against all 200 labels (hit@1 on seen and
  unseen images, harmonic mean H);
- open vocabulary: Imagenette val against the ImageNet-1k and -21k names;
- generic words: CIFAR-10 test against its 10 labels (never trained on);
- text-to-image: each Imagenette class name ranks the Imagenette photos.

The first run extracts the features (tens of minutes on 2 cores); later runs
read them from the cache and take a few minutes.
"""

from __future__ import annotations

import argparse
import json
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xmodal.devise.model import InputSpec
from xmodal.text.labels import Label, embed_labels, imagenet_labels
from xmodal.text.words import WordSpace
from xmodal.training.baselines import conse, fit_softmax, random_label_vectors
from xmodal.training.datasets import LabeledImages, read_class_split, read_labeled
from xmodal.training.evaluate import generalized, hit_at_k, retrieval
from xmodal.training.fit import TrainConfig
from xmodal.training.train import classifier_label_matrix, train, visual_outputs
from xmodal.vision.visual import VisualModel, load_visual

SETS = ("tiny-imagenet-200", "imagenette-val", "cifar10")

# The shipped default (xmodal/models/), chosen by this table; docs/results.md has its train command.
DEFAULT_ROW = "xmodal default: map on the classifier layer, ConSE start (T=13), centred, no rank-loss steps"
DEFAULT_SPEC = InputSpec(("conse",), top=13)
DEFAULT_CONFIG = TrainConfig(loss="rank", epochs=0, centre=1.0)
# What rank-loss steps on Tiny's photos do to it, and the best rank-trained map without centring.
TRAINED_ROWS = {
    "the default + rank loss on Tiny (lr 1e-5, 20 epochs)": (DEFAULT_SPEC, TrainConfig(lr=1e-5, centre=1.0)),
    "map on the classifier layer, ConSE start (T=4), rank loss (lr 3e-5, 20 epochs)": (
        InputSpec(("conse",), top=4), TrainConfig(lr=3e-5)),
}


@dataclass
class Split:
    """One evaluation set: its rows, cached visual outputs and truth labels."""

    rows: LabeledImages
    features: np.ndarray
    logits: np.ndarray


def unpack(shared: Path, work: Path, names: tuple[str, ...] = SETS) -> dict[str, Path]:
    roots = {}
    for name in names:
        root = work / name
        if not (root / "labels.csv").is_file() and not (root / "captions.csv").is_file():
            archive = next(shared.glob(f"{name}.tar*"))
            print(f"unpacking {archive} into {work}", flush=True)
            with tarfile.open(archive) as tar:
                tar.extractall(work, filter="data")
        roots[name] = root
    return roots


@dataclass
class Bench:
    """Everything the table's methods are scored with: the evaluation splits' cached
    visual outputs, the Tiny ImageNet rows to train on and the seen/unseen split."""

    space: WordSpace
    visual: VisualModel
    tiny: LabeledImages
    seen: set[str]  # the split file's seen classes (names or wnids)
    seen_names: set[str]  # the same, as Tiny label names
    data: dict[str, Split]


def load_bench(shared: Path, work: Path, quiet: bool = False, timings: dict | None = None) -> Bench:
    """Unpack the sets into ``work`` and read (or first extract) their visual outputs."""
    roots = unpack(shared, work)
    space, visual = WordSpace.load(), load_visual()
    space.phrase_weighting = "mean"  # the table's label vectors, as made before SIF (benchmarks/language.py has SIF)
    tiny = read_labeled(roots["tiny-imagenet-200"])
    seen, _unseen = read_class_split(roots["tiny-imagenet-200"] / "split.json")
    cifar = read_labeled(roots["cifar10"] / "test")  # class folders: the set's labels.csv is a bare header
    sets = {
        "tiny-val": tiny.select(tiny.in_split("val")),
        "imagenette": read_labeled(roots["imagenette-val"]),
        "cifar": cifar,
    }
    data = {}
    for name, rows in sets.items():
        t = time.perf_counter()
        features, logits = visual_outputs(visual, rows.paths, quiet=quiet)
        data[name] = Split(rows, np.asarray(features), np.asarray(logits))
        if timings is not None:
            timings[f"features {name}"] = time.perf_counter() - t
    seen_names = {n for n, label in tiny.classes.items() if n in seen or label.wnid in seen}
    return Bench(space, visual, tiny, seen, seen_names, data)


def shared_paths() -> tuple[Path, Path]:
    """The default ../shared/data and the git-ignored data/ folder beside the project."""
    here = Path(__file__).resolve().parents[1]
    return here.parent / "shared" / "data", here / "data"


def data_arguments(description: str) -> argparse.ArgumentParser:
    """A parser with the options every table script shares: where the sets are and where its figures go."""
    shared, work = shared_paths()
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--shared", type=Path, default=shared)
    parser.add_argument("--work", type=Path, default=work, help="where the sets are unpacked")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    return parser


def timed_figures(args: argparse.Namespace, compute: Callable[[], dict]) -> None:
    """Run ``compute``, print how long it took, and write its figures to ``--json`` if given."""
    started = time.perf_counter()
    figures = compute()
    print(f"total {time.perf_counter() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))


LabelEmbedder = Callable[[list[Label]], tuple[list[Label], np.ndarray]]
ImageEncoder = Callable[[Split], np.ndarray]


def word_labels(space: WordSpace) -> LabelEmbedder:
    def embed(labels):
        found = embed_labels(space, labels)
        return list(found.labels), found.vectors

    return embed


def imagenet_truth(rows: LabeledImages, labels: list[Label]) -> tuple[np.ndarray, np.ndarray]:
    """Which ``rows`` have their class (by WordNet id) among ``labels``, and its label row for those."""
    row_of = {label.wnid: i for i, label in reversed(list(enumerate(labels)))}
    keep = np.array([rows.classes[name].wnid in row_of for name in rows.labels])
    return keep, np.array([row_of[rows.classes[name].wnid] for name in np.array(rows.labels)[keep]])


def score(encode: ImageEncoder, embed: LabelEmbedder, data: dict, seen: set[str]) -> dict[str, float]:
    """Every column of the table for one method."""
    out: dict[str, float] = {}
    val = data["tiny-val"]
    labels, vectors = embed(list(val.rows.classes.values()))
    names = [label.name for label in labels]
    keep = np.isin(np.array(val.rows.labels), names)
    predicted = encode(val)[keep]
    rows = val.rows.select(keep)
    truth = rows.targets(names)
    seen_labels = np.array([name in seen for name in names])
    on_seen = seen_labels[truth]
    for part, mask in (("seen", on_seen), ("zero-shot", ~on_seen)):
        columns = np.flatnonzero(seen_labels if part == "seen" else ~seen_labels)
        remap = {old: new for new, old in enumerate(columns)}
        part_truth = np.array([remap[t] for t in truth[mask]])
        for k, v in hit_at_k(predicted[mask], part_truth, vectors[columns], ks=(1, 5)).items():
            out[f"{part} {k}"] = v
    for k, v in generalized(predicted, truth, vectors, seen_labels).items():
        out[f"gen {k}"] = v

    nette = data["imagenette"]
    nette_images = encode(nette)
    for subset in ("1k", "21k"):
        labels, vectors = embed(imagenet_labels(subset))
        keep, truth = imagenet_truth(nette.rows, labels)
        for k, v in hit_at_k(nette_images[keep], truth, vectors, ks=(1, 5)).items():
            out[f"nette/{subset} {k}"] = v
    labels, vectors = embed(list(nette.rows.classes.values()))
    names = [label.name for label in labels]
    keep = np.isin(np.array(nette.rows.labels), names)
    ranked = retrieval(nette_images[keep], nette.rows.select(keep).targets(names), vectors, k=10)
    out["text→image P@10"], out["text→image mAP"] = ranked["P@10"], ranked["mAP"]

    cifar = data["cifar"]
    labels, vectors = embed(list(cifar.rows.classes.values()))
    names = [label.name for label in labels]
    keep = np.isin(np.array(cifar.rows.labels), names)
    out["cifar10 hit@1"] = hit_at_k(encode(cifar)[keep], cifar.rows.select(keep).targets(names), vectors, ks=(1,))["hit@1"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    shared, work = shared_paths()
    parser.add_argument("--shared", type=Path, default=shared)
    parser.add_argument("--work", type=Path, default=work, help="where the sets are unpacked")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args()

    started = time.perf_counter()
    timings: dict[str, float] = {}
    bench = load_bench(args.shared, args.work, timings=timings)
    space, visual, tiny, seen, data, seen_names = (
        bench.space, bench.visual, bench.tiny, bench.seen, bench.data, bench.seen_names)

    words, randoms = word_labels(space), word_labels(_RandomSpace(space))
    results: dict[str, dict[str, float]] = {}

    def run(name: str, encode: ImageEncoder, embed: LabelEmbedder = words) -> None:
        t = time.perf_counter()
        results[name] = score(encode, embed, data, seen_names)
        timings[name] = time.perf_counter() - t
        print(name, json.dumps({k: round(v, 3) for k, v in results[name].items()}), flush=True)

    imagenet_vectors = classifier_label_matrix(space, visual)
    run("ConSE, ImageNet-1k classifier (T=10)", lambda s: conse(s.logits, imagenet_vectors, 10))
    run("ConSE, ImageNet-1k classifier (T=13)", lambda s: conse(s.logits, imagenet_vectors, 13))

    def devise(name: str, config: TrainConfig, spec: InputSpec, label_space=space, embed=words) -> None:
        t = time.perf_counter()
        model = train(tiny, label_space, visual, config, spec, seen=seen, quiet=True).model
        timings[f"train {name}"] = time.perf_counter() - t
        run(name, lambda s: model.encode(s.features, s.logits), embed)

    pooled = InputSpec(("pooled",))
    epochs = args.epochs
    devise("DeViSE, rank loss (paper)", TrainConfig(loss="rank", epochs=epochs), pooled)
    devise("DeViSE, rank loss, first violator", TrainConfig(loss="rank-first", epochs=epochs), pooled)
    devise("DeViSE, L2 loss", TrainConfig(loss="l2", epochs=epochs), pooled)
    devise("DeViSE, random label vectors", TrainConfig(loss="rank", epochs=epochs), pooled,
           label_space=_RandomSpace(space), embed=randoms)

    devise("DeViSE, softmax loss", TrainConfig(loss="softmax", epochs=epochs), pooled)
    for name, (spec, config) in TRAINED_ROWS.items():
        devise(name, config, spec)
    devise(DEFAULT_ROW, DEFAULT_CONFIG, DEFAULT_SPEC)

    # Softmax classifier on the seen classes, and ConSE on it.
    train_rows = tiny.select(tiny.in_split("train") & tiny.of_classes(seen))
    train_vectors = embed_labels(space, list(train_rows.classes.values()))
    features, _ = visual_outputs(visual, train_rows.paths, quiet=True)
    mean, scale = np.asarray(features).mean(0), np.asarray(features).std(0) + 1e-6
    t = time.perf_counter()
    weight, bias = fit_softmax((np.asarray(features) - mean) / scale, train_rows.targets(train_vectors.names),
                               len(train_vectors.names), epochs=epochs)
    timings["train softmax"] = time.perf_counter() - t
    classify = lambda features: ((features - mean) / scale) @ weight + bias  # noqa: E731
    val = data["tiny-val"]
    on_seen = val.rows.of_classes(seen)
    seen_logits = classify(val.features[on_seen])
    truth = val.rows.select(on_seen).targets(train_vectors.names)
    ranked = np.argsort(-seen_logits, axis=1)
    results["Softmax classifier, 160 seen classes"] = {
        "seen hit@1": float((ranked[:, 0] == truth).mean()),
        "seen hit@5": float((ranked[:, :5] == truth[:, None]).any(1).mean()),
    }
    print("softmax", results["Softmax classifier, 160 seen classes"], flush=True)
    run("ConSE, seen-class softmax (T=10)", lambda s: conse(classify(s.features), train_vectors.vectors, 10))

    timings["total"] = time.perf_counter() - started
    print(markdown(results))
    print(json.dumps(timings, indent=1))
    if args.json:
        args.json.write_text(json.dumps({"results": results, "seconds": timings}, indent=1))


class _RandomSpace(WordSpace):
    """The word space with every term's vector replaced by a fixed random one
    (for the same terms, so random and word vectors are scored on the same labels)."""

    def __init__(self, space: WordSpace) -> None:
        super().__init__(space.keys, space.vectors, space.identity)

    def lookup(self, term: str, suggest: bool = True):
        _, keys = super().lookup(term, suggest)
        return random_label_vectors([term], self.dim)[0], keys


def markdown(results: dict[str, dict[str, float]]) -> str:
    columns = list(dict.fromkeys(c for row in results.values() for c in row))
    lines = ["| method | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    for name, row in results.items():
        lines.append(f"| {name} | " + " | ".join(f"{row[c]:.3f}" if c in row else "" for c in columns) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
