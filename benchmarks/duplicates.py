"""How well ``xmodal duplicates`` finds copies, and the threshold it ships with.

    .venv/bin/python benchmarks/duplicates.py [--shared ../shared/data] [--work data] [--sources 160] [--seed 0]

The set, built afresh from the shared photo sets (seeded, so every run builds
the same one):

- Sources: ``--sources`` photos from each of Imagenette val (224 px; an equal
  number per class), mini-places-20 (128 px; all splits, an equal number per
  scene) and Flickr8k (224 px, squashed square; any photo). Each source gets
  six copies:

  ``exact``   the same bytes (a copied file);
  ``half``    resized to 50 % (Lanczos), JPEG quality 90;
  ``double``  resized to 200 % (bicubic), JPEG quality 90;
  ``jpeg``    re-encoded at a JPEG quality drawn from 30 to 60;
  ``crop``    5 to 10 % cut off each edge (each edge its own draw), JPEG quality 90;
  ``rotate``  turned 2 to 5 degrees either way (bicubic), then cropped to the
              largest upright rectangle of the same shape inside (no empty
              corners: 4 to 9 % off each edge), JPEG quality 90.

- Hard negatives: as many distinct photos again, of the same class (Imagenette)
  or scene (mini-places-20) as the sources, or other Flickr8k photos; they have
  no copies, and any group that joins one to another photo is wrong.

- Not in the scored set: a quarter-turn (``rot90``) copy of every source, indexed
  beside the others (a wrong link through one still costs precision) and reported
  as its own recall only, because a convolutional network's features are not
  meant to survive a quarter turn.

Halves: the sources and the negatives are split at random into halves A and B,
each photo with its copies; each half is its own folder and its own index,
built through the application's own path (``xmodal.open(create=True)``,
``Engine.index``) and grouped by ``Engine.duplicates``, as a user's would be.

Figures are pair-level, over the unordered pairs of scored photos (``rot90``
copies left out) in one half: a pair is a duplicate when both come from the
same source (a source and a copy, or two copies of it); it is found when
``Engine.duplicates`` puts both in one group. Precision = found duplicates /
found pairs, recall = found duplicates / duplicates. Since a group counts all
its pairs, one wrong link between two groups of 7 costs 49 wrong pairs.

The default threshold and power are chosen on half A alone. For each power
in ``POWERS`` (the score is the cosine after each feature is raised to it,
:mod:`xmodal.search.duplicates`; 1 is the plain cosine) and each threshold 0.70,
0.71, ..., 0.99, ``find_duplicates`` (what ``Engine.duplicates`` runs) groups
half A; the pair chosen is the one with the highest F1 on A among those with
precision of at least 0.97 on A (a margin over the 0.95 target, since B is a
fresh sample; the highest threshold on ties; the highest F1 overall if none
reaches 0.97). Each power's own best threshold by the same rule is kept too.
Half B, never looked at while choosing, is then scored once at each power's
choice: those are the figures docs/search.md reports, with recall per kind of
copy for the shipped choice.

History: the first run (commit 5ee55ba) had the plain cosine only, on
thresholds from 0.50; nothing below 0.86 came near 0.97 precision on A, and
it chose 0.89, where B had precision 0.981 and recall 0.796 (half-size copies
0.442). Powers below 1 were then explored on half A alone (0.1 to 0.7); 0.25
did best there, and this script checks it against 0.5 and 1.
"""

from __future__ import annotations

import csv
import math
import platform
import random
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from PIL import Image  # noqa: E402
from results import data_arguments, unpack  # noqa: E402

import xmodal  # noqa: E402
from xmodal.search.duplicates import POWER, Duplicates, find_duplicates  # noqa: E402

SETS = ("imagenette-val", "mini-places-20", "flickr8k-captions")
COPIES = ("exact", "half", "double", "jpeg", "crop", "rotate")
UNSCORED = ("rot90",)
GRID = [round(0.70 + 0.01 * i, 2) for i in range(30)]
POWERS = (1.0, 0.5, POWER)
MIN_PRECISION = 0.97


@dataclass(frozen=True)
class Photo:
    """One photo of the built set: where it came from and how it was made."""

    source: str  # the original's id: photos of one source are duplicates of one another
    copy: str  # "original", a name in COPIES, or one in UNSCORED


def main() -> None:
    parser = data_arguments(__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=160, help="sources per set (and as many negatives)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, default=None, help="build the set here and keep it (default: a temp folder)")
    args = parser.parse_args()
    roots = unpack(args.shared, args.work, SETS)
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as temp:
        work = args.keep or Path(temp)
        halves = {"A": {}, "B": {}}
        for name in SETS:
            sources, negatives = pick(roots[name], args.sources, rng)
            for kind, chosen in (("source", sources), ("negative", negatives)):
                rng.shuffle(chosen)
                for i, original in enumerate(chosen):
                    half = "AB"[i % 2]
                    made = build(original, work / half / name, with_copies=kind == "source", rng=rng)
                    halves[half].update(made)
        print(f"built {sum(map(len, halves.values()))} photos in {work} on {machine()}", flush=True)
        indexes = {half: index(work / half, work / f"index-{half}") for half in halves}

        print("\nhalf A: choosing the power and threshold")
        print(f"{'power':>5} {'threshold':>9} {'groups':>6} {'precision':>9} {'recall':>6} {'F1':>6}")
        scored = []
        with xmodal.open(indexes["A"]) as engine:
            for power in POWERS:
                for threshold in GRID:
                    found = find_duplicates(engine.store, threshold, power=power)
                    precision, recall = pair_scores(found, halves["A"])
                    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
                    scored.append((power, threshold, precision, recall, f1))
                    print(f"{power:>5.2f} {threshold:>9.2f} {len(found.groups):>6} {precision:>9.3f} {recall:>6.3f} {f1:>6.3f}",
                          flush=True)
        chosen = choose(scored)
        print(f"chosen on A: power {chosen[0]:.2f}, threshold {chosen[1]:.2f}")

        photos = halves["B"]
        print("\nhalf B at each power's threshold chosen on A:")
        with xmodal.open(indexes["B"]) as engine:
            for power in POWERS:
                threshold = choose([row for row in scored if row[0] == power])[1]
                started = time.perf_counter()
                found = find_duplicates(engine.store, threshold, power=power)
                seconds = time.perf_counter() - started
                precision, recall = pair_scores(found, photos)
                shipped = " (the choice)" if (power, threshold) == chosen else ""
                print(f"power {power:.2f} at {threshold:.2f}{shipped}: {found.photos} photos, {len(found.groups)} groups, "
                      f"precision {precision:.3f}, recall {recall:.3f} ({seconds:.1f} s, "
                      f"{1000 * seconds / found.photos:.2f} ms a photo)")
                for copy, shares in copy_recall(found, photos).items():
                    print(f"  recall of {copy:<7} copies " + ", ".join(f"{where} {share:.3f}" for where, share in shares.items()))
                print("  highest-scoring wrong pairs:")
                for pair in wrong_pairs(found, photos)[:3]:
                    print(f"  {pair.score:.3f}  {pair.a}  ~  {pair.b}", flush=True)


def pick(root: Path, count: int, rng: random.Random) -> tuple[list[Path], list[Path]]:
    """``count`` sources and ``count`` negatives of the same classes: an equal number of each
    per class where the set has classes (Flickr8k has none: any photos)."""
    table = root / ("labels.csv" if (root / "labels.csv").is_file() else "captions.csv")
    by_class: dict[str, list[str]] = defaultdict(list)
    with open(table, newline="") as handle:
        for row in csv.DictReader(handle):
            paths = by_class[row.get("label", "")]
            if not paths or paths[-1] != row["path"]:  # captions.csv repeats a photo for each caption
                paths.append(row["path"])
    sources, negatives = [], []
    classes = sorted(by_class)
    for label in classes:
        paths = sorted(set(by_class[label]))
        share = count // len(classes)
        drawn = rng.sample(paths, 2 * share)
        sources += [root / path for path in drawn[:share]]
        negatives += [root / path for path in drawn[share:]]
    return sources, negatives


def build(original: Path, folder: Path, *, with_copies: bool, rng: random.Random) -> dict[str, Photo]:
    """The original in ``folder`` and, for a source, its copies beside it (``NAME~COPY.jpg``)."""
    folder.mkdir(parents=True, exist_ok=True)
    source = f"{folder.name}/{original.stem}"
    target = folder / f"{original.stem}.jpg"
    shutil.copyfile(original, target)
    made = {str(target): Photo(source, "original")}
    if not with_copies:
        return made
    with Image.open(original) as opened:
        image = opened.convert("RGB")
    width, height = image.size
    for copy in COPIES + UNSCORED:
        path = folder / f"{original.stem}~{copy}.jpg"
        made[str(path)] = Photo(source, copy)
        if copy == "exact":
            shutil.copyfile(original, path)
        elif copy == "half":
            image.resize((width // 2, height // 2), Image.Resampling.LANCZOS).save(path, quality=90)
        elif copy == "double":
            image.resize((width * 2, height * 2), Image.Resampling.BICUBIC).save(path, quality=90)
        elif copy == "jpeg":
            image.save(path, quality=rng.randint(30, 60))
        elif copy == "crop":
            left, top, right, bottom = (rng.uniform(0.05, 0.10) for _ in range(4))
            box = (round(width * left), round(height * top), round(width * (1 - right)), round(height * (1 - bottom)))
            image.crop(box).save(path, quality=90)
        elif copy == "rotate":
            rotated_cropped(image, rng.choice((-1, 1)) * rng.uniform(2, 5)).save(path, quality=90)
        elif copy == "rot90":
            image.transpose(Image.Transpose.ROTATE_90).save(path, quality=90)
    return made


def rotated_cropped(image: Image.Image, degrees: float) -> Image.Image:
    """``image`` turned by ``degrees``, cut to the largest centred rectangle of its shape
    that holds no empty corner: scale 1 / (cos a + (long side / short side) sin a)."""
    width, height = image.size
    angle = math.radians(abs(degrees))
    scale = 1 / (math.cos(angle) + max(width, height) / min(width, height) * math.sin(angle))
    inner_w, inner_h = int(width * scale), int(height * scale)
    left, top = (width - inner_w) // 2, (height - inner_h) // 2
    rotated = image.rotate(degrees, resample=Image.Resampling.BICUBIC)
    return rotated.crop((left, top, left + inner_w, top + inner_h))


def index(folder: Path, where: Path) -> Path:
    started = time.perf_counter()
    with xmodal.open(where, create=True) as engine:
        summary = engine.index(folder)
    print(f"indexed {folder.name}: {summary.added} photos in "
          f"{time.perf_counter() - started:.0f} s; {len(summary.failed)} failed", flush=True)
    return where


def group_of(found: Duplicates, photos: dict[str, Photo]) -> dict[str, int]:
    """Each scored photo's group: its number in ``found``, or a number of its own."""
    groups = {info.path: n for n, group in enumerate(found.groups) for info in group.photos}
    alone = len(found.groups)
    return {path: groups.get(path, alone + i) for i, path in enumerate(photos)}


def pair_scores(found: Duplicates, photos: dict[str, Photo]) -> tuple[float, float]:
    """Pair-level precision and recall over the scored photos (see the module docstring)."""
    scored = {path: photo for path, photo in photos.items() if photo.copy not in UNSCORED}
    groups = group_of(found, scored)
    pairs = lambda counts: sum(n * (n - 1) // 2 for n in counts.values())  # noqa: E731
    found_pairs = pairs(Counter(groups.values()))
    true_pairs = pairs(Counter(photo.source for photo in scored.values()))
    right = pairs(Counter((groups[path], photo.source) for path, photo in scored.items()))
    return (right / found_pairs if found_pairs else 1.0), (right / true_pairs if true_pairs else 1.0)


def copy_recall(found: Duplicates, photos: dict[str, Photo]) -> dict[str, dict[str, float]]:
    """For each kind of copy, the share of (original, copy) pairs found in one group:
    in all, and in each set (its name is the start of the source's id)."""
    groups = group_of(found, photos)
    originals = {photo.source: groups[path] for path, photo in photos.items() if photo.copy == "original"}
    joined: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    for path, photo in photos.items():
        if photo.copy != "original":
            hit = groups[path] == originals[photo.source]
            joined[photo.copy]["all"].append(hit)
            joined[photo.copy][photo.source.split("/")[0]].append(hit)
    return {copy: {where: sum(hits) / len(hits) for where, hits in by.items()} for copy, by in joined.items()}


def wrong_pairs(found: Duplicates, photos: dict[str, Photo]) -> list:
    """The links ``found`` made between photos of different sources, highest cosine first."""
    wrong = [pair for group in found.groups for pair in group.pairs if photos[pair.a].source != photos[pair.b].source]
    return sorted(wrong, key=lambda pair: -pair.score)


def choose(scored: list[tuple[float, float, float, float, float]]) -> tuple[float, float]:
    """The rule of the module docstring, on (power, threshold, precision, recall, F1) rows:
    the (power, threshold) chosen."""
    eligible = [row for row in scored if row[2] >= MIN_PRECISION] or scored
    best = max(eligible, key=lambda row: (row[4], row[1]))
    return best[0], best[1]


def machine() -> str:
    import os

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


if __name__ == "__main__":
    main()
