"""An index of 100k, 300k and 1M photos through the application's own store, with vectors shaped like real ones.

    .venv/bin/python benchmarks/store_scale.py [SIZES ...] [--queries 200] [--layout compact|float32] [--json F] [--scratch DIR --keep]
    .venv/bin/python benchmarks/store_scale.py 1000000 --answer DIR/store-scale-XXXX   # the warm searches again, on a kept run

What it builds: for each size, an embedded index (``xmodal.store.open_store``,
the default back end, in the storage a new index gets unless ``--layout
float32`` asks for format 1's), recorded as made with the default space and
the shipped model's fp32 encoder so that ``xmodal query`` opens it and ranks
as on a real index (the hub penalty; before 2026-12-06 the encoder was not
recorded, and the cold queries below ran without it), filled through ``Store.upsert_images`` and
``Store.optimize`` as ``xmodal index`` fills one.

Its photos: the EfficientNet-Lite2 features of the shared sets' real photos
(Flickr8k train and val, mini-places-20, Imagenette: 17,415, less the
query photos), extended to the size asked. Each made-up photo is a real
photo's features moved towards a second real photo's by a random share in
[0, 0.5), plus a little noise (a tenth of each feature's spread across
photos), clipped to ReLU6's [0, 6]. So every photo has a real photo's
statistics (sparse, non-negative, the same correlations between features)
and its neighbourhood is crowded the way a big archive's is (bursts, series,
many photos of one thing), which is harder for an approximate index than
uniform noise, which has no neighbours at all. Its semantic vector is what
the shipped DeViSE model makes of those features and of the logits that the
network's linear classifier would give them (fitted from the cached
features and logits: an exact fit for the stock network; for the phase-2 network, whose
classes come from the stock blocks beside the tuned ones, a least-squares one. The residual
is printed). Each photo sits in
one of 100 folders (``/photos/NN/``), so a search within one folder keeps 1%.

What it measures, each size in fresh processes:
- upsert rate (photos/s through ``upsert_images``) and the HNSW build
  (``optimize``), peak RSS of the building process;
- disk per photo of the closed index (allocated blocks, write-ahead log
  included), less an empty index's;
- p50/p95 latency, warm (after one pass over the same queries), one query
  at a time, in a fresh process that only opens the index, and its peak RSS:
  meaning (a caption's vector, asking ``k + hubness.POOL`` photos with their
  vectors, as ``Engine.query`` does for the hub penalty), look-alike (a held-out
  real photo's features, k 10), and meaning within one folder (k + POOL);
- recall@10 of each against an exact float32 scan of the same photos;
- a cold ``xmodal query "..." --index`` (a whole fresh process, median of 5).

Query vectors: 200 Flickr8k val captions in the sentence space, and the
features of 200 real photos kept out of the index.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from results import data_arguments, unpack

from xmodal.devise.encoder import DEFAULT_MODEL, Encoder
from xmodal.devise.hubness import POOL
from xmodal.devise.model import DeviseModel
from xmodal.store import FLOAT32, ImageInfo, ImageRecord, open_store
from xmodal.text.factory import load_space
from xmodal.training.datasets import read_captions, read_labeled
from xmodal.training.train import visual_outputs

CHUNK = 10_000  # photos per generated file and per upsert call
FOLDERS = 100
K = 10
SCRIPT = Path(__file__).resolve()
XMODAL = [sys.executable, "-m", "cli"]


def real_features(roots: dict[str, Path], visual) -> tuple[np.ndarray, np.ndarray]:
    """(features, logits) of the real photos, in the groups the other benchmarks cache them in."""
    flickr = read_captions(roots["flickr8k-captions"])
    places = read_labeled(roots["mini-places-20"])
    nette = read_labeled(roots["imagenette-val"])
    seen_train = places.in_split("train") & (np.array(places.zero_shot) == "seen")
    groups = [
        [p for p, split in zip(flickr.photos, flickr.splits) if split == wanted] for wanted in ("train", "val")
    ] + [[p for p, keep in zip(places.paths, mask) if keep] for mask in (seen_train, places.in_split("val"))]
    outputs = [visual_outputs(visual, paths, quiet=True) for paths in [*groups, list(nette.paths)]]
    return np.concatenate([f for f, _ in outputs]).astype(np.float32), np.concatenate([lg for _, lg in outputs])


def prepare(roots: dict[str, Path], sizes: list[int], queries: int, work: Path) -> None:
    """Real features, the query vectors and the largest size's made-up photos, as files in ``work``."""
    space = load_space()
    encoder = Encoder.load(space)
    features, logits = real_features(roots, encoder.visual)
    rng = np.random.default_rng(0)
    held = rng.choice(len(features), queries, replace=False)
    pool = np.setdiff1d(np.arange(len(features)), held)
    design = np.hstack([features[pool], np.ones((len(pool), 1), np.float32)])
    classifier, *_ = np.linalg.lstsq(design, logits[pool], rcond=None)
    residual = np.abs(design @ classifier - logits[pool]).max()
    print(f"{len(features):,} real photos, {queries} held out as look-alike queries; "
          f"logits = features @ W + b fitted with max residual {residual:.2e}", flush=True)
    flickr = read_captions(roots["flickr8k-captions"])
    val = [c for c, p in zip(flickr.captions, flickr.photo_of) if flickr.splits[p] == "val"]
    texts = [val[i] for i in rng.choice(len(val), queries, replace=False)]
    np.save(work / "meaning.npy", np.stack([space.query(t).vector for t in texts]).astype(np.float32))
    np.save(work / "looks.npy", features[held])
    model = DeviseModel.load(DEFAULT_MODEL)
    spread = features[pool].std(axis=0)
    started = time.perf_counter()
    for number, start in enumerate(range(0, max(sizes), CHUNK)):
        rows = min(CHUNK, max(sizes) - start)
        chunk = np.random.default_rng(1000 + number)
        a, b = pool[chunk.integers(len(pool), size=rows)], pool[chunk.integers(len(pool), size=rows)]
        share = chunk.uniform(0, 0.5, size=(rows, 1)).astype(np.float32)
        noise = chunk.standard_normal((rows, features.shape[1]), dtype=np.float32) * (0.1 * spread)
        made = np.clip((1 - share) * features[a] + share * features[b] + noise, 0, 6)
        made_logits = np.hstack([made, np.ones((rows, 1), np.float32)]) @ classifier
        np.save(work / f"visual-{number:03d}.npy", made.astype(np.float16))
        np.save(work / f"semantic-{number:03d}.npy", model.encode(made, made_logits).astype(np.float16))
    print(f"made {max(sizes):,} photos in {time.perf_counter() - started:.0f} s", flush=True)


def chunks(work: Path, size: int):
    for number in range((size + CHUNK - 1) // CHUNK):
        rows = min(CHUNK, size - number * CHUNK)
        yield (number * CHUNK, np.load(work / f"semantic-{number:03d}.npy")[:rows].astype(np.float32),
               np.load(work / f"visual-{number:03d}.npy")[:rows].astype(np.float32))


def path_of(row: int) -> str:
    return f"/photos/{row % FOLDERS:02d}/{row:07d}.jpg"


def build(work: Path, size: int, index: Path, layout: str) -> dict:
    """(in a child process) Fill an index of ``size`` photos as xmodal index would, timed."""
    space = load_space()
    storage = {"semantic": {"datatype": FLOAT32}, "visual": {"datatype": FLOAT32}} if layout == "float32" else None
    encoder_dims = {"dim": space.dim, "visual_dim": 1280, "visual_nonnegative": True}
    if storage:
        from xmodal.store import EdgeStore

        store = EdgeStore(index, dim=space.dim, visual_dim=1280, storage=storage)
    else:
        store = open_store(index, **encoder_dims)
    upsert = 0.0
    with store:
        # the encoder too, as xmodal index records it: the photos are the shipped model's (fp32), and
        # Engine.query applies that model's hub penalty and short-query feedback only to its own index
        store.set_meta({"space": space.identity.to_dict(), "encoder": Encoder.load(space).identity()})
        for start, semantic, visual in chunks(work, size):
            records = [
                ImageRecord(ImageInfo(path_of(start + i), f"sha256:{start + i:064x}", 250_000, 1_700_000_000 * 10**9, 640, 480), s, v)
                for i, (s, v) in enumerate(zip(semantic, visual))
            ]
            began = time.perf_counter()
            store.upsert_images(records)
            upsert += time.perf_counter() - began
        began = time.perf_counter()
        store.flush()
        flushed = time.perf_counter() - began
        began = time.perf_counter()
        store.optimize()
        optimize = time.perf_counter() - began
    return {"upsert_per_s": size / (upsert + flushed), "optimize_s": optimize, "build_rss_gb": peak_rss_gb()}


def answer(work: Path, index: Path) -> dict:
    """(in a child process) Open the index and time the three searches, warm; their results for recall."""
    meaning, looks = np.load(work / "meaning.npy"), np.load(work / "looks.npy")
    searches = {
        "meaning": lambda store, q: store.search(q, "semantic", K + POOL, vectors=True)[:K],
        "look-alike": lambda store, q: store.search(q, "visual", K),
        "within a folder": lambda store, q: store.search(q, "semantic", K + POOL, within=["/photos/07"], vectors=True)[:K],
    }
    vectors = {"meaning": meaning, "look-alike": looks, "within a folder": meaning}
    out: dict = {}
    with open_store(index) as store:
        for name, search in searches.items():
            for query in vectors[name]:  # warm-up: the pages these queries touch
                search(store, query)
            times, found = [], []
            for query in vectors[name]:
                began = time.perf_counter()
                hits = search(store, query)
                times.append((time.perf_counter() - began) * 1000)
                found.append([int(hit.path[-11:-4]) for hit in hits])
            out[name] = {"p50_ms": float(np.percentile(times, 50)), "p95_ms": float(np.percentile(times, 95)), "found": found}
    out["answer_rss_gb"] = peak_rss_gb()
    return out


def exact(work: Path, size: int) -> dict[str, list[list[int]]]:
    """The true top 10 of each query by float32 cosine over every photo of the index."""
    meaning, looks = np.load(work / "meaning.npy"), np.load(work / "looks.npy")
    looks = looks / np.linalg.norm(looks, axis=1, keepdims=True)
    best = {name: (np.full((len(meaning), K), -2.0), np.zeros((len(meaning), K), int)) for name in ("meaning", "look-alike", "within a folder")}
    for start, semantic, visual in chunks(work, size):
        rows = np.arange(start, start + len(semantic))
        semantic /= np.linalg.norm(semantic, axis=1, keepdims=True)
        visual /= np.linalg.norm(visual, axis=1, keepdims=True)
        inside = rows % FOLDERS == 7
        for name, scores, ids in (
            ("meaning", meaning @ semantic.T, rows),
            ("look-alike", looks @ visual.T, rows),
            ("within a folder", meaning @ semantic[inside].T, rows[inside]),
        ):
            top, top_ids = best[name]
            merged = np.hstack([top, scores])
            merged_ids = np.hstack([top_ids, np.broadcast_to(ids, scores.shape)])
            order = np.argsort(-merged, axis=1)[:, :K]
            best[name] = (np.take_along_axis(merged, order, 1), np.take_along_axis(merged_ids, order, 1))
    return {name: ids.tolist() for name, (_, ids) in best.items()}


def cold_query(index: Path, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        subprocess.run([*XMODAL, "query", "a dog runs on the beach", "--index", str(index), "--json"], check=True, capture_output=True)
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def disk_bytes(folder: Path) -> int:
    return sum(p.stat().st_blocks * 512 for p in folder.rglob("*") if p.is_file())


def peak_rss_gb() -> float:
    """This process's peak resident memory (VmHWM: unlike getrusage's maxrss, a child started
    by exec does not inherit its parent's)."""
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) / 2**20  # kB


def child(step: str, *args: str) -> dict:
    done = subprocess.run([sys.executable, str(SCRIPT), "--child", step, *args], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{step} failed:\n{done.stderr}")
    return json.loads(done.stdout.splitlines()[-1])


def main() -> None:
    parser = data_arguments(__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[100_000, 300_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--layout", choices=("compact", "float32"), default="compact")
    parser.add_argument("--scratch", type=Path, default=None, help="where the generated photos and indexes go")
    parser.add_argument("--keep", action="store_true", help="keep the generated photos and the indexes (in --scratch)")
    parser.add_argument("--answer", type=Path, default=None,
                        help="only ask the warm searches again, on a run kept with --keep (its store-scale-* folder)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        step, work, size, index, *rest = args.child
        result = build(Path(work), int(size), Path(index), rest[0]) if step == "build" else answer(Path(work), Path(index))
        print(json.dumps(result))
        return
    if args.answer:
        for size in args.sizes:
            print(json.dumps({"size": size, **searched(args.answer, size)}), flush=True)
        return
    if args.scratch:
        args.scratch.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="store-scale-", dir=args.scratch))
    try:
        roots = unpack(args.shared, args.work, ("flickr8k-captions", "mini-places-20", "imagenette-val"))
        prepare(roots, args.sizes, args.queries, scratch)
        empty = scratch / "empty"
        open_store(empty, dim=384, visual_dim=1280, visual_nonnegative=True).close()
        fixed = disk_bytes(empty)
        rows = []
        for size in args.sizes:
            began = time.perf_counter()
            index = scratch / f"index-{size}"
            built = child("build", str(scratch), str(size), str(index), args.layout)
            per_photo = (disk_bytes(index) - fixed) / size
            row = {"size": size, "layout": args.layout, **built, "disk_per_photo_kib": per_photo / 1024,
                   "fixed_mb": fixed / 2**20, **searched(scratch, size)}
            row["cold_query_s"] = cold_query(index)
            row["load_average"] = os.getloadavg()[1]  # over the last 5 minutes: other work on the machine
            row["total_s"] = time.perf_counter() - began
            rows.append(row)
            print(json.dumps(row), flush=True)
            if not args.keep:
                shutil.rmtree(index)
        print_table(rows)
        if args.json:
            args.json.write_text(json.dumps(rows, indent=1))
    finally:
        if args.keep:
            print(f"kept in {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)


def searched(scratch: Path, size: int) -> dict:
    """The warm searches on ``scratch``'s index of ``size`` photos, in a fresh process: latencies,
    the answering process's peak RSS, and recall@10 against an exact scan."""
    answered = child("answer", str(scratch), str(size), str(scratch / f"index-{size}"))
    truth = exact(scratch, size)
    row = {"answer_rss_gb": answered.pop("answer_rss_gb")}
    for name, measured in answered.items():
        recall = np.mean([len(set(f) & set(t)) / K for f, t in zip(measured["found"], truth[name])])
        row[name] = {"p50_ms": measured["p50_ms"], "p95_ms": measured["p95_ms"], "recall@10": float(recall)}
    return row


def print_table(rows: list[dict]) -> None:
    print("\n| photos | layout | upsert /s | HNSW build s | disk KiB/photo | RSS build GB | RSS answer GB "
          "| meaning p50/p95 ms, R@10 | look-alike p50/p95 ms, R@10 | within a folder p50/p95 ms, R@10 | cold query s "
          "| whole run min | load avg |")
    print("|---:|---|---:|---:|---:|---:|---:|---|---|---|---:|---:|---:|")
    for row in rows:
        cells = [f"{row[n]['p50_ms']:.1f} / {row[n]['p95_ms']:.1f}, {row[n]['recall@10']:.3f}" for n in ("meaning", "look-alike", "within a folder")]
        print(f"| {row['size']:,} | {row['layout']} | {row['upsert_per_s']:,.0f} | {row['optimize_s']:.0f} "
              f"| {row['disk_per_photo_kib']:.2f} | {row['build_rss_gb']:.2f} | {row['answer_rss_gb']:.2f} | "
              + " | ".join(cells) + f" | {row['cold_query_s']:.2f} | {row['total_s'] / 60:.1f} | {row['load_average']:.1f} |")


if __name__ == "__main__":
    main()
