"""The ``xmodal`` command: a thin skin over the Python API.

User errors (``XmodalError``) print as one line on stderr with exit code 1;
typer itself reports bad options with exit code 2.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from xmodal import XmodalError
from xmodal.devise.model import space_name
from xmodal.search.duplicates import THRESHOLD
from xmodal.text.factory import load_space
from xmodal.training.fit import VIEW_COUNT

if TYPE_CHECKING:
    from rich.table import Table

    from indexer.run import Summary
    from xmodal.search.engine import Engine

app = typer.Typer(
    help="Search photos by meaning in a word-vector space.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


class LazyConsole:
    """A rich Console made on first use: --json and --paths print without importing rich (40 ms)."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console = None

    def __getattr__(self, name: str):
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return getattr(self._console, name)


console = LazyConsole()
err = LazyConsole(stderr=True, soft_wrap=True)

F = TypeVar("F", bound=Callable)


def one_line_errors(command: F) -> F:
    """Show a user's mistake as one line and exit 1, never as a traceback; a Ctrl-C as
    "interrupted" and exit 130 (typer alone would exit 130 and say nothing)."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except XmodalError as error:
            from rich.text import Text

            from indexer.walk import printable

            line = printable(str(error))  # a file name's odd bytes as \xfe
            err.print(Text.assemble(("error:", "bold red"), " ", line), highlight=False)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            err.print("interrupted", highlight=False)
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


SpaceOption = Annotated[
    str | None,
    typer.Option(
        "--space",
        help="The space: all-minilm-l6-v2 (the default, a sentence encoder), glove-6b-50d, "
        "a word2vec/GloVe/fastText/.kv file or a gensim-data name.",
    ),
]


TopOption = Annotated[int, typer.Option("--top", "-k", min=1, help="How many results.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
ModelOption = Annotated[
    Path | None,
    typer.Option("--model", help="A DeViSE model file from xmodal train (default: the shipped model)."),
]


IndexOption = Annotated[
    Path | None,
    typer.Option("--index", help="The index folder (default: $XMODAL_INDEX, else ~/.local/share/xmodal/index)."),
]
UrlOption = Annotated[
    str | None,
    typer.Option("--qdrant-url", help="A Qdrant server or cluster to use instead of a folder (env: XMODAL_QDRANT_URL)."),
]


@app.command()
@one_line_errors
def index(
    folder: Annotated[Path, typer.Argument(metavar="FOLDER", help="A folder of photos, searched recursively.")],
    index_path: IndexOption = None,
    qdrant_url: UrlOption = None,
    space: SpaceOption = None,
    model: ModelOption = None,
    precision: Annotated[
        str | None,
        typer.Option(
            "--precision",
            help="The visual network's: int8 (a new index's default, where an int8 copy ships: 1.3-1.8x as fast, by the CPU) "
            "or fp32. An index keeps the one it was made with.",
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary (for scripts).")] = False,
) -> None:
    """Index the photos under FOLDER; a rerun only embeds new or changed files."""
    import time
    from contextlib import nullcontext

    from xmodal.core.progress import silenced
    from xmodal.search.engine import open as open_engine

    started = time.perf_counter()
    if not folder.expanduser().is_dir():  # before an index is created for nothing
        raise XmodalError(f"not a folder: {folder}{still_indexed(folder, index_path, qdrant_url)}")
    with silenced() if quiet else nullcontext(), held(open_engine(
        index_path, qdrant_url, space=space, model=model, create=True, precision=precision
    )) as engine:
        try:
            summary = engine.index(folder, quiet=quiet)
        except KeyboardInterrupt:
            err.print("interrupted: the photos indexed so far are saved; run the same command to resume", highlight=False)
            raise typer.Exit(130) from None
        total = engine.count()
    if not quiet:
        print_index_summary(summary, folder, total, time.perf_counter() - started)
        for gone, count in summary.gone.items():  # after the table: the copies were counted as added
            show_notes((
                f"photos found here are also in the index at {gone}, which is not on disk (renamed, deleted, or a "
                f"disk not mounted?): {remove_command(gone, index_path, qdrant_url)} forgets the "
                f"{count:,} photo{'s' if count != 1 else ''} there",
            ))
    if summary.failed_outright:
        raise XmodalError(summary.empty)
    if summary.empty and not quiet:
        err.print(summary.empty, highlight=False, markup=False)


def still_indexed(folder: Path, index_path: Path | None, qdrant_url: str | None) -> str:
    """For a folder that is not there: how to forget the photos the index still holds under
    it, or the photo it was (deleted or renamed), or "" where it holds none or there is no index
    to ask. One point read, not a count: this is an error line."""
    from indexer.walk import spellings
    from xmodal.store import open_store

    if folder.expanduser().exists():
        return ""
    try:
        with open_store(index_path, qdrant_url) as store:
            spelt = spellings(folder)  # a folder, or one photo deleted since it was indexed
            held_there = store.holds_under(spelt) or any(store.get(spelling) is not None for spelling in spelt)
    except XmodalError:  # no index yet, or one in use: the plain line says enough
        return ""
    if not held_there:
        return ""
    return f" (the index still holds photos there: {remove_command(folder, index_path, qdrant_url)} forgets them)"


def remove_command(folder: str | Path, index_path: Path | None, qdrant_url: str | None) -> str:
    """The ``xmodal remove`` line to suggest for ``folder``, for the same index, ready to paste."""
    import shlex

    def absolute(path: str | Path) -> str:  # pasted from any folder, it still means the same
        return shlex.quote(os.path.abspath(os.path.expanduser(path)))

    where = f" --index {absolute(index_path)}" if index_path else ""
    where += f" --qdrant-url {shlex.quote(qdrant_url)}" if qdrant_url else ""
    return f"xmodal remove {absolute(folder)}{where}"


@app.command()
@one_line_errors
def remove(
    path: Annotated[Path, typer.Argument(metavar="PATH", help="A folder or a photo, on disk or gone from it.")],
    index_path: IndexOption = None,
    qdrant_url: UrlOption = None,
) -> None:
    """Forget the photos at or under PATH; the files themselves are not touched.

    For a folder deleted, renamed, or moved where it will not be indexed again:
    its photos stay in the index until then (it may be a disk not mounted
    today). A folder still on disk comes back in full the next time a folder
    above it is indexed.
    """
    from indexer.run import remove_photos
    from xmodal.store import open_store

    with open_store(index_path, qdrant_url) as store:  # no space or model: any index, read or not by them
        removed = remove_photos(store, path)
        left = store.count()
    print(f"removed {removed:,} photo{'s' if removed != 1 else ''} at or under {path} from the index ({left:,} left)")


def print_index_summary(summary: Summary, folder: Path, total: int, seconds: float) -> None:
    """The run's counts as a table, then what was skipped: each failure, and one line for the rest."""
    table = titled_table(f"indexed {folder}")
    for column in ("added", "updated", "moved", "removed", "unchanged", "failed", "in index", "time"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_row(
        *(str(n) for n in (summary.added, summary.updated, summary.moved, summary.removed, summary.unchanged)),
        str(len(summary.failed)), str(total), f"{seconds:.1f} s",
    )
    console.print(table)
    for path, reason in summary.failed:
        err.print(f"skipped {path}: {reason}", highlight=False, markup=False)
    passed_over = summary.passed_over()
    if passed_over and not summary.empty:  # an empty run says it all in its one line
        err.print(f"not indexed: {passed_over}", highlight=False, markup=False)


@app.command()
@one_line_errors
def query(
    expression: Annotated[str, typer.Argument(metavar="EXPRESSION", help='Words, phrases, arithmetic and photos: "dog", "king - man + woman", "beach.jpg - summer + winter", or one photo.')],
    top: TopOption = 10,
    words_out: Annotated[bool, typer.Option("--words", help="Give the nearest vocabulary words instead of photos.")] = False,
    using: Annotated[str | None, typer.Option("--using", help="semantic (meaning, the word space) or visual (looks, the visual model's features).")] = None,
    threshold: Annotated[float | None, typer.Option("--threshold", min=-1.0, max=1.0, help="Keep only photos whose score (the one shown) is at least this (-1 to 1); --top still caps how many.")] = None,
    within: Annotated[list[Path] | None, typer.Option("--in", help="Keep only photos under this folder; repeat for several.")] = None,
    after: Annotated[str | None, typer.Option("--after", help="Keep only photos taken in or after this year, month or day: YYYY, YYYY-MM or YYYY-MM-DD, local time.")] = None,
    before: Annotated[str | None, typer.Option("--before", help="Keep only photos taken in or before this year, month or day (as --after).")] = None,
    paths_only: Annotated[bool, typer.Option("--paths", help="Print only the photos' paths, one a line (for xargs, fzf).")] = False,
    as_json: JsonOption = False,
    index_path: IndexOption = None,
    qdrant_url: UrlOption = None,
    space: SpaceOption = None,
    model: ModelOption = None,
) -> None:
    """Search the index: text finds photos by meaning, a photo finds look-alikes.

    Text, or text mixed with photos, finds photos by meaning (the word space).
    A single photo finds photos that look like it (the visual model's own
    features; --using semantic finds photos that mean the same instead).
    --words gives the vocabulary words nearest a photo or an expression.
    --threshold, --in, --after and --before narrow the photos found; --paths prints just their paths.
    """
    from xmodal.search.engine import nothing_found
    from xmodal.search.engine import open as open_engine
    from xmodal.store.dates import date_span

    if paths_only and words_out:
        raise XmodalError("--paths prints photo paths; it does not go with --words")
    if paths_only and as_json:
        raise XmodalError("--paths and --json are two output formats; choose one")
    if words_out and (threshold is not None or within or after is not None or before is not None):
        raise XmodalError("--threshold, --in, --after and --before choose photos; they do not go with --words")
    date_span(after, before, ("--after", "--before"))  # a malformed date fails here, named as typed, before any loading
    with held(open_engine(index_path, qdrant_url, space=space, model=model)) as engine:
        answer = engine.query(
            expression, top, using=using, words=words_out, threshold=threshold, within=within, after=after, before=before
        )
    show_notes(answer.notes)
    if answer.kind == "photos" and not answer.results:  # a clear line, not an empty table; exit 0
        err.print(nothing_found(expression, threshold, within, after, before), highlight=False, markup=False)
        if not as_json:
            return
    if paths_only:
        sys.stdout.write("".join(f"{result.path}\n" for result in answer.results))  # as stored: no markup or escaping
    elif as_json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False))
    else:
        show_ranked(expression, [result.to_dict() for result in answer.results], "word" if words_out else "path")


@app.command()
@one_line_errors
def duplicates(
    threshold: Annotated[float | None, typer.Option("--threshold", min=0.0, max=1.0, help=f"The look-alike score (0 to 1) that makes two photos near copies (default {THRESHOLD:g}; higher: fewer, closer copies).")] = None,
    within: Annotated[list[Path] | None, typer.Option("--in", help="Only photos under this folder, both of a pair; repeat for several.")] = None,
    as_json: JsonOption = False,
    index_path: IndexOption = None,
    qdrant_url: UrlOption = None,
    space: SpaceOption = None,
    model: ModelOption = None,
) -> None:
    """Groups of copies, exact and near, largest group first, with each photo's size and pixels.

    Exact copies hold the same bytes; near copies are resized, re-encoded, lightly
    cropped or turned.

    It only lists: nothing is deleted or moved. Near copies are found by the visual
    model's features, one nearest-neighbour search per photo (docs/search.md).
    """
    from xmodal.search.engine import open as open_engine
    from xmodal.store.info import human_bytes

    with held(open_engine(index_path, qdrant_url, space=space, model=model)) as engine:
        found = engine.duplicates(threshold, within)
    if as_json:
        print(json.dumps(found.to_dict(), ensure_ascii=False))
        return
    if not found.groups:  # a clear line, not an empty table; exit 0
        where = f" under {' or '.join(str(folder) for folder in within)}" if within else ""
        err.print(f"no duplicates among {found.photos} photos{where} (threshold {found.threshold:g})", highlight=False, markup=False)
        return
    from rich.text import Text

    copies = sum(len(group.photos) for group in found.groups)
    groups = len(found.groups)
    table = titled_table(f"{groups} group{'s' * (groups != 1)}, {copies} photos of {found.photos} (threshold {found.threshold:g})")
    for column, justify in (("group", "right"), ("path", "left"), ("pixels", "right"), ("size", "right"), ("closest", "right")):
        table.add_column(column, justify=justify, overflow="fold" if column == "path" else None)
    for number, group in enumerate(found.groups, 1):
        for i, photo in enumerate(group.to_dict()["photos"]):
            closest = photo["closest"]
            table.add_row(
                f"{number} {'exact' if group.exact else 'near'}" if i == 0 else "", Text(photo["path"]),
                f"{photo['width']}×{photo['height']}", human_bytes(photo["bytes"]),
                "same file (a link)" if closest["same_file"] else "exact copy" if closest["exact"] else f"{closest['score']:.3f}",
                end_section=i == len(group.photos) - 1,
            )
    console.print(table)


@app.command()
@one_line_errors
def info(
    index_path: IndexOption = None,
    qdrant_url: UrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """What an index holds: photos, the dates they were taken, folders, space, model, storage, size, last update.

    Reads the index's own records only: no word space or visual model is loaded.
    """
    from xmodal.store.info import human_bytes
    from xmodal.store.info import info as read_info

    facts = read_info(index_path, qdrant_url)
    if as_json:
        print(json.dumps(facts.to_dict(), ensure_ascii=False))
        return
    space = facts.space
    folders = list(facts.folders) or ["(none)"]
    if facts.backend == "embedded":  # a server's photos may be another machine's paths
        folders = [
            f"{folder}  (not on disk: renamed, deleted, or a disk not mounted? {remove_command(folder, index_path, None)} "
            "forgets its photos)" if facts.folders and not os.path.lexists(folder) else folder
            for folder in folders
        ]
    if not facts.folders_recorded and facts.folders:
        folders[0] += "  (from the photos' paths: this index does not record them)"
    if facts.visual:
        model = f"{facts.visual} {facts.precision} (weights {facts.visual_checksum or '?'}), map {facts.map_checksum or '?'}"
    else:
        model = "(none recorded)"
    if facts.taken_first is None or facts.taken_last is None:
        taken = "(none yet: the next xmodal index dates the photos)" if facts.photos else "(no photos)"
    else:
        taken = f"{facts.taken_first.date()} to {facts.taken_last.date()}"  # each in the photo's own local time
        if facts.undated:
            taken += f"  ({facts.undated:,} photos not dated yet: the next xmodal index dates them)"
    if facts.updated is None:
        updated = "unknown"
    else:
        updated = facts.updated.astimezone().isoformat(sep=" ", timespec="seconds")
        if not facts.updated_recorded:
            updated += "  (newest file time: this index does not record it)"
    rows = [
        ("index", f"{facts.location} ({facts.backend})"),
        ("photos", f"{facts.photos:,}"),
        ("taken", taken),
        *((("folders" if i == 0 else ""), folder) for i, folder in enumerate(folders)),
        ("space", f"{space.name} ({space.checksum}, {space.dim}-d)" if space else "(none recorded)"),
        ("model", model),
        ("storage", facts.storage),
        ("on disk", human_bytes(facts.disk_bytes) if facts.disk_bytes is not None else "n/a (server)"),
        ("updated", updated),
    ]
    sys.stdout.write("".join(f"{name:<11}{value}\n" for name, value in rows))  # paths as they are: no markup or wrapping


@app.command()
@one_line_errors
def serve(
    index_path: IndexOption = None,
    qdrant_url: UrlOption = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on; anything but 127.0.0.1/localhost shows the photos to the network.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8765,
    open_browser: Annotated[bool, typer.Option("--open", help="Open the page in a browser.")] = False,
    space: SpaceOption = None,
    model: ModelOption = None,
) -> None:
    """A local web page to search and browse the index (docs/serve.md); Ctrl-C stops it.

    The server lets go of the index whenever another xmodal process asks, so
    xmodal index and xmodal query work on it from another terminal meanwhile.
    """
    from xmodal.web.serve import serve as run_server

    run_server(index_path, qdrant_url, host=host, port=port, open_browser=open_browser, space=space, model=model,
               say=lambda line: print(line, flush=True))


def show_notes(notes: tuple[str, ...]) -> None:
    """Each note (a word left out of the query, or corrected) as one line on stderr."""
    for note in notes:
        from rich.text import Text

        err.print(Text.assemble(("note:", "yellow"), " ", note), highlight=False)


def titled_table(title: str, *, as_wide: bool = True) -> Table:
    """A rich Table under ``title``, taken as plain text (a path like /photos/[best]/ is not markup),
    at least as wide as the title where the terminal allows (``as_wide``), so a photo's path is not
    broken; a table of short cells (words) stays narrow and its title wraps."""
    from rich.table import Table
    from rich.text import Text

    return Table(title=Text(title), min_width=len(title) if as_wide else None)


def show_ranked(query: str, rows: list[dict], column: str) -> None:
    """Ranked results as a table of rank, ``column`` and score; a dim cosine column too
    when the scores are not the cosines (a hub-penalised search), so both are in sight.
    A photo no longer on disk says so (``--paths`` and ``--json`` print paths as stored)."""
    from rich.text import Text

    table = titled_table(query, as_wide=column == "path")
    table.add_column("#", justify="right", style="dim")
    table.add_column(column, overflow="fold")
    table.add_column("score", justify="right")
    cosines = any(row.get("cosine", row["score"]) != row["score"] for row in rows)
    if cosines:
        table.add_column("cosine", justify="right", style="dim")
    for rank, row in enumerate(rows, 1):
        shown = Text(row[column])
        if column == "path" and not os.path.lexists(row[column]):  # indexed, then deleted, renamed or unmounted
            shown.append("  (not on disk)", style="dim")
        table.add_row(str(rank), shown, f"{row['score']:.3f}", *([f"{row['cosine']:.3f}"] if cosines else []))
    console.print(table)


@app.command()
@one_line_errors
def words(
    expression: Annotated[str, typer.Argument(metavar="EXPRESSION", help='A query expression, e.g. "king - man + woman".')],
    top: TopOption = 10,
    as_json: JsonOption = False,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Search only the first N words (GloVe's most frequent; rare words are often noise). Not for a photo's words, which come from the vocabulary (a note says so).")] = None,
    space: SpaceOption = None,
    model: ModelOption = None,
) -> None:
    """Nearest words to an expression of words, phrases, weights and images.

    Image terms (beach.jpg - summer + winter, or one photo, spaces in its name
    and all) are embedded by the DeViSE model (--model; by default the shipped
    EfficientNet-Lite2 model, or the EfficientNet-Lite0 one with --space
    glove-6b-50d), with the network a new index embeds with (int8 where an int8
    copy ships), and read as xmodal query --words reads them (an analogy's
    photo as the texts that describe it), so a photo gets the words it gets
    once indexed. Expressions with photos ask among the vocabulary (photos
    alone with each word read as "a photo of WORD" too): a photo's nearest
    words among all of GloVe's 400,000 are mostly noise.
    """
    from xmodal.search.engine import query_vector, words_template
    from xmodal.text.expression import read_query
    from xmodal.text.vocabulary import nearest_words

    ws = load_space(space_name(space, model))
    parsed = read_query(expression)
    encode_image, bank = None, None
    if parsed.images:
        from xmodal.devise.encoder import Encoder
        from xmodal.vision.quantized import new_index_precision

        encoder = Encoder.load(ws, model)
        encode_image = encoder.at_precision(new_index_precision(encoder.visual)).encode_image
        bank = None if encoder.model.hub is None else encoder.model.hub.bank
    evaluated = query_vector(parsed, ws, encode_image, bank)
    show_notes(evaluated.notes)
    if parsed.images:  # a photo's words (or an analogy's), read as xmodal query --words reads them
        if limit is not None:
            show_notes((f"--limit left out: a photo's words come from the vocabulary of {ws.identity.name}",))
        hits = nearest_words(ws, evaluated.vector, top, words_template(parsed), evaluated.inputs)
    else:
        hits = ws.nearest(evaluated.vector, k=top, exclude=evaluated.inputs, limit=limit)
    rows = [hit.to_dict() for hit in hits]
    if as_json:
        print(json.dumps({"query": expression, "space": ws.identity.to_dict(), "results": rows}, ensure_ascii=False))
    else:
        show_ranked(expression, rows, "word")


@app.command()
@one_line_errors
def train(
    data: Annotated[list[Path], typer.Argument(metavar="DATA...", help="Labeled photos (class folders, or a CSV with path and label columns), or several sets, captioned ones (captions.csv) among them.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the model file.")] = Path("model.safetensors"),
    split: Annotated[Path | None, typer.Option("--split", help="JSON with 'seen' and 'unseen' classes: train on seen only, report zero-shot on unseen.")] = None,
    loss: Annotated[str, typer.Option("--loss", help="rank, rank-first, l2 or softmax; pair training (captions): rank or rank-hardest.")] = "rank",
    input_layers: Annotated[str, typer.Option("--input", help="Visual layers the map reads: pooled, conse or pooled+conse.")] = "pooled",
    top: Annotated[int, typer.Option("--top", min=1, help="ConSE's T for the conse input.")] = 10,
    temperature: Annotated[float, typer.Option("--temperature", min=0.01, help="Softmax temperature of the classifier for the conse input.")] = 1.0,
    epochs: Annotated[int, typer.Option("--epochs", min=0, help="0 keeps the initial map (with --input conse: ConSE).")] = 20,
    lr: Annotated[float, typer.Option("--lr", min=0.0)] = 1e-3,
    margin: Annotated[float, typer.Option("--margin", min=0.0)] = 0.1,
    anchor: Annotated[float, typer.Option("--anchor", min=0.0, help="Pull the weights toward the initial (ConSE) map.")] = 0.0,
    distill: Annotated[float, typer.Option("--distill", min=0.0, help="Pull the outputs toward the initial map's on the training photos.")] = 0.0,
    centre: Annotated[float, typer.Option("--centre", min=0.0, help="Subtract this multiple of the classifier classes' mean word vector from every output (conse input; reduces hubs).")] = 0.0,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 256,
    optimizer: Annotated[str, typer.Option("--optimizer", help="adam or sgd.")] = "adam",
    mix: Annotated[float, typer.Option("--mix", min=0.0, help="Pair training: weigh the pooled block's unit output by this against the classifier block's (0: one sum).")] = 0.0,
    conse_lr: Annotated[float | None, typer.Option("--conse-lr", min=0.0, help="Pair training: learning rate of the classifier (ConSE) block (default: --lr).")] = None,
    weight_decay: Annotated[float, typer.Option("--weight-decay", min=0.0, help="Pair training: decay of the pooled block's weights.")] = 0.0,
    hierarchy: Annotated[int, typer.Option("--hierarchy", min=0, help="Pair training: broader WordNet names in each ImageNet class text.")] = 1,
    class_weight: Annotated[float, typer.Option("--class-weight", min=0.0, help="Pair training: weight of the rank loss toward the classifier's top class text, over all ImageNet-1k classes.")] = 0.0,
    hub_weight: Annotated[float, typer.Option("--hub-weight", min=0.0, help="Pair training: ship a hub penalty of this weight: searches rank photos by cosine minus it (docs/search.md).")] = 0.0,
    hub_neighbours: Annotated[int, typer.Option("--hub-neighbours", min=1, help="Pair training: the nearest bank texts a photo's hub penalty averages over.")] = 20,
    views: Annotated[int, typer.Option("--views", min=1, max=VIEW_COUNT, help="Pair training: views of each photo, one drawn at random every step: 1 the photo, 2 and its mirror image, 3-6 and up to 4 random crops.")] = 1,
    average: Annotated[bool, typer.Option("--average", help="Keep the map's weights averaged over its epochs, not the last epoch's (the map's own training: phase 2 starts from it).")] = False,
    per_class: Annotated[int | None, typer.Option("--per-class", min=1, help="Pair training: at most this many photos of each class of a labeled set.")] = None,
    tune_from: Annotated[int, typer.Option("--tune-from", min=0, help="Pair training, phase 2: fine-tune the visual model's blocks from this one up with the map (EfficientNet-Lite; 0: off).")] = 0,
    tune_epochs: Annotated[int, typer.Option("--tune-epochs", min=1, help="Phase 2: passes over the photos.")] = 4,
    tune_lr: Annotated[float, typer.Option("--tune-lr", min=0.0, help="Phase 2: learning rate of the fine-tuned blocks.")] = 1e-4,
    tune_map_lr: Annotated[float, typer.Option("--tune-map-lr", min=0.0, help="Phase 2: learning rate of the map.")] = 1e-3,
    tune_stock_classes: Annotated[bool, typer.Option("--tune-stock-classes", help="Phase 2: the map's classifier block reads the stock blocks' classes; only its pooled features are tuned.")] = False,
    tune_views: Annotated[int, typer.Option("--tune-views", min=1, max=VIEW_COUNT, help="Phase 2: views of each photo, as --views (which is phase 1's alone).")] = 1,
    tune_average: Annotated[bool, typer.Option("--tune-average", help="Phase 2: keep the top's and the map's weights averaged over its epochs.")] = False,
    tune_share_floor: Annotated[float, typer.Option("--tune-share-floor", help="Phase 2: a photo with fewer texts (a scene photo's one name) is in an epoch at least this often (0 to 1; 0: its texts over the most).")] = 0.0,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    visual: Annotated[str, typer.Option("--visual", help="efficientnet-lite0, efficientnet-lite2 or openclip:ARCH:PRETRAINED.")] = "efficientnet-lite0",
    space: SpaceOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Train a DeViSE map from a visual model into the space.

    One labeled set: the paper's training toward class names. Several sets, or a
    captioned one: pair training, each photo against the texts of the others in
    its batch (docs/results.md has the command that built the shipped model).
    """
    from xmodal.devise.model import InputSpec
    from xmodal.text.factory import load_space
    from xmodal.training.datasets import read_class_split, read_labeled
    from xmodal.training.fit import TrainConfig, TuneConfig
    from xmodal.training.train import evaluate, train_pairs
    from xmodal.training.train import train as fit
    from xmodal.vision.visual import load_visual

    config = TrainConfig(
        loss=loss, margin=margin, epochs=epochs, batch_size=batch_size, lr=lr, anchor=anchor, distill=distill, optimizer=optimizer,
        centre=centre, seed=seed, mix=mix, conse_lr=conse_lr, weight_decay=weight_decay, class_weight=class_weight,
        hub_weight=hub_weight, hub_neighbours=hub_neighbours, views=views, average=average,
    )
    spec = InputSpec.parse(input_layers, top, temperature)
    pair_training = len(data) > 1 or any((p / "captions.csv").is_file() or p.name == "captions.csv" for p in data)
    if (hub_weight or tune_from or views > 1) and not pair_training:
        raise XmodalError("--hub-weight, --tune-from and --views are for pair training: give a captioned set or several sets")
    if tune_from and not (mix and centre and "pooled" in spec.layers and "conse" in spec.layers):  # before minutes of work
        raise XmodalError("--tune-from fine-tunes a mixed, centred pooled+conse map: add --input pooled+conse --mix 1 --centre 1")
    tune = TuneConfig(
        first=tune_from, epochs=tune_epochs, lr=tune_lr, map_lr=tune_map_lr, seed=seed, stock_classes=tune_stock_classes,
        views=tune_views, average=tune_average, share_floor=tune_share_floor,
    )
    ws = load_space(space)
    model_visual = load_visual(visual)

    def report(epoch: int, value: float) -> None:
        if not quiet:
            err.print(f"epoch {epoch + 1}/{epochs}  loss {value:.4f}", highlight=False)

    if pair_training:
        if split:
            raise XmodalError("--split is for one labeled set; pair training keeps each set's zero_shot_split unseen classes out")
        def tuned(epoch: int, model) -> None:
            if not quiet:
                err.print(f"phase 2 epoch {epoch}/{tune_epochs}", highlight=False)

        result = train_pairs(
            data, ws, model_visual, config, spec, hierarchy, per_class, quiet=quiet, on_epoch=report, tune=tune, on_tuned=tuned
        )
        path = result.model.save(out)
        pairs = result.model.training["pairs"]
        err.print(f"{path}: {pairs:,} pairs, {result.images:,} photos, {result.seconds:.0f} s", highlight=False)
        return
    data_set = read_labeled(data[0])
    classes = read_class_split(split) if split else None
    result = fit(data_set, ws, model_visual, config, spec, seen=classes[0] if classes else None, quiet=quiet, on_epoch=report)
    if result.dropped:
        err.print(f"left out {len(result.dropped)} labels with no word vector: {', '.join(result.dropped)}", markup=False)
    if any(data_set.splits):
        result.model.evaluation = evaluate(result.model, data_set, ws, model_visual, classes, quiet=quiet)
    path = result.model.save(out)
    labels = len(result.model.labels)
    title = f"{path}: {result.images} images, {labels} label{'s' * (labels != 1)}, {result.seconds:.0f} s"
    if not any(result.model.evaluation.values()):  # nothing held out: say so rather than print an empty table
        console.print(f"{title}; no val or test photos to score (give a split column, or xmodal eval on a held-out set)")
    else:
        console_summary(result.model.evaluation, title)


@app.command(name="eval")
@one_line_errors
def evaluate_command(
    model: Annotated[Path, typer.Argument(metavar="MODEL", help="A model file from xmodal train.")],
    data: Annotated[Path, typer.Argument(metavar="DATA", help="Labeled photos: class folders or a CSV (its val/test rows are used).")],
    split: Annotated[Path | None, typer.Option("--split", help="Seen/unseen class JSON: report seen, zero-shot and generalized.")] = None,
    as_json: JsonOption = False,
    space: SpaceOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Flat hit@k of a model's nearest labels on labeled photos."""
    from xmodal.devise.encoder import Encoder
    from xmodal.training.datasets import read_class_split, read_labeled

    ws = load_space(space_name(space, model))  # a missing or foreign model file is said first
    if data.name == "captions.csv" or (data.is_dir() and (data / "captions.csv").is_file()):
        raise XmodalError(f"{data} is a captioned set: eval scores labeled photos (caption search is scored by benchmarks/language.py)")
    labeled = read_labeled(data)
    scored = set(labeled.select(labeled.in_split("val", "test")).labels)  # the rows eval scores
    if len(scored) < 2:
        raise XmodalError(f"{data} has {len(scored)} class(es) to score ({', '.join(sorted(scored)) or 'none'}): with one label every photo's nearest is right")
    from xmodal.training.train import evaluate

    encoder = Encoder.load(ws, model)  # the model's own network, a phase-2 one included, as index and query load it
    results = evaluate(encoder.model, labeled, ws, encoder.visual, read_class_split(split) if split else None, quiet=quiet)
    if as_json:
        print(json.dumps(results))
    else:
        console_summary(results, f"{model} on {data}")


def console_summary(results: dict[str, dict[str, float]], title: str) -> None:
    """One row per evaluation setting, one column per metric."""
    metrics = list(dict.fromkeys(m for row in results.values() for m in row))
    table = titled_table(title)
    table.add_column("setting")
    for metric in metrics:
        table.add_column(metric, justify="right")
    for name, row in results.items():
        table.add_row(name, *(f"{row[m]:.3f}" if m in row else "" for m in metrics))
    console.print(table)


@app.callback()
def _root() -> None:
    """Search photos by meaning in a word-vector space."""


# Commands that end with os._exit once their output is flushed (main). The first word
# not starting with "-" names the command, since the app itself takes no options.
QUICK_EXIT = {"query", "words", "info", "duplicates", "index"}
_exits_at_once = False  # set by main() for a QUICK_EXIT command: see held()


@contextmanager
def held(engine: Engine) -> Iterator[Engine]:
    """``engine`` for one command, closed when the command is done; in a process that
    ends with ``os._exit`` right after (main), closed with ``exiting=True``: what was
    written is flushed, and the embedded index stays open for the exit to release,
    lock and all. Closing a qdrant-edge shard drops from the page cache the pages this
    process read, and the next query would read them from disk again: at a million
    photos the graph walk's vectors and the id tracker (docs/performance.md)."""
    try:
        yield engine
    finally:
        engine.close(exiting=_exits_at_once)


def main() -> None:
    """Console-script entry point.

    A search command, and ``index``, ends with ``os._exit`` once its output is
    flushed: tearing down onnxruntime's and Qdrant's native threads and numpy
    takes about 40 ms, a tenth of a cold query, such a command has flushed what
    it wrote (:func:`held`) and has no exit handlers to run, and its index, left
    open, is released by the exit. Other commands, and any error that is not a
    clean exit, end the usual way.
    """
    global _exits_at_once
    command = next((arg for arg in sys.argv[1:] if not arg.startswith("-")), None)
    _exits_at_once = command in QUICK_EXIT
    try:
        code = run([_not_an_option(arg) for arg in sys.argv[1:]])
    except SystemExit as done:
        if command not in QUICK_EXIT or not isinstance(done.code, (int, type(None))):
            raise
        code = done.code or 0
    if command not in QUICK_EXIT:
        sys.exit(code)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except OSError:  # a closed pipe (| head): what was wanted has been read
            pass
    os._exit(code)


def run(args: list[str]) -> int:
    """Run the app on ``args`` and give its exit status. A mistake in the command line
    itself (an unknown option, a missing argument) is one line, as every other
    mistake is (:func:`one_line_errors`), not typer's six-line box."""
    try:  # typer from 0.26 carries its own click
        from typer._click.exceptions import UsageError
    except ImportError:
        from click.exceptions import UsageError

    try:
        code = app(args=args, prog_name="xmodal", standalone_mode=False)
    except UsageError as error:
        if type(error).__name__ != "NoArgsIsHelpError":  # that one's help is already shown
            from rich.text import Text

            command = next((a for a in args if not a.startswith("-")), "")  # the parser's errors carry no context
            path = error.ctx.command_path if error.ctx is not None else f"xmodal {command}".strip()
            where = f" (see {path} --help)"
            if _minus_word(error, args):  # "-rocket" read as options -r -o ...
                where += "; a query that starts with a minus needs a space after it: '- rocket'"
            err.print(Text.assemble(("error:", "bold red"), " ", error.format_message(), where), highlight=False)
        return error.exit_code
    except typer.Abort:
        print("Aborted!", file=sys.stderr)
        return 1
    return code if isinstance(code, int) else 0


def _minus_word(error: Exception, args: list[str]) -> bool:
    """Whether a usage error is an unknown short option that is really a word after a
    minus ("-rocket" read as -r -o ...), not a real option misused ("-k" with no number)."""
    option = getattr(error, "option_name", None)
    if type(error).__name__ != "NoSuchOption" or not option or option.startswith("--"):
        return False
    return any(a.startswith(option) and len(a) > 2 and a[2].isalpha() for a in args)


def _not_an_option(arg: str) -> str:
    """An expression that starts with a minus ("- man + woman", "-man + woman") with a
    space in front, so that the command line does not read it as an unknown option;
    expressions ignore leading spaces. It is one when a space follows the minus or it
    holds another operator after a space; long options ("--in=/photos/Summer 2023")
    and a short one with its value attached ('-o"my dir/m.safetensors"') stay options."""
    if not arg.startswith("-") or arg.startswith("--"):
        return arg
    is_expression = arg[1:2].isspace() or any(op in arg for op in (" +", " -", " *"))
    return f" {arg}" if is_expression else arg
