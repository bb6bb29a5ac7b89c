"""A hostile class folder for `reportgen grade`: clean copies, forged reports, module files that attack the grader,
files that are not what they claim, a data archive bomb and names meant to hide or to drive a terminal.

Every submission is a copy of a few real builds made once (the tiny build, one tiny `module:` build, one CIFAR-10 smoke
build and the tiny build re-rendered under escape-laden names): nothing is trained per submission. Used by
tests/grading/test_hostile_class.py and benchmarks/grade.py.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

from conftest import REPO, TINY_MANIFEST, write_manifest
from manifests import DATE, SMALL, manifest_text

FILES = ("report.html", "report.pdf", "results.json")
GOOD, FORGED, MODULE, FILE, DATA, NAME = "good", "forged", "module", "file", "data", "name"
PWNED = "pwned"  # what a module tries to write beside the planted secret, outside the class folder
BOMB_BYTES = 5 << 30  # above reportgen's default unpack limit (4 GiB); a few MB on disk
FAKE = "99.12 %"
ESCAPES = "\x1b]52;c;cm0gLXJmIH4=\x07\x1b[2J"  # OSC 52 (set the clipboard) and clear-screen

MODULE_MANIFEST = manifest_text(
    SMALL, report={"title": "Tiny module report", "team": [{"name": "Module Team", "id": "M001"}], "date": DATE},
    models={"net": {"module": "net.py:Net"}}, train={"optimizer": None, "batch_size": 128,
                                                     "measure": {"throughput_batch": 16}},
    experiments=[{"id": "mod", "model": "net", "title": "The module network"}],
    sections=["cover", "architecture", "parameters", "training", "evaluation", "provenance"])

HONEST_NET = """\
from torch import nn


class Net(nn.Module):
    def __init__(self, num_classes, in_channels):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, 4, 3, padding=1)
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.flat = nn.Flatten()
        self.fc = nn.Linear(4 * 4 * 4, num_classes)

    def forward(self, x):
        return self.fc(self.flat(self.pool(self.relu(self.conv(x)))))
"""

CIFAR_MANIFEST = manifest_text(
    SMALL, report={"title": "Tiny CIFAR report", "team": [{"name": "Data Team", "id": "D001"}], "date": DATE},
    dataset={"name": "cifar10", "root": "data", "image_size": None, "channels": None},
    models={"net": {"layers": [{"conv": {"out": 4, "kernel": 3, "padding": "same"}}, "relu", {"maxpool": 4},
                               "flatten", {"linear": "classes"}]}},
    train={"optimizer": None, "batch_size": 128, "measure": None}, experiments=[{"id": "cif", "model": "net"}],
    sections=["parameters", "evaluation"])

# what each hostile net.py does when imported, before it defines the honest Net ({port}, {secret}, {pwned} filled in)
PAYLOADS = {
    "module-socket": "import socket\n_s = socket.create_connection(('127.0.0.1', {port}), timeout=5)\n"
                     "_s.sendall(b'hello from a submission')\n_s.close()\n",
    "module-secret": "import contextlib, pathlib\n_secret = pathlib.Path({secret!r}).read_text()\n"
                     "with contextlib.suppress(OSError):\n"
                     "    pathlib.Path(__file__).with_name('leak.txt').write_text(_secret)\n"
                     "raise RuntimeError('the secret is ' + _secret)\n",
    "module-write-outside": "import pathlib\npathlib.Path({pwned!r}).write_text('pwned')\n",
    "module-fork-sleeper": "import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(600)\n"
                           "    os._exit(0)\n",
    "module-alloc": "_hog = []\nwhile True:\n    _hog.append(b'\\x01' * (64 << 20))\n",
    "module-loop": "while True:\n    pass\n",
    "module-patch-compare": "import reportgen.grading.verify.compare as _c\n"
                            "_c.compare_run = lambda *a, **k: ([], 1)\n",
}


@dataclass(frozen=True)
class Sources:
    """The real builds every submission is copied from: each an output folder and the manifest it was built from."""

    tiny: Path
    tiny_manifest: Path
    escaped: Path  # the tiny build re-rendered with ESCAPES in its title and a team member's name
    escaped_manifest: Path
    module: Path  # a `module: net.py:Net` build, one run, no PDF
    module_manifest: Path
    cifar: Path  # a CIFAR-10 smoke build (synthetic images: no archive under data/ when it was built), no PDF
    cifar_manifest: Path


def reportgen(*args, timeout: float = 900) -> str:
    """Run `python -m reportgen.cli ARGS` in a subprocess (quiet, as in CI); its output, or RuntimeError."""
    env = {**os.environ, "CI": "1",
           "PYTHONPATH": os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])}
    proc = subprocess.run([sys.executable, "-m", "reportgen.cli", *map(str, args)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"reportgen {' '.join(map(str, args))} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return proc.stdout + proc.stderr


def build_tiny(folder: Path) -> tuple[Path, Path]:
    """The tests' tiny manifest built with its PDF (what the session fixture tiny_build holds): (out, manifest)."""
    manifest = write_manifest(folder / "tiny", TINY_MANIFEST)
    reportgen("build", manifest, "--out", manifest.parent / "out")
    return manifest.parent / "out", manifest


def build_sources(folder: Path, tiny: Path | None = None, tiny_manifest: Path | None = None) -> Sources:
    """Build (once) what the class is copied from; the tiny build is reused when given."""
    if tiny is None or tiny_manifest is None:
        tiny, tiny_manifest = build_tiny(folder)
    escaped = folder / "escaped"
    shutil.copytree(tiny, escaped / "out")  # its cache too: render trains nothing and draws no figure
    shutil.copy2(tiny_manifest.parent / "intro.md", escaped / "intro.md")
    text = _once(tiny_manifest.read_text("utf-8"), '  title: "Tiny', '  title: "Tiny \\e]52;c;cm0gLXJmIH4=\\a\\e[2J')
    escaped_manifest = escaped / tiny_manifest.name
    escaped_manifest.write_text(_once(text, "name: Bob Builder", 'name: "Bob \\e]52;c;cm0gLXJmIH4=\\a\\e[2J Builder"'),
                                "utf-8")
    reportgen("render", escaped_manifest, "--out", escaped / "out", "--no-pdf")
    module = folder / "module"
    module.mkdir()
    (module / "net.py").write_text(HONEST_NET, "utf-8")
    (module / "module.yaml").write_text(MODULE_MANIFEST, "utf-8")
    reportgen("build", module / "module.yaml", "--out", module / "out", "--no-pdf")
    cifar = folder / "cifar"
    cifar.mkdir()
    (cifar / "cifar.yaml").write_text(CIFAR_MANIFEST, "utf-8")
    reportgen("build", cifar / "cifar.yaml", "--smoke", "--out", cifar / "out", "--no-pdf")
    return Sources(tiny, tiny_manifest, escaped / "out", escaped_manifest, module / "out", module / "module.yaml",
                   cifar / "out", cifar / "cifar.yaml")


def plant_secret(path: Path) -> str:
    """Write a file holding a random marker (the secret no submission may read); the marker."""
    marker = f"SECRET-{secrets.token_hex(16)}"
    path.write_text(marker + "\n", "utf-8")
    return marker


def submit(source: Path, folder: Path, manifest: Path) -> Path:
    """A team's hand-in: the build's files, its manifest and the files beside it (prose, module file)."""
    folder.mkdir(parents=True)
    for name in FILES:
        if (source / name).is_file():
            shutil.copy2(source / name, folder / name)
    for path in manifest.parent.iterdir():
        if path.is_file() and not path.is_symlink():
            shutil.copy2(path, folder / path.name)
    return folder


def _once(text: str, old: str, new: str) -> str:
    """text with its first `old` replaced; ValueError when it is not there (no copy is left unforged)."""
    if old not in text:
        raise ValueError(f"{old!r} not found: the build no longer looks as this fixture expects")
    return text.replace(old, new, 1)


def _edit(path: Path, change) -> None:
    """Rewrite a text file through change(text)."""
    path.write_text(change(path.read_text("utf-8")), "utf-8")


ACCURACY = re.compile(r'<span data-key="runs\.[^"]+\.test\.accuracy" data-fmt="pct">[^<]*</span>')
CSP = re.compile(r'<meta http-equiv="Content-Security-Policy"[^>]*>')
EMBEDDED = re.compile(r'(<script type="application/json" id="reportgen-results">)(.*?)(</script>)', re.S)


def _findings_sentence(html: str) -> str:
    """The first percentage in the comparison's findings list changed (the sentence is not a keyed span)."""
    start = html.index('<div class="findings">')
    match = re.compile(r"\d+\.\d+ %").search(html, start)
    return html[:match.start()] + (FAKE if match.group() != FAKE else "98.76 %") + html[match.end():]


def _hidden_span(html: str) -> str:
    """The keyed test accuracy kept but hidden, a fake one shown beside it."""
    match = ACCURACY.search(html)
    return html[:match.start()] + f'<span style="display:none">{match.group()}</span>{FAKE}' + html[match.end():]


def _csp_script(html: str) -> str:
    """The CSP removed and a script added that rewrites every test accuracy as the page loads."""
    if not CSP.search(html):
        raise ValueError("the report has no Content-Security-Policy meta")
    script = ("<script>document.querySelectorAll('span[data-key$=\".test.accuracy\"]')"
              f".forEach(function (e) {{ e.textContent = '{FAKE}'; }});</script>")
    return _once(CSP.sub("", html, count=1), "</body>", script + "</body>")


def _results_accuracy(text: str) -> str:
    """results.json with its first run's test accuracy changed (the report left as built)."""
    results = json.loads(text)
    test = next(iter(results["runs"].values()))["test"]
    test["accuracy"] = 0.5 if test["accuracy"] != 0.5 else 0.25
    return json.dumps(results, indent=2)


def _forged(root: Path, src: Sources, secret: Path, port: int) -> dict[str, str]:
    """A copy of the tiny build forged after it was built, one way per folder."""
    css = ('<style>span[data-key$=".test.accuracy"] { font-size: 0 } span[data-key$=".test.accuracy"]::after '
           f'{{ content: "{FAKE}"; font-size: 1rem }}</style>')
    svg = f'<text x="60" y="20" style="font: 12px sans-serif">test accuracy {FAKE}</text>'
    edits = {"forged-findings-sentence": ("report.html", _findings_sentence),
             "forged-css-after-overlay": ("report.html", lambda h: _once(h, "</head>", css + "</head>")),
             "forged-hidden-span": ("report.html", _hidden_span),
             "forged-svg-text": ("report.html", lambda h: _once(h, "</svg>", svg + "</svg>")),
             "forged-csp-removed-script": ("report.html", _csp_script),
             "forged-manifest-epochs": (src.tiny_manifest.name, lambda t: _once(t, "  epochs: 3\n", "  epochs: 5\n")),
             "forged-results-accuracy": ("results.json", _results_accuracy)}
    for name, (file, change) in edits.items():
        _edit(submit(src.tiny, root / name, src.tiny_manifest) / file, change)
    return dict.fromkeys(edits, FORGED)


def _good(root: Path, src: Sources, secret: Path, port: int) -> dict[str, str]:
    """Six clean copies of the tiny build (grade flags them as identical runs, which is no problem)."""
    names = [f"good-{i}" for i in range(1, 7)]
    for name in names:
        submit(src.tiny, root / name, src.tiny_manifest)
    return dict.fromkeys(names, GOOD)


def _modules(root: Path, src: Sources, secret: Path, port: int) -> dict[str, str]:
    """The module build handed in honestly once, then with net.py replaced by one that attacks when imported."""
    kinds = {"module-good": GOOD}
    submit(src.module, root / "module-good", src.module_manifest)
    fill = {"port": port, "secret": str(secret), "pwned": str(secret.parent / PWNED)}
    for name, payload in PAYLOADS.items():
        folder = submit(src.module, root / name, src.module_manifest)
        (folder / "net.py").write_text(payload.format(**fill) + "\n\n" + HONEST_NET, "utf-8")
        kinds[name] = MODULE
    return kinds


def _file_attacks(root: Path, src: Sources, secret: Path, port: int) -> dict[str, str]:
    """Copies of the tiny build with one of the files check reads swapped for something that is not that file."""
    links = {"file-html-dev-zero": ("report.html", "/dev/zero"), "file-results-dev-zero": ("results.json", "/dev/zero"),
             "file-results-secret-link": ("results.json", str(secret)),
             "file-results-other-team": ("results.json", "../good-1/results.json")}
    for name, (file, target) in links.items():
        folder = submit(src.tiny, root / name, src.tiny_manifest)
        (folder / file).unlink()
        os.symlink(target, folder / file)
    fifo = submit(src.tiny, root / "file-html-fifo", src.tiny_manifest)
    (fifo / "report.html").unlink()
    os.mkfifo(fifo / "report.html")
    big = submit(src.tiny, root / "file-html-40mb", src.tiny_manifest)
    (big / "report.html").write_bytes(b"<a" * (20 << 20))
    deep = "[" * 100_000 + "]" * 100_000
    (submit(src.tiny, root / "file-results-deep-json", src.tiny_manifest) / "results.json").write_text(deep, "utf-8")
    embedded = submit(src.tiny, root / "file-embedded-deep-json", src.tiny_manifest) / "report.html"
    _edit(embedded, lambda h: EMBEDDED.sub(lambda m: m[1] + deep + m[3], h, count=1))
    names = [*links, "file-html-fifo", "file-html-40mb", "file-results-deep-json", "file-embedded-deep-json"]
    return dict.fromkeys(names, FILE)


def write_bomb(path: Path, size: int = BOMB_BYTES) -> None:
    """A .tar.gz whose one member is `size` zero bytes, a few MB on disk: gzip members one after another (a valid
    gzip stream), the zeros compressed once."""
    info = tarfile.TarInfo("cifar-10-batches-py/data_batch_1")
    info.size, info.mtime = size, 0
    chunk = 16 << 20
    zeros = gzip.compress(bytes(chunk), compresslevel=9, mtime=0)
    with open(path, "wb") as fh:
        fh.write(gzip.compress(info.tobuf(tarfile.USTAR_FORMAT), mtime=0))
        for _ in range(size // chunk):
            fh.write(zeros)
        fh.write(gzip.compress(bytes(size % chunk + 2 * tarfile.BLOCKSIZE), mtime=0))  # the rest, end of archive


def _data_attacks(root: Path, src: Sources, secret: Path, port: int) -> dict[str, str]:
    """The CIFAR smoke build handed in with data/ holding an archive bomb, or a FIFO in the archive's place (only a
    re-run reads data/)."""
    bomb = submit(src.cifar, root / "data-archive-bomb", src.cifar_manifest)
    (bomb / "data").mkdir()
    write_bomb(bomb / "data" / "cifar-10-python.tar.gz")
    fifo = submit(src.cifar, root / "data-fifo", src.cifar_manifest)
    (fifo / "data").mkdir()
    os.mkfifo(fifo / "data" / "cifar-10-python.tar.gz")
    return {"data-archive-bomb": DATA, "data-fifo": DATA}


def _names(root: Path, src: Sources, secret: Path, port: int) -> dict[str, str]:
    """Real submissions under names meant to drive a terminal or to hide among grade's own outputs."""
    submit(src.escaped, root / "name-terminal-escapes", src.escaped_manifest)
    for name in (".sneaky", "name-grade-marker", "grades-findings", "gradescope"):
        submit(src.tiny, root / name, src.tiny_manifest)
    # grade's marker text, without the secret only grade knows
    (root / "name-grade-marker" / ".reportgen-grade-output").write_text(
        f"written by reportgen grade; not a submission\n{secrets.token_hex(16)}\n", "ascii")
    return dict.fromkeys(["name-terminal-escapes", ".sneaky", "name-grade-marker", "grades-findings", "gradescope"],
                         NAME)


def write_hostile_class(root: Path, src: Sources, secret: Path, port: int) -> dict[str, str]:
    """The whole hostile class under root (36 folders): folder name → kind (good, forged, module, file, data, name).
    `secret` is a planted file beside the class folder; module attacks connect to 127.0.0.1:`port` and write
    `secret`'s folder/pwned."""
    root.mkdir(parents=True)
    kinds: dict[str, str] = {}
    for write in (_good, _forged, _modules, _file_attacks, _data_attacks, _names):
        kinds.update(write(root, src, secret, port))
    return kinds


def write_verify_class(root: Path, src: Sources, secret: Path, port: int) -> dict[str, str]:
    """What only `grade --verify` runs: the module submissions (one honest) and the data attacks."""
    root.mkdir(parents=True)
    return {**_modules(root, src, secret, port), **_data_attacks(root, src, secret, port)}
