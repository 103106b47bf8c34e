"""Build the vocabulary table the package ships for a sentence space.

    .venv/bin/python scripts/build_vocabulary_table.py [--space all-minilm-l6-v2]
        [--out xmodal/data/vocabulary]

Nearest-word answers (``--words``) come from a vocabulary of 36,588 texts
(:func:`xmodal.text.vocabulary.vocabulary_texts`) embedded in the space; a
photo's words also read each word's "a photo of WORD" sentence
(``xmodal.search.feedback.TEMPLATE``), 36,588 more. Embedding each set takes
about 30 s on 2 cores, once per machine; this script does it once for everyone
and writes the two tables :func:`xmodal.text.vocabulary.shipped_vectors` reads
(int8 rows with one scale each, the model's weights checksum and a checksum of
the texts): ``SPACE.npz`` and ``SPACE-sentences.npz``. A machine whose space or vocabulary texts differ from
the table's embeds its own as before. Rerun it whenever the vocabulary's
texts or the model change: ``tests/text/test_vocabulary.py`` fails while the
shipped table no longer matches.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from xmodal.search.feedback import TEMPLATE
from xmodal.text.sentences import SENTENCE_MODELS, SentenceSpace
from xmodal.text.space import encode_shown
from xmodal.text.vocabulary import (
    SHIPPED,
    save_table,
    sentence_texts,
    table_path,
    vocabulary_texts,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="all-minilm-l6-v2", choices=sorted(SENTENCE_MODELS))
    parser.add_argument("--out", type=Path, default=SHIPPED, help="the folder for the two tables")
    args = parser.parse_args()
    if args.out.suffix == ".npz":
        parser.error(f"--out is a folder for the two tables now, not a file: {args.out}")
    space = SentenceSpace.load(args.space)
    words = vocabulary_texts(space.speller.words)
    for template, entries in ((None, words), (TEMPLATE, sentence_texts(words, TEMPLATE))):
        vectors = encode_shown(space, list(entries.values()), "vocabulary texts")  # never a shipped table itself
        out = table_path(space.identity, template, args.out)
        save_table(out, space.identity, entries, vectors)
        print(f"{out}: {len(entries):,} texts in {space.name} ({space.identity.checksum[:19]}), {out.stat().st_size / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
