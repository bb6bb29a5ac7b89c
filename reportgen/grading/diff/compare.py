"""`reportgen diff`: compare two builds (output folders, results.json files or HTML reports) number by number."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from reportgen import strictjson
from reportgen.grading.files import UnsafeFile, read_bytes
from reportgen.grading.diff.sections import compare_sections, embedded
from reportgen.errors import UserError
from reportgen.results.embedded import EMBED_ID, PROVENANCE_ID
from reportgen.results.store import SCHEMA_PREFIX
from reportgen.units import is_number

# fields that change from one identical build to the next; compared only with --strict
IGNORED_KEYS = ("seconds", "images_per_s", "train_seconds", "epoch_seconds", "latency_ms", "throughput", "cache_key")
IGNORED_FIELDS = ["environment", "runs.*.device", "runs.*.measured.device", "runs.*.compute.device",
                  "runs.*.compute.device_name", "runs.*.execution", "runs.*.environment",
                  *(f"*.{k}" for k in IGNORED_KEYS)]
IGNORED_HELP = ("timings (seconds, images_per_s, train_seconds, measured.epoch_seconds, measured.latency_ms, measured.throughput), "
                "cache keys (cache_key), the environment (versions, code version, platform, CPU threads, GPU, "
                "device), the device each run used (runs.*.device, runs.*.measured.device, runs.*.compute.device, "
                "runs.*.compute.device_name), each run's environment (runs.*.environment) and how runs were scheduled "
                "(runs.*.execution: executor, jobs, threads); "
                "in section text, "
                "durations, latencies, throughputs and the provenance rows that show these")
# for keyed comparison of lists of records: which field names a row
_ROW_KEYS = {"layers": "name", "blocks": "name", "epochs": "epoch", "inverted_residual": None}
KIND_TITLES = {"build": "Build", "presence": "Runs and models present", "outcome": "Run outcomes",
               "test": "Test metrics", "params": "Parameter tables", "epochs": "Epoch logs",
               "config": "Configuration", "measured": "Measured cost", "dataset": "Dataset settings",
               "report": "Report metadata", "other": "Other fields", "section": "Section text"}
_RUN_CONFIG = ("config", "compute", "varied", "input", "weights", "transfer", "dataset", "model", "experiment", "group",
               "title")


class DiffError(UserError):
    """An input that cannot be compared: missing, unreadable, or not a reportgen build."""


@dataclass
class Side:
    """One side of a comparison: its results record, and its report's HTML when there is one."""

    label: str
    what: str
    results: dict
    html: str | None = None
    provenance: dict | None = None


def _check(results, path: Path) -> dict:
    if not (isinstance(results, dict) and str(results.get("schema", "")).startswith(SCHEMA_PREFIX)
            and isinstance(results.get("runs"), dict) and isinstance(results.get("models"), dict)):
        raise DiffError(f"{path} is not a reportgen results record (no {SCHEMA_PREFIX}* schema with runs and models)")
    return results


def _read_text(path: Path) -> str:
    """A submitted file's text, read as data: no link out of its folder, no FIFO or device, within its size limit."""
    try:
        return read_bytes(path.parent, path).decode("utf-8")
    except UnsafeFile as exc:
        raise DiffError(str(exc)) from None
    except UnicodeDecodeError:
        raise DiffError(f"{path} is neither a reportgen results.json nor a reportgen HTML report (not UTF-8 text)")
    except OSError as exc:
        raise DiffError(f"cannot read {path}: {exc.strerror or exc}")


def _from_html(path: Path, text: str, label: str, what: str, results: dict | None = None) -> Side:
    data = embedded(text)
    if results is None:
        if EMBED_ID not in data:
            raise DiffError(f"{path} holds no reportgen results (no <script type=\"application/json\" "
                            f"id=\"{EMBED_ID}\">); is it a report made by reportgen?")
        try:
            results = strictjson.loads(data[EMBED_ID])
        except RecursionError:
            raise DiffError(f"{path}: the embedded {EMBED_ID} element nests its JSON too deeply to read")
        except ValueError:
            raise DiffError(f"{path}: the embedded {EMBED_ID} element is not valid JSON")
    prov = None
    if PROVENANCE_ID in data:
        try:
            prov = json.loads(data[PROVENANCE_ID])
        except (ValueError, RecursionError):
            prov = None
    return Side(label, what, _check(results, path), text, prov if isinstance(prov, dict) else None)


def load(path: str | Path, label: str) -> Side:
    """Read one side: an output folder, a results.json file, or an HTML report with embedded results."""
    path = Path(path)
    if path.is_dir():
        rj, html = path / "results.json", path / "report.html"
        if not rj.is_file() and not html.is_file():
            raise DiffError(f"{path} holds neither results.json nor report.html; is it a reportgen output folder?")
        results = _check(_parse_json(rj, _read_text(rj)), rj) if rj.is_file() else None
        if html.is_file():
            return _from_html(html, _read_text(html), label, f"folder {path}", results)
        return Side(label, f"folder {path} (no report.html)", results)
    if not path.exists():
        raise DiffError(f"no such file or folder: {path}")
    text = _read_text(path)
    head = text.lstrip()[:1]
    if head in ("{", "["):
        return Side(label, f"results {path}", _check(_parse_json(path, text), path))
    if head == "<":
        return _from_html(path, text, label, f"report {path}")
    raise DiffError(f"{path} is neither a reportgen results.json nor a reportgen HTML report")


def _parse_json(path: Path, text: str):
    try:
        return strictjson.loads(text)
    except RecursionError:
        raise DiffError(f"{path} nests its JSON too deeply to read")
    except ValueError as exc:
        raise DiffError(f"{path} is not valid JSON ({exc})")


@dataclass
class Comparison:
    """The differences between two sides, and notes on what could not be compared."""

    a: Side
    b: Side
    tolerance: float
    strict: bool
    differences: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def equal(self) -> bool:
        return not self.differences

    def record(self) -> dict:
        """The JSON form (--format json)."""
        return {"equal": self.equal, "a": self.a.what, "b": self.b.what, "tolerance": self.tolerance,
                "strict": self.strict, "ignored": [] if self.strict else IGNORED_FIELDS, "notes": self.notes,
                "differences": self.differences}


def ignored(path: tuple) -> bool:
    """Whether a field is non-deterministic (timings, cache keys, environment, device), skipped unless --strict."""
    if not path:
        return False
    if path[0] == "environment" or path[-1] in IGNORED_KEYS:
        return True
    if path[0] != "runs" or len(path) < 3:
        return False
    return (path[2] == "execution" or (path[-1] == "device" and len(path) == 3)
            or path[2:] in (("measured", "device"), ("compute", "device"), ("compute", "device_name")))


def _kind(path: tuple) -> str:
    top = path[0]
    if top == "runs" and len(path) > 2:
        sub = path[2]
        if sub in ("test", "epochs", "measured"):
            return sub
        return "config" if sub in _RUN_CONFIG else "outcome"
    if top in ("runs", "models") and len(path) == 2:
        return "presence"
    return {"models": "params", "dataset": "dataset", "report": "report", "manifest": "build", "smoke": "build",
            "schema": "build", "run_order": "presence"}.get(top, "other")


def where(path: tuple) -> str:
    """A readable field path: runs.base.epochs[epoch=2].val_loss, models.cnn.layers[conv1].params, x.y[0]."""
    out = ""
    for part in path:
        if isinstance(part, list):  # a row of a keyed list: [conv1] (by name), [epoch=2]
            out += f"[{part[0]}]" if part[1] == "name" else f"[{part[1]}={part[0]}]"
        elif isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


class _Walker:
    """Recursive comparison of two JSON values, appending differences."""

    def __init__(self, comparison: Comparison):
        self.c = comparison

    def add(self, path: tuple, **fields) -> None:
        entry = {"kind": _kind(path), "where": where(path), "path": [p[0] if isinstance(p, list) else p for p in path]}
        if path[0] in ("runs", "models") and len(path) > 1:
            entry["run" if path[0] == "runs" else "model"] = path[1]
        entry.update(fields)
        self.c.differences.append(entry)

    def walk(self, a, b, path: tuple) -> None:
        if not self.c.strict and ignored(path):
            return
        if isinstance(a, dict) and isinstance(b, dict):
            for key in sorted(set(a) | set(b), key=str):
                if key not in b:
                    self.add(path + (key,), only_in="A", a=a[key])
                elif key not in a:
                    self.add(path + (key,), only_in="B", b=b[key])
                else:
                    self.walk(a[key], b[key], path + (key,))
        elif isinstance(a, list) and isinstance(b, list):
            self.walk_list(a, b, path)
        elif is_number(a, finite=False) and is_number(b, finite=False):
            bad = not (math.isfinite(a) and math.isfinite(b))
            if (a != b) if bad else abs(a - b) > self.c.tolerance:
                self.add(path, a=a, b=b, delta=None if bad else b - a)
        elif a != b or type(a) is not type(b):
            self.add(path, a=a, b=b)

    def walk_list(self, a: list, b: list, path: tuple) -> None:
        key = _ROW_KEYS.get(path[-1]) if path and isinstance(path[-1], str) else None
        rows = key and all(isinstance(r, dict) and isinstance(r.get(key), (str, int, float)) for r in a + b)
        if rows and len({r[key] for r in a}) == len(a) and len({r[key] for r in b}) == len(b):
            ka, kb = {r[key]: r for r in a}, {r[key]: r for r in b}
            for name in list(dict.fromkeys([*ka, *kb])):
                sub = path + ([name, key],)
                if name not in kb:
                    self.add(sub, only_in="A", a=ka[name])
                elif name not in ka:
                    self.add(sub, only_in="B", b=kb[name])
                else:
                    self.walk(ka[name], kb[name], sub)
            if [r[key] for r in a if r[key] in kb] != [r[key] for r in b if r[key] in ka]:
                self.add(path, a=[r[key] for r in a], b=[r[key] for r in b], note="order differs")
        elif len(a) != len(b):
            self.add(path, a=a, b=b, note=f"{len(a)} against {len(b)} items")
        else:
            for i, (x, y) in enumerate(zip(a, b)):
                self.walk(x, y, path + (i,))


def compare(a: Side, b: Side, tolerance: float = 1e-9, strict: bool = False) -> Comparison:
    """Every difference between two builds: runs and models present, numbers, settings, and section text."""
    c = Comparison(a, b, tolerance, strict)
    w = _Walker(c)
    ra, rb = a.results, b.results
    for top in ("schema", "smoke", "manifest", "report", "dataset", "models", "runs"):
        if top in ("models", "runs"):
            for name in list(dict.fromkeys([*ra[top], *rb[top]])):
                if name not in rb[top]:
                    w.add((top, name), only_in="A")
                elif name not in ra[top]:
                    w.add((top, name), only_in="B")
                else:
                    w.walk(ra[top][name], rb[top][name], (top, name))
        else:
            w.walk(ra.get(top), rb.get(top), (top,))
    order_a, order_b = ra.get("run_order") or [], rb.get("run_order") or []
    if set(order_a) == set(order_b) and order_a != order_b:
        w.add(("run_order",), a=order_a, b=order_b, note="run order differs")
    rest = sorted((set(ra) | set(rb)) - {"schema", "smoke", "manifest", "report", "dataset", "models", "runs",
                                         "run_order"})
    for top in rest:
        w.walk(ra.get(top), rb.get(top), (top,))
    sha = [((s.provenance or {}).get("manifest") or {}).get("sha256") for s in (a, b)]
    if None not in sha and sha[0] != sha[1]:
        w.add(("manifest", "sha256"), a=sha[0], b=sha[1])
    compare_sections(c)
    return c


def value_text(x) -> str:
    """A value as printed in a difference: floats to 12 significant digits, others as short JSON."""
    if isinstance(x, float):
        return f"{x:.12g}"
    text = json.dumps(x, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= 100 else text[:97] + "..."


def describe(d: dict) -> str:
    """One line for one (non-section) difference."""
    if "only_in" in d:
        return f"{d['where']}: only in {d['only_in']}"
    text = f"{d['where']}: {value_text(d.get('a'))} → {value_text(d.get('b'))}"
    if d.get("delta") is not None:
        text += f" (Δ {d['delta']:+.6g})"
    return text + (f" [{d['note']}]" if d.get("note") else "")


def grouped(c: Comparison) -> list[tuple[str, list[dict]]]:
    """Differences grouped by kind, in the order of KIND_TITLES."""
    return [(title, [d for d in c.differences if d["kind"] == kind]) for kind, title in KIND_TITLES.items()
            if any(d["kind"] == kind for d in c.differences)]
