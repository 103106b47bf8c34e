"""Dates taken and camera models, from EXIF that PIL writes, else from the file's mtime."""

from __future__ import annotations

import os
from datetime import datetime

import pytest
from PIL import Image, ImageFile

from tests.conftest import camera_exif
from xmodal.vision.decode import decode
from xmodal.vision.taken import Exif, date_fields, dates_of, read_exif

MARCH = datetime.fromisoformat("2019-03-05T14:22:01+01:00")


def photo(path, exif: Image.Exif | None = None, mtime: str = "2023-07-14T09:00:00+00:00"):
    """A small photo written by PIL (with ``exif`` when given), its file time set to ``mtime``."""
    Image.new("RGB", (24, 16), (90, 120, 30)).save(path, **({"exif": exif} if exif is not None else {}))
    stamp = datetime.fromisoformat(mtime).timestamp()
    os.utime(path, (stamp, stamp))
    return str(path), os.stat(path).st_mtime_ns


def fields(path: str, mtime_ns: int) -> dict:
    return date_fields(read_exif(path), mtime_ns)


def test_exif_date_and_camera_in_local_time(tmp_path, paris_time):
    winter = photo(tmp_path / "winter.jpg", camera_exif("2019:03:05 14:22:01", "Canon EOS 80D"))
    summer = photo(tmp_path / "summer.jpg", camera_exif("2019:07:05 14:22:01\x00", " NIKON D750 "))
    assert fields(*winter) == {"taken": "2019-03-05T14:22:01+01:00", "taken_from": "exif", "camera": "Canon EOS 80D"}
    assert fields(*summer) == {"taken": "2019-07-05T14:22:01+02:00", "taken_from": "exif", "camera": "NIKON D750"}


def test_an_offset_in_the_exif_is_the_photos_own_zone(tmp_path, paris_time):
    abroad = photo(tmp_path / "abroad.jpg", camera_exif("2021:07:04 09:10:11", "iPhone 12", offset="-04:00"))
    assert fields(*abroad)["taken"] == "2021-07-04T09:10:11-04:00"


def test_no_exif_date_is_the_file_time_marked_as_such(tmp_path, paris_time):
    plain = photo(tmp_path / "plain.jpg", mtime="2023-07-14T09:00:00+00:00")
    model_only = photo(tmp_path / "model.jpg", camera_exif(camera="Pixel 7"), mtime="2023-01-14T09:00:00+00:00")
    blank = photo(tmp_path / "blank.jpg", camera_exif("    :  :     :  :  "))
    zeros = photo(tmp_path / "zeros.jpg", camera_exif("0000:00:00 00:00:00"))
    assert fields(*plain) == {"taken": "2023-07-14T11:00:00+02:00", "taken_from": "mtime", "camera": None}
    assert fields(*model_only) == {"taken": "2023-01-14T10:00:00+01:00", "taken_from": "mtime", "camera": "Pixel 7"}
    for path, mtime_ns in (blank, zeros):
        assert fields(path, mtime_ns)["taken_from"] == "mtime"
    assert datetime.fromisoformat(fields(*plain)["taken"]).timestamp() == datetime.fromisoformat("2023-07-14T09:00:00+00:00").timestamp()


def test_a_file_pil_cannot_read_is_dated_by_its_file_time(tmp_path):
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff not a photo")
    assert read_exif(str(tmp_path / "broken.jpg")) == Exif()
    assert read_exif(str(tmp_path / "missing.jpg")) == Exif()
    assert fields(str(tmp_path / "broken.jpg"), 0)["taken_from"] == "mtime"


def test_damaged_exif_costs_the_date_not_the_photo(tmp_path, monkeypatch):
    path, mtime_ns = photo(tmp_path / "shot.jpg", camera_exif("2019:03:05 14:22:01", "Canon EOS 80D"))

    def damaged(exif, tag):
        raise SyntaxError("not a TIFF file")  # what PIL raises for an IFD it cannot parse

    monkeypatch.setattr(Image.Exif, "get_ifd", damaged)
    decoded = decode(path, lambda image: image.size, 64)
    assert decoded.error is None and decoded.pixels == (24, 16) and decoded.exif == Exif()
    assert fields(path, mtime_ns)["taken_from"] == "mtime"


@pytest.mark.parametrize("suffix", ["jpg", "png", "webp", "heic"])
def test_only_the_header_is_read(tmp_path, monkeypatch, suffix):
    """Dating an older index's photos decodes no pixels, with EXIF or without, in every format."""
    if suffix == "heic":
        pytest.importorskip("pillow_heif").register_heif_opener()
    dated = photo(tmp_path / f"dated.{suffix}", camera_exif("2019:03:05 14:22:01", "Canon EOS 80D"))
    plain = photo(tmp_path / f"plain.{suffix}")

    decoded = []
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda image: decoded.append(image.filename))
    assert read_exif(dated[0]) == Exif(MARCH.replace(tzinfo=None).astimezone().isoformat(), "Canon EOS 80D")
    assert read_exif(plain[0]) == Exif()
    assert decoded == []


def test_dates_of_many_files_keeps_their_order(tmp_path, paris_time):
    files = [photo(tmp_path / f"{i}.jpg", camera_exif(f"20{10 + i}:01:02 03:04:05") if i % 2 else None) for i in range(8)]
    dated = dates_of(files, workers=3)
    assert [d["taken_from"] for d in dated] == ["mtime", "exif"] * 4
    assert [d["taken"][:4] for d in dated[1::2]] == ["2011", "2013", "2015", "2017"]
