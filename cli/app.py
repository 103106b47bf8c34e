"""The ``xmodal`` command: a thin skin over the Python API.

User errors (``XmodalError``) print as one line on stderr with exit code 1;
typer itself reports bad options with exit code 2.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from xmodal import WordSpace, XmodalError

app = typer.Typer(
    help="Search photos by meaning in a word-vector space.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
out = Console()
err = Console(stderr=True, soft_wrap=True)

F = TypeVar("F", bound=Callable)


def one_line_errors(command: F) -> F:
    """Show a user's mistake as one line and exit 1, never as a traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except XmodalError as error:
            err.print(f"[bold red]error:[/bold red] {error}", highlight=False)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


SpaceOption = Annotated[
    str | None,
    typer.Option(
        "--space",
        help="Word vectors: a word2vec/GloVe/fastText/.kv file or a gensim-data name "
        "[default: embedded GloVe 6B 50-d].",
    ),
]


@app.command()
@one_line_errors
def words(
    expression: Annotated[str, typer.Argument(help='A query expression, e.g. "king - man + woman".')],
    top: Annotated[int, typer.Option("--top", "-k", min=1, help="How many words to show.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    space: SpaceOption = None,
) -> None:
    """Nearest words to an expression of words, phrases and weights."""
    ws = WordSpace.load(space)
    hits = ws.nearest(expression, k=top)
    if as_json:
        payload = {
            "query": expression,
            "space": ws.identity.to_dict(),
            "results": [{"word": h.word, "score": round(h.score, 6)} for h in hits],
        }
        print(json.dumps(payload, ensure_ascii=False))
        return
    table = Table(title=expression, caption=ws.name)
    table.add_column("#", justify="right", style="dim")
    table.add_column("word")
    table.add_column("score", justify="right")
    for rank, hit in enumerate(hits, 1):
        table.add_row(str(rank), hit.word, f"{hit.score:.3f}")
    out.print(table)


@app.callback()
def _root() -> None:
    """Search photos by meaning in a word-vector space."""


def main() -> None:
    """Console-script entry point."""
    app()
