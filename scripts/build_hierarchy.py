"""Build xmodal's WordNet table for ImageNet labels: names and hypernyms.

    apt-get install wordnet-base      # WordNet 3.0 in /usr/share/wordnet
    .venv/bin/python scripts/build_hierarchy.py [--wordnet /usr/share/wordnet]
        [--out xmodal/data/wordnet-imagenet.json.gz]

Reads WordNet's own database file ``data.noun`` directly (no nltk) and keeps
every synset that is an ImageNet-1k or ImageNet-21k class (the wnid lists that
ship inside timm, see ``xmodal.text.labels.imagenet_labels``) together with all of
its hypernym ancestors. ImageNet's wnid is ``"n"`` + the 8-digit offset of the
noun synset in ``data.noun`` (n02102040 = English springer).

For each kept synset the table holds:

``names``
    its lemmas in WordNet order, underscores turned into spaces;
``hypernyms``
    its direct hypernyms (``@``) and instance hypernyms (``@i``), as wnids, in
    the order of the database; the first one is the chain ``ancestors`` follows;
``scientific``
    (only when non-empty) the positions in ``names`` of taxonomic names such as
    "Tinca tinca": two or more words, the first capitalised, the others
    lowercase, where the first word is a genus WordNet knows, either because
    some synset is named "genus <word>" or because the synset is a member of a
    one-word-named group (a ``#m`` member holonym such as "Tinca").

The file is gzipped JSON with sorted keys and a zero gzip timestamp, so a rerun
on the same WordNet and timm lists gives the same bytes; its ``header`` records
the WordNet release, this script and the label lists it covers.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
from pathlib import Path
from typing import NamedTuple

FORMAT = "xmodal-wordnet-imagenet/1"
SCRIPT = "scripts/build_hierarchy.py"
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "xmodal" / "data" / "wordnet-imagenet.json.gz"
LABEL_LISTS = {"imagenet-1k": "imagenet_synsets.txt", "imagenet-21k": "imagenet21k_goog_synsets.txt"}
HYPERNYM = {"@", "@i"}
MEMBER_HOLONYM = "#m"


class Noun(NamedTuple):
    """One noun synset of data.noun: what the hierarchy and the gloss table read."""

    lemmas: list[str]
    hypernyms: list[str]
    holonyms: list[str]  # member holonyms
    gloss: str


def read_nouns(wordnet: Path) -> tuple[str, dict[str, Noun]]:
    """WordNet's release line and each noun synset by wnid.

    data.noun lines (wndb(5WN)): offset lex_filenum ss_type w_cnt(hex) [word lex_id]...
    p_cnt(3 digits) [pointer_symbol offset pos source/target]... | gloss.
    The licence lines at the top start with two spaces.
    """
    release = None
    synsets = {}
    with open(wordnet / "data.noun", encoding="utf-8") as lines:
        for line in lines:
            if line.startswith("  "):
                found = re.search(r"\b(WordNet \d+(?:\.\d+)*)\b", line)
                release = release or (found.group(1) if found else None)
                continue
            head, gloss = line.rstrip("\n").split(" | ", 1)
            fields = head.split()
            count = int(fields[3], 16)
            lemmas = fields[4 : 4 + 2 * count : 2]
            pointer_count = int(fields[4 + 2 * count])
            pointers = fields[5 + 2 * count : 5 + 2 * count + 4 * pointer_count]
            hypernyms, holonyms = [], []
            for i in range(0, len(pointers), 4):
                symbol, offset, pos = pointers[i : i + 3]
                if pos != "n":
                    continue
                if symbol in HYPERNYM:
                    hypernyms.append("n" + offset)
                elif symbol == MEMBER_HOLONYM:
                    holonyms.append("n" + offset)
            synsets["n" + fields[0]] = Noun(lemmas, hypernyms, holonyms, gloss.strip())
    if release is None:
        raise SystemExit(f"{wordnet / 'data.noun'}: no 'WordNet <version>' line in its licence header")
    return release, synsets


def imagenet_wnids() -> dict[str, list[str]]:
    sys.path.insert(0, str(ROOT))  # the xmodal beside this script, not another installed copy
    from xmodal.text.labels import _timm_info_folder

    folder = _timm_info_folder()
    return {name: (folder / file).read_text().split() for name, file in LABEL_LISTS.items()}


def scientific_positions(names: list[str], genera: set[str]) -> list[int]:
    positions = []
    for i, name in enumerate(names):
        words = name.split(" ")
        if (
            len(words) >= 2
            and words[0] in genera
            and words[0][:1].isupper()
            and all(not w[:1].isalpha() or w.islower() for w in words[1:])
        ):
            positions.append(i)
    return positions


def build(wordnet: Path) -> bytes:
    release, synsets = read_nouns(wordnet)
    lists = imagenet_wnids()
    wanted = sorted({wnid for wnids in lists.values() for wnid in wnids})
    missing = [wnid for wnid in wanted if wnid not in synsets]
    if missing:
        raise SystemExit(f"{len(missing)} ImageNet wnids are not nouns of {release}: {', '.join(missing[:5])}")
    kept: set[str] = set()
    stack = list(wanted)
    while stack:
        wnid = stack.pop()
        if wnid not in kept:
            kept.add(wnid)
            stack.extend(synsets[wnid].hypernyms)
    genera = {
        lemma[len("genus_") :] for noun in synsets.values() for lemma in noun.lemmas if lemma.startswith("genus_")
    }
    table = {}
    for wnid in kept:
        noun = synsets[wnid]
        names = [lemma.replace("_", " ") for lemma in noun.lemmas]
        groups = {lemma for holonym in noun.holonyms for lemma in synsets[holonym].lemmas if "_" not in lemma}
        entry = {"names": names, "hypernyms": noun.hypernyms}
        scientific = scientific_positions(names, genera | groups)
        if scientific:
            entry["scientific"] = scientific
        table[wnid] = entry
    header = {
        "format": FORMAT,
        "wordnet": release,
        "script": SCRIPT,
        "labels": {name: {"file": LABEL_LISTS[name], "count": len(wnids)} for name, wnids in lists.items()},
        "synsets": len(table),
    }
    text = json.dumps({"header": header, "synsets": table}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--wordnet", type=Path, default=Path("/usr/share/wordnet"), help="folder with data.noun")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    if not (args.wordnet / "data.noun").is_file():
        raise SystemExit(f"{args.wordnet / 'data.noun'} not found; apt-get install wordnet-base, or pass --wordnet")
    data = build(args.wordnet)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    partial = args.out.with_name(args.out.name + ".partial")
    partial.write_bytes(data)
    partial.replace(args.out)
    print(f"{args.out}: {len(data):,} bytes")


if __name__ == "__main__":
    main()
