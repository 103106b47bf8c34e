import json

import numpy as np
import pytest

from xmodal import XmodalError
from xmodal.training.datasets import read_class_split, read_labeled


def write_csv(folder, text):
    (folder / "labels.csv").write_text(text)
    return folder / "labels.csv"


def test_reads_a_csv_with_synonyms_and_splits(tmp_path):
    write_csv(
        tmp_path,
        "path,label,wnid,synonyms,split\n"
        'a/1.jpg,goldfish,n01,"goldfish, Carassius auratus",train\n'
        'a/2.jpg,goldfish,n01,"goldfish, Carassius auratus",val\n'
        "b/1.jpg,school bus,n02,school bus,train\n",
    )
    data = read_labeled(tmp_path)  # a folder holding labels.csv
    assert len(data) == 3
    assert data.paths[0] == tmp_path / "a/1.jpg"
    assert data.classes["goldfish"].synonyms == ("goldfish", "Carassius auratus")
    assert data.classes["goldfish"].wnid == "n01"
    assert data.in_split("train").tolist() == [True, False, True]
    assert data.of_classes({"n02"}).tolist() == [False, False, True]  # by WordNet id
    train = data.select(data.in_split("train"))
    assert train.labels == ("goldfish", "school bus")
    assert train.targets(["school bus", "goldfish"]).tolist() == [1, 0]


def test_reads_class_folders(tmp_path):
    for name in ("school_bus", "cat"):
        (tmp_path / name / "deep").mkdir(parents=True)
    (tmp_path / "cat" / "1.JPG").write_bytes(b"x")
    (tmp_path / "school_bus" / "deep" / "2.png").write_bytes(b"x")
    (tmp_path / "cat" / "notes.txt").write_text("not an image")
    data = read_labeled(tmp_path)
    assert sorted(data.labels) == ["cat", "school bus"]
    assert len(data) == 2
    assert data.in_split("train").all()  # no split column: every row counts


def test_class_folders_named_by_wordnet_id_get_their_class_names(tmp_path):
    """As ImageNet ships them (n01440764/...): trained toward the id's own text, a model
    learnt nothing a word space knows (a walkthrough's tench photo got "albino, dicot")."""
    for wnid in ("n01440764", "n99999999"):  # tench, and an id no ImageNet class has
        (tmp_path / wnid).mkdir()
        (tmp_path / wnid / "1.jpg").write_bytes(b"x")
    data = read_labeled(tmp_path)
    assert data.labels == ("tench", "n99999999")
    assert data.classes["tench"].wnid == "n01440764" and "Tinca tinca" in data.classes["tench"].synonyms


def test_wordnet_id_folders_of_one_name_keep_their_ids(tmp_path):
    """crane the bird and crane the machine are two classes: merged under one name, a split
    by id would have counted the seen birds as unseen."""
    for wnid in ("n02012849", "n03126707"):
        (tmp_path / wnid).mkdir()
        (tmp_path / wnid / "1.jpg").write_bytes(b"x")
    data = read_labeled(tmp_path)
    assert data.labels == ("n02012849", "n03126707")
    assert all("crane" in data.classes[wnid].synonyms for wnid in data.labels)


def test_clear_errors(tmp_path):
    with pytest.raises(XmodalError, match="labeled data not found"):
        read_labeled(tmp_path / "nowhere")
    with pytest.raises(XmodalError, match="no images in class folders"):
        read_labeled(tmp_path)
    bad = write_csv(tmp_path, "file,label\nx.jpg,cat\n")
    with pytest.raises(XmodalError, match="needs columns path and label; missing: path"):
        read_labeled(bad)


def test_class_split_accepts_names_or_wnid_maps(tmp_path):
    path = tmp_path / "split.json"
    path.write_text(json.dumps({"seen": {"n01": "goldfish"}, "unseen": ["cat"]}))
    seen, unseen = read_class_split(path)
    assert seen == {"n01", "goldfish"} and unseen == {"cat"}
    path.write_text("{}")
    with pytest.raises(XmodalError, match="needs 'seen' and 'unseen'"):
        read_class_split(path)


def test_real_tiny_imagenet_split_is_160_seen_40_unseen(shared_set):
    tiny = shared_set("tiny-imagenet-200")
    data = read_labeled(tiny)
    seen, unseen = read_class_split(tiny / "split.json")
    train = data.select(data.in_split("train") & data.of_classes(seen))
    assert len(set(train.labels)) == 160 and len(train) == 160 * 300
    assert not set(train.labels) & {n for n in unseen}
    assert np.array(data.in_split("val")).sum() == 10_000
