"""xmodal.core.cache: files and folders written whole or not at all."""

import json
import os

import pytest

from xmodal.core.cache import write_atomically, write_json


def test_a_killed_write_leaves_no_half_made_file(tmp_path):
    target = tmp_path / "model-int8.onnx"

    def dies(out):
        out.write_bytes(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomically(target, dies)
    assert list(tmp_path.iterdir()) == []
    write_atomically(target, lambda out: out.write_bytes(b"whole"))
    assert target.read_bytes() == b"whole"


def test_json_is_replaced_whole_and_keeps_the_usual_file_mode(tmp_path):
    target = tmp_path / "xmodal.json"
    write_json(target, {"format": 2}, durable=True)
    write_json(target, {"format": 3, "vectors": {"semantic": 384}})
    assert json.loads(target.read_text()) == {"format": 3, "vectors": {"semantic": 384}}
    assert [p.name for p in tmp_path.iterdir()] == ["xmodal.json"]  # no temporary file left beside it
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # as open() makes it, not mkstemp's 0600
