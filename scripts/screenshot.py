"""The README's picture of the page: the example photos indexed, served, and photographed
by headless Chromium.

    .venv/bin/python scripts/screenshot.py [--query "an animal"] [--out docs/serve.png] [--phone PATH]

Needs the system Chromium (``apt-get install chromium``) and playwright (the dev
extra); nothing is downloaded. ``--phone`` also saves a phone-sized view.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path
from urllib.parse import urlencode

import xmodal
from xmodal.web.serve import Library, running

ROOT = Path(__file__).resolve().parents[1]
LOADED = "() => [...document.querySelectorAll('.tile img')].every(i => i.complete && i.naturalWidth > 0)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--query", default="an animal")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "serve.png")
    parser.add_argument("--phone", type=Path, help="also save a 390x844 view here")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("no system Chromium: apt-get install chromium")
    with tempfile.TemporaryDirectory() as tmp:
        photos = Path(tmp) / "Pictures"  # short, neutral paths in the picture
        shutil.copytree(ROOT / "docs" / "photos", photos, ignore=shutil.ignore_patterns("*.md"))
        with xmodal.open(Path(tmp) / "index", create=True) as engine:
            engine.index(photos)
        library = Library(Path(tmp) / "index")
        with running(library) as address, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            url = f"{address}/?{urlencode({'q': args.query, 'k': 12})}"
            views = [(args.out, {"width": 1280, "height": 860}, 1)]
            if args.phone:
                views.append((args.phone, {"width": 390, "height": 844}, 2))
            for out, viewport, scale in views:
                page = browser.new_context(viewport=viewport, device_scale_factor=scale).new_page()
                page.goto(url)
                page.wait_for_function("() => document.querySelectorAll('.tile').length > 0")
                page.wait_for_function(LOADED)
                page.screenshot(path=str(out))
                print(f"saved {out}")
            browser.close()
        library.close()


if __name__ == "__main__":
    main()
