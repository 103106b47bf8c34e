"""xmodal.core.cache: files and folders written whole or not at all."""

import pytest

from xmodal.core.cache import write_atomically


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
