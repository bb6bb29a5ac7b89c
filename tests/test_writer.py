"""Output files are written atomically and with ordinary permissions."""

import os
import stat

import pytest

from reportgen.writer import write_bytes

pytestmark = pytest.mark.unit  # torch-free: the unit tier (`-m unit`) runs it with torch blocked


def test_atomic_write_replaces_whole_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "sub" / "report.html"
    write_bytes(target, b"old")
    write_bytes(target, b"new content")
    assert target.read_bytes() == b"new content"
    assert [p.name for p in target.parent.iterdir()] == ["report.html"]
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask


def test_failed_write_keeps_previous_version(tmp_path):
    target = tmp_path / "results.json"
    write_bytes(target, b"complete")

    with pytest.raises(TypeError):
        write_bytes(target, object())  # type: ignore[arg-type]
    assert target.read_bytes() == b"complete"
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]
