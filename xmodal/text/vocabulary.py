"""The words a photo (or an expression) can be answered with.

A photo's nearest words in all of GloVe's 400,000 are mostly noise (rare
surnames, typos, foreign tokens), so answers come from a chosen vocabulary: the
ImageNet-21k synset names (what the visual model and DeViSE know how to see:
"golden retriever", "cassette player", "church") and the most frequent
everyday words of the word space (beach, snow, sunset, kitchen), which make
photo-to-words useful beyond object names.

A photo's nearest words read each word as more than itself: the unit sum of
its vocabulary text and the sentence its caller's template makes of it ("a
photo of canyon"), the way short text queries are read. Photos sit where the
map put photo-like texts, so "a photo of canyon" is nearer a canyon photo
than the word alone (chosen on dev: ``benchmarks/photo_words.py``, issue 15).
Word arithmetic keeps the words as typed: ``king - man + woman`` asks among
words, not photos.
"""

from __future__ import annotations

import hashlib
import weakref
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from xmodal.core.cache import file_stamp
from xmodal.text.hierarchy import TABLE
from xmodal.text.identity import Neighbour, SpaceIdentity
from xmodal.text.labels import (
    embed_labels,
    imagenet_label_file,
    imagenet_labels,
    label_texts,
)
from xmodal.text.space import Space

FREQUENT = 20_000
_SKIP_MOST_FREQUENT = 150  # the, of, and ...: function words, never a photo's subject
_FORMAT = 1  # bump when vocabulary_texts changes, so cached vocabularies are embedded again
HIERARCHY_DEPTH = 1  # a rare name's text: its synonyms and its WordNet parent, as the map's targets have
SHIPPED = Path(__file__).resolve().parents[1] / "data" / "vocabulary"  # tables built by scripts/build_vocabulary_table.py


def vocabulary_texts(frequency_order: Sequence[str]) -> dict[str, str]:
    """Word shown -> text embedded: ImageNet-21k names, then frequent alphabetic words
    (from a list in frequency order). A name that is not itself a frequent word is
    embedded with its WordNet text ("English springer" as what kind of dog it is); a
    frequent word is embedded as itself, in its everyday sense ("queen" is not the
    insect, the first 21k synset of that name)."""
    words = [w for w in frequency_order[_SKIP_MOST_FREQUENT:FREQUENT] if w.isalpha() and len(w) >= 3]
    everyday = set(words)
    labels = list({label.name: label for label in reversed(imagenet_labels("21k"))}.values())[::-1]
    entries = {
        label.name: label.name if label.name in everyday else text
        for label, text in zip(labels, label_texts(labels, HIERARCHY_DEPTH))
    }
    for word in words:
        entries.setdefault(word, word)
    return entries


def quantize(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows as int8 codes and one float32 scale each (the row's largest magnitude over 127):
    a quarter of float32's bytes, for the vocabulary table the package ships."""
    scales = np.maximum(np.abs(vectors).max(axis=1), 1e-12).astype(np.float32) / 127
    return np.round(vectors / scales[:, None]).astype(np.int8), scales


def dequantize(codes: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """Unit float32 rows back from :func:`quantize`."""
    rows = codes.astype(np.float32) * scales[:, None]
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)


def texts_digest(entries: dict[str, str]) -> str:
    """A checksum of the vocabulary's words and the texts embedded for them, in order."""
    return hashlib.sha256("\n".join(f"{word}\t{text}" for word, text in entries.items()).encode()).hexdigest()


def sentence_texts(entries: dict[str, str], template: str) -> dict[str, str]:
    """Word shown -> the sentence ``template`` makes of it, for a photo's reading of the vocabulary."""
    return {word: template.format(word) for word in entries}


def table_path(identity: SpaceIdentity, template: str | None = None, folder: Path = SHIPPED) -> Path:
    """Where the package keeps the space's table: its words, or (``template``) their sentences."""
    return folder / f"{identity.name}{'' if template is None else '-sentences'}.npz"


def shipped_vectors(identity: SpaceIdentity, entries: dict[str, str], path: Path | None = None) -> np.ndarray | None:
    """The package's table of ``entries`` in the space ``identity`` names (at ``path``; by
    default its words' table), if it ships one built from the same model weights and the
    same texts; else None (embed them).

    Embedding the 36,588 vocabulary texts takes about 30 s on 2 cores, and no faster
    text model keeps a photo's nearest words (``benchmarks/vocabulary_int8.py``), so the
    shipped space's table is built once (``scripts/build_vocabulary_table.py``) and
    stored as int8 rows (14 MB; ``benchmarks/vocabulary_table.py`` measures what that costs).
    """
    path = path or table_path(identity)
    if not path.is_file():
        return None
    try:
        with np.load(path) as table:
            if str(table["checksum"]) != identity.checksum or str(table["texts"]) != texts_digest(entries):
                return None
            if table["codes"].shape != (len(entries), identity.dim):
                return None
            return dequantize(table["codes"], table["scales"])
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):  # damaged: embedding the texts still works
        return None


def save_table(path: Path, identity: SpaceIdentity, entries: dict[str, str], vectors: np.ndarray) -> None:
    """Write the table :func:`shipped_vectors` reads: int8 rows, their scales, and what they were built from."""
    codes, scales = quantize(np.asarray(vectors, dtype=np.float32))
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, checksum=np.array(identity.checksum), texts=np.array(texts_digest(entries)), codes=codes, scales=scales)


def vocabulary_key() -> str:
    """What :func:`vocabulary_texts` derives from, short: the ImageNet-21k list, the WordNet
    table and this code's version (the frequency list belongs to the space, keyed apart)."""
    return f"{file_stamp(imagenet_label_file('21k'), _FORMAT)}-{file_stamp(TABLE, FREQUENT + HIERARCHY_DEPTH)}"


def nearest_words(
    space: Space, vector: np.ndarray, k: int = 10, template: str | None = None, exclude: frozenset[str] = frozenset()
) -> list[Neighbour]:
    """The ``k`` vocabulary words nearest ``vector`` in ``space``, best first, leaving out
    ``exclude`` (the query's own words); with a ``template`` (a photo's words), each word
    read with its sentence too (in a space that reads sentences; a word space has one reading).

    An exact scan of the space's vocabulary table (36,588 rows in the sentence
    space: a few milliseconds), which the space keeps once in the user cache:
    no index stores a copy (100 MB each, before format 2).
    """
    words, vectors = _table(space, template)
    scores = vectors @ (np.asarray(vector, dtype=np.float32) / max(float(np.linalg.norm(vector)), 1e-12))
    top = np.argsort(-scores, kind="stable")[: k + len(exclude)]
    return [Neighbour(words[i], float(scores[i])) for i in top if words[i] not in exclude][:k]


_TABLES: weakref.WeakKeyDictionary[Space, dict[str | None, tuple[list[str], np.ndarray]]] = weakref.WeakKeyDictionary()


def _table(space: Space, template: str | None) -> tuple[list[str], np.ndarray]:
    """The space's vocabulary, built at most once per space object and reading (a word
    space builds it in memory, once: it reads no sentences), gone with the space."""
    if not space.reads_sentences:
        template = None
    tables = _TABLES.setdefault(space, {})
    if template not in tables:
        tables[template] = default_vocabulary(space, template=template)
    return tables[template]


def default_vocabulary(space: Space, template: str | None = None) -> tuple[list[str], np.ndarray]:
    """(words, unit vectors) of the vocabulary in ``space``.

    A sentence space embeds (and caches) :func:`vocabulary_texts`, with their
    ``template`` sentences when given; a word space keeps the ImageNet names that
    have a vector (by name, else a synonym) and its own frequent words, each with
    its own vector, as before the sentence space (it reads no sentences, so
    ``template`` changes nothing there).
    """
    if space.reads_sentences:
        words, vectors = space.vocabulary(template)
        return list(words), np.asarray(vectors, dtype=np.float32)
    names = embed_labels(space, imagenet_labels("21k"))
    found: dict[str, np.ndarray] = {}
    for label, vector in zip(names.labels, names.vectors):
        found.setdefault(label.name, vector)
    keys = space.keys
    for rank in range(_SKIP_MOST_FREQUENT, min(FREQUENT, len(keys))):
        word = keys[rank]
        if word.isalpha() and len(word) >= 3 and word not in found:
            found[word] = space.vectors[rank]
    return list(found), np.asarray(np.stack(list(found.values())), dtype=np.float32)
