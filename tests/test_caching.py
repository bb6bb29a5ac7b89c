"""The one hashing helper and the one cache helper: stable keys of one length, and every corrupt entry a miss that
says why and is recomputed."""

from __future__ import annotations

import ast
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from reportgen.caching import INTEGRITY, JsonCache
from reportgen.hashing import KEY_LENGTH, cache_key, canonical_json, digest, file_digest, json_digest
from reportgen.results.cache import RunCache

pytestmark = pytest.mark.unit  # torch-free: the unit tier (`-m unit`) runs it with torch blocked

PACKAGE = Path(__file__).resolve().parent.parent / "reportgen"
RECORD = {"accuracy": 0.875, "classes": ["cat", "dög"], "epochs": [{"epoch": 1, "loss": 0.41}], "note": None}
KEY = cache_key({"run": "base", "seed": 0})
OTHER = cache_key({"run": "base", "seed": 1})


def _flip_digit(path: Path) -> None:
    """Flip the lowest bit of the first byte of the record's "0.41": one digit changes, the JSON stays valid."""
    data = bytearray(path.read_bytes())
    at = data.index(b"0.41") + 3
    data[at] ^= 1
    path.write_bytes(bytes(data))


def _edit(path: Path, change) -> None:
    """Rewrite the stored JSON after `change(stored)`."""
    stored = json.loads(path.read_text("utf-8"))
    change(stored)
    path.write_text(json.dumps(stored), "utf-8")


DAMAGE = {
    "truncated": (lambda p: p.write_bytes(p.read_bytes()[:40]), "record is not valid JSON"),
    "flipped-byte": (_flip_digit, "record fails its sha256 check"),
    "not-json": (lambda p: p.write_text("<html>not a record</html>", "utf-8"), "record is not valid JSON"),
    "not-utf8": (lambda p: p.write_bytes(b"\xff\xfe\x00{"), "record is unreadable"),
    "no-checksum": (lambda p: p.write_text(json.dumps(RECORD), "utf-8"), "record has no checksum"),
    "wrong-checksum": (lambda p: _edit(p, lambda s: s[INTEGRITY].update(record="0" * 64)),
                       "record fails its sha256 check"),
    "edited-value": (lambda p: _edit(p, lambda s: s.update(accuracy=1.0)), "record fails its sha256 check"),
    "another-key": (lambda p: p.write_bytes(p.with_name(f"{OTHER}.json").read_bytes()),
                    "record belongs to another cache key"),
}


def test_a_hit_returns_what_was_put(tmp_path):
    cache = JsonCache(tmp_path / "entries")
    assert cache.lookup(KEY) == (None, None)  # nothing there: a miss with no reason
    stored = cache.put(KEY, RECORD)
    assert stored == RECORD and cache.lookup(KEY) == (RECORD, None) and cache.get(KEY) == RECORD
    assert sorted(p.name for p in (tmp_path / "entries").iterdir()) == [f"{KEY}.json"]  # no temporary file left
    assert cache.blob(KEY) is None
    cache.put(OTHER, {"n": 2}, b"\x00weights\xff")
    assert cache.get(OTHER) == {"n": 2} and cache.blob(OTHER) == b"\x00weights\xff"
    cache.discard(OTHER)
    assert cache.lookup(OTHER) == (None, None) and not cache.blob_path(OTHER).exists()


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_each_corrupt_entry_is_a_miss_with_a_reason_and_is_recomputed(tmp_path, damage):
    cache = JsonCache(tmp_path)
    cache.put(KEY, RECORD)
    cache.put(OTHER, {**RECORD, "accuracy": 0.5})
    spoil, reason = DAMAGE[damage]
    spoil(cache.path(KEY))
    assert cache.lookup(KEY) == (None, reason) and cache.get(KEY) is None
    computed = []
    assert cache.get_or_compute(KEY, lambda: computed.append(1) or RECORD) == RECORD
    assert computed == [1] and cache.lookup(KEY) == (RECORD, None)  # overwritten with a sound entry
    assert cache.get_or_compute(KEY, lambda: pytest.fail("recomputed a sound entry")) == RECORD


@pytest.mark.parametrize("damage,reason", [
    (lambda p: p.write_bytes(b"\x00" + p.read_bytes()[1:]), "weights fail their sha256 check"),
    (lambda p: p.write_bytes(p.read_bytes()[:3]), "weights fail their sha256 check"),
    (lambda p: p.unlink(), "weights file is missing"),
], ids=["flipped", "truncated", "missing"])
def test_the_run_cache_checks_its_weights_and_names_them_in_the_reason(tmp_path, damage, reason):
    cache = RunCache(tmp_path / "cache")
    record = {"cache_key": KEY, "test": {"accuracy": 0.9}}
    cache.put(KEY, record, b"\x01torch bytes")
    assert cache.record_path(KEY) == tmp_path / "cache" / "runs" / f"{KEY}.json"
    assert cache.weights_path(KEY) == tmp_path / "cache" / "runs" / f"{KEY}.pt"
    assert cache.partial_path(KEY) == tmp_path / "cache" / "partial" / f"{KEY}.pt"
    assert cache.lookup(KEY) == (record, None) and cache.weights(KEY) == b"\x01torch bytes"
    damage(cache.weights_path(KEY))
    assert cache.lookup(KEY) == (None, reason) and cache.get(KEY) is None and cache.weights(KEY) is None
    cache.discard(KEY)
    assert cache.lookup(KEY) == (None, None) and not cache.record_path(KEY).exists()


def test_a_run_record_stays_readable_as_a_plain_json_file(tmp_path):
    """The run's fields at the top of its file, the checksums beside them (tests and graders read these files)."""
    cache = RunCache(tmp_path)
    cache.put(KEY, {"cache_key": KEY, "test": {"accuracy": 0.9}})
    stored = json.loads(cache.record_path(KEY).read_text("utf-8"))
    assert stored["test"] == {"accuracy": 0.9} and stored[INTEGRITY]["key"] == KEY
    with pytest.raises(ValueError, match=INTEGRITY):
        cache.put(OTHER, {INTEGRITY: "a field the cache needs"})


def test_keys_are_stable_across_processes_and_ignore_key_order():
    material = {"b": [1, 2.5, None, "é"], "a": {"y": True, "x": "text"}}
    reordered = {"a": {"x": "text", "y": True}, "b": [1, 2.5, None, "é"]}
    code = ("import json, sys; from reportgen.hashing import cache_key; "
            "print(cache_key(json.loads(sys.argv[1])))")
    other = subprocess.run([sys.executable, "-c", code, json.dumps(material)], capture_output=True, text=True,
                           check=True, env={"PYTHONHASHSEED": "123", "PATH": ""}, cwd=PACKAGE.parent).stdout.strip()
    assert cache_key(material) == cache_key(reordered) == other
    assert len(other) == KEY_LENGTH == 32 and int(other, 16) >= 0
    changed = [{**material, "b": [1, 2.5, None, "e"]}, {**material, "c": None}, [material], json.dumps(material)]
    assert len({cache_key(m) for m in [material, *changed]}) == 1 + len(changed)


def test_digests_are_plain_sha256(tmp_path):
    """The recorded digests (manifest files, run digests, dataset fingerprints) keep the values they had."""
    path = tmp_path / "manifest.yaml"
    path.write_bytes(b"report: {title: T}\n" * 100_000)
    assert file_digest(path) == hashlib.sha256(path.read_bytes()).hexdigest() == digest(path.read_bytes())
    assert digest("dög") == hashlib.sha256("dög".encode("utf-8")).hexdigest()
    material = {"model": "cnn", "layers": [["conv", {"out": 4}]], "name": "dög"}
    assert canonical_json(material) == json.dumps(material, sort_keys=True)
    assert json_digest(material) == hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()
    with pytest.raises(TypeError):
        cache_key({"path": tmp_path})  # material that is not JSON fails instead of hashing its repr


def test_one_key_length_everywhere_and_the_helpers_stand_alone():
    cut = [f"{p.relative_to(PACKAGE.parent)}:{n}" for p in sorted(PACKAGE.rglob("*.py")) if p.name != "hashing.py"
           for n, line in enumerate(p.read_text("utf-8").splitlines(), 1) if "hexdigest()[:" in line]
    assert not cut, cut
    for name, allowed in (("hashing", set()), ("caching", {"reportgen.hashing", "reportgen.writer"})):
        tree = ast.parse((PACKAGE / f"{name}.py").read_text("utf-8"))
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module} | \
                   {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert {m for m in imported if m.startswith("reportgen")} <= allowed, name
