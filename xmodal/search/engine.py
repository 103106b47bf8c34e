"""The search engine: an index of photos in the word space, and one way to ask it.

    engine = xmodal.open()                      # the default index folder
    engine.index("~/Pictures")                  # incremental
    engine.query("dog on a beach", k=10)        # an Answer: typed results, notes, to_dict()
    engine.query("photo.jpg")                   # one photo: photos that look alike
    engine.query("photo.jpg", words=True)       # photo (or expression) -> vocabulary words

:meth:`Engine.query` holds every rule of what a query means, so the CLI, the
web page and scripts all answer alike; ``search``, ``similar`` and ``words``
are its three fixed routes. Meanings live in the word space (the DeViSE
``semantic`` vectors); looks are the visual model's own features (``visual``),
which see colour, layout and texture rather than meaning. The index records
the word space and encoder that built it and refuses any other.
"""

from __future__ import annotations

import functools
import numbers
import operator
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from indexer.walk import canonical, spellings
from xmodal.core.errors import IncompatibleSpace, XmodalError
from xmodal.devise.hubness import POOL, HubPenalty
from xmodal.devise.model import DeviseModel, space_name
from xmodal.search.analogy import WithSentences, added_up, described, with_template
from xmodal.search.duplicates import Duplicates, find_duplicates
from xmodal.search.feedback import (
    BANK_TEXT,
    TEMPLATE,
    feedback_for,
    is_bank_text,
    is_short,
    with_nearest_texts,
)
from xmodal.store import ImageInfo, ImageRecord, Store, open_store
from xmodal.store.dates import DateBound, Span, date_span
from xmodal.store.info import IndexInfo, describe, record_run
from xmodal.text.expression import Expression, QueryVector, read_query
from xmodal.text.factory import load_space
from xmodal.text.identity import Neighbour, SpaceIdentity

if TYPE_CHECKING:
    from indexer.run import Summary
    from xmodal.devise.encoder import Encoder
    from xmodal.text.space import Space

INDEX_FORMAT = 1
USING = ("semantic", "visual")  # the vectors a photo query compares: meanings or looks

Folders = str | os.PathLike | Iterable[str | os.PathLike] | None


@dataclass(frozen=True)
class Result:
    """A photo found by a query: its path, score, cosine similarity and stored facts.

    ``score`` is what the list is ordered by and what ``threshold`` compares, so
    scores never rise down a list: for a search by meaning with the model's hub
    penalty (xmodal.devise.hubness) it is the cosine less the photo's penalty, otherwise
    the cosine itself. ``cosine`` is kept beside it for those who want the raw match.
    """

    path: str
    score: float
    info: ImageInfo
    cosine: float

    def to_dict(self) -> dict:
        return {
            "path": self.path,
            "score": round(self.score, 6),
            "cosine": round(self.cosine, 6),
            "width": self.info.width,
            "height": self.info.height,
            "taken": self.info.taken,
        }


@dataclass(frozen=True)
class Answer:
    """What :meth:`Engine.query` found, and how it read the query.

    ``kind`` is ``"photos"`` (``results`` are :class:`Result`) or ``"words"``
    (``results`` are :class:`~xmodal.text.identity.Neighbour`); ``using`` is the
    vectors compared (``"semantic"`` or ``"visual"``); ``notes`` name the words
    the space does not know, left out of the query (or in arithmetic corrected).
    """

    query: str
    kind: Literal["photos", "words"]
    using: Literal["semantic", "visual"]
    results: tuple[Result, ...] | tuple[Neighbour, ...]
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        """The answer as JSON-ready data (what ``xmodal query --json`` prints)."""
        return {
            "query": self.query,
            "kind": self.kind,
            "using": self.using,
            "notes": list(self.notes),
            "results": [result.to_dict() for result in self.results],
        }


def words_template(expression: Expression) -> str | None:
    """How the vocabulary is read for an expression's nearest words: photos alone (one,
    or added and taken away) ask among words read as "a photo of WORD" too (chosen on
    dev for one photo, benchmarks/photo_words.py); words, and analogies (read as texts),
    ask among the words as typed (``king - man + woman`` is a question among words)."""
    return TEMPLATE if expression.images and not expression.mixed else None


def query_vector(
    expression: Expression, space: Space, encode_image: Callable[[Path], np.ndarray] | None, bank: np.ndarray | None
) -> QueryVector:
    """The vector every search reads ``expression`` as (``Engine.query`` and ``xmodal words``
    alike, so an analogy gets the same words whichever asks). In one that mixes photos and
    words each photo is read as the texts that describe it (:mod:`xmodal.search.analogy`),
    among ``bank`` (the model's text bank), and the words it adds count ``ADDED`` times;
    without a bank (the GloVe ConSE model) the photo's own vector is summed with the words
    as typed, and so is every other expression."""
    if expression.mixed and bank is not None:

        def described_image(path: Path) -> np.ndarray:
            return described(encode_image(path), bank)

        expression = added_up(expression)
        if space.reads_sentences:  # its words read with their "a photo of" sentence
            return expression.evaluate(WithSentences(space, TEMPLATE), described_image)
        return space.query(expression, described_image)
    return space.query(expression, encode_image)


def nothing_found(
    expression: str, threshold: float | None, within: Iterable[str | os.PathLike] | None, after: str | None, before: str | None
) -> str:
    """Why a query found no photo, in one line the CLI and the page both show:
    ``no photo under X taken 2019 or later scores 0.9 or more for "dog"``."""
    where = f" under {' or '.join(str(folder) for folder in within)}" if within else ""
    when = ""
    if after is not None and before is not None:
        when = f" taken from {after} to {before}"
    elif after is not None or before is not None:
        when = f" taken {after} or later" if after is not None else f" taken {before} or earlier"
    score = f" scores {threshold:g} or more" if threshold is not None else ""
    return f'no photo{where}{when}{score or " found"} for "{expression}"'


@functools.lru_cache(maxsize=4)
def _named_model(path: str, mtime_ns: int, space: SpaceIdentity) -> DeviseModel:
    """A model file named for an index, read once per version of the file: ``xmodal serve
    --model`` opens an engine per request, and the check needs only its map's checksum."""
    return DeviseModel.load(path, space=space)


class Engine:
    """One index, its word space, and (loaded on first need) its encoder."""

    def __init__(
        self, store: Store, space: Space, model: str | os.PathLike | None = None, encoder: Encoder | None = None,
        precision: str | None = None,
    ) -> None:
        """``precision``: the visual network's, "fp32" or "int8" (:mod:`xmodal.vision.quantized`); by
        default the one the index records, and for a new index int8 where an int8 copy ships."""
        self.store = store
        self.space = space
        self._model_path = model
        self._precision = precision
        self._encoder = None
        recorded = SpaceIdentity.from_dict(store.meta["space"]) if store.meta.get("space") else None
        if recorded is not None and recorded.checksum != space.identity.checksum:
            how = (  # a space read from a vector file records the file's name only: say where to look
                f"open it with that word-vector file (--space PATH/{recorded.name})" if Path(recorded.name).suffix
                else f"open it with --space {recorded.name} (space={recorded.name!r} in Python)"
            )
            raise IncompatibleSpace(
                f"index {store.location} was built in word space {recorded.name!r} ({recorded.checksum}), "
                f"not {space.identity.name!r} ({space.identity.checksum}): {how}, "
                f"or delete it and index again to use {space.identity.name!r}"
            )
        if encoder is not None:
            self._use(encoder)
        elif model is not None and (store.meta.get("encoder") or {}).get("map"):  # named: must be the index's
            stamp = os.stat(model).st_mtime_ns if os.path.isfile(model) else 0  # (a missing file: load says so)
            named = _named_model(os.path.abspath(model), stamp, space.identity)
            built_with = store.meta["encoder"]
            # (a phase-2 model over an index of its stock tower still answers text, as the default model does)
            if named.checksum() != built_with["map"] and built_with.get("visual") != named.visual.get("base"):
                raise self._refusal(named)

    # -- writing ----------------------------------------------------------------

    def index(self, folder: str | os.PathLike, *, quiet: bool = True) -> Summary:
        """Add, update, move and remove photos so the index matches ``folder``."""
        from indexer.run import index_folder

        if not Path(folder).expanduser().is_dir():  # before any setup work on a new index
            raise XmodalError(f"not a folder: {folder}")
        encoder = self.encoder  # refuses an index that another encoder built
        if not self.store.meta:
            self.store.set_meta(
                {"format": INDEX_FORMAT, "space": self.space.identity.to_dict(), "encoder": encoder.identity()}
            )
            self.store.flush()
        try:
            return index_folder(folder, self.store, encoder, quiet=quiet)
        finally:  # an interrupted run wrote too: its finished batches are in the index
            record_run(self.store, canonical(Path(folder).expanduser()))

    def _require_photos_under(self, within: Folders) -> None:
        """Refuse a folder to search within that no indexed photo is under, saying why (no such
        folder, a file, a folder not indexed): a typo must not answer "nothing found"."""
        for folder in _listed(within):
            if self.store.holds_under(spellings(folder)):
                continue
            path = Path(folder).expanduser()
            if path.is_file():
                raise XmodalError(f"{folder} is a file; photos are searched within folders")
            if not path.exists():
                raise XmodalError(f"no folder {folder}, and no indexed photo is under it")
            raise XmodalError(f"no indexed photo is under {folder}")

    def remove(self, path: str | os.PathLike) -> int:
        """Forget the photos at or under ``path`` (:func:`indexer.run.remove_photos`): a folder
        deleted or moved away, or one no longer to be searched. Returns how many."""
        from indexer.run import remove_photos

        return remove_photos(self.store, path)

    # -- reading ----------------------------------------------------------------

    def query(
        self,
        query: str | os.PathLike | Expression,
        k: int = 10,
        *,
        using: str | None = None,
        words: bool = False,
        threshold: float | None = None,
        within: Folders = None,
        after: DateBound | None = None,
        before: DateBound | None = None,
    ) -> Answer:
        """Answer a query as any front end would: every routing rule lives here.

        A query that is one photo finds photos that look like it (``using="visual"``,
        the visual model's own features); anything else, or ``using="semantic"``,
        finds photos that mean the same (the word space). ``words=True`` gives the
        vocabulary words nearest the query instead of photos. At most ``k`` results;
        ``threshold`` keeps scores (:class:`Result`) of at least that, ``within`` (a folder or
        several) keeps photos under those folders, ``after`` and ``before`` keep
        photos taken in or after, and in or before, a year, month or day
        (``"2019"``, ``"2019-03"``, ``"2019-03-05"``, local time; :mod:`xmodal.store.dates`).
        Words the space does not know are left out, and each gets a note in the answer.
        """
        if using not in (None, *USING):
            raise XmodalError(f"unknown using {using!r}; choose {' or '.join(USING)}")
        try:  # as the CLI's -k and --threshold and the page's options refuse them
            k = operator.index(k) if not isinstance(k, bool) else 0
        except TypeError:
            k = 0
        if k < 1:
            raise XmodalError("k is how many results: a whole number of 1 or more")
        if threshold is not None and not (isinstance(threshold, numbers.Real) and -1 <= threshold <= 1):
            raise XmodalError(f"threshold is a score from -1 to 1, not {threshold!r}")
        taken = date_span(after, before)
        if words and (threshold is not None or within or taken):
            raise XmodalError("threshold, within, after and before choose photos; they do not go with words")
        if within is not None:
            self._require_photos_under(within)
        expression = read_query(query, self.holds)
        photo = expression.photo
        if using == "visual" and photo is None:
            raise XmodalError(f"using visual needs one photo as the query, not {str(expression)!r}")
        text = os.fspath(query) if isinstance(query, (str, os.PathLike)) else str(query)
        if words:
            from xmodal.text.vocabulary import nearest_words

            evaluated = self._evaluate(expression, self.store.count())
            found = nearest_words(self.space, evaluated.vector, k, words_template(expression), evaluated.inputs)
            return Answer(text, "words", "semantic", tuple(found), evaluated.notes)
        if photo is not None and using != "semantic":
            return Answer(text, "photos", "visual", self._look_alikes(photo, k, threshold, _folders(within), taken))
        photos = self.store.count()  # once: the empty check and whether to ask twice
        evaluated = self._evaluate(expression, photos)
        exclude = [record.info.path for path in expression.images if (record := self.stored(path))]
        hub = self._hub
        if hub is None:
            hits = self.store.search(
                evaluated.vector, "semantic", k, exclude, threshold=threshold, within=_folders(within), taken=taken
            )
            return Answer(text, "photos", "semantic", self._results(hits), evaluated.notes)
        # The threshold compares the score after re-ranking by the hub penalty: a penalty can be
        # below zero (a photo far from every bank text), so a cosine cut-off at the threshold
        # could drop a photo that scores above it. A threshold only ever shortens the list the
        # same query gives without one. A query of one or two words is read as "a photo of ..."
        # too, then moved toward its nearest bank texts, unless it is one of them (then neither); it (in an
        # index of at least MIN_PHOTOS) and an analogy are asked twice (xmodal.search.feedback): their
        # results and scores are the second search's.
        folders, feedback = _folders(within), feedback_for(expression, photos)
        vector = evaluated.vector
        if is_short(expression):
            if self.space.reads_sentences and not is_bank_text(vector, hub.bank):
                known, _ = expression.drop_unknown(self.space)  # the words the vector was made of
                vector = with_template(vector, self.space.lookup(TEMPLATE.format(known.terms[0].text))[0])
            vector = with_nearest_texts(vector, hub.bank, trained=BANK_TEXT)
        if feedback is not None:  # asked again, moved toward the whole index's first photos,
            # so that within and the dates only filter, as they do for any other query
            first = self._penalised(hub, vector, feedback.k, exclude=exclude, within=None, taken=None)  # whatever k is
            vector = feedback.moved(vector, [found for _, found in first])
        ranked = self._penalised(hub, vector, k, exclude=exclude, within=folders, taken=taken)
        results = tuple(result for result, _ in ranked if threshold is None or result.score >= threshold)
        return Answer(text, "photos", "semantic", results, evaluated.notes)

    def _penalised(
        self, hub: HubPenalty, vector: np.ndarray, k: int, *, exclude: list[str], within: list[str] | None, taken: Span | None
    ) -> list[tuple[Result, np.ndarray]]:
        """The nearest k + POOL photos by cosine, re-ranked by cosine less each photo's hub
        penalty: the first ``k``, best first, each with its semantic vector."""
        hits = self.store.search(vector, "semantic", k + POOL, exclude, within=within, taken=taken, vectors=True)
        if not hits:
            return []
        scores = hub.scores(np.array([hit.score for hit in hits]), np.stack([hit.vector for hit in hits]))
        return [
            (Result(hits[i].path, float(scores[i]), hits[i].info, hits[i].score), hits[i].vector)
            for i in np.argsort(-scores, kind="stable")[:k]
        ]

    def search(
        self, query: str | os.PathLike | Expression, k: int = 10, threshold: float | None = None, within: Folders = None
    ) -> list[Result]:
        """Photos nearest an expression of words, phrases and photos, in the word space
        (:meth:`query` with ``using="semantic"``)."""
        return list(self.query(query, k, using="semantic", threshold=threshold, within=within).results)

    def words(self, query: str | os.PathLike | Expression, k: int = 10) -> list[Neighbour]:
        """The vocabulary words nearest a photo or an expression (:meth:`query` with ``words=True``)."""
        return list(self.query(query, k, words=True).results)

    def similar(
        self, photo: str | os.PathLike, k: int = 10, threshold: float | None = None, within: Folders = None
    ) -> list[Result]:
        """Photos that look like ``photo``: the visual model's own features, not meanings
        (:meth:`query` with ``using="visual"``)."""
        return list(self.query(photo, k, using="visual", threshold=threshold, within=within).results)

    def duplicates(self, threshold: float | None = None, within: Folders = None) -> Duplicates:
        """Groups of exact copies (the same content) and near copies (a visual cosine of at
        least ``threshold``, :data:`xmodal.search.duplicates.THRESHOLD` unless given) among the
        photos under ``within`` (default: all), largest group first. It only lists: nothing
        is deleted or moved. One nearest-neighbour search per photo (:mod:`xmodal.search.duplicates`)."""
        if within is not None:
            self._require_photos_under(within)
        return find_duplicates(self.store, threshold, _folders(within))

    def count(self) -> int:
        return self.store.count()

    def stored(self, photo: str | os.PathLike) -> ImageRecord | None:
        """The indexed photo at ``photo``, however its path is spelt: the index keeps
        links below an indexed folder as the walk met them (:func:`indexer.walk.spellings`)."""
        for path in spellings(photo):
            record = self.store.get(path)
            if record is not None:
                return record
        return None

    def holds(self, photo: str) -> bool:
        """Whether ``photo`` is an indexed photo's path (its file there or not): a query
        may name an indexed photo whose file is gone, and is answered from its stored vectors."""
        try:
            return self.stored(photo) is not None
        except (ValueError, OSError):  # a NUL byte, a name too long: no photo's
            return False

    def info(self) -> IndexInfo:
        """What the index holds: photos, folders, space, model, storage, size, last write."""
        return describe(self.store)

    def close(self, exiting: bool = False) -> None:
        """Release the index; ``exiting``: as :meth:`xmodal.store.Store.close`."""
        self.store.close(exiting)

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- helpers ----------------------------------------------------------------

    @property
    def encoder(self) -> Encoder:
        """The encoder that filled this index (loaded on first use: it imports torch)."""
        if self._encoder is None:
            from xmodal.devise.encoder import Encoder

            self._use(Encoder.load(self.space, self._model_path))
        return self._encoder

    def _use(self, encoder) -> None:
        """Take ``encoder`` for this index at the precision its photos were embedded at (the
        one it records: fp32 when it records none), unless the index was built with another."""
        from xmodal.vision.quantized import new_index_precision

        built_with = self.store.meta.get("encoder")
        if not built_with:  # a new index: int8 where a copy ships, unless asked otherwise
            self._encoder = encoder.at_precision(self._precision or new_index_precision(encoder.visual))
            return
        held = built_with.get("precision", "fp32")
        if {**built_with, "precision": held} == {**encoder.identity(), "precision": held}:  # all but the precision
            if self._precision and self._precision != held:
                raise IncompatibleSpace(
                    f"index {self.store.location} holds photos embedded by the {held} network, not {self._precision}: "
                    f"keep its precision (leave --precision out), or delete the index and index again"
                )
            self._encoder = encoder.at_precision(held)
            return
        raise self._refusal(encoder.model)

    def _refusal(self, model: DeviseModel) -> IncompatibleSpace:
        """Why this index cannot be used with ``model``: it was filled by another one."""
        built_with = self.store.meta.get("encoder") or {}
        if built_with.get("visual") == model.visual.get("base"):
            return IncompatibleSpace(
                f"index {self.store.location} was built with the stock {built_with['visual'].get('id')} tower, "
                "and this model fine-tunes its top blocks (DeViSE phase 2), so photos embed differently: "
                "re-index (delete the index folder and run xmodal index again; text searches keep working until then), "
                "or open it with the model it was built with (--model; the stock-tower model is rebuilt by "
                "docs/results.md's xmodal train command without --tune-from)"
            )
        old = "" if self.store.meta.get("space") else (
            " (indexes made before 2026-11-30 were built in glove-6b-50d: open them with --space glove-6b-50d)"
        )
        return IncompatibleSpace(
            f"index {self.store.location} was built with another encoder "
            f"(map {built_with.get('map')}), not {model.checksum()}; "
            f"use the model it was built with, or delete the index and index again{old}"
        )

    @cached_property
    def _hub(self) -> HubPenalty | None:
        """The hub penalty shipped with the model that filled this index (xmodal.devise.hubness),
        read from its file alone; none for a model without one, or another model's."""
        from xmodal.devise.encoder import SHIPPED

        built_with = (self.store.meta.get("encoder") or {}).get("map")
        path = self._model_path or SHIPPED.get(self.space.name)
        if not built_with or path is None:
            return None
        hub = DeviseModel.hub_of(path)
        return hub if hub is not None and hub.map == built_with else None

    def _evaluate(self, expression: Expression, photos: int) -> QueryVector:
        """The expression's vector (:func:`query_vector`, with the bank of the model that
        filled the index), in an index of ``photos`` photos (none: an error)."""
        if not photos:
            raise XmodalError(f"index {self.store.location} is empty: run xmodal index FOLDER first")
        return query_vector(expression, self.space, self._encode_image, None if self._hub is None else self._hub.bank)

    def _look_alikes(
        self, photo: Path, k: int, threshold: float | None, within: list[str] | None, taken: Span | None
    ) -> tuple[Result, ...]:
        """Photos nearest ``photo`` in the visual model's features: stored ones when indexed."""
        stored = self.stored(photo)
        if stored is not None and stored.visual is not None:
            vector = stored.visual
        else:
            vector = self.encoder.embed_files([photo])[1][0]
        exclude = [stored.info.path] if stored is not None else []
        return self._results(self.store.search(vector, "visual", k, exclude, threshold=threshold, within=within, taken=taken))

    def _encode_image(self, path: Path) -> np.ndarray:
        stored = self.stored(path)
        if stored is not None:
            return stored.semantic  # indexed already: no model needed
        return self.encoder.encode_image(path)

    def _results(self, hits) -> tuple[Result, ...]:
        """Results ranked by cosine alone: their score is their cosine."""
        return tuple(Result(hit.path, hit.score, hit.info, hit.score) for hit in hits)


def open(  # noqa: A001 - xmodal.open() reads naturally, like io.open
    index: str | os.PathLike | None = None,
    url: str | None = None,
    *,
    space: str | os.PathLike | None = None,
    model: str | os.PathLike | None = None,
    create: bool = False,
    precision: str | None = None,
) -> Engine:
    """Open the index a user means (``index`` folder, ``url`` of a Qdrant server, or the
    defaults in :func:`xmodal.store.open_store`); ``create`` makes it if missing.
    ``precision`` ("fp32", "int8") is the visual network's: see :class:`Engine`."""
    from xmodal.vision.quantized import PRECISIONS

    if precision is not None and precision not in PRECISIONS:  # before an index is made for nothing
        raise XmodalError(f"unknown precision {precision!r}: use one of {', '.join(PRECISIONS)}")
    words = load_space(space_name(space, model))
    encoder, dims = None, {}
    if create:  # the encoder sizes a new index, and then serves it: load it once
        from xmodal.devise.encoder import Encoder

        encoder = Encoder.load(words, model)
        dims = {"dim": words.dim, "visual_dim": encoder.visual.feature_dim, "visual_nonnegative": encoder.visual.nonnegative_features}
    store = open_store(index, url, **dims)
    try:
        return Engine(store, words, model, encoder, precision)
    except BaseException:
        store.close()  # release the lock: a refused index stays usable
        raise


def _folders(within: Folders) -> list[str] | None:
    """Folders spelt every way the index may spell them (:func:`indexer.walk.spellings`):
    a photo is under the folder when one of its folders is any of these."""
    if within is None:
        return None
    return list(dict.fromkeys(spelling for folder in _listed(within) for spelling in spellings(folder)))


def _listed(within: Folders) -> list:
    """One folder, or several, as a list of them."""
    return [within] if isinstance(within, (str, os.PathLike)) else list(within)
