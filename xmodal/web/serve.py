"""``xmodal serve``: a local web page and JSON API over one index.

Every answer goes through :meth:`xmodal.search.engine.Engine.query`, so the page,
the CLI and scripts read queries alike. The server holds the embedded index
only while it answers (:class:`Library`): the space and the encoder stay
loaded, the store is opened on demand and let go after a moment of quiet, so
``xmodal index`` and ``xmodal query`` from another terminal work while the
page is open, and photos they add appear without a restart (docs/serve.md).

Safety: only photos in the index are ever read or shown (any other path is a
404, whatever ``..`` or symlinks it holds); uploads are size-limited and go
through the one decoder (decompression-bomb guard on); errors are one line of
JSON, never a traceback.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import os
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from xmodal.core.errors import IndexInUse, PhotoNotFound, XmodalError
from xmodal.devise.model import space_name
from xmodal.search.engine import Engine, nothing_found
from xmodal.store import EdgeStore, ImageInfo, Store, open_store
from xmodal.text.expression import Expression, read_query
from xmodal.text.factory import load_space
from xmodal.web.thumbnails import PLACEHOLDER, SIZES, Unreadable, thumbnail

if TYPE_CHECKING:
    import uvicorn
    from starlette.types import ASGIApp, Receive, Scope, Send

WEB = Path(__file__).parent / "static"
MAX_UPLOAD = 25 * 1024 * 1024  # bytes: a large phone photo is under 15 MB
MAX_K = 500
IDLE_S = 30.0  # the embedded index is let go after this long without a request, or when another process asks
PAGE_POLICY = "default-src 'self'; img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
log = logging.getLogger("xmodal.web.serve")


class Library:
    """The index as the server holds it.

    The space (and, once an upload needs it, the encoder) is loaded once for
    the process; the store is opened when a request comes and closed as soon
    as another xmodal process asks for it (``EdgeStore.wanted``), or after
    :data:`IDLE_S` of quiet, because an embedded index is locked while open and
    other xmodal processes must get their turn. Requests use it one at a time
    (the lock), which also keeps qdrant-edge single-threaded. A Qdrant server
    has no such lock, so its store stays open.
    """

    def __init__(
        self, index: str | os.PathLike | None = None, url: str | None = None, *,
        space: str | os.PathLike | None = None, model: str | os.PathLike | None = None, idle_s: float = IDLE_S,
    ) -> None:
        self.index, self.url, self.model, self.idle_s = index, url, model, idle_s
        self.space = load_space(space_name(space, model))
        self._encoder = None
        self._encoder_lock = threading.Lock()
        self._store: Store | None = None
        self._lock = threading.RLock()
        self._last_use = time.monotonic()
        self._closed = threading.Event()
        with self.engine() as engine:  # a missing or incompatible index fails now, as one line
            self.location, embedded = engine.store.location, isinstance(engine.store, EdgeStore)
        if embedded:  # a Qdrant server has no lock to give back
            threading.Thread(target=self._release_when_idle, name="xmodal-release", daemon=True).start()

    @contextmanager
    def engine(self, encoder: bool = False) -> Iterator[Engine]:
        """An engine on the open store, for one request; ``encoder`` loads the visual
        model first (only a photo that is not in the index needs it)."""
        if encoder:
            with self._encoder_lock:  # not the index's lock: loading takes seconds, once
                if self._encoder is None:
                    from xmodal.devise.encoder import Encoder

                    self._encoder = Encoder.load(self.space, self.model)
        with self._lock:
            if self._store is None:
                self._store = open_store(self.index, self.url, serving=True)
            try:
                engine = Engine(self._store, self.space, self.model, self._encoder)
                if encoder:  # the encoder at the index's precision (Engine._use): kept, with its session, for the next request
                    self._encoder = engine.encoder
                yield engine
            finally:
                self._last_use = time.monotonic()

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None

    def _release_when_idle(self) -> None:
        """Let the index go when another xmodal process asks for it (between requests:
        the lock is ours here), or after ``idle_s`` of quiet."""
        while not self._closed.wait(min(self.idle_s / 4, 0.1)):
            with self._lock:
                if self._store is None:
                    continue
                if self._store.wanted() or time.monotonic() - self._last_use >= self.idle_s:
                    self._store.close()
                    self._store = None


# -- parameters ------------------------------------------------------------------------


def _bad(message: str, status: int = 400) -> HTTPException:
    return HTTPException(status, message)


def _text(request: Request, name: str) -> str:
    value = request.query_params.get(name, "").strip()
    if not value:
        raise _bad(f"missing parameter {name!r}")
    return value


def _k(request: Request, default: int = 24) -> int:
    raw = request.query_params.get("k", str(default))
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_K:
        raise _bad(f"k must be a whole number from 1 to {MAX_K}, not {raw!r}")
    return int(raw)


def _number(request: Request, name: str) -> float | None:
    """A number parameter, or None when empty; its range is for the caller to say."""
    raw = request.query_params.get(name, "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if value != value:  # NaN: not a number at all
        raise _bad(f"{name} must be a number, not {raw!r}")
    return value


def _threshold(request: Request) -> float | None:
    """A search's threshold: a score, so from -1 to 1."""
    value = _number(request, "threshold")
    if value is not None and not -1 <= value <= 1:
        raise _bad(f"threshold must be a number from -1 to 1, not {request.query_params['threshold'].strip()!r}")
    return value


def _within(request: Request) -> list[str] | None:
    return [folder for folder in request.query_params.getlist("in") if folder.strip()] or None


def _date(request: Request, name: str) -> str | None:
    """A date bound as given (Engine.query reads it, and names it in its error); empty is none."""
    return request.query_params.get(name, "").strip() or None


def _choices(request: Request) -> dict:
    """The options every photo query takes: ``k``, ``threshold``, ``in`` (repeatable), ``after``, ``before``."""
    return {
        "k": _k(request), "threshold": _threshold(request), "within": _within(request),
        "after": _date(request, "after"), "before": _date(request, "before"),
    }


def indexed(engine: Engine, path: str) -> ImageInfo:
    """The stored facts of an indexed photo, or a 404: the path is looked up in the
    index under each way it may be spelt (absolute, ``..`` folded, folders above it
    resolved: :meth:`Engine.stored`), so no spelling reaches a file the index does not hold."""
    try:
        record = engine.stored(path)
    except (ValueError, OSError):  # a NUL byte, a name too long
        record = None
    if record is None:
        raise _bad(f"not a photo in the index: {path}", 404)
    return record.info


def _read(engine: Engine, query: str) -> Expression:
    """The query as the page may ask it: photos only indexed ones, looked up in the index
    and never on the server's disk (a photo of one's own goes through the upload), so no
    answer says whether a file is there: a missing file, a folder and a file outside the
    index all get the same 404, after the query's syntax is checked whole. An indexed
    photo whose file is gone is answered from the index."""
    try:  # every photo of the expression is one engine.holds: nothing else is one without the disk
        return read_query(query, engine.holds, disk=False)
    except PhotoNotFound as error:
        raise _bad(f"not a photo in the index: {error.path}", 404) from None


# -- endpoints -------------------------------------------------------------------------


def _answer(library: Library, query: str, *, using: str | None = None, words: bool = False, **choices) -> dict:
    """The answer as ``xmodal query --json`` prints it; with no photo, ``nothing`` says why
    in the line the CLI prints then."""
    with library.engine() as engine:
        answer = engine.query(_read(engine, query), using=using, words=words, **choices).to_dict()
    answer["query"] = query  # as typed, as the CLI gives it
    if answer["kind"] == "photos" and not answer["results"]:
        answer["nothing"] = nothing_found(query, *(choices.get(name) for name in ("threshold", "within", "after", "before")))
    return answer


async def api_query(request: Request) -> JSONResponse:
    """``Engine.query``: ``q``, ``k``, ``threshold``, ``in``, ``after``, ``before``, ``using``, ``words``."""
    query, using = _text(request, "q"), request.query_params.get("using") or None
    if request.query_params.get("words") in ("1", "true"):
        return JSONResponse(await run_in_threadpool(_answer, request.app.state.library, query, words=True, k=_k(request)))
    return JSONResponse(await run_in_threadpool(_answer, request.app.state.library, query, using=using, **_choices(request)))


async def api_similar(request: Request) -> JSONResponse:
    """``Engine.similar``: photos that look like the indexed photo ``path``."""
    library, path = request.app.state.library, _text(request, "path")
    return JSONResponse(await run_in_threadpool(_similar, library, path, **_choices(request)))


def _similar(library: Library, path: str, **choices) -> dict:
    with library.engine() as engine:  # the lock is re-entrant: one hold for both steps
        indexed(engine, path)  # a path, never an expression
        return _answer(library, path, using="visual", **choices)


async def api_words(request: Request) -> JSONResponse:
    """``Engine.words``: the vocabulary words nearest ``q`` (a photo or an expression)."""
    library = request.app.state.library
    return JSONResponse(await run_in_threadpool(_answer, library, _text(request, "q"), words=True, k=_k(request, 10)))


async def api_duplicates(request: Request) -> JSONResponse:
    """``Engine.duplicates``: groups of copies, ``threshold`` and ``in`` (repeatable) as for the CLI.
    It only lists; the API has no way to delete or move a photo."""
    threshold, within = _number(request, "threshold"), _within(request)  # its range: Engine.duplicates says it

    def find() -> dict:
        with request.app.state.library.engine() as engine:
            return engine.duplicates(threshold, within).to_dict()

    return JSONResponse(await run_in_threadpool(find))


async def api_info(request: Request) -> JSONResponse:
    """``Engine.info``: what the index holds."""

    def read() -> dict:
        with request.app.state.library.engine() as engine:
            return engine.info().to_dict()

    return JSONResponse(await run_in_threadpool(read))


async def api_photo(request: Request) -> JSONResponse:
    """One indexed photo's facts: path, pixels, bytes, file date, and date taken and camera."""
    path = _text(request, "path")

    def read() -> dict:
        with request.app.state.library.engine() as engine:
            info = indexed(engine, path)
        modified = datetime.fromtimestamp(info.mtime_ns / 1e9, UTC).isoformat(timespec="seconds")
        return {"path": info.path, "name": Path(info.path).name, "width": info.width, "height": info.height,
                "bytes": info.size, "modified": modified, "taken": info.taken, "taken_from": info.taken_from,
                "camera": info.camera, "exists": os.path.isfile(info.path)}

    return JSONResponse(await run_in_threadpool(read))


async def api_thumbnail(request: Request) -> Response:
    """A cached JPEG of an indexed photo (``size`` 320 or 1280), or a placeholder."""
    path, raw = _text(request, "path"), request.query_params.get("size", str(SIZES[0]))
    if not raw.isdigit() or int(raw) not in SIZES:
        raise _bad(f"size must be one of {', '.join(map(str, SIZES))}, not {raw!r}")
    size = int(raw)

    def make() -> Response:
        with request.app.state.library.engine() as engine:
            info = indexed(engine, path)
        try:
            cached = thumbnail(info, size)  # outside the lock: thumbnails are made in parallel
        except Unreadable as reason:
            log.info("placeholder for %s: %s", info.path, reason)
            return Response(PLACEHOLDER, media_type="image/svg+xml", headers={"Cache-Control": "no-store"})
        etag = f'"{cached.stem}-{size}"'
        headers = {"ETag": etag, "Cache-Control": "private, max-age=60"}
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        return FileResponse(cached, media_type="image/jpeg", headers=headers)

    return await run_in_threadpool(make)


async def api_upload(request: Request) -> JSONResponse:
    """Search by a photo sent as the request body: embedded, never stored.

    ``name`` (the file's name, for the answer), ``using``, ``words``, ``k``,
    ``threshold``, ``in``, ``after`` and ``before`` as for ``/api/query``.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_UPLOAD:
        raise _bad(f"the photo is over the {MAX_UPLOAD // 2**20} MB limit", 413)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_UPLOAD:
            raise _bad(f"the photo is over the {MAX_UPLOAD // 2**20} MB limit", 413)
    if not body:
        raise _bad("no photo in the request body")
    name = request.query_params.get("name") or "uploaded photo"
    words = request.query_params.get("words") in ("1", "true")
    choices = {"k": _k(request)} if words else _choices(request)
    using = request.query_params.get("using") or None
    return JSONResponse(await run_in_threadpool(_search_by_upload, request.app.state.library, bytes(body), name,
                                                using, words, choices))


def _search_by_upload(library: Library, data: bytes, name: str, using: str | None, words: bool, choices: dict) -> dict:
    handle, tmp = tempfile.mkstemp(prefix="xmodal-upload-", suffix=".photo")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        with library.engine(encoder=True) as engine:
            try:
                answer = engine.query(tmp, using=using, words=words, **choices)
            except XmodalError as error:
                raise XmodalError(str(error).replace(tmp, name)) from None
    finally:
        os.unlink(tmp)
    return dataclasses.replace(answer, query=name).to_dict()


async def page(request: Request) -> Response:
    """The one page; it reads the query from its own URL (``/?q=...``)."""
    return FileResponse(WEB / "index.html", headers={"Content-Security-Policy": PAGE_POLICY, "Cache-Control": "no-cache"})


# -- errors: one line of JSON, never a traceback ------------------------------------------


async def _http_error(request: Request, error: HTTPException) -> JSONResponse:
    return JSONResponse({"error": error.detail}, status_code=error.status_code)


async def _user_error(request: Request, error: XmodalError) -> JSONResponse:
    message = " ".join(str(error).split())
    if isinstance(error, IndexInUse):  # another process: most often an xmodal index run adding photos
        if not error.server:  # (a server's message says to try again already)
            message += ", most likely xmodal index adding photos: search again when it ends"
        return JSONResponse({"error": message}, status_code=503)
    return JSONResponse({"error": message}, status_code=400)


async def _bug(request: Request, error: Exception) -> JSONResponse:
    log.exception("error answering %s", request.url.path)
    return JSONResponse({"error": f"internal error ({type(error).__name__}); the server's log has the details"},
                        status_code=500)


class LoopbackOnly:
    """Answer only requests that name a loopback host (``Host: 127.0.0.1:8765``): a web
    page elsewhere cannot reach the server through DNS rebinding. Refusals are JSON."""

    HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]"})

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            host = Headers(scope=scope).get("host", "")
            name = host[: host.find("]") + 1] if host.startswith("[") else host.split(":")[0]
            if name not in self.HOSTS:
                response = JSONResponse({"error": f"this server answers only on 127.0.0.1 or localhost, not {host!r}"}, 400)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(library: Library, *, host: str = "127.0.0.1") -> Starlette:
    """The page, its files and the JSON API over ``library``.

    Bound to a loopback address, only requests naming a loopback host are
    answered (:class:`LoopbackOnly`).
    """
    routes = [
        Route("/", page),
        Route("/api/query", api_query),
        Route("/api/similar", api_similar),
        Route("/api/words", api_words),
        Route("/api/duplicates", api_duplicates),
        Route("/api/info", api_info),
        Route("/api/photo", api_photo),
        Route("/api/thumbnail", api_thumbnail),
        Route("/api/upload", api_upload, methods=["POST"]),
        Mount("/static", StaticFiles(directory=WEB), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(LoopbackOnly)] if is_loopback(host) else [],
        exception_handlers={HTTPException: _http_error, XmodalError: _user_error, Exception: _bug},
    )
    app.state.library = library
    return app


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def require_free_port(host: str, port: int) -> None:
    """A taken port as one line, before the index is loaded, rather than uvicorn's log."""
    try:
        with socket.create_server((host, port), reuse_port=False):
            pass
    except OSError as error:
        raise XmodalError(f"cannot listen on {host}:{port}: {error.strerror or error}; choose another --port") from None


def _server(library: Library, host: str, port: int) -> uvicorn.Server:
    """The page's uvicorn server for ``library`` (not started): quiet but for warnings."""
    import uvicorn

    return uvicorn.Server(uvicorn.Config(create_app(library, host=host), host=host, port=port,
                                         log_level="warning", access_log=False))


@contextmanager
def running(library: Library, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """The server in a background thread, for tests, benchmarks and scripts: yields its
    address (``port=0`` takes a free port) and stops it on exit."""
    server = _server(library, host, port)
    thread = threading.Thread(target=server.run, name="xmodal-serve", daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise XmodalError(f"cannot listen on {host}:{port}")
        time.sleep(0.02)
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{bound}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def serve(
    index: str | os.PathLike | None = None, url: str | None = None, *, host: str = "127.0.0.1", port: int = 8765,
    open_browser: bool = False, space: str | os.PathLike | None = None, model: str | os.PathLike | None = None,
    say: Callable[[str], object] = print,
) -> None:
    """Serve the page until Ctrl-C; ``say`` prints the address and any warning."""
    require_free_port(host, port)
    library = Library(index, url, space=space, model=model)
    address = f"http://{'[' + host + ']' if ':' in host else host}:{port}/"
    if not is_loopback(host):
        say(f"warning: listening on {host}: anyone who can reach this machine on the network can see your photos")
    say(f"serving {library.location} at {address} (Ctrl-C stops)")
    server = _server(library, host, port)
    if open_browser:
        import webbrowser

        def open_page() -> None:
            if not webbrowser.open(address):  # no browser found (a server, a bare container): say so
                say(f"no web browser to open here: visit {address} from one")

        threading.Timer(1.0, open_page).start()
    try:
        server.run()  # on Ctrl-C it answers open requests, then re-raises the signal
    except KeyboardInterrupt:
        pass  # the way to stop a server: not an error
    finally:
        library.close()
    say("stopped")
