"""Atomic writes: all-or-nothing, and ordinary file permissions."""

import os
import stat

import pytest

from lmforge.errors import DataError
from lmforge.io import atomic_write, read_text


def test_failed_write_leaves_the_old_file_and_no_temp_files(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError), atomic_write(path) as f:
        f.write("half of the new")
        raise RuntimeError("crash mid-write")
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.txt"]


def test_written_file_has_the_permissions_of_a_plainly_created_file(tmp_path):
    (tmp_path / "plain.json").write_text("{}")
    with atomic_write(tmp_path / "atomic.json") as f:
        f.write("{}")
    modes = {stat.S_IMODE((tmp_path / name).stat().st_mode) for name in ("plain.json", "atomic.json")}
    assert len(modes) == 1  # mkstemp alone would give 0600


def test_non_utf8_error_names_byte_offset_and_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"ok line\nbad \xff byte\n")
    with pytest.raises(DataError, match=r"byte offset 12 \(line 2\)"):
        read_text(path)
