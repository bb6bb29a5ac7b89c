"""A hostile submission opened by a grader: template links out of its folder (build, render, validate, serve), and
real attacks on the preview server on 127.0.0.1 (foreign Host, idle and slow connections, malformed queries)."""

from __future__ import annotations

import http.client
import os
import select
import socket
import threading
import time
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from conftest import cli, write_manifest
from reportgen.manifest.loaded import load_manifest
from reportgen.project.serve.guard import Limits
from reportgen.project.serve.server import Server, Shared
from test_serve import Serving

SECRET = "GRADER-SECRET-5150"
REPOSITORY = "templates/sections/repository.html.j2"  # the tiny manifest has a repository section


def _attack(folder: Path, kind: str) -> str:
    """Plant one way of reaching ../outside/secret.txt through templates/; the path the error must name."""
    outside = folder.parent / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(SECRET, "utf-8")
    (outside / "repository.html.j2").write_text(SECRET, "utf-8")
    templates = folder / "templates"
    if kind == "folder":  # templates/ itself is the link
        templates.symlink_to(outside, target_is_directory=True)
        return "templates"
    (templates / "sections").mkdir(parents=True)
    if kind == "file":
        (folder / REPOSITORY).symlink_to(outside / "secret.txt")
        return REPOSITORY
    (folder / REPOSITORY).write_text('{% include "deep/er/leak/secret.txt" %}\n', "utf-8")
    if kind == "deep":  # a folder link two levels down, reached by an include
        (templates / "deep" / "er").mkdir(parents=True)
        (templates / "deep" / "er" / "leak").symlink_to(outside, target_is_directory=True)
        return "templates/deep/er/leak"
    # links that stay inside (templates/deep -> shared, shared/er -> shared, a loop), then one that leaves
    (folder / "shared" / "leak").mkdir(parents=True)
    (folder / "shared" / "leak" / "secret.txt").symlink_to(outside / "secret.txt")
    (folder / "shared" / "er").symlink_to(folder / "shared", target_is_directory=True)
    (templates / "deep").symlink_to(folder / "shared", target_is_directory=True)
    return "templates/deep/leak/secret.txt"


@pytest.mark.parametrize("kind", ["file", "deep", "folder", "chained"])
@pytest.mark.parametrize("command", ["build", "render", "validate"])
def test_a_template_link_out_of_the_manifest_folder_is_a_located_error(command, kind, tmp_path):
    manifest = write_manifest(tmp_path / "submission")
    named = _attack(manifest.parent, kind)
    out = manifest.parent / "out"
    result = cli(command, manifest, *(["--out", out] if command != "validate" else []))
    assert result.exit_code == 2, result.output
    assert named in result.output and "outside the manifest's folder" in result.output
    assert "tiny.yaml:" in result.output and SECRET not in result.output
    assert not out.exists()  # nothing written, nothing trained


def test_a_fifo_in_the_template_folder_is_refused_before_it_can_block(tmp_path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    manifest = write_manifest(tmp_path / "submission")
    (manifest.parent / "templates").mkdir()
    os.mkfifo(manifest.parent / "templates" / "style.css")
    result = cli("render", manifest, "--out", manifest.parent / "out")
    assert result.exit_code == 2 and "templates/style.css is neither a file nor a folder" in result.output


def test_links_that_stay_inside_the_manifest_folder_still_work(tmp_path):
    manifest = write_manifest(tmp_path / "submission")
    brand = manifest.parent / "brand"
    (brand / "sections").mkdir(parents=True)
    (brand / "extra.css").write_text("h2 { color: navy; }\n", "utf-8")
    (brand / "sections" / "cover.html.j2").write_text("<p>our own cover</p>\n", "utf-8")
    (manifest.parent / "templates").mkdir()
    (manifest.parent / "templates" / "extra.css").symlink_to(brand / "extra.css")
    (manifest.parent / "templates" / "sections").symlink_to(brand / "sections", target_is_directory=True)
    override = load_manifest(manifest).template_override()
    assert override == (manifest.parent / "templates").resolve()
    from reportgen.report.writers import html

    env = html.environment("assignment", override)
    assert "h2 { color: navy; }" in html.stylesheet(env, "a4")
    assert env.get_template("sections/cover.html.j2").render() == "<p>our own cover</p>\n"


def test_serve_shows_the_template_link_as_an_error_and_never_the_secret(tmp_path):
    manifest = write_manifest(tmp_path / "submission")
    _attack(manifest.parent, "file")
    serving = Serving(manifest)
    try:
        serving.wait_line(r"^error: ")
        page = serving.get()
        message = BeautifulSoup(page, "html.parser").find(id="reportgen-serve-message").get_text()
        assert "The manifest has errors" in page and REPOSITORY in message and SECRET not in page
        assert SECRET not in serving.log and not (manifest.parent / "out" / "report.html").exists()
    finally:
        serving.kill()


# ---- the server, attacked ------------------------------------------------------------------------------------------

@pytest.fixture()
def broken(tmp_path) -> Serving:
    """`reportgen serve` of a manifest with an error (its page says so): a real server without any results."""
    manifest = write_manifest(tmp_path / "broken", "report: {title: 3\n")
    serving = Serving(manifest)
    serving.wait_line(r"^error: ")
    yield serving
    serving.kill()


def _get(port: int, target: str, headers: dict[str, str]) -> tuple[int, str]:
    """One GET with exactly these headers (no Host unless given); status and body."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.putrequest("GET", target, skip_host=True, skip_accept_encoding=True)
        for name, value in headers.items():
            conn.putheader(name, value)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        conn.close()


def test_only_this_machines_host_names_are_answered(broken):
    port = int(broken.url.rsplit(":", 1)[1].strip("/"))
    for host in ("127.0.0.1", "localhost"):
        assert _get(port, "/", {"Host": f"{host}:{port}"})[0] == 200
    for headers in ({"Host": f"attacker.example:{port}"}, {"Host": f"127.0.0.1:{port + 1}"}, {"Host": "127.0.0.1"},
                    {}, {"Host": f"localhost.attacker.example:{port}"},
                    {"Host": f"127.0.0.1:{port}", "Origin": "http://attacker.example"}):
        status, body = _get(port, "/_reportgen/status", headers)
        assert status == 421 and body.startswith("misdirected request") and "state" not in body, headers


def _exchange(port: int, target: str) -> bytes:
    """One GET on a connection of its own, read until the server closes it. The server closes a connection only
    once its handler is done, error report included: whatever the request made it print is on its console now."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode())
        return _drain(sock)


def test_a_huge_or_malformed_version_is_400_without_a_traceback(broken, tmp_path):
    port = int(broken.url.rsplit(":", 1)[1].strip("/"))
    for query in ("v=" + "9" * 5000, "v=abc", "v=-1", "v=1&v=2", "v=1&x=2", "v=%ff", "&" * 3000):
        answer = _exchange(port, f"/_reportgen/events?{query}")
        assert answer.startswith(b"HTTP/1.1 400 ") and b"\r\n\r\nbad request: " in answer, (query, answer[:300])
    assert _exchange(port, "/?x=%ff").startswith(b"HTTP/1.1 400 ")
    assert _exchange(port, "/_reportgen/status").startswith(b"HTTP/1.1 200 ")  # still serving
    # the console is read by a thread: edit the manifest, and once the error line that this prints is read, so is
    # everything the server printed before it (one stream: stderr, where the server reports failed requests)
    seen = len(broken.lines)
    (tmp_path / "broken" / "tiny.yaml").write_text("report: {title: 4\n", "utf-8")  # the `broken` fixture's
    broken.wait_line(r"^error: ", after=seen)
    assert "Traceback" not in broken.log and "a request failed" not in broken.log, broken.log


@pytest.fixture()
def server():
    """The server in this process, with short deadlines and a small cap, so that its threads can be counted."""
    served = Server(0, Shared(), Limits(request_s=1.0, connections=8))
    served.start()
    yield served
    served.stop()


def _drain(sock: socket.socket) -> bytes:
    """Everything the server sends before it closes the connection."""
    data = b""
    while chunk := sock.recv(4096):
        data += chunk
    return data


def test_two_hundred_idle_connections_are_capped_refused_and_closed(server):
    port, baseline = server.server_address[1], threading.active_count()
    socks = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(200)]
    seen, peak, deadline = {}, 0, time.monotonic() + 15
    while len(seen) < len(socks) and time.monotonic() < deadline:
        peak = max(peak, threading.active_count() - baseline)
        for sock in select.select([s for s in socks if s not in seen], [], [], 0.05)[0]:
            seen[sock] = _drain(sock)
    assert len(seen) == 200  # every connection ended: refused at once, or closed after the idle deadline
    # never more than 8 connections; a handler thread that counted itself out may still be exiting as the next starts
    assert server.connections.peak == 8 and peak <= 8 + 4
    refused = [data for data in seen.values() if data.startswith(b"HTTP/1.1 503")]
    assert len(refused) >= 100 and all(data == b"" for data in seen.values() if data not in refused)
    while threading.active_count() > baseline and time.monotonic() < deadline:
        time.sleep(0.05)
    assert threading.active_count() <= baseline and server.connections.count() == 0
    for sock in socks:
        sock.close()


def test_a_slow_request_head_and_an_idle_kept_alive_connection_are_cut_off(server):
    port, limit = server.server_address[1], server.limits.request_s
    t0 = time.monotonic()  # before the connection: the server's deadline for its head starts later
    slow = socket.create_connection(("127.0.0.1", port), timeout=10)
    slow.sendall(f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n".encode())
    cut = False
    # a header byte every 0.1 s: a deadline per read would never end it, one on the whole head does at `limit`;
    # the trickle stops at 5 times the limit, which only bounds the wait for the first kind
    while not cut and time.monotonic() - t0 < 5 * limit:
        try:
            slow.sendall(b"X")
        except OSError:
            cut = True
        cut = cut or bool(select.select([slow], [], [], 0.1)[0])
    assert cut, f"a request head trickled in for {5 * limit:g} s and was not cut off"
    assert time.monotonic() - t0 >= limit  # and not before its deadline
    t0 = time.monotonic()
    kept = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    kept.request("GET", "/_reportgen/status")
    assert kept.getresponse().read() and kept.sock is not None  # kept alive after the response
    assert select.select([kept.sock], [], [], 5 * limit)[0] and kept.sock.recv(1) == b"", "idle, kept open"
    assert time.monotonic() - t0 >= limit  # closed by the deadline for a next request, not after the response
    slow.close(), kept.close()


def test_event_streams_outlive_the_idle_deadline_count_in_the_cap_and_free_their_slot(server):
    port = server.server_address[1]
    streams = []
    for _ in range(8):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/_reportgen/events?v=0")
        response = conn.getresponse()
        assert response.getheader("Content-Type") == "text/event-stream"
        assert [response.readline(), response.readline()] == [b"retry: 500\n", b"\n"]
        streams.append((conn, response))
    extra = socket.create_connection(("127.0.0.1", port), timeout=10)
    assert _drain(extra).startswith(b"HTTP/1.1 503")  # the streams fill the cap
    for closing in streams.pop():
        closing.close()
    deadline = time.monotonic() + 5
    while server.connections.count() > 7 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.connections.count() == 7  # a closed stream's slot is freed within about a second
    idle = socket.create_connection(("127.0.0.1", port), timeout=10)
    assert _drain(idle) == b""  # closed by the idle deadline: the streams have outlived it
    version = server.shared.publish("ok", "<html><head></head><body></body></html>")
    for conn, response in streams:
        lines = [response.readline(), response.readline()]
        assert lines == [b"event: reload\n", f"data: {version}\n".encode()]
        response.close(), conn.close()
