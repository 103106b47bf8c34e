"""BERT's WordPiece tokenizer in plain Python, as a sentence model's ``tokenizer.json`` defines it.

The ``tokenizers`` library does the same in Rust, but a command that encodes
one query spends longer importing it and parsing its 0.5 MB JSON (about 40
ms) than tokenizing. This reads the tokens, saved once from the
``tokenizer.json`` into the user cache as a memory-mapped sorted index
(:func:`save_tokens`; about a millisecond to open), and follows the
HuggingFace pipeline step by step:

1. special tokens (``[CLS]``, ``[MASK]``, ...) typed in the text are matched
   first, on the raw text, and kept whole;
2. ``BertNormalizer``: drop NUL, U+FFFD and control characters (tab, newline
   and CR aside), turn every whitespace character into a space, put spaces around CJK ideographs,
   strip accents (NFD, then no nonspacing marks) and lowercase;
3. ``BertPreTokenizer``: split on whitespace, and split off each punctuation
   character as a word of its own;
4. ``WordPiece``: greedy longest match from the start of each word, later
   pieces prefixed ``##``; a word with no full match, or over 100
   characters, becomes ``[UNK]``;
5. ``[CLS] ... [SEP]``, keeping the first ``max_tokens - 2`` tokens.

``tests/text/test_wordpiece.py`` checks it gives ``tokenizers``' ids on real
captions and on generated text of every script and punctuation.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from pathlib import Path

from xmodal.core.errors import SpaceError
from xmodal.text.spelling import WordIndex

_SPECIALS = "specials.json"
# Rust's char::is_whitespace (the Unicode White_Space property): Python's isspace() differs
_WHITESPACE = frozenset("\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
                        "\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
_CONTROL = frozenset(("Cc", "Cf", "Cn", "Co", "Cs"))  # "other" characters, removed (tab, newline, CR are whitespace)
_PUNCTUATION = frozenset(("Pc", "Pd", "Pe", "Pf", "Pi", "Po", "Ps"))
# HF's ranges: 0x2B920, not BERT's 0x2B820, starts the sixth
_CJK = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F),
        (0x2B920, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))


class WordPiece:
    """Text to token ids, the way an uncased BERT ``tokenizer.json`` says."""

    def __init__(self, ids: Mapping[str, int] | WordIndex, specials: list[str], max_tokens: int) -> None:
        self.ids = ids  # token -> id: a dict, or the memory-mapped index a cold query opens in a millisecond
        self.max_tokens = max_tokens
        longest_first = sorted(specials, key=len, reverse=True)
        self._specials = re.compile("|".join(map(re.escape, longest_first))) if specials else None
        self._cls, self._sep, self._unk = self.ids["[CLS]"], self.ids["[SEP]"], self.ids["[UNK]"]

    @classmethod
    def load(cls, folder: Path, max_tokens: int) -> WordPiece:
        """A tokenizer from what :func:`save_tokens` wrote: its tokens memory-mapped and
        searched by bisection, since building a dict of 30,522 took 15 ms per process."""
        specials = json.loads((folder / _SPECIALS).read_text(encoding="utf-8"))
        return cls(WordIndex(folder), specials, max_tokens)

    def encode(self, text: str) -> list[int]:
        """``[CLS]``, the text's token ids (the first ``max_tokens - 2``), ``[SEP]``."""
        ids: list[int] = []
        start = 0
        for special in self._specials.finditer(text) if self._specials else ():
            ids.extend(self._words(text[start : special.start()]))
            ids.append(self.ids[special.group()])
            start = special.end()
        ids.extend(self._words(text[start:]))
        return [self._cls, *ids[: self.max_tokens - 2], self._sep]

    def _words(self, text: str) -> list[int]:
        ids: list[int] = []
        for word in _split(_normalize(text)):
            ids.extend(self._pieces(word))
        return ids

    def _pieces(self, word: str) -> list[int]:
        if len(word) > 100:
            return [self._unk]
        pieces, start = [], 0
        while start < len(word):
            for end in range(len(word), start, -1):
                piece = self.ids.get(word[start:end] if start == 0 else "##" + word[start:end])
                if piece is not None:
                    pieces.append(piece)
                    start = end
                    break
            else:
                return [self._unk]
        return pieces


def _normalize(text: str) -> str:
    kept = []
    for char in text:  # as HF does: control characters go first (form feed too), then whitespace
        if char in "\t\n\r":
            kept.append(" ")
        elif char == "\x00" or char == "\ufffd" or unicodedata.category(char) in _CONTROL:
            continue
        elif char in _WHITESPACE:
            kept.append(" ")
        elif any(low <= ord(char) <= high for low, high in _CJK):
            kept.append(f" {char} ")
        else:
            kept.append(char)
    decomposed = unicodedata.normalize("NFD", "".join(kept))
    # one character at a time, as HF does: str.lower() would end a word's capital sigma in ς
    return "".join(c.lower() for c in decomposed if unicodedata.category(c) != "Mn")


def _split(text: str) -> list[str]:
    words: list[str] = []
    current: list[str] = []
    for char in text:
        if char in _WHITESPACE:
            if current:
                words.append("".join(current))
                current = []
        elif _is_punctuation(char):
            if current:
                words.append("".join(current))
                current = []
            words.append(char)
        else:
            current.append(char)
    if current:
        words.append("".join(current))
    return words


def _is_punctuation(char: str) -> bool:
    """Rust's ``is_ascii_punctuation`` or a Unicode punctuation category (``$``, ``+``, ``^`` count)."""
    return (char.isascii() and 33 <= ord(char) <= 126 and not char.isalnum()) or unicodedata.category(char) in _PUNCTUATION


def save_tokens(tokenizer_json: Path, folder: Path) -> None:
    """The tokens (as a :class:`~xmodal.text.spelling.WordIndex`) and special tokens of a
    ``tokenizer.json`` into ``folder``, refused unless it is the uncased BERT pipeline
    this module implements (another would tokenize differently, silently)."""
    config = json.loads(tokenizer_json.read_text(encoding="utf-8"))
    normalizer, model = config.get("normalizer") or {}, config.get("model") or {}
    added = config.get("added_tokens") or []
    expected = (
        normalizer.get("type") == "BertNormalizer"
        and normalizer.get("clean_text") and normalizer.get("handle_chinese_chars") and normalizer.get("lowercase")
        and normalizer.get("strip_accents") in (None, True)
        and (config.get("pre_tokenizer") or {}).get("type") == "BertPreTokenizer"
        and model.get("type") == "WordPiece" and model.get("continuing_subword_prefix") == "##"
        and model.get("max_input_chars_per_word") == 100 and model.get("unk_token") == "[UNK]"
        and all(t["special"] and not (t["normalized"] or t["lstrip"] or t["rstrip"] or t["single_word"]) for t in added)
    )
    if not expected:
        raise SpaceError(f"{tokenizer_json} is not an uncased BERT WordPiece tokenizer; xmodal reads only those")
    vocab = model["vocab"]
    tokens = sorted(vocab, key=vocab.get)
    if [vocab[t] for t in tokens] != list(range(len(tokens))):
        raise SpaceError(f"{tokenizer_json} has gaps in its token ids")
    if any("\x00" in t for t in tokens):  # a WordIndex stores bytes, and numpy drops trailing NULs
        raise SpaceError(f"{tokenizer_json} has a token with a NUL character")
    WordIndex.save(tokens, folder)
    (folder / _SPECIALS).write_text(json.dumps([t["content"] for t in added], ensure_ascii=False), encoding="utf-8")
