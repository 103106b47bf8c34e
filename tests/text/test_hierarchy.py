import gzip
import os
import subprocess
import sys
from pathlib import Path

import pytest

from xmodal import XmodalError
from xmodal.text.hierarchy import ABSTRACT, TABLE, Hierarchy, Synset, UnknownSynset
from xmodal.text.labels import imagenet_labels

ROOT = Path(__file__).resolve().parents[2]
WORDNET = Path("/usr/share/wordnet")

SPRINGER, SPRINGER_SPANIEL, SPANIEL, SPORTING_DOG, DOG = (
    "n02102040",
    "n02101861",
    "n02101108",
    "n02098550",
    "n02084071",
)
TENCH, GOLDFISH, CLUMBER, PARACHUTE, ENTITY = "n01440764", "n01443537", "n02101556", "n03888257", "n00001740"


@pytest.fixture(scope="module")
def wordnet():
    return Hierarchy.load()


def test_table_names_its_sources(wordnet):
    assert Hierarchy.load() is wordnet  # read once
    assert wordnet.header["wordnet"] == "WordNet 3.0"
    assert wordnet.header["script"] == "scripts/build_hierarchy.py"
    assert wordnet.header["labels"]["imagenet-1k"]["count"] == 1000
    assert TABLE.stat().st_size < 2_000_000


def test_every_imagenet_label_and_its_ancestors_are_in_the_table(wordnet):
    for subset in ("1k", "21k"):
        for label in imagenet_labels(subset):
            assert label.wnid in wordnet
    # Closed under hypernyms, and every first-hypernym chain ends at WordNet's one noun root.
    for label in imagenet_labels("1k"):
        chain = wordnet.ancestors(label.wnid)
        assert chain[-1] == ENTITY
        assert all(parent in wordnet for parent in wordnet.ancestor_distances(label.wnid))


def test_springer_is_a_spaniel_is_a_dog(wordnet):
    assert wordnet.names(SPRINGER) == ("English springer", "English springer spaniel")
    assert wordnet.parents(SPRINGER) == (SPRINGER_SPANIEL,)
    chain = wordnet.ancestors(SPRINGER)
    assert chain[:3] == [SPRINGER_SPANIEL, SPANIEL, SPORTING_DOG]
    assert [wordnet.names(w)[0] for w in chain[:3]] == ["springer spaniel", "spaniel", "sporting dog"]
    assert DOG in chain and chain[-1] == ENTITY
    assert wordnet.ancestors(ENTITY) == [] and wordnet.parents(ENTITY) == ()
    # A dog is both a canine and a domestic animal: the chain follows the first.
    assert wordnet.names(wordnet.parents(DOG)[0])[0] == "canine"
    assert wordnet.names(wordnet.parents(DOG)[1])[0] == "domestic animal"
    assert wordnet.is_a(SPRINGER, DOG) and not wordnet.is_a(DOG, SPRINGER)


def test_distances_count_is_a_edges_through_the_nearest_common_ancestor(wordnet):
    assert wordnet.distance(SPRINGER, SPRINGER) == 0
    assert wordnet.distance(SPRINGER, SPANIEL) == 2
    assert wordnet.distance(SPRINGER, CLUMBER) == 3  # springer -> springer spaniel -> spaniel <- clumber
    assert wordnet.distance(CLUMBER, SPRINGER) == 3
    assert wordnet.distance(SPRINGER, TENCH) > 8  # only "animal" in common
    up = wordnet.ancestor_distances(SPRINGER)
    assert up[SPRINGER] == 0 and up[SPANIEL] == 2 and up[DOG] == 5
    assert "n01317541" in up  # domestic animal, reached only through dog's second hypernym


def test_taxonomic_names_are_marked(wordnet):
    assert wordnet.names(TENCH) == ("tench", "Tinca tinca")
    assert wordnet.common_names(TENCH) == ("tench",)
    assert wordnet.names(GOLDFISH) == ("goldfish", "Carassius auratus")
    assert wordnet.common_names(GOLDFISH) == ("goldfish",)
    # Capitalised English names are not Latin: 'English' and 'French' are no genera.
    assert wordnet.common_names(SPRINGER) == ("English springer", "English springer spaniel")
    assert wordnet.common_names("n03394916") == ("French horn", "horn")


def test_describe_names_then_broader_names(wordnet):
    assert wordnet.describe(SPRINGER) == "English springer, English springer spaniel"
    assert wordnet.describe(SPRINGER, 1) == "English springer, English springer spaniel, springer spaniel"
    assert wordnet.describe(SPRINGER, 3) == (
        "English springer, English springer spaniel, springer spaniel, spaniel, sporting dog"
    )
    assert wordnet.describe(TENCH, 2) == "tench, cyprinid, cypriniform fish"
    # parachute -> rescue equipment -> equipment -> instrumentality -> artifact -> ...:
    # the abstract rest is passed over, so depth 3 says no more than depth 2.
    assert wordnet.describe(PARACHUTE, 2) == "parachute, chute, rescue equipment, equipment"
    assert wordnet.describe(PARACHUTE, 3) == wordnet.describe(PARACHUTE, 2)
    assert wordnet.describe(PARACHUTE, 50) == wordnet.describe(PARACHUTE, 2)
    assert "n03575240" in wordnet.ancestors(PARACHUTE) and "n03575240" in ABSTRACT


def test_describe_gives_each_name_once():
    tiny = Hierarchy(
        {
            "n1": Synset(("Dog",)),
            "n2": Synset(("hound", "dog"), ("n1",)),
            "n3": Synset(("beagle", "Hound", "Beaglus beaglus"), ("n2",), frozenset({"Beaglus beaglus"})),
        }
    )
    assert tiny.describe("n3", 5) == "beagle, Hound, Dog"
    assert tiny.ancestors("n3") == ["n2", "n1"]
    assert "Hierarchy(3 synsets" in repr(tiny)


def test_unknown_wnid_is_a_user_error(wordnet):
    assert "n99999999" not in wordnet
    for method in (wordnet.names, wordnet.parents, wordnet.ancestors, wordnet.describe):
        with pytest.raises(UnknownSynset, match="unknown WordNet id 'n99999999'"):
            method("n99999999")
    with pytest.raises(XmodalError, match="n99999999"):
        wordnet.distance(SPRINGER, "n99999999")


def test_unreadable_table_is_a_user_error(tmp_path):
    (tmp_path / "bad.json.gz").write_bytes(b"not gzip")
    with pytest.raises(XmodalError, match="cannot read the WordNet hierarchy table"):
        Hierarchy.load(tmp_path / "bad.json.gz")
    (tmp_path / "other.json.gz").write_bytes(gzip.compress(b'{"header": {"format": "other/1"}, "synsets": {}}'))
    with pytest.raises(XmodalError, match="is not a xmodal-wordnet-imagenet/1 table"):
        Hierarchy.load(tmp_path / "other.json.gz")


def test_reading_the_table_imports_no_wordnet_nltk_or_torch():
    code = (
        "import sys; from xmodal.text.hierarchy import Hierarchy; "
        "assert Hierarchy.load().describe('n02102040', 1); "
        "print(sorted(m for m in ('torch', 'nltk', 'wn') if m in sys.modules))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.skipif(not (WORDNET / "data.noun").is_file(), reason="WordNet 3.0 is absent (apt-get install wordnet-base)")
def test_shipped_table_is_what_the_script_builds(tmp_path):
    out = tmp_path / "table.json.gz"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_hierarchy.py"), "--wordnet", str(WORDNET), "--out", str(out)],
        env=env,
        check=True,
        capture_output=True,
    )
    built, shipped = out.read_bytes(), TABLE.read_bytes()
    # The same JSON bytes, and the same gzip header (no timestamp, no file name); the
    # deflate stream itself is left to the local zlib, which may compress differently.
    assert gzip.decompress(built) == gzip.decompress(shipped)
    assert built[:10] == shipped[:10] and built[4:8] == b"\0\0\0\0"


def test_docs_example_prints_what_its_comments_say():
    import re
    from contextlib import redirect_stdout
    from io import StringIO

    block = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "hierarchy.md").read_text(), flags=re.S)[0]
    printed = StringIO()
    with redirect_stdout(printed):
        exec(block, {})
    # Each print's comment, up to a colon that starts an explanation, is its exact output.
    said = [line.split("# ", 1)[1].split(":")[0] for line in block.splitlines() if line.startswith("print(")]
    for line, comment in zip(printed.getvalue().splitlines(), said, strict=True):
        assert line.split(":")[0] == comment
