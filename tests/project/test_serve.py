"""reportgen serve in a real subprocess on a free port: the page over HTTP, live edits, errors as pages, SIGINT."""

from __future__ import annotations

import http.client
import json
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from browser import needs_axe, open_page

BOUND_S = 15.0  # a loaded CI box; benchmarks/serve.py measures the real latency


class Serving:
    """`reportgen serve MANIFEST --port 0` as a subprocess; its console lines are collected as they come."""

    def __init__(self, manifest: Path, *extra: str):
        self.proc = subprocess.Popen([sys.executable, "-m", "reportgen.cli", "serve", str(manifest), "--out",
                                      str(manifest.parent / "out"), "--port", "0", *extra],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     cwd=manifest.parent)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.url = self.wait_line(r"serving (http://127\.0\.0\.1:\d+/)").group(1)

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    def wait_line(self, pattern: str, timeout: float = BOUND_S * 2, after: int = 0) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines[after:]:
                m = re.search(pattern, line)
                if m:
                    return m
            assert self.proc.poll() is None, f"serve exited ({self.proc.returncode}):\n{self.log}"
            time.sleep(0.05)
        raise AssertionError(f"no line matching {pattern!r} in:\n{self.log}")

    def get(self, path: str = "") -> str:
        with urllib.request.urlopen(self.url + path.lstrip("/"), timeout=10) as r:
            return r.read().decode("utf-8")

    def status(self) -> dict:
        return json.loads(self.get("_reportgen/status"))

    def wait_for(self, check, timeout: float = BOUND_S) -> tuple[str, float]:
        """Poll the page until check(html) holds; (html, seconds it took)."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            html = self.get()
            if check(html):
                return html, time.monotonic() - t0
            time.sleep(0.05)
        raise AssertionError(f"the page did not change within {timeout} s; console:\n{self.log}")

    def interrupt(self) -> tuple[int, str]:
        self.proc.send_signal(signal.SIGINT)
        try:
            code = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"serve did not stop within 30 s of SIGINT; console:\n{self.log}") from None
        self.reader.join(timeout=30)  # the process has exited: its last lines are read once its output closes
        return code, self.log

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture()
def folder(tiny_build, tmp_path) -> Path:
    """The tiny build (results, caches, HTML) copied to tmp: serve renders it without training."""
    target = tmp_path / "tiny"
    shutil.copytree(tiny_build.manifest.parent, target)
    return target / tiny_build.manifest.name


@pytest.fixture()
def serving(folder):
    server = Serving(folder)
    server.wait_line(r"rendered \(start\)")
    yield server
    server.kill()


def test_the_page_is_the_report_with_one_nonced_reload_script_only_when_served(serving, folder):
    html = serving.get()
    soup = BeautifulSoup(html, "html.parser")
    scripts = [s for s in soup.find_all("script") if s.get("type") != "application/json"]
    assert len(scripts) == 1 and scripts[0]["nonce"] and "/_reportgen/events" in scripts[0].string
    csp = soup.find("meta", attrs={"http-equiv": "Content-Security-Policy"})["content"]
    assert f"script-src 'nonce-{scripts[0]['nonce']}'" in csp and "connect-src 'self'" in csp
    assert "default-src 'none'" in csp
    written = (folder.parent / "out" / "report.html").read_text("utf-8")
    assert "/_reportgen/events" not in written and "nonce" not in written and "script-src" not in written
    status = serving.status()
    assert status["state"] == "ok" and status["torch_imported"] is False  # render-only: no torch
    assert serving.url.startswith("http://127.0.0.1:")


@pytest.mark.slow
def test_edits_show_up_and_errors_become_pages_until_fixed(serving, folder):
    intro = folder.parent / "intro.md"
    # the events stream announces the next version
    conn = http.client.HTTPConnection("127.0.0.1", int(serving.url.rsplit(":", 1)[1].strip("/")), timeout=BOUND_S)
    conn.request("GET", f"/_reportgen/events?v={serving.status()['version']}")
    stream = conn.getresponse()
    assert stream.getheader("Content-Type") == "text/event-stream"

    intro.write_text(intro.read_text("utf-8").replace("Some **bold** prose", "Some **bold** prose EDITED-7731"), "utf-8")
    html, took = serving.wait_for(lambda h: "EDITED-7731" in h)
    assert took < BOUND_S
    seen = b""
    while b"event: reload" not in seen:
        seen += stream.readline()
    conn.close()
    assert "EDITED-7731" in (folder.parent / "out" / "report.html").read_text("utf-8")

    good = folder.read_text("utf-8")
    folder.write_text(good.replace("  - architecture\n", "  - \"<img src=x onerror=alert(1)>\"\n"), "utf-8")
    html, _ = serving.wait_for(lambda h: "The manifest has errors" in h)
    soup = BeautifulSoup(html, "html.parser")
    message = soup.find(id="reportgen-serve-message").get_text()
    assert re.search(r"tiny\.yaml:\d+:\d+:", message) and "<img src=x" in message  # located, shown as text
    assert not soup.find("img") and "onerror=alert(1)>\"" not in html.replace("&lt;", "<").split("<pre")[0]
    assert serving.wait_line(r"error:") and serving.proc.poll() is None  # the console line may trail the page

    folder.write_text(good.replace("epochs: 3", "epochs: 4"), "utf-8")  # a change that needs new runs
    html, _ = serving.wait_for(lambda h: "This change needs new runs" in h)
    assert "base" in BeautifulSoup(html, "html.parser").find(id="reportgen-serve-message").get_text()
    serving.wait_line(r"needs new runs: .*does not match")
    assert serving.status()["torch_imported"] is False  # nothing trained without --train

    folder.write_text(good, "utf-8")
    html, _ = serving.wait_for(lambda h: "EDITED-7731" in h)
    assert serving.status()["state"] == "ok"


@pytest.mark.slow
def test_sigint_stops_it_cleanly(serving):
    code, log = serving.interrupt()
    assert code in (0, 130), log
    assert "Traceback" not in log and "stopped serving" in log


def test_an_edit_made_before_the_watcher_is_up_is_caught_up_on(folder):
    from reportgen.project.serve.command import watch
    from reportgen.project.serve.server import Shared
    from reportgen.project.serve.session import Options, Session

    out = folder.parent / "out"
    session = Session(Options(folder, out), Shared(), lambda line: None)
    since = time.time_ns()
    assert session.render("start") == "ok"
    intro = folder.parent / "intro.md"  # edited after the render read it, before any watcher exists
    intro.write_text(intro.read_text("utf-8").replace("Some **bold** prose", "Some **bold** prose EARLY-5150"), "utf-8")
    stop = threading.Event()
    thread = threading.Thread(target=watch, args=(session, stop, since), daemon=True)
    thread.start()
    deadline = time.monotonic() + BOUND_S
    while "EARLY-5150" not in (out / "report.html").read_text("utf-8") and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    thread.join(10)
    assert "EARLY-5150" in (out / "report.html").read_text("utf-8") and not thread.is_alive()


def test_a_stale_page_turns_into_the_report_once_reportgen_run_writes_the_results(serving, folder):
    from conftest import cli

    out = folder.parent / "out"
    good = folder.read_text("utf-8")
    folder.write_text(good.replace("epochs: 3", "epochs: 4"), "utf-8")  # the runs are stale now
    serving.wait_for(lambda h: "This change needs new runs" in h)
    assert serving.status()["state"] == "stale"
    mark = len(serving.lines)
    done = cli("run", folder, "--out", out)  # the command the page recommends, in "another terminal"
    assert done.exit_code == 0, done.output
    serving.wait_line(r"rendered \(changed: results\.json\)", after=mark)
    html, _ = serving.wait_for(lambda h: "This change needs new runs" not in h)
    assert serving.status()["state"] == "ok" and "Model Training" in html


def test_its_own_write_of_results_json_is_not_a_change_but_another_is(folder):
    from reportgen.project.serve.server import Shared
    from reportgen.project.serve.session import Options, Session

    out = folder.parent / "out"
    said: list[str] = []
    session = Session(Options(folder, out), Shared(), said.append)
    assert session.render("start") == "ok", said
    results = (out / "results.json").resolve()
    assert session.targets.results == results and session.targets.matters(results)
    assert out.resolve() in session.targets.folders()
    assert not session.changed_by_others(results)  # what it wrote itself
    results.write_text(results.read_text("utf-8").replace('"smoke": false', '"smoke": true'), "utf-8")
    assert session.changed_by_others(results)  # another command wrote it
    assert session.changed_by_others(folder.resolve())


@pytest.mark.slow  # a browser test: the full suite runs them
@needs_axe
def test_its_own_pages_fit_390_and_1280_px_and_pass_axe(tmp_path):
    """The waiting, error and stale pages, as a session publishes them (nothing trained): no sideways scroll at
    390 px, no word broken inside, no WCAG 2.1 A/AA violation, in the dark palette too."""
    from conftest import TINY_MANIFEST, write_manifest
    from reportgen.project.serve.server import Shared
    from reportgen.project.serve.session import Options, Session

    folder = tmp_path / "a-student-project_with-a-long-folder-name" / "experiments" / "lr_study"
    manifest = write_manifest(folder)
    shared = Shared()
    pages = {"waiting": shared.page.html}
    session = Session(Options(manifest, folder / "out"), shared, lambda line: None)
    assert session.render("start") == "stale"  # no results yet: the page says which runs to train
    pages["stale"] = shared.page.html
    manifest.write_text(TINY_MANIFEST.replace("  - architecture\n", '  - "<img src=x onerror=alert(1)>"\n'), "utf-8")
    assert session.render("changed") == "error"
    pages["error"] = shared.page.html
    for state, html in pages.items():
        path = tmp_path / f"{state}.html"
        path.write_text(html, "utf-8")
        for width, dark in ((390, False), (1280, False), (390, True)):
            seen = open_page(path, width, dark=dark)
            assert seen["dark"] is dark and seen["scrollWidth"] <= seen["clientWidth"], (state, width, dark, seen)
            assert seen["outside"] == [], (state, width, dark, seen)
            assert seen["broken"] == [] and seen["violations"] == [], (state, width, dark, seen)


def _served_pdf(server: Serving) -> tuple[int, str]:
    """GET /report.pdf: (status, the PDF's text, whitespace collapsed)."""
    import io

    import urllib.error
    from pypdf import PdfReader

    try:
        with urllib.request.urlopen(server.url + "report.pdf", timeout=10) as r:
            data = r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, ""
    return 200, " ".join(" ".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages).split())


def _until(check, what: str, server: Serving, timeout: float = BOUND_S * 4):
    """Poll check() until it returns something true; that value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what} did not happen within {timeout} s; console:\n{server.log}")


@pytest.mark.slow
def test_pdf_follows_the_page_in_the_background_and_is_never_stale(folder):
    server = Serving(folder, "--pdf")
    try:
        server.wait_line(r"rendered \(start\) .*the PDF in the background")
        first = _until(lambda: (s := server.status())["pdf"] == "ready" and s, "the first PDF", server)
        assert f'href="report.pdf?v={first["version"]}">PDF</a>' in server.get()
        assert _served_pdf(server)[0] == 200

        intro = folder.parent / "intro.md"
        for marker in ("FIRST-4417", "SECOND-4418"):  # the second edit lands while the first's PDF may be under way
            intro.write_text(intro.read_text("utf-8").replace("Some **bold** prose", f"Some **bold** prose {marker}"),
                             "utf-8")
            server.wait_for(lambda h, m=marker: m in h)
        # from the moment the page shows the edit, report.pdf is refused until it is this version's PDF
        status, text = _until(lambda: (r := _served_pdf(server))[0] == 200 and r, "the edited PDF", server)
        assert "SECOND-4418" in text and "FIRST-4417" in text
        page = server.get()
        assert 'data-state="ready"' in page and f'report.pdf?v={server.status()["version"]}' in page
        # an events stream opened after the PDF was done (a page sent while it rendered) still hears it is ready
        version = server.status()["version"]
        conn = http.client.HTTPConnection("127.0.0.1", int(server.url.rsplit(":", 1)[1].strip("/")), timeout=BOUND_S)
        conn.request("GET", f"/_reportgen/events?v={version}")
        stream, seen = conn.getresponse(), b""
        while b"event: pdf" not in seen:
            seen += stream.readline()
        seen += stream.readline()
        conn.close()
        assert f"data: {version} ready".encode() in seen, seen
        # the page came first, and a PDF was only ever announced while its version was the newest page
        newest = 0
        for line in server.lines:
            if m := re.search(r"rendered \(.*\) in [\d.]+ s: version (\d+)", line):
                newest = int(m[1])
            elif m := re.search(r"PDF of version (\d+) rendered", line):
                assert int(m[1]) == newest, server.log
    finally:
        server.kill()
