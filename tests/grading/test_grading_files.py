"""Submission files as data (no links out, no FIFOs or devices, size limits, bounded JSON) and terminal-safe text:
torch-free unit tests, each against a real attack on the filesystem."""

from __future__ import annotations

import json
import os

import pytest

from reportgen.grading.files import UnsafeFile, entries, load_json, read_bytes
from reportgen.grading.htmlread import HtmlEvents, parse_html
from reportgen.textsafe import one_line, printable

pytestmark = pytest.mark.unit  # torch-free: the unit tier (`-m unit`) runs it with torch blocked


def test_a_link_out_of_the_folder_is_refused_and_one_inside_is_read(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET-7f3a")
    sub = tmp_path / "team"
    sub.mkdir()
    (sub / "results.json").symlink_to(secret)
    (sub / "real.json").write_text("{}")
    (sub / "alias.json").symlink_to(sub / "real.json")
    with pytest.raises(UnsafeFile, match="results.json is a link leading out of the submission folder"):
        read_bytes(sub, sub / "results.json")
    assert read_bytes(sub, sub / "alias.json") == b"{}"


@pytest.mark.parametrize("make", ["fifo", "dev_zero", "too_big"])
def test_fifos_devices_and_oversized_files_are_refused_without_reading(tmp_path, make):
    sub = tmp_path / "team"
    sub.mkdir()
    path = sub / "report.html"
    if make == "fifo":
        os.mkfifo(path)  # opening it for reading would block forever
        expected = "is a fifo"
    elif make == "dev_zero":
        (sub / "zero").symlink_to("/dev/zero")
        path = sub / "zero"
        expected = "link leading out"
    else:
        with open(path, "wb") as fh:
            fh.truncate(33 << 20)  # sparse: 33 MiB on paper, over report.html's 32 MiB
        expected = "over the 33,554,432-byte limit"
    with pytest.raises(UnsafeFile, match=expected):
        read_bytes(sub, path)


def test_entries_never_follow_links_and_name_special_files(tmp_path):
    sub = tmp_path / "team"
    (sub / "data").mkdir(parents=True)
    os.mkfifo(sub / "data" / "img.png")
    (sub / "out").symlink_to("/")  # a link to the root folder is listed, never walked
    (sub / "a.txt").write_text("a")
    listed, total = entries(sub)
    kinds = {e.rel: e.kind for e in listed}
    assert kinds == {"a.txt": "file", "data/img.png": "fifo", "out": "link"} and total == 3
    assert next(e for e in listed if e.rel == "out").target == "/"


def test_json_nested_too_deeply_is_an_unsafe_file_not_a_recursion_error():
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(UnsafeFile, match="nests its JSON too deeply"):
        load_json(deep, "results.json")
    assert load_json(json.dumps({"a": [1, 2]}), "results.json") == {"a": [1, 2]}


class _Count(HtmlEvents):
    """Counts start tags and gathers text."""

    def __init__(self):
        self.tags, self.text = 0, []

    def handle_starttag(self, tag, attrs):
        self.tags += 1

    def handle_data(self, data):
        self.text.append(data)


def test_unfinished_tags_parse_and_text_and_entities_survive():
    reader = _Count()
    parse_html(reader, "<html><body>" + "<a" * 500_000)  # quadratic in html.parser on Python 3.11
    reader = _Count()
    parse_html(reader, "<p>5&nbsp;%<svg><text>99</text></svg></p>")
    assert "".join(reader.text) == "5\u00a0%99" and reader.tags >= 3


def test_control_sequences_are_shown_escaped_and_lines_kept():
    hostile = "Team \x1b]52;c;cm0gLXJmIH4=\x07 \x1b[2J\rEve\u202egnp.exe\x9b31m\nnext"
    shown = printable(hostile)
    assert not any(ch in shown for ch in "\x1b\x07\r\u202e\x9b")
    assert "\\x1b]52;c;cm0gLXJmIH4=\\x07" in shown and "\\u202e" in shown and shown.endswith("\nnext")
    assert "\n" not in one_line(hostile) and "\\n" in one_line(hostile)


@pytest.mark.unit
def test_folders_nested_thousands_deep_are_listed_to_a_depth_not_walked_to_a_crash(tmp_path):
    """1,100 nested folders (Python's os.walk recursed into a RecursionError at about 1,000, and grade's own process
    walks every submission to fingerprint it): listed down to MAX_DEPTH, the deepest one named, nothing raised."""
    from reportgen.grading.files import MAX_DEPTH, entries
    from reportgen.grading.grade.folders import fingerprint

    sub = deep = tmp_path / "team"
    sub.mkdir()
    levels = [sub]
    for _ in range(1100):  # one level at a time: pathlib's mkdir(parents=True) recurses too
        deep = deep / "a"
        deep.mkdir()
        levels.append(deep)
    (deep / "hidden.md").write_text("deep", "utf-8")
    (sub / "top.md").write_text("top", "utf-8")
    try:
        listed, total = entries(sub)
        assert [e.rel for e in listed if e.kind == "file"] == ["top.md"]
        assert [e.rel.count("/") for e in listed if e.kind == "dir"] == [MAX_DEPTH], listed
        assert total == 2
        assert len(fingerprint(sub)) == 64
    finally:  # removed here, bottom up: shutil.rmtree (pytest's clean-up) recurses too
        (deep / "hidden.md").unlink()
        (sub / "top.md").unlink()
        for level in reversed(levels):
            level.rmdir()
