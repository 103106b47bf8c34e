"""The serve API through Starlette's test client, and the command beside the CLI."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import pytest
from PIL import Image, ImageOps

pytest.importorskip("httpx")
from starlette.testclient import TestClient
from typer.testing import CliRunner

import xmodal
from cli.app import app
from xmodal.web import serve
from xmodal.web.serve import Library, create_app

WEB = Path(serve.__file__).parent / "static"


@pytest.fixture(scope="module")
def library(served_photos):
    _, index = served_photos
    library = Library(index, idle_s=0.3)
    yield library
    library.close()


@pytest.fixture(scope="module")
def client(library):
    return TestClient(create_app(library), base_url="http://127.0.0.1")


def error_of(response, status: int) -> str:
    assert response.status_code == status, response.text
    message = response.json()["error"]
    assert "\n" not in message and "Traceback" not in message
    return message


def test_query_is_engine_query(client, served_photos):
    _, index = served_photos
    answer = client.get("/api/query", params={"q": "a cat on a turquiose sofa", "k": 5}).json()
    with xmodal.open(index) as engine:  # waits while the server holds the index, then has it
        assert answer == engine.query("a cat on a turquiose sofa", k=5).to_dict()
    scores = [r["score"] for r in answer["results"]]
    assert scores == sorted(scores, reverse=True)  # the score shown is the one they are ordered by
    assert all(r["cosine"] > r["score"] for r in answer["results"])  # less the hub penalty
    assert Path(answer["results"][0]["path"]).name in {"chelsea.jpg", "gone.jpg"}  # the cat, or its mirror image
    assert '"turquiose"' in answer["notes"][0]


def test_a_query_that_finds_no_photo_says_why_as_the_cli_does(client, served_photos):
    photos, index = served_photos
    folder = str(photos / "few")
    answer = client.get("/api/query", params={"q": "rocket", "threshold": "0.99", "in": folder}).json()
    assert answer["results"] == [] and answer["nothing"] == f'no photo under {folder} scores 0.99 or more for "rocket"'
    cli = CliRunner().invoke(app, ["query", "rocket", "--threshold", "0.99", "--in", folder, "--index", str(index)])
    assert cli.exit_code == 0 and answer["nothing"] in cli.stderr
    assert "nothing" not in client.get("/api/query", params={"q": "rocket"}).json()


def test_query_options_narrow_the_photos(client, served_photos):
    photos, _ = served_photos
    few = client.get("/api/query", params={"q": "camera", "k": 10, "in": str(photos / "few")}).json()
    assert [Path(r["path"]).name for r in few["results"]] == ["my camera.jpg"]
    some = client.get("/api/query", params={"q": "cat", "k": 10, "threshold": 0.0}).json()
    assert some["results"] and all(r["score"] >= 0.0 for r in some["results"])
    everything = client.get("/api/query", params={"q": "cat", "k": 10}).json()["results"]
    assert some["results"] == [r for r in everything if r["score"] >= 0.0]
    assert any(r["cosine"] >= 0.0 > r["score"] for r in everything)  # the threshold compares the shown score
    assert client.get("/api/query", params={"q": "cat", "k": 3}).json()["results"].__len__() == 3
    taken = client.get("/api/query", params={"q": "cat", "k": 20, "after": "2019", "before": "2019-03"}).json()
    assert [Path(r["path"]).name for r in taken["results"]] == ["my camera.jpg"]
    assert taken["results"][0]["taken"].startswith("2019-03-05T14:22:01")
    older = client.get("/api/query", params={"q": "cat", "k": 20, "before": "2016", "after": ""}).json()  # empty: no bound
    assert [Path(r["path"]).name for r in older["results"]] == ["rocket.jpg"]
    gravel = str(photos / "gravel.jpg")
    looks = client.get("/api/similar", params={"path": gravel, "k": 20, "after": "2019-01", "before": "2019-12-31"}).json()
    assert [Path(r["path"]).name for r in looks["results"]] == ["my camera.jpg"]


def test_an_indexed_photo_in_an_expression(client, served_photos):
    photos, _ = served_photos
    camera = photos / "few" / "my camera.jpg"
    answer = client.get("/api/query", params={"q": f'img:"{camera}" - camera + cat', "k": 3}).json()
    assert answer["using"] == "semantic" and str(camera) not in [r["path"] for r in answer["results"]]


def test_similar_words_info_and_photo(client, served_photos):
    photos, _ = served_photos
    gravel = str(photos / "gravel.jpg")
    similar = client.get("/api/similar", params={"path": gravel, "k": 3}).json()
    assert similar["using"] == "visual" and len(similar["results"]) == 3 and gravel not in [r["path"] for r in similar["results"]]
    semantic = client.get("/api/query", params={"q": gravel, "using": "semantic", "k": 3}).json()
    assert semantic["using"] == "semantic"
    words = client.get("/api/words", params={"q": str(photos / "coffee.jpg"), "k": 3}).json()
    assert words["kind"] == "words" and words["results"][0]["word"] == "espresso"
    info = client.get("/api/info").json()
    assert info["photos"] >= 13 and info["backend"] == "embedded"
    facts = client.get("/api/photo", params={"path": gravel}).json()
    assert facts["name"] == "gravel.jpg" and facts["bytes"] == os.path.getsize(gravel) and facts["width"] > 0
    assert facts["exists"] and facts["modified"].endswith("+00:00")
    assert (facts["taken_from"], facts["camera"]) == ("mtime", None)  # no EXIF: dated by its file time
    assert datetime.fromisoformat(facts["taken"]) == datetime.fromisoformat(facts["modified"])
    camera = client.get("/api/photo", params={"path": str(photos / "few" / "my camera.jpg")}).json()
    assert (camera["taken_from"], camera["camera"]) == ("exif", "Hasselblad 500C/M")
    assert camera["taken"].startswith("2019-03-05T14:22:01")  # the camera's clock, in the server's local time


def test_thumbnails_with_caching_headers(client, served_photos):
    photos, _ = served_photos
    response = client.get("/api/thumbnail", params={"path": str(photos / "few" / "my camera.jpg")})
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    assert response.content[:2] == b"\xff\xd8" and "max-age" in response.headers["cache-control"]
    again = client.get("/api/thumbnail", params={"path": str(photos / "few" / "my camera.jpg")},
                       headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304
    large = client.get("/api/thumbnail", params={"path": str(photos / "rocket.jpg"), "size": 1280})
    assert large.status_code == 200
    assert "size must be one of 320, 1280" in error_of(client.get("/api/thumbnail", params={"path": str(photos / "rocket.jpg"), "size": 99999}), 400)


def test_a_gone_photo_gets_a_placeholder(client, served_photos):
    photos, _ = served_photos
    response = client.get("/api/thumbnail", params={"path": str(photos / "gone.jpg")})
    assert response.status_code == 200 and response.headers["content-type"].startswith("image/svg+xml")
    assert client.get("/api/photo", params={"path": str(photos / "gone.jpg")}).json()["exists"] is False


def test_only_indexed_photos_are_served(client, served_photos, tmp_path):
    photos, _ = served_photos
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(photos / "rocket.jpg", outside / "secret.jpg")
    link = photos / "linked"
    link.symlink_to(outside, target_is_directory=True)
    try:
        sneaky = [
            str(outside / "secret.jpg"),  # a photo outside the index
            f"{photos}/few/{os.path.relpath(outside / 'secret.jpg', photos / 'few')}",  # .. out of an indexed folder
            str(link / "secret.jpg"),  # a symlinked folder out of an indexed folder
            "/etc/passwd",
        ]
        for path in sneaky:
            for endpoint, name in (("thumbnail", "path"), ("photo", "path"), ("similar", "path"), ("query", "q"), ("words", "q")):
                response = client.get(f"/api/{endpoint}", params={name: path})
                assert "not a photo in the index" in error_of(response, 404), (endpoint, path)
        for endpoint in ("thumbnail", "photo", "similar"):
            response = client.get(f"/api/{endpoint}", params={"path": "rocket.jpg\x00.png"})
            assert "not a photo in the index" in error_of(response, 404)
        in_expression = client.get("/api/query", params={"q": f'img:"{outside / "secret.jpg"}" + cat'})
        assert "not a photo in the index" in error_of(in_expression, 404)
    finally:
        link.unlink()


def test_the_page_never_says_whether_a_file_outside_the_index_is_there(client, served_photos, tmp_path, monkeypatch):
    """A missing file, a folder and a file outside the index all get the same 404, alone or
    in an expression (a walkthrough found 400s naming which was which)."""
    (tmp_path / "there.jpg").write_bytes(b"x")
    for path in (str(tmp_path / "there.jpg"), str(tmp_path / "nope.jpg"), str(tmp_path), "/etc/passwd", "/etc/nope"):
        for query in (path, f"{path} - dog + cat"):
            for endpoint in ("query", "words"):
                assert error_of(client.get(f"/api/{endpoint}", params={"q": query}), 404) == f"not a photo in the index: {path}"
    # the syntax is checked before any photo is looked up, and relative paths are not looked up on disk
    assert error_of(client.get("/api/query", params={"q": "/etc/passwd foo"}), 400) == "missing '+' or '-' before 'foo' at column 13"
    assert error_of(client.get("/api/query", params={"q": "/etc/nopexx foo"}), 400) == "missing '+' or '-' before 'foo' at column 13"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "secret").write_bytes(b"x")
    depth = "../" * len(tmp_path.parts)
    answers = [client.get("/api/query", params={"q": q}) for q in ("sub/secret", "sub/nothing", f"sub/{depth}etc/passwd", f"sub/{depth}etc/nope")]
    assert len({a.status_code for a in answers}) == 1  # words, all four (unknown ones here): nothing read, nothing said
    assert not any("photo" in a.text or "found" in a.text for a in answers), [a.text for a in answers]


def test_an_indexed_photo_whose_file_is_gone_is_still_answered(client, served_photos):
    """Its stored vectors answer: its words, its look-alikes, and analogies with it."""
    photos, index = served_photos
    gone = str(photos / "gone.jpg")  # indexed, then deleted
    words = client.get("/api/words", params={"q": gone})
    assert words.status_code == 200 and words.json()["results"], words.text
    alike = client.get("/api/query", params={"q": gone, "using": "visual", "k": 3})
    assert alike.status_code == 200 and alike.json()["results"][0]["path"] == str(photos / "chelsea.jpg")  # its mirror image
    analogy = client.get("/api/query", params={"q": f"{gone} - cat + dog"})
    assert analogy.status_code == 200 and analogy.json()["results"], analogy.text


def test_user_text_comes_back_as_data_and_the_page_never_parses_it():
    script = (WEB / "app.js").read_text()
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script and "document.write" not in script
    assert "textContent" in script


def test_hostile_query_text_is_json_data(client):
    query = "<script>alert(1)</script> cat"
    response = client.get("/api/query", params={"q": query})
    assert response.headers["content-type"] == "application/json"
    assert "<script>alert(1)</script>" in json.dumps(response.json())  # as data, for the page's textContent
    page = client.get("/", params={"q": query})
    assert "alert(1)" not in page.text  # the page is static: the query reaches it only as data
    assert "script-src" not in page.headers["content-security-policy"]  # default-src 'self': no inline script
    assert "default-src 'self'" in page.headers["content-security-policy"]


@pytest.mark.parametrize(
    "params, message",
    [
        ({"q": "cat +"}, "dangling '+'"),
        ({"q": "qwzxv"}, "unknown word 'qwzxv'"),
        ({"q": ""}, "missing parameter 'q'"),
        ({"q": "cat", "k": "lots"}, "k must be a whole number"),
        ({"q": "cat", "threshold": "2"}, "threshold must be a number from -1 to 1"),
        ({"q": "cat", "using": "visual"}, "using visual needs one photo"),
        ({"q": "cat", "after": "2019-13"}, "after '2019-13' is not a date: give a year, month or day as YYYY"),
        ({"q": "cat", "before": "yesterday"}, "before 'yesterday' is not a date"),
        ({"q": "cat", "after": "2020", "before": "2019"}, "after 2020 is later than before 2019"),
    ],
)
def test_bad_queries_are_one_line_json_errors(client, params, message):
    assert message in error_of(client.get("/api/query", params=params), 400)


def test_a_duplicates_threshold_out_of_range_says_its_range(client):
    assert "above 0 and at most 1" in error_of(client.get("/api/duplicates", params={"threshold": "1.5"}), 400)
    assert "threshold must be a number, not 'lots'" in error_of(client.get("/api/duplicates", params={"threshold": "lots"}), 400)


def test_duplicates_is_engine_duplicates_and_only_lists(photo_copies):
    photos, index = photo_copies
    copies = Library(index, idle_s=0.3)
    try:
        client = TestClient(create_app(copies), base_url="http://127.0.0.1")
        every = client.get("/api/duplicates").json()
        exact = client.get("/api/duplicates", params={"threshold": "1"}).json()
        within = client.get("/api/duplicates", params={"in": str(photos / "copies")}).json()
        with xmodal.open(index) as engine:
            assert every == engine.duplicates().to_dict()
            assert exact == engine.duplicates(1.0).to_dict() and within == engine.duplicates(within=photos / "copies").to_dict()
        assert [len(group["photos"]) for group in every["groups"]] == [3, 2, 2]
        assert [group["kind"] for group in exact["groups"]] == ["exact"] and within["photos"] == 4
        assert "above 0 and at most 1" in error_of(client.get("/api/duplicates", params={"threshold": "0"}), 400)
        assert "threshold must be a number" in error_of(client.get("/api/duplicates", params={"threshold": "most"}), 400)
        for method in ("DELETE", "POST", "PUT"):  # nothing to delete or move with
            assert client.request(method, "/api/duplicates").status_code == 405
    finally:
        copies.close()


def test_other_hosts_are_refused(client):
    assert "answers only on 127.0.0.1 or localhost" in error_of(client.get("/api/info", headers={"host": "evil.example:8765"}), 400)
    assert "answers only" in error_of(client.get("/", headers={"host": "127.0.0.1.evil.example"}), 400)
    for host in ("localhost:8765", "[::1]:8765", "127.0.0.1"):
        assert client.get("/api/info", headers={"host": host}).status_code == 200


def test_upload_searches_by_a_photo_without_keeping_it(client, served_photos):
    photos, _ = served_photos
    before = set(Path(tempfile.gettempdir()).glob("xmodal-upload-*"))
    data = (photos / "rocket.jpg").read_bytes()
    answer = client.post("/api/upload", params={"name": "mine.jpg", "k": 3}, content=data).json()
    assert answer["query"] == "mine.jpg" and answer["using"] == "visual"
    assert Path(answer["results"][0]["path"]).name == "rocket.jpg" and answer["results"][0]["score"] > 0.99
    dated = client.post("/api/upload", params={"name": "mine.jpg", "k": 3, "after": "2024"}, content=data).json()
    assert dated["results"] and "rocket.jpg" not in [Path(r["path"]).name for r in dated["results"]]  # taken 2015
    words = client.post("/api/upload", params={"name": "mine.jpg", "words": 1, "k": 3}, content=data).json()
    assert words["kind"] == "words"
    broken = client.post("/api/upload", params={"name": "broken.jpg"}, content=b"not a photo at all")
    message = error_of(broken, 400)
    assert "broken.jpg" in message and "xmodal-upload" not in message
    assert "no photo" in error_of(client.post("/api/upload", content=b""), 400)
    assert set(Path(tempfile.gettempdir()).glob("xmodal-upload-*")) == before  # nothing kept


def test_upload_size_limit(client, monkeypatch):
    monkeypatch.setattr(serve, "MAX_UPLOAD", 1000)
    assert "over the" in error_of(client.post("/api/upload", content=b"x" * 1001), 413)

    def chunks():  # no Content-Length: counted as it streams in
        for _ in range(3):
            yield b"x" * 600

    assert "over the" in error_of(client.post("/api/upload", content=chunks()), 413)


def test_cli_index_beside_the_server_and_new_photos_appear(client, library, served_photos, tmp_path):
    photos, index = served_photos
    more = tmp_path / "more"
    more.mkdir()
    with Image.open(photos / "coffee.jpg") as image:  # new content, so it is embedded (a copy would tie with it)
        ImageOps.mirror(image).save(more / "second coffee.jpg")
    client.get("/api/query", params={"q": "coffee"})  # the server holds the index right now
    run = subprocess.run(
        [sys.executable, "-m", "cli", "index", str(more), "--index", str(index), "-q"],
        capture_output=True, text=True, check=False, env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
    )
    assert run.returncode == 0, run.stderr
    query = subprocess.run(
        [sys.executable, "-m", "cli", "query", "espresso", "-k", "2", "--paths", "--index", str(index)],
        capture_output=True, text=True, check=False, env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
    )
    assert query.returncode == 0, query.stderr
    answer = client.get("/api/query", params={"q": "espresso", "k": 2}).json()
    assert str(more / "second coffee.jpg") in [r["path"] for r in answer["results"]]  # no restart needed
    assert [r["path"] for r in answer["results"]] == query.stdout.splitlines()


def test_the_server_lets_go_as_soon_as_another_process_asks(served_photos, monkeypatch):
    """An hour of idle before it lets go by itself: another process still gets the index, because it asks."""
    from xmodal.store import embedded as store

    _, index = served_photos
    patient = Library(index, idle_s=3600)
    try:
        app = TestClient(create_app(patient), base_url="http://127.0.0.1")
        assert app.get("/api/query", params={"q": "cat"}).status_code == 200  # the server holds the index now
        assert (index / "xmodal.lock").read_text().endswith(" serve")
        monkeypatch.setattr(store, "WAIT_FOR_SERVER_S", 5.0)  # far below the hour: only the request can free it
        assert xmodal.info(index).photos > 0
        assert not (index / "xmodal.want").exists()  # the request is withdrawn once answered
        assert app.get("/api/query", params={"q": "cat"}).status_code == 200  # and the server opens it again
    finally:
        patient.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_command_prints_its_address_warns_on_the_network_and_stops_on_ctrl_c(served_photos, tmp_path):
    import httpx

    _, index = served_photos
    port = free_port()
    opened = tmp_path / "opened.txt"  # --open: the browser $BROWSER names is given the address
    browser = f"{sys.executable} -c \"import sys; open({str(opened)!r}, 'w').write(sys.argv[1])\" %s"
    server = subprocess.Popen(
        [sys.executable, "-m", "cli", "serve", "--index", str(index), "--host", "0.0.0.0", "--port", str(port), "--open"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2]), "BROWSER": browser},
    )
    try:
        lines = [server.stdout.readline(), server.stdout.readline()]
        assert "anyone who can reach this machine on the network can see your photos" in lines[0]
        assert f"http://0.0.0.0:{port}/" in lines[1]
        for _ in range(100):  # the address is printed just before the socket opens
            try:
                info = httpx.get(f"http://127.0.0.1:{port}/api/info", timeout=30).json()
                break
            except httpx.ConnectError:
                time.sleep(0.1)
        assert info["photos"] >= 13
        for _ in range(100):  # the browser is opened a second after the start
            if opened.is_file() and opened.read_text():
                break
            time.sleep(0.1)
        assert opened.read_text() == f"http://0.0.0.0:{port}/"
        taken = subprocess.run(
            [sys.executable, "-m", "cli", "serve", "--index", str(index), "--port", str(port)],
            capture_output=True, text=True, check=False, env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
        )
        assert taken.returncode == 1 and "choose another --port" in taken.stderr and "Traceback" not in taken.stderr
    finally:
        server.send_signal(signal.SIGINT)
        _, stderr = server.communicate(timeout=60)
    assert server.returncode == 0 and "Traceback" not in stderr


def test_open_without_a_browser_says_where_to_go(served_photos, monkeypatch):
    """``--open`` where no browser can be started (a server, a container) says so, with the address."""
    import webbrowser

    import uvicorn

    _, index = served_photos
    class AtOnce:  # the opener's timer, run when started, so nothing races it
        def __init__(self, delay, function):
            self.function = function

        def start(self):
            self.function()

    monkeypatch.setattr(webbrowser, "open", lambda address: False)
    monkeypatch.setattr(serve.threading, "Timer", AtOnce)
    monkeypatch.setattr(uvicorn.Server, "run", lambda self: None)
    said: list[str] = []
    port = free_port()
    serve.serve(index, port=port, open_browser=True, say=said.append)
    assert f"no web browser to open here: visit http://127.0.0.1:{port}/ from one" in said


def test_api_is_documented():
    doc = (Path(__file__).parents[2] / "docs" / "serve.md").read_text()
    for endpoint in ("/api/query", "/api/similar", "/api/words", "/api/info", "/api/photo", "/api/thumbnail", "/api/upload",
                     "/api/duplicates"):
        assert endpoint in doc


def test_others_wait_for_a_server_to_let_go_and_a_server_waits_briefly(served_photos, monkeypatch):
    import threading

    from xmodal.core.errors import IndexInUse
    from xmodal.store import embedded as store
    from xmodal.store import open_store

    _, index = served_photos
    held = open_store(index, serving=True)
    assert (index / "xmodal.lock").read_text() == f"{os.getpid()} serve"
    threading.Timer(0.5, held.close).start()
    other = open_store(index)  # waits for the server instead of refusing
    try:
        monkeypatch.setattr(store, "SERVER_WAITS_S", 0.2)
        with pytest.raises(IndexInUse, match=rf"already open in this process \(pid {os.getpid()}\)"):
            open_store(index, serving=True)  # a server gives up after SERVER_WAITS_S: a 503
    finally:
        other.close()
    monkeypatch.setattr(store, "WAIT_FOR_SERVER_S", 0.2)
    with open_store(index, serving=True), pytest.raises(IndexInUse, match="in use by xmodal serve .* stayed busy for 0.2 s"):
        open_store(index)


def test_a_busy_index_is_a_503_for_the_page(client, served_photos, monkeypatch):
    from xmodal.store import embedded as store

    _, index = served_photos
    monkeypatch.setattr(store, "SERVER_WAITS_S", 0.2)
    with xmodal.open(index):  # as an xmodal index run would
        time.sleep(0.5)  # the server lets go after 0.3 s idle
        response = client.get("/api/query", params={"q": "cat"})
    assert "already open in this process" in error_of(response, 503) and "search again when it ends" in response.json()["error"]
    assert client.get("/api/query", params={"q": "cat"}).status_code == 200


def test_an_index_held_by_another_process_is_a_503_for_the_page(client, served_photos, monkeypatch):
    """The page's 503 when the holder is another process, as an `xmodal index` run in a terminal is."""
    import subprocess
    import sys

    from xmodal.store import embedded as store

    _, index = served_photos
    monkeypatch.setattr(store, "SERVER_WAITS_S", 0.2)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time, xmodal\nengine = xmodal.open(sys.argv[1])\nprint('open', flush=True)\ntime.sleep(60)",
         str(index)], stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[2])
    try:
        assert holder.stdout.readline().strip() == "open"
        time.sleep(0.5)  # the server lets go after 0.3 s idle
        response = client.get("/api/query", params={"q": "cat"})
        message = error_of(response, 503)
        assert f"pid {holder.pid}" in message and "search again when it ends" in message, message
    finally:
        holder.kill()
        holder.wait()
    assert client.get("/api/query", params={"q": "cat"}).status_code == 200
