"""How fast ``xmodal serve`` answers: a page of 50 results, and a cold thumbnail.

    .venv/bin/python benchmarks/serve.py [--repeats 10]

A page is what the browser asks for: ``/api/query?k=50`` and then the 50
thumbnails, fetched over HTTP from the real server (uvicorn, in a thread) six
at a time, as a browser does, once the thumbnails are in the cache. The index
holds 60 photos made from the example photos (mirrored, cropped and turned,
so each is embedded). "After another command" is the same page when the
server had let go of the index for another xmodal process and opens it again. The cold thumbnail is a
4000x3000 (12-megapixel) JPEG made into a 320-pixel thumbnail with no cache,
against a full decode of the same file (with grain added, it is about the
size a camera writes). Prints the load average, since the
figures depend on what else runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
from PIL import Image, ImageOps

import xmodal
from xmodal.web import thumbnails
from xmodal.web.serve import Library, running
from xmodal.web.thumbnails import make_thumbnail

ROOT = Path(__file__).resolve().parents[1]


def variants(out: Path) -> None:
    """60 distinct photos from the 12 examples: each as is, mirrored, cropped, turned, both."""
    out.mkdir()
    for source in sorted((ROOT / "docs" / "photos").glob("*.jpg")):
        with Image.open(source) as image:
            image = image.convert("RGB")
            w, h = image.size
            made = {
                "": image,
                "mirror": ImageOps.mirror(image),
                "crop": image.crop((w // 8, h // 8, w - w // 8, h - h // 8)),
                "turn": image.rotate(90, expand=True),
                "flip": ImageOps.flip(image),
            }
            for name, picture in made.items():
                picture.save(out / f"{source.stem}{'-' + name if name else ''}.jpg", quality=90)


def page(client: httpx.Client, pool: ThreadPoolExecutor, query: str) -> float:
    started = time.perf_counter()
    answer = client.get("/api/query", params={"q": query, "k": 50})
    answer.raise_for_status()
    paths = [result["path"] for result in answer.json()["results"]]
    assert len(paths) == 50, len(paths)
    statuses = list(pool.map(lambda p: client.get("/api/thumbnail", params={"path": p}).status_code, paths))
    assert statuses == [200] * 50, statuses
    return time.perf_counter() - started


def ms(seconds: list[float]) -> str:
    return f"median {1000 * statistics.median(seconds):.0f} ms, min {1000 * min(seconds):.0f}, max {1000 * max(seconds):.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")
    with tempfile.TemporaryDirectory() as tmp:
        thumbnails.cache_root = lambda: Path(tmp)  # thumbnails start cold, and the user's cache is left alone
        photos, index = Path(tmp) / "photos", Path(tmp) / "index"
        variants(photos)
        with xmodal.open(index, create=True) as engine:
            engine.index(photos)
        library = Library(index)
        queries = ["a cup of coffee", "a cat", "stars in the night sky", "a rocket", "stones"]
        with running(library) as address, httpx.Client(base_url=address, timeout=60) as client, \
                ThreadPoolExecutor(6) as pool:
            first = [page(client, pool, q) for q in queries]  # makes the thumbnails
            warm = [page(client, pool, queries[i % len(queries)]) for i in range(args.repeats)]
            started = time.perf_counter()
            for i in range(args.repeats):
                client.get("/api/query", params={"q": queries[i % len(queries)], "k": 50}).raise_for_status()
            query_only = (time.perf_counter() - started) / args.repeats
            reopened = []
            for i in range(min(args.repeats, 5)):
                xmodal.info(index)  # as another xmodal command would: the server lets go, then opens again
                reopened.append(page(client, pool, queries[i % len(queries)]))
        library.close()
        print(f"page of 50, thumbnails made on the way: {ms(first)}")
        print(f"page of 50, thumbnails cached:          {ms(warm)}")
        print(f"  of which /api/query?k=50 alone:       {1000 * query_only:.0f} ms")
        print(f"page of 50 after another command used the index: {ms(reopened)}")

        big = Path(tmp) / "12mp.jpg"
        with Image.open(ROOT / "docs" / "photos" / "coffee.jpg") as image:
            upscaled = np.asarray(image.convert("RGB").resize((4000, 3000), Image.Resampling.BICUBIC), dtype=np.float32)
        grain = np.random.default_rng(0).normal(0, 6, upscaled.shape)  # sensor noise: a camera-sized file
        Image.fromarray(np.clip(upscaled + grain, 0, 255).astype(np.uint8)).save(big, quality=92)
        cold, large, full = [], [], []
        for _ in range(args.repeats):
            started = time.perf_counter()
            make_thumbnail(big, 320)
            cold.append(time.perf_counter() - started)
            started = time.perf_counter()
            make_thumbnail(big, 1280)
            large.append(time.perf_counter() - started)
            started = time.perf_counter()
            with Image.open(big) as image:
                image.convert("RGB")
            full.append(time.perf_counter() - started)
        print(f"cold 320-px thumbnail of a 4000x3000 JPEG ({big.stat().st_size / 2**20:.1f} MiB): {ms(cold)}")
        print(f"cold 1280-px view of it:                {ms(large)}")
        print(f"full decode of it, for comparison:      {ms(full)}")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
