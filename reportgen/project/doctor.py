"""`reportgen --version` and `reportgen doctor`: what reportgen runs with, and what to fix when something is missing."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, distribution, version
from pathlib import Path

from reportgen import __version__


def _installed(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def torch_build() -> tuple[str | None, str | None]:
    """(torch version, CUDA version it was built for), read from the installed torch/version.py without importing
    torch (nor asking the import system for it)."""
    try:
        text = Path(distribution("torch").locate_file("torch/version.py")).read_text("utf-8")
    except (PackageNotFoundError, OSError):
        return _installed("torch"), None
    cuda = re.search(r"^cuda(?::[^=]*)?=\s*'([^']+)'", text, re.MULTILINE)
    full = re.search(r"^__version__\s*=\s*'([^']+)'", text, re.MULTILINE)
    return full[1] if full else _installed("torch"), cuda[1] if cuda else None


def version_text() -> str:
    """`reportgen --version`: reportgen, torch and its CUDA build, WeasyPrint; torch is not imported."""
    torch, cuda = torch_build()
    torch_text = f"torch {torch} ({'CUDA ' + cuda + ' build' if cuda else 'CPU-only build'})" if torch else \
        "torch not installed"
    weasy = _installed("weasyprint")
    return (f"reportgen {__version__}, Python {sys.version.split()[0]}, {torch_text}, "
            f"{'WeasyPrint ' + weasy if weasy else 'WeasyPrint not installed'}")


@dataclass
class Finding:
    """One line of the doctor's report: what was checked, whether it is fine, what it found, how to fix it."""

    what: str
    ok: bool
    found: str
    fix: str = ""


def _torch() -> Finding:
    try:
        import torch
    except ImportError as exc:
        return Finding("PyTorch", False, f"cannot import torch ({exc})",
                       "pip install 'torch>=2.6,<2.15' (the build for your GPU first, if you want CUDA)")
    if torch.cuda.is_available():
        return Finding("PyTorch", True, f"torch {torch.__version__}; runs train on cuda "
                                        f"({torch.cuda.get_device_name(0)})")
    built = f", built for CUDA {torch.version.cuda} but no GPU is visible" if torch.version.cuda else ""
    return Finding("PyTorch", True, f"torch {torch.__version__}; runs train on the CPU "
                                    f"({torch.get_num_threads()} threads){built}")


def _weasyprint() -> Finding:
    fix = ("install Pango: Debian/Ubuntu `apt-get install libpango-1.0-0 libpangoft2-1.0-0`, Fedora `dnf install "
           "pango`, macOS `brew install pango`; or build with --no-pdf")
    try:
        import weasyprint
        from weasyprint.text.ffi import pango
    except (ImportError, OSError) as exc:
        return Finding("PDF (WeasyPrint and Pango)", False, f"WeasyPrint cannot start: {exc}", fix)
    number = pango.pango_version()  # major * 10000 + minor * 100 + micro
    return Finding("PDF (WeasyPrint and Pango)", True, f"WeasyPrint {weasyprint.__version__}, Pango "
                                                       f"{number // 10000}.{number // 100 % 100}.{number % 100}")


def _fonts() -> Finding:
    fix = "install fonts: Debian/Ubuntu `apt-get install fonts-dejavu-core`, Fedora `dnf install dejavu-sans-fonts`"
    if shutil.which("fc-list") is None:
        return Finding("Fonts", True, "fc-list not found: cannot list fonts (WeasyPrint uses fontconfig's defaults)")
    listed = subprocess.run(["fc-list", ":", "family"], capture_output=True, text=True, timeout=30).stdout
    families = sorted({f.split(",")[0].strip() for f in listed.splitlines() if f.strip()})
    if not families:
        return Finding("Fonts", False, "fontconfig lists no fonts: the PDF would have no text", fix)
    return Finding("Fonts", True, f"{len(families)} font families (e.g. {', '.join(families[:3])})")


def _writable(folder: Path) -> Finding:
    what = f"Output and cache folder ({folder})"
    target = folder if folder.exists() else next((p for p in folder.parents if p.exists()), Path.cwd())
    try:
        with tempfile.NamedTemporaryFile(dir=target, prefix=".reportgen-doctor-"):
            pass
    except OSError as exc:
        return Finding(what, False, f"cannot write in {target}: {exc.strerror or exc}",
                       "choose another folder with --out, or fix the folder's permissions")
    return Finding(what, True, f"writable ({target})")


def _weights() -> Finding:
    hub = Path(os.environ.get("TORCH_HOME") or Path.home() / ".cache" / "torch") / "hub" / "checkpoints"
    hf = Path(os.environ.get("HF_HOME") or Path.home() / ".cache" / "huggingface") / "hub"
    found = sorted(p.name for p in hub.glob("*.pth")) if hub.is_dir() else []
    timm = sorted(p.name for p in hf.glob("models--timm--*")) if hf.is_dir() else []
    if not found and not timm:
        return Finding("Pretrained weights", True, f"none cached (looked in {hub} and {hf}); manifests with "
                                                   "`weights: imagenet` download them on first use, or smoke-build "
                                                   "with random weights",
                       "")
    return Finding("Pretrained weights", True, f"{len(found)} torchvision file(s) in {hub}"
                                               + (f", {len(timm)} timm model(s) in {hf}" if timm else ""))


def _sandbox() -> Finding:
    from reportgen.grading.sandbox import probe

    status = probe()
    found = status.text() if status.isolated else (f"{status.text()}; only graders need it, for `reportgen verify` "
                                                     "of submissions that use module: files")
    return Finding("Sandbox for verify (bubblewrap)", True, found)


def diagnose(folder: Path) -> list[Finding]:
    """Every check, in order: Python, PyTorch and its device, WeasyPrint and Pango, fonts, output folder, weights,
    the sandbox verify runs submissions in."""
    py_ok = sys.version_info >= (3, 10)
    return [Finding("Python", py_ok, sys.version.split()[0], "" if py_ok else "use Python 3.10 or newer"),
            _torch(), _weasyprint(), _fonts(), _writable(folder), _weights(), _sandbox()]


def doctor_text(findings: list[Finding]) -> str:
    """The doctor's report: one line per check, the fix under each problem, a verdict."""
    lines = []
    for f in findings:
        lines.append(f"{'ok     ' if f.ok else 'PROBLEM'} {f.what}: {f.found}")
        if not f.ok and f.fix:
            lines.append(f"        fix: {f.fix}")
    problems = sum(not f.ok for f in findings)
    lines.append("everything reportgen needs is in place" if not problems else
                 f"{problems} problem(s): the fixes are above")
    return "\n".join(lines) + "\n"
