"""Build the vocabulary table the package ships for a sentence space.

    .venv/bin/python scripts/build_vocabulary_table.py [--space all-minilm-l6-v2]
        [--out xmodal/data/vocabulary/SPACE.npz]

Nearest-word answers (``--words``) come from a vocabulary of 36,588 texts
(:func:`xmodal.text.vocabulary.vocabulary_texts`) embedded in the space. Embedding
them takes about 30 s on 2 cores, once per machine; this script does it once
for everyone and writes the table :func:`xmodal.text.vocabulary.shipped_vectors`
reads (int8 rows with one scale each, the model's weights checksum and a
checksum of the texts). A machine whose space or vocabulary texts differ from
the table's embeds its own as before. Rerun it whenever the vocabulary's
texts or the model change: ``tests/text/test_vocabulary.py`` fails while the
shipped table no longer matches.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from xmodal.text.sentences import SENTENCE_MODELS, SentenceSpace
from xmodal.text.space import encode_shown
from xmodal.text.vocabulary import SHIPPED, save_table, vocabulary_texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="all-minilm-l6-v2", choices=sorted(SENTENCE_MODELS))
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    space = SentenceSpace.load(args.space)
    entries = vocabulary_texts(space.speller.words)
    vectors = encode_shown(space, list(entries.values()), "vocabulary words")  # never the shipped table itself
    out = args.out or SHIPPED / f"{space.name}.npz"
    save_table(out, space.identity, entries, vectors)
    print(f"{out}: {len(entries):,} texts in {space.name} ({space.identity.checksum[:19]}), {out.stat().st_size / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
