"""Rendered files appear whole or not at all."""

from __future__ import annotations

import pytest

from strongroom.render.whole_files import written_whole


def test_the_file_appears_when_the_block_ends(tmp_path):
    dest = tmp_path / "deep" / "er" / "title.warc.gz"
    with written_whole(dest) as partial:
        partial.write_bytes(b"all of it")
        assert not dest.exists()  # nobody sees it while it is being written
    assert dest.read_bytes() == b"all of it"
    assert [p.name for p in dest.parent.iterdir()] == ["title.warc.gz"]


def test_a_failure_leaves_neither_half_a_file_nor_a_partial_and_keeps_the_old_one(tmp_path):
    dest = tmp_path / "index.cdxj"
    dest.write_bytes(b"the previous index")
    with pytest.raises(OSError, match="node went away"), written_whole(dest) as partial:
        partial.write_bytes(b"half")
        raise OSError("node went away")
    assert dest.read_bytes() == b"the previous index"
    assert [p.name for p in tmp_path.iterdir()] == ["index.cdxj"]
