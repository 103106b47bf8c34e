"""Query latency, recall and disk use of the store back ends on synthetic photos.

    python benchmarks/store_latency.py [SIZES ...] [--queries 200] [--no-visual] [--backends edge,local,numpy]

For each size (default 10000 and 100000 images) it builds one index per back
end from the same vectors and runs the same queries, one at a time, through
the API the application uses: ``edge`` is :class:`EdgeStore` (qdrant-edge,
HNSW after ``optimize()``), ``local`` is :class:`ServerStore` over
qdrant-client's local mode (``QdrantClient(path=...)``, a numpy scan behind
the server API), and ``numpy`` is a brute-force scan of an in-memory matrix.
Recall@k is measured against that exact scan.

With ``--real`` the vectors are real photos' instead: the EfficientNet-Lite0
features that benchmarks/results.py cached (Tiny ImageNet, Imagenette,
CIFAR-10; up to 72k photos) and their semantic vectors from the shipped
model, with the queries held out of the index. Otherwise the vectors are unit vectors in clusters (a random centre per "class" plus
noise as large, the same class in both spaces, about 100 photos a class
unless ``--classes`` says otherwise), 50-d ``semantic`` and 1280-d
``visual`` like EfficientNet-Lite0 features; uniform random vectors would
have no neighbourhoods and make any approximate index look bad. Build time
counts upserts and a flush; ``optimize`` (the HNSW build) is timed apart.
Disk use is what the files of a closed index occupy (allocated blocks):
``fixed`` is an empty index of the same kind, ``per image`` the rest divided
by the number of images; for edge it includes the write-ahead log, which
keeps recent upserts until its segment is recycled. Local mode keeps every point in SQLite and
loads it all into memory: expect minutes and gigabytes at 100k images with
visual vectors.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from xmodal.store import (
    SEARCH_EF,
    EdgeStore,
    ImageInfo,
    ImageRecord,
    ServerStore,
    Store,
)

SEMANTIC_DIM, VISUAL_DIM = 50, 1280
BACKENDS = ("edge", "local", "numpy")

Search = Callable[[np.ndarray, str], list[int]]  # (query, vector name) -> row numbers, best first


@dataclass
class Result:
    backend: str
    size: int
    build_s: float
    optimize_s: float
    fixed_bytes: int
    bytes_per_image: float = 0.0
    latency_ms: dict[str, tuple[float, float]] = field(default_factory=dict)  # name -> (p50, p95)
    recall: dict[str, float] = field(default_factory=dict)


def clustered_unit_vectors(rng: np.random.Generator, labels: np.ndarray, classes: int, dim: int) -> np.ndarray:
    """One row per label: that class's random centre plus noise as large, normalised."""
    centres = rng.standard_normal((classes, dim), dtype=np.float32)
    rows = centres[labels] + rng.standard_normal((len(labels), dim), dtype=np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def make_data(rng: np.random.Generator, size: int, classes: int, visual: bool) -> dict[str, np.ndarray]:
    labels = rng.integers(classes, size=size)
    data = {"semantic": clustered_unit_vectors(rng, labels, classes, SEMANTIC_DIM)}
    if visual:
        data["visual"] = clustered_unit_vectors(rng, labels, classes, VISUAL_DIM)
    return data


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k highest scores along the last axis, best first."""
    part = np.argpartition(-scores, k - 1, axis=-1)[..., :k]
    order = np.argsort(-np.take_along_axis(scores, part, axis=-1), axis=-1, kind="stable")
    return np.take_along_axis(part, order, axis=-1)


def disk_bytes(folder: Path) -> int:
    return sum(p.stat().st_blocks * 512 for p in folder.rglob("*") if p.is_file())


def records(data: dict[str, np.ndarray]) -> Iterator[ImageRecord]:
    visual = data.get("visual")
    for row, semantic in enumerate(data["semantic"]):
        info = ImageInfo(str(row), f"sha256:{row:016x}", size=250_000, mtime_ns=1_700_000_000 * 10**9, width=640, height=480)
        yield ImageRecord(info, semantic, None if visual is None else visual[row])


def open_empty(backend: str, folder: Path, visual: bool) -> Store:
    visual_dim = VISUAL_DIM if visual else None
    if backend == "edge":
        return EdgeStore(folder, dim=SEMANTIC_DIM, visual_dim=visual_dim)
    from qdrant_client import QdrantClient

    return ServerStore(QdrantClient(path=str(folder)), dim=SEMANTIC_DIM, visual_dim=visual_dim, where=str(folder))


def empty_bytes(backend: str, folder: Path, visual: bool) -> int:
    """Disk use of an index with nothing in it."""
    if backend == "numpy":
        return 0
    open_empty(backend, folder, visual).close()
    return disk_bytes(folder)


def build_store(backend: str, folder: Path, data: dict[str, np.ndarray], k: int) -> tuple[Store, Search, float, float]:
    store = open_empty(backend, folder, "visual" in data)
    start = time.perf_counter()
    store.upsert_images(records(data))
    store.flush()
    built = time.perf_counter()
    store.optimize()
    optimized = time.perf_counter()

    def search(query: np.ndarray, using: str) -> list[int]:
        return [int(hit.path) for hit in store.search(query, using=using, k=k)]

    return store, search, built - start, optimized - built


def build_numpy(folder: Path, data: dict[str, np.ndarray], k: int) -> tuple[Search, float]:
    """The exact scan; 'building' is saving the matrices, so that disk use compares."""
    start = time.perf_counter()
    folder.mkdir()
    for name, matrix in data.items():
        np.save(folder / f"{name}.npy", matrix)
    return (lambda query, using: top_k(data[using] @ query, k).tolist()), time.perf_counter() - start


def measure(search: Search, queries: dict[str, np.ndarray], exact: dict[str, np.ndarray], result: Result) -> None:
    """Latency percentiles and mean recall per vector name, one query at a time after a
    warm-up pass over the same queries (ten were not enough: the first setting timed after
    ``optimize()`` still paid for the segment's cold pages)."""
    for name, batch in queries.items():
        for query in batch:
            search(query, name)
        times, found = [], []
        for query in batch:
            start = time.perf_counter()
            found.append(search(query, name))
            times.append((time.perf_counter() - start) * 1000)
        result.latency_ms[name] = (float(np.percentile(times, 50)), float(np.percentile(times, 95)))
        k = exact[name].shape[1]
        result.recall[name] = float(np.mean([len(set(f) & set(e)) / k for f, e in zip(found, exact[name].tolist())]))


def real_data(rng: np.random.Generator, size: int, queries: int) -> tuple[dict, dict]:
    """Real photos' vectors: every EfficientNet-Lite0 feature cache on this machine (made
    by benchmarks/results.py), semantic vectors from the shipped GloVe model; queries held out."""
    from xmodal.core.cache import cache_root
    from xmodal.devise.encoder import SHIPPED
    from xmodal.devise.model import DeviseModel

    folders = sorted((cache_root() / "features").glob("efficientnet-lite0-*/*/"))
    features = np.concatenate([np.load(f / "features.npy", mmap_mode="r") for f in folders])
    logits = np.concatenate([np.load(f / "logits.npy", mmap_mode="r") for f in folders])
    rows = rng.permutation(len(features))[: size + queries]
    semantic = DeviseModel.load(SHIPPED["glove-6b-50d"]).encode(None, logits[rows])
    visual = features[rows] / np.linalg.norm(features[rows], axis=1, keepdims=True)
    both = {"semantic": semantic, "visual": visual.astype(np.float32)}
    return {k: v[queries:] for k, v in both.items()}, {k: v[:queries] for k, v in both.items()}


def run(size: int, args: argparse.Namespace, workdir: Path) -> list[Result]:
    rng = np.random.default_rng(args.seed)
    if args.real:
        data, queries = real_data(rng, size, args.queries)
        size = len(data["semantic"])
    else:
        classes = args.classes or max(1, size // 100)
        data = make_data(rng, size, classes, not args.no_visual)
        queries = make_data(rng, args.queries, classes, not args.no_visual)
    exact = {name: top_k(queries[name] @ data[name].T, args.k) for name in data}
    results = []
    for backend in args.backends:
        folder = workdir / f"{backend}-{size}"
        fixed = empty_bytes(backend, workdir / f"{backend}-{size}-empty", not args.no_visual)
        if backend == "numpy":
            search, build_s = build_numpy(folder, data, args.k)
            result = Result(backend, size, build_s, 0.0, fixed)
            measure(search, queries, exact, result)
        else:
            store, search, build_s, optimize_s = build_store(backend, folder, data, args.k)
            with store:
                for ef in args.ef[:-1] if backend == "edge" else []:  # the same graph, searched wider or narrower
                    store.search_ef = ef
                    extra = Result(f"{backend} ef={ef}", size, build_s, optimize_s, fixed)
                    measure(search, queries, exact, extra)
                    results.append(extra)
                store.search_ef = args.ef[-1]
                result = Result(backend if backend != "edge" else f"edge ef={args.ef[-1]}", size, build_s, optimize_s, fixed)
                measure(search, queries, exact, result)
        result.bytes_per_image = (disk_bytes(folder) - fixed) / size  # once closed: no segment left half-replaced
        results.append(result)
        print(f"  {backend} at {size}: done", flush=True)
    return results


def report(results: list[Result], k: int) -> None:
    print(f"\n| images | back end | vector | p50 ms | p95 ms | recall@{k} | build s | optimize s | fixed | per image |")
    print("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        for name, (p50, p95) in r.latency_ms.items():
            print(
                f"| {r.size} | {r.backend} | {name} | {p50:.2f} | {p95:.2f} | {r.recall[name]:.3f} "
                f"| {r.build_s:.1f} | {r.optimize_s:.1f} | {r.fixed_bytes / 2**20:.1f} MiB "
                f"| {r.bytes_per_image / 1024:.1f} KiB |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[10_000, 100_000], help="images per index")
    parser.add_argument("--queries", type=int, default=200, help="queries per vector name (default 200)")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--classes", type=int, default=0, help="clusters in the synthetic data (default: size / 100)")
    parser.add_argument("--no-visual", action="store_true", help="semantic vectors only")
    parser.add_argument("--backends", type=lambda text: text.split(","), default=list(BACKENDS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--real", action="store_true",
                        help="real photos' vectors from the feature caches instead of synthetic clusters")
    parser.add_argument("--ef", type=int, nargs="+", default=[SEARCH_EF],
                        help="HNSW search widths to try on the edge index; the last one also sizes the others")
    parser.add_argument("--workdir", type=Path, default=None, help="where the indexes are built (default: a temp dir)")
    args = parser.parse_args()
    unknown = set(args.backends) - set(BACKENDS)
    if unknown:
        parser.error(f"unknown back ends: {', '.join(sorted(unknown))}; choose from {', '.join(BACKENDS)}")

    with tempfile.TemporaryDirectory(prefix="xmodal-store-bench-", dir=args.workdir) as workdir:
        results = [r for size in args.sizes for r in run(size, args, Path(workdir))]
    report(results, args.k)


if __name__ == "__main__":
    main()
