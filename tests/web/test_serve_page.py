"""The page in a real headless browser: Debian's chromium driven by playwright, against
the real server (uvicorn) on the example photos. Skips where either is missing."""

from __future__ import annotations

import base64
import json
import shutil
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[dev]')")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    pytest.skip("no system Chromium (apt-get install chromium)", allow_module_level=True)

from typer.testing import CliRunner

from cli.app import app
from xmodal.web.serve import Library, running

ALL_LOADED = "() => [...document.querySelectorAll('.tile img')].every(i => i.complete && i.naturalWidth > 0)"


@contextmanager
def serving(index):
    """The real server (uvicorn) over ``index`` on a free port, in a thread: its address and its library."""
    library = Library(index)
    with running(library) as address:
        yield address, library
    library.close()


@pytest.fixture(scope="module")
def live(served_photos):
    with serving(served_photos[1]) as served:
        yield served


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.set_default_timeout(60_000)  # a loaded 2-core machine; the first upload loads the visual model
    yield page
    context.close()


def expected(library: Library, query: str, **options) -> list[str]:
    with library.engine() as engine:
        return [result.path for result in engine.query(query, 24, **options).results]


def shown(page) -> list[str]:
    """The grid's photos, in order, once every thumbnail has rendered."""
    page.wait_for_function(ALL_LOADED)
    return page.eval_on_selector_all(".tile .name", "names => names.map(n => n.title)")


def wait_for_grid(page, paths: list[str]) -> None:
    page.wait_for_function("n => document.querySelectorAll('.tile').length === n", arg=len(paths))


def test_a_query_in_the_url_shows_thumbnails_in_engine_order(live, page):
    base, library = live
    paths = expected(library, "a cat")
    page.goto(f"{base}/?q=a+cat")
    wait_for_grid(page, paths)
    assert shown(page) == paths
    assert page.input_value("#q") == "a cat"
    alts = page.eval_on_selector_all(".tile img", "imgs => imgs.map(i => i.alt)")
    assert alts[0].startswith(Path(paths[0]).name + ", score ")
    with library.engine() as engine:
        results = engine.query("a cat", 24).results
    scores = page.eval_on_selector_all(".tile .score", "spans => spans.map(s => [s.textContent, s.title])")
    assert scores == [[f"{r.score:.3f}", f"cosine {r.cosine:.3f}, less its hub penalty"] for r in results]
    assert [float(text) for text, _ in scores] == sorted((float(text) for text, _ in scores), reverse=True)


def test_open_a_photo_then_more_like_this_and_back(live, page, served_photos):
    base, library = live
    page.goto(f"{base}/?q=rocket")
    first = expected(library, "rocket")
    wait_for_grid(page, first)
    page.click(".tile >> nth=0")
    assert page.locator("#viewer").is_visible()
    assert page.text_content("#viewer-path") == first[0]
    page.wait_for_function("() => document.querySelectorAll('#viewer-words button').length > 0")
    page.wait_for_function("() => /bytes|KB/.test(document.getElementById('viewer-size').textContent)")
    page.click("#more-like")
    look_alikes = expected(library, first[0], using="visual")
    wait_for_grid(page, look_alikes)
    assert shown(page) == look_alikes and not page.locator("#viewer").is_visible()
    assert parse_qs(urlsplit(page.url).query) == {"q": [first[0]], "using": ["visual"]}
    page.go_back()  # the back button brings the earlier query back
    wait_for_grid(page, first)
    assert shown(page) == first and page.input_value("#q") == "rocket"


def test_a_word_chip_and_the_analogy_builder_search(live, page):
    base, library = live
    page.goto(f"{base}/?q=coffee")
    wait_for_grid(page, expected(library, "coffee"))
    page.click(".tile >> nth=0")
    chip = page.locator("#viewer-words button").first
    word = chip.text_content()
    chip.click()
    assert page.input_value("#q") == word
    wait_for_grid(page, expected(library, word))
    page.wait_for_function("() => document.activeElement.classList.contains('tile')")  # keyboard users land on the results
    page.click(".tile >> nth=0")
    path = page.text_content("#viewer-path")
    page.fill("#minus", "coffee")
    page.fill("#plus", "space rocket")
    page.click("#analogy button")
    query = page.input_value("#q")
    assert query.endswith(" - coffee + space rocket") and path in query
    paths = expected(library, query)
    wait_for_grid(page, paths)
    assert shown(page) == paths  # the analogy as Engine.query reads it (xmodal.search.analogy)
    assert "error" not in (page.get_attribute("#status", "class") or "")
    cli = CliRunner().invoke(app, ["query", query, "--json", "-k", "24", "--index", str(library.index)])
    assert cli.exit_code == 0, cli.output
    assert [result["path"] for result in json.loads(cli.output)["results"]] == paths  # the CLI shows the same


def test_dropping_or_picking_a_photo_searches_by_it(live, page, served_photos):
    photos, _ = served_photos
    base, _ = live
    page.goto(base)
    data = base64.b64encode((photos / "rocket.jpg").read_bytes()).decode()
    page.evaluate(
        """data => {
            const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], "my rocket.jpg", { type: "image/jpeg" }));
            document.body.dispatchEvent(new DragEvent("drop", { dataTransfer: transfer, bubbles: true, cancelable: true }));
        }""",
        data,
    )
    page.wait_for_function("() => document.getElementById('status').textContent.includes('look like my rocket.jpg')")
    assert shown(page)[0] == str(photos / "rocket.jpg")  # the same picture, found by its looks
    page.set_input_files("#pick", str(photos / "coffee.jpg"))
    page.wait_for_function("() => document.getElementById('status').textContent.includes('look like coffee.jpg')")
    assert shown(page)[0] == str(photos / "coffee.jpg")
    assert page.input_value("#q") == "" and "q=" not in page.url  # the box and the URL no longer claim another query
    assert page.title() == "like coffee.jpg · xmodal"


def test_enter_in_an_option_searches_again_the_same_way(live, page, served_photos):
    """Enter in Results (or any option) searches, and a "Same meaning" search stays one."""
    photos, _ = served_photos
    base, library = live
    rocket = str(photos / "rocket.jpg")
    page.goto(f"{base}/?{urlencode({'q': rocket, 'using': 'semantic'})}")
    wait_for_grid(page, expected(library, rocket, using="semantic"))
    page.click("#options summary")
    page.fill("#k", "1")
    page.press("#k", "Enter")
    page.wait_for_function("() => document.getElementById('status').textContent.startsWith('1 photo by meaning')")
    assert parse_qs(urlsplit(page.url).query) == {"q": [rocket], "k": ["1"], "using": ["semantic"]}
    with library.engine() as engine:
        assert shown(page) == [r.path for r in engine.query(rocket, 1, using="semantic").results]


def test_an_empty_search_says_so_and_a_bad_hidden_option_is_shown(live, page):
    base, library = live
    page.goto(f"{base}/?q=rocket")
    paths = expected(library, "rocket")
    wait_for_grid(page, paths)
    page.fill("#q", "")
    page.press("#q", "Enter")
    page.wait_for_function("() => document.getElementById('status').textContent.startsWith('empty query')")
    assert shown(page) == paths and "q=rocket" in page.url  # the photos shown stay
    page.goto(f"{base}/?q=rocket&k=0")  # out of range, and Options closed by the time Enter is pressed
    page.evaluate("document.getElementById('options').open = false")
    page.fill("#q", "cat")
    page.press("#q", "Enter")
    page.wait_for_function("() => document.getElementById('options').open")  # the browser's message can show


def test_the_viewer_of_a_photo_whose_file_is_gone_shows_its_facts_and_words(live, page, served_photos):
    photos, _ = served_photos
    base, library = live
    gone = str(photos / "gone.jpg")  # indexed, then deleted
    page.goto(f"{base}/?q=a+cat")
    paths = expected(library, "a cat")
    wait_for_grid(page, paths)
    page.click(f".tile >> nth={paths.index(gone)}")
    page.wait_for_function("() => document.getElementById('viewer-date').textContent.includes('the file is gone')")
    page.wait_for_function("() => document.querySelectorAll('#viewer-words button').length > 0")


def test_keyboard_moves_opens_and_closes(live, page):
    base, library = live
    page.goto(f"{base}/?q=photo")
    wait_for_grid(page, expected(library, "photo"))
    page.focus(".tile >> nth=0")
    page.keyboard.press("ArrowRight")
    assert page.evaluate("document.activeElement.dataset.index") == "1"
    page.keyboard.press("Enter")
    assert page.locator("#viewer").is_visible()
    page.keyboard.press("Escape")
    assert not page.locator("#viewer").is_visible()
    assert page.evaluate("document.activeElement.dataset.index") == "1"  # focus returns to the tile


def test_user_text_stays_text_and_bad_queries_show_a_message(live, page):
    base, _ = live
    page.goto(f"{base}/?q=" + "%3Cimg%20src%3Dx%20onerror%3D%22window.hacked%3D1%22%3E%20cat%20%2B")
    page.wait_for_function("() => document.getElementById('status').classList.contains('error')")
    assert page.evaluate("window.hacked") is None
    assert page.evaluate("document.querySelectorAll('main img').length") == 0
    assert "dangling '+'" in page.text_content("#status")
    assert page.title().startswith('<img src=x onerror="window.hacked=1"> cat +')  # shown as typed


def test_a_phone_sized_screen_gets_two_columns(live, browser):
    base, library = live
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    try:
        page = context.new_page()
        page.goto(f"{base}/?q=cat")
        wait_for_grid(page, expected(library, "cat"))
        boxes = page.eval_on_selector_all(".tile img", "imgs => imgs.slice(0, 3).map(i => i.getBoundingClientRect().toJSON())")
        assert boxes[0]["top"] == boxes[1]["top"] != boxes[2]["top"]  # two a row
        assert boxes[0]["width"] == boxes[1]["width"] == boxes[0]["height"]  # square tiles, whatever the names
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # nothing sticks out
    finally:
        context.close()


def test_options_come_from_the_url_and_narrow_the_photos(live, page, served_photos):
    photos, _ = served_photos
    base, library = live
    folder = str(photos / "few")
    page.goto(f"{base}/?q=camera&k=5&in={folder}")
    wait_for_grid(page, expected(library, "camera", within=folder))
    assert shown(page) == [str(photos / "few" / "my camera.jpg")]
    assert page.input_value("#in") == folder and page.input_value("#k") == "5"
    with library.engine() as engine:
        scores = [result.score for result in engine.query("camera", 5).results]
    threshold = f"{(scores[2] + scores[3]) / 2:.6f}"  # between the 3rd and 4th photo's scores
    page.fill("#threshold", threshold)
    page.fill("#in", "")
    page.press("#q", "Enter")
    paths = expected(library, "camera", threshold=float(threshold))[:5]
    assert len(paths) == 3  # the threshold, not k, ends the list
    wait_for_grid(page, paths)
    assert shown(page) == paths and f"threshold={threshold}" in page.url


def test_dates_in_the_options_narrow_the_photos_and_stay_in_the_url(live, page, tmp_path):
    base, library = live
    page.goto(f"{base}/?q=cat")
    wait_for_grid(page, expected(library, "cat"))
    page.click("#options summary")
    page.fill("#after", "2019")
    page.fill("#before", "2019-03")
    page.press("#q", "Enter")
    paths = expected(library, "cat", after="2019", before="2019-03")
    wait_for_grid(page, paths)
    assert shown(page) == paths and [Path(path).name for path in paths] == ["my camera.jpg"]
    assert parse_qs(urlsplit(page.url).query) == {"q": ["cat"], "after": ["2019"], "before": ["2019-03"]}
    page.screenshot(path=str(tmp_path / "dates-in-the-options.png"))  # for a person to look at
    page.goto(f"{base}/?q=cat&before=2016")  # from the URL alone: the options open, the dates filled in
    wait_for_grid(page, expected(library, "cat", before="2016"))
    assert page.input_value("#before") == "2016" and page.input_value("#after") == ""
    assert page.evaluate("document.getElementById('options').open")
    page.fill("#after", "2019-13")
    page.press("#q", "Enter")
    page.wait_for_function("() => document.getElementById('status').classList.contains('error')")
    assert page.text_content("#status").startswith("after '2019-13' is not a date")
    assert page.evaluate("document.querySelectorAll('.tile').length") == 0


def test_the_photo_view_shows_when_and_with_what_it_was_taken(live, page, served_photos, tmp_path):
    photos, _ = served_photos
    base, library = live
    folder = str(photos / "few")
    page.goto(f"{base}/?q=camera&in={folder}")
    wait_for_grid(page, expected(library, "camera", within=folder))
    page.click(".tile >> nth=0")
    # The facts come with the photo's words: the session's first words query embeds the vocabulary (minutes on 2 busy cores).
    page.wait_for_function("() => document.getElementById('viewer-taken').textContent !== ''", timeout=600_000)
    clock = page.evaluate("new Date('2019-03-05T14:22:01').toLocaleString()")  # the camera's clock, in the page's locale
    assert page.text_content("#viewer-taken") == f"taken {clock} · Hasselblad 500C/M"
    assert page.text_content("#viewer-date").startswith("modified ")
    page.screenshot(path=str(tmp_path / "photo-view-taken.png"))  # for a person to look at
    page.keyboard.press("Escape")
    page.goto(f"{base}/?q=rocket")
    wait_for_grid(page, expected(library, "rocket"))
    page.click(".tile >> nth=0")
    assert page.text_content("#viewer-path") == str(photos / "rocket.jpg")
    page.wait_for_function("() => document.getElementById('viewer-taken').textContent !== ''")
    assert page.text_content("#viewer-taken") == "no date taken in the file: dated by its file time"


@pytest.fixture(scope="module")
def live_copies(photo_copies):
    """The real server over the example photos with copies of four of them (tests/conftest.py)."""
    with serving(photo_copies[1]) as served:
        yield served


GROUPS_SHOWN = "() => [...document.querySelectorAll('.group')].map(g => [...g.querySelectorAll('.name')].map(n => n.title))"


def wait_for_groups(page, count: int) -> list[list[str]]:
    page.wait_for_function("n => document.querySelectorAll('.group').length === n", arg=count)
    page.wait_for_function(ALL_LOADED)
    return page.evaluate(GROUPS_SHOWN)


def test_the_duplicates_view_shows_each_group_side_by_side(live_copies, page, tmp_path):
    base, library = live_copies
    with library.engine() as engine:
        groups = [[info.path for info in group.photos] for group in engine.duplicates().groups]
        exact = [[info.path for info in group.photos] for group in engine.duplicates(1.0).groups]
    page.goto(base)
    page.click("#show-duplicates")
    assert wait_for_groups(page, len(groups)) == groups  # Engine.duplicates' groups, in its order
    assert parse_qs(urlsplit(page.url).query) == {"view": ["duplicates"]}
    assert page.eval_on_selector_all(".group h2", "hs => hs.map(h => h.textContent)") == ["3 copies", "2 copies", "2 exact copies"]
    status = page.text_content("#status")
    assert "3 groups of copies (7 photos) among 16 photos" in status and "nothing is deleted" in status
    first = page.locator(".group").first
    tops = first.locator(".tile img").evaluate_all("imgs => imgs.map(i => i.getBoundingClientRect().top)")
    assert len(tops) == 3 and len(set(tops)) == 1  # side by side
    facts = first.locator(".facts").all_text_contents()
    assert facts[0].startswith("600 × 400 · ") and "KB" in facts[0] and " to coffee" in facts[0]
    assert page.locator(".group").nth(2).locator(".facts").first.text_content().endswith("exact copy")
    page.screenshot(path=str(tmp_path / "duplicates.png"), full_page=True)

    page.fill("#dup-threshold", "1")
    page.click("#dup-form button")
    assert wait_for_groups(page, len(exact)) == exact
    assert "threshold=1" in page.url and page.input_value("#threshold") == ""  # not the search's threshold
    page.go_back()
    assert wait_for_groups(page, len(groups)) == groups
    page.click("#options summary")
    page.fill("#in", str(Path(groups[0][0]).parent))
    page.press("#in", "Enter")  # Enter in In folder: the duplicates there, not an empty search
    page.wait_for_function("() => new URLSearchParams(location.search).get('in') !== null")
    assert parse_qs(urlsplit(page.url).query)["view"] == ["duplicates"] and page.locator("#duplicates").is_visible()
    page.go_back()
    assert wait_for_groups(page, len(groups)) == groups
    page.fill("#q", "coffee")
    page.press("#q", "Enter")  # a search leaves the duplicates view
    page.wait_for_function("() => document.querySelectorAll('#grid .tile').length > 0")
    assert page.locator("#duplicates").is_hidden() and page.locator(".group").count() == 0
    page.go_back()
    wait_for_groups(page, len(groups))
    page.click(".group .tile >> nth=2")  # last: the viewer asks for words, which may store the vocabulary first
    assert page.text_content("#viewer-path") == groups[0][2]  # a copy opens in the viewer like any photo
