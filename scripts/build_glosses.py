"""Build xmodal's gloss table: one WordNet definition for each everyday noun.

    apt-get install wordnet-base      # WordNet 3.0 in /usr/share/wordnet
    .venv/bin/python scripts/build_glosses.py [--wordnet /usr/share/wordnet]
        [--senses first|nearest|centroid] [--model MODEL] [--out xmodal/data/glosses.tsv]

A sentence encoder reads a rare word by its word pieces ("steeple" sits next to
"steep"), so a short query is given the meaning WordNet writes down for it
(:mod:`xmodal.text.glosses` reads the table at query time). Which words: WordNet's
noun lemmas of one or two words (``index.noun``) whose words are all among the
:data:`TOP_WORDS` most frequent words of the spelling list (GloVe 6B), the
words people type, which keeps the file a few MB. The gloss is the definition
only: the text of ``data.noun`` up to its first ``;`` (examples follow it).

Which sense, for a word with several (``--senses``):

``first``
    WordNet's first sense: ``index.noun`` orders senses by their SemCor tag
    counts, but most nouns were never tagged, and then the first sense can be
    the rare one ("saw": a condensed but memorable saying).
``nearest``, ``centroid`` (``centroid`` ships: docs/results.md says why)
    the sense whose definition sits nearest the texts the model trained on: the
    hub bank inside a DeViSE model file (``--model``, the shipped one by
    default; :mod:`xmodal.devise.hubness`): the mean cosine of its :data:`NEAREST`
    closest bank texts, or the cosine to the bank's mean. A photo search wants
    the sense photos show ("saw": a hand tool having a toothed blade). Tagged
    counts still win where WordNet has them: a sense tagged at least
    :data:`TRUSTED_TAGS` times and more often than any other is kept ("fairway":
    the area between the tee and the putting green).

The file is UTF-8 text, one ``word<TAB>definition`` line per word, lowercase
and sorted by UTF-8 bytes so a reader can binary-search it memory-mapped, after
one header line (``#`` and JSON) that names the format, the WordNet release,
the sense rule and the model whose bank chose; a rerun on the same WordNet,
spelling list and model gives the same bytes.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from build_hierarchy import Noun, read_nouns

FORMAT = "xmodal-glosses/1"
SCRIPT = "scripts/build_glosses.py"
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "xmodal" / "data" / "glosses.tsv"
TOP_WORDS = 100_000
NEAREST = 5
TRUSTED_TAGS = 1
SENSES = ("first", "nearest", "centroid")


def read_index(wordnet: Path) -> dict[str, tuple[list[str], list[int]]]:
    """Per noun lemma of ``index.noun``: its synsets as wnids in sense order, and the
    SemCor tag count of each sense from ``cntlist.rev`` (0 when never tagged).

    index.noun lines (wndb(5WN)): lemma pos synset_cnt p_cnt [ptr_symbol]... sense_cnt
    tagsense_cnt synset_offset...; cntlist.rev lines: sense_key sense_number tag_cnt.
    """
    senses = {}
    with open(wordnet / "index.noun", encoding="utf-8") as lines:
        for line in lines:
            if line.startswith("  "):
                continue
            fields = line.split()
            count = int(fields[2])
            senses[fields[0]] = ["n" + offset for offset in fields[-count:]]
    tags: dict[tuple[str, int], int] = {}
    with open(wordnet / "cntlist.rev", encoding="utf-8") as lines:
        for line in lines:
            key, number, count = line.split()
            lemma, kind = key.split("%", 1)
            if kind.startswith("1:"):  # nouns
                tags[lemma, int(number)] = int(count)
    return {lemma: (wnids, [tags.get((lemma, i + 1), 0) for i in range(len(wnids))]) for lemma, wnids in senses.items()}


def definition(gloss: str) -> str:
    """The defining text of a gloss, without the examples that follow its first ``;``."""
    return gloss.split(";", 1)[0].strip()


def covered(lemmas: list[str], rank: Callable[[str], int | None], top: int = TOP_WORDS) -> list[str]:
    """Lemmas of one or two words, each word among the ``top`` most frequent."""
    keep = []
    for lemma in lemmas:
        words = lemma.split("_")
        if len(words) <= 2 and all((r := rank(word)) is not None and r < top for word in words):
            keep.append(lemma)
    return keep


def tagged_sense(tags: list[int]) -> int | None:
    """The sense WordNet's tag counts vouch for, if any (see the module docstring)."""
    best = int(np.argmax(tags))
    others = max((t for i, t in enumerate(tags) if i != best), default=0)
    return best if tags[best] >= TRUSTED_TAGS and tags[best] > others else None


def choose(
    index: dict[str, tuple[list[str], list[int]]],
    nouns: dict[str, Noun],
    lemmas: list[str],
    senses: str,
    closeness: Callable[[list[str]], np.ndarray] | None = None,
) -> dict[str, str]:
    """lemma -> the chosen synset's definition. ``closeness`` scores definitions
    against the bank (needed for ``senses="bank"``)."""
    chosen: dict[str, int] = {}
    open_: list[str] = []
    for lemma in lemmas:
        wnids, tags = index[lemma]
        pick = 0 if senses == "first" or len(wnids) == 1 else tagged_sense(tags)
        if pick is None:
            open_.append(lemma)
        else:
            chosen[lemma] = pick
    if open_:
        texts = sorted({definition(nouns[w].gloss) for lemma in open_ for w in index[lemma][0]})
        score = dict(zip(texts, closeness(texts)))
        for lemma in open_:
            chosen[lemma] = int(np.argmax([score[definition(nouns[w].gloss)] for w in index[lemma][0]]))
    return {lemma: definition(nouns[index[lemma][0][i]].gloss) for lemma, i in chosen.items()}


def bank_closeness(space, bank: np.ndarray, senses: str, nearest: int = NEAREST) -> Callable[[list[str]], np.ndarray]:
    """Texts -> how near each sits the bank (``senses``: see the module docstring)."""
    from xmodal.text.space import embed_texts

    bank = np.asarray(bank, dtype=np.float32)

    def closeness(texts: list[str]) -> np.ndarray:
        vectors = embed_texts(space, texts, "WordNet definitions")
        if senses == "centroid":
            return vectors @ bank.mean(axis=0)
        return np.sort(vectors @ bank.T, axis=1)[:, -nearest:].mean(axis=1)

    return closeness


def table_text(glosses: dict[str, str], header: dict) -> str:
    """The file: a header line, then ``word<TAB>definition`` lines sorted by UTF-8 bytes."""
    rows = sorted((lemma.replace("_", " "), text) for lemma, text in glosses.items())
    rows.sort(key=lambda row: row[0].encode("utf-8"))
    body = "".join(f"{word}\t{text}\n" for word, text in rows if "\t" not in text and "\n" not in text)
    return "#" + json.dumps({**header, "words": len(rows)}, sort_keys=True) + "\n" + body


def build(wordnet: Path, senses: str, space, bank: np.ndarray | None, model: str) -> str:
    """The table's text for one sense rule, in ``space`` (the spelling list, the bank's encoder)."""
    release, nouns = read_nouns(wordnet)
    index = read_index(wordnet)
    lemmas = covered(sorted(index), space.speller.rank.get)
    closeness = None if senses == "first" else bank_closeness(space, bank, senses)
    glosses = choose(index, nouns, lemmas, senses, closeness)
    header = {"format": FORMAT, "wordnet": release, "script": SCRIPT, "senses": senses, "top words": TOP_WORDS}
    if senses != "first":
        header.update({"model": model, "trusted tags": TRUSTED_TAGS, **({"nearest": NEAREST} if senses == "nearest" else {})})
    return table_text(glosses, header)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--wordnet", type=Path, default=Path("/usr/share/wordnet"), help="folder with data.noun")
    parser.add_argument("--senses", choices=SENSES, default="centroid", help="centroid: what ships (docs/results.md)")
    parser.add_argument("--model", type=Path, help="DeViSE model file whose hub bank chooses senses (default: shipped)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    if not (args.wordnet / "index.noun").is_file():
        raise SystemExit(f"{args.wordnet / 'index.noun'} not found; apt-get install wordnet-base, or pass --wordnet")
    sys.path.insert(0, str(ROOT))  # the xmodal beside this script, not another installed copy
    from xmodal.devise.encoder import DEFAULT_MODEL
    from xmodal.devise.model import DeviseModel
    from xmodal.text.sentences import SentenceSpace

    model = args.model or DEFAULT_MODEL
    bank = None if args.senses == "first" else DeviseModel.hub_of(model).bank
    name = Path(model).name if args.model is None else str(model)
    text = build(args.wordnet, args.senses, SentenceSpace.load(), bank, name)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    partial = args.out.with_name(args.out.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(args.out)
    print(f"{args.out}: {len(text.encode('utf-8')):,} bytes")


if __name__ == "__main__":
    main()
