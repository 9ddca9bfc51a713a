import os
import stat
from pathlib import Path

import pytest

from worldmodel.atomic import atomic_output, atomic_write_bytes, atomic_write_text


def test_atomic_output_renames_the_temp_file_into_place(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "out.txt"
    with atomic_output(target) as tmp:
        assert tmp.parent == target.parent and tmp != target
        tmp.write_text("new")
        assert not target.exists()  # nothing visible until the block ends
    assert target.read_text() == "new"
    assert os.listdir(target.parent) == ["out.txt"]


def test_atomic_output_keeps_the_old_file_and_no_temp_on_error(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_output(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed mid-write")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.txt"]


def test_atomic_files_get_the_permissions_of_a_plain_open(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.write_bytes(b"")
    atomic_write_bytes(tmp_path / "atomic", b"x")
    mode = stat.S_IMODE((tmp_path / "atomic").stat().st_mode)
    assert mode == stat.S_IMODE(plain.stat().st_mode)


def test_atomic_write_text_writes_utf8(tmp_path: Path) -> None:
    atomic_write_text(tmp_path / "t.md", "PSNR ≥ 30 dB")
    assert (tmp_path / "t.md").read_bytes() == "PSNR ≥ 30 dB".encode()
