"""The search engine: an index of photos in the word space, and the three ways to ask it.

    engine = xmodal.open()                      # the default index folder
    engine.index("~/Pictures")                  # incremental
    engine.search("dog", k=10)                  # words, phrases, arithmetic, photos -> photos
    engine.words("photo.jpg", k=10)             # photo (or expression) -> vocabulary words
    engine.similar("photo.jpg", k=10)           # photo -> photos that look alike

``search`` and ``words`` work in the word space (the DeViSE ``semantic``
vectors); ``similar`` compares the visual model's own features (``visual``),
which see colour, layout and texture rather than meaning. The index records
the word space and encoder that built it and refuses any other.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from indexer.walk import canonical
from xmodal.errors import IncompatibleSpace, XmodalError
from xmodal.expression import Expression, QueryVector, existing_file, image_query, parse
from xmodal.index_info import IndexInfo, describe, record_run
from xmodal.store import ImageInfo, Store, open_store
from xmodal.identity import Neighbour, SpaceIdentity
from xmodal.spaces import load_space

INDEX_FORMAT = 1

Folders = str | os.PathLike | Iterable[str | os.PathLike] | None


@dataclass(frozen=True)
class Result:
    """A photo found by a query: its path, cosine similarity and stored facts."""

    path: str
    score: float
    info: ImageInfo


class Engine:
    """One index, its word space, and (loaded on first need) its encoder."""

    def __init__(
        self, store: Store, space, model: str | os.PathLike | None = None, encoder=None
    ) -> None:
        self.store = store
        self.space = space
        self._model_path = model
        self._encoder = None
        built_with = store.meta.get("space")
        if built_with:
            SpaceIdentity.from_dict(built_with).require_same(
                space.identity, f"index {store.location} (re-index it to use another word space)"
            )
        if encoder is not None:
            self._use(encoder)

    # -- writing ----------------------------------------------------------------

    def index(self, folder: str | os.PathLike, *, quiet: bool = True):
        """Add, update, move and remove photos so the index matches ``folder``."""
        from indexer.run import index_folder
        from xmodal.vocabulary import VOCABULARY, default_vocabulary

        if not Path(folder).expanduser().is_dir():  # before any setup work on a new index
            raise XmodalError(f"not a folder: {folder}")
        encoder = self.encoder  # refuses an index that another encoder built
        if not self.store.meta:
            words, vectors = default_vocabulary(self.space)
            self.store.upsert_words(words, vectors)
            self.store.set_meta(
                {
                    "format": INDEX_FORMAT,
                    "space": self.space.identity.to_dict(),
                    "encoder": encoder.identity(),
                    "vocabulary": {"name": VOCABULARY, "size": len(words)},
                }
            )
            self.store.flush()
        try:
            return index_folder(folder, self.store, encoder, quiet=quiet)
        finally:  # an interrupted run wrote too: its finished batches are in the index
            record_run(self.store, canonical(Path(folder).expanduser()))

    # -- reading ----------------------------------------------------------------

    def search(
        self, query: str | Expression, k: int = 10, threshold: float | None = None, within: Folders = None
    ) -> list[Result]:
        """Photos nearest an expression of words, phrases and photos, in the word space.

        At most ``k``; with ``threshold``, only cosines of at least that; with
        ``within`` (a folder or several), only photos under one of those folders.
        """
        expression = parse(query) if isinstance(query, str) else query
        exclude = [canonical(path) for path in expression.images]
        vector = self._query(expression).vector
        hits = self.store.search(vector, "semantic", k, exclude, threshold=threshold, within=_folders(within))
        return self._results(hits)

    def words(self, query: str | os.PathLike | Expression, k: int = 10) -> list[Neighbour]:
        """The index's vocabulary words nearest a photo or an expression."""
        evaluated = self._query(_as_expression(query))
        hits = self.store.search_words(evaluated.vector, k + len(evaluated.inputs))
        return [hit for hit in hits if hit.word not in evaluated.inputs][:k]

    def similar(
        self, photo: str | os.PathLike, k: int = 10, threshold: float | None = None, within: Folders = None
    ) -> list[Result]:
        """Photos that look like ``photo``: the visual model's own features, not meanings.

        ``threshold`` and ``within`` limit the results as in :meth:`search`.
        """
        path = existing_file(str(photo))
        if path is None:
            raise XmodalError(f"image file not found: {photo}")
        stored = self.store.get(canonical(path))
        if stored is not None and stored.visual is not None:
            vector = stored.visual
        else:
            vector = self.encoder.embed_files([path])[1][0]
        hits = self.store.search(vector, "visual", k, [canonical(path)], threshold=threshold, within=_folders(within))
        return self._results(hits)

    def count(self) -> int:
        return self.store.count()

    def info(self) -> IndexInfo:
        """What the index holds: photos, folders, space, model, vocabulary, size, last write."""
        return describe(self.store)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- helpers ----------------------------------------------------------------

    @property
    def encoder(self):
        """The encoder that filled this index (loaded on first use: it imports torch)."""
        if self._encoder is None:
            from xmodal.encoder import Encoder

            self._use(Encoder.load(self.space, self._model_path))
        return self._encoder

    def _use(self, encoder) -> None:
        """Take ``encoder`` for this index, unless the index was built with another."""
        built_with = self.store.meta.get("encoder")
        if built_with and built_with != encoder.identity():
            raise IncompatibleSpace(
                f"index {self.store.location} was built with another encoder "
                f"(map {built_with.get('map')}), not {encoder.identity()['map']}; "
                "use the model it was built with, or delete the index and index again "
                "(indexes made before 2026-11-30 were built in glove-6b-50d: open them with --space glove-6b-50d)"
            )
        self._encoder = encoder

    def _query(self, expression: Expression) -> QueryVector:
        if not self.store.count():
            raise XmodalError(f"index {self.store.location} is empty: run xmodal index FOLDER first")
        return self.space.query(expression, self._encode_image)

    def _encode_image(self, path: Path) -> np.ndarray:
        stored = self.store.get(canonical(path))
        if stored is not None:
            return stored.semantic  # indexed already: no model needed
        return self.encoder.encode_image(path)

    def _results(self, hits) -> list[Result]:
        return [Result(hit.path, hit.score, hit.info) for hit in hits]


def open(  # noqa: A001 - xmodal.open() reads naturally, like io.open
    index: str | os.PathLike | None = None,
    url: str | None = None,
    *,
    space: str | os.PathLike | None = None,
    model: str | os.PathLike | None = None,
    create: bool = False,
) -> Engine:
    """Open the index a user means (``index`` folder, ``url`` of a Qdrant server, or the
    defaults in :func:`xmodal.store.open_store`); ``create`` makes it if missing."""
    words = load_space(space, model)
    encoder, dims = None, {}
    if create:  # the encoder sizes a new index, and then serves it: load it once
        from xmodal.encoder import Encoder

        encoder = Encoder.load(words, model)
        dims = {"dim": words.dim, "visual_dim": encoder.visual.feature_dim}
    store = open_store(index, url, **dims)
    try:
        return Engine(store, words, model, encoder)
    except BaseException:
        store.close()  # release the lock: a refused index stays usable
        raise


def _folders(within: Folders) -> list[str] | None:
    """Folders spelt as the index spells paths (:func:`indexer.walk.canonical`)."""
    if within is None:
        return None
    if isinstance(within, (str, os.PathLike)):
        within = [within]
    return [canonical(folder) for folder in within]


def _as_expression(query: str | os.PathLike | Expression) -> Expression:
    if isinstance(query, Expression):
        return query
    photo = existing_file(str(query))  # a photo path, whatever its name looks like
    return image_query(photo) if photo is not None else parse(str(query))
