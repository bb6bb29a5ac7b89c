"""The sandbox verify runs student code in, attacked for real: the child tries to reach the network, read a secret
beside the class folder, write outside its scratch folder, outlive its run, loop and allocate without bound."""

from __future__ import annotations

import os
import socket
import sys
import textwrap
import time
from pathlib import Path

import pytest

from reportgen.grading.sandbox import Limits, probe, run_child

from manifests import DATE, SMALL, manifest_text, variant

needs_bwrap = pytest.mark.skipif(not probe().isolated, reason=f"no usable bubblewrap here: {probe().text()}")


def _child(code: str, tmp_path: Path, readable: list[Path], limits: Limits = Limits(wall_seconds=60)):
    """Run a Python program as the sandboxed child; (its answer, its error, its stderr lines)."""
    lines: list[str] = []
    scratch = tmp_path / "scratch"
    scratch.mkdir(exist_ok=True)
    program = "import json, sys\nanswer = {}\n" + textwrap.dedent(code) + "\nprint(json.dumps(answer))\n"
    done = run_child([sys.executable, "-c", program], {}, scratch, readable, limits, lines.append)
    return done.answer, done.error, lines


@needs_bwrap
def test_the_child_reaches_no_network_no_secret_and_writes_only_its_scratch(tmp_path):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(0.5)
    port = server.getsockname()[1]
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET-4d2e")
    submission = tmp_path / "class" / "team"
    submission.mkdir(parents=True)
    (submission / "net.py").write_text("x = 1\n")
    answer, error, _ = _child(f"""
        import os, socket
        def attempt(fn):
            try:
                return repr(fn())
            except Exception as exc:
                return "refused: " + type(exc).__name__
        answer["connect"] = attempt(lambda: socket.create_connection(("127.0.0.1", {port}), timeout=2))
        answer["secret"] = attempt(lambda: open({str(secret)!r}).read())
        answer["home"] = attempt(lambda: os.listdir({str(Path.home())!r}))
        answer["write_outside"] = attempt(lambda: open({str(tmp_path / 'pwned')!r}, "w").write("x"))
        answer["write_submission"] = attempt(lambda: open({str(submission / 'pwned')!r}, "w").write("x"))
        answer["read_submission"] = attempt(lambda: open({str(submission / 'net.py')!r}).read())
        answer["write_scratch"] = attempt(lambda: open("here.txt", "w").write("x"))
        answer["pids"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    """, tmp_path, [submission])
    assert error is None, error
    assert answer["connect"].startswith("refused") and answer["secret"].startswith("refused")
    assert answer["home"].startswith("refused") or "secret" not in answer["home"]
    assert answer["write_submission"].startswith("refused")  # read-only; a write "outside" lands in its own /tmp
    assert answer["read_submission"] == repr("x = 1\n") and answer["write_scratch"] == "1"
    assert max(answer["pids"]) < 10  # its own PID namespace: the grader's processes are not there
    with pytest.raises(socket.timeout):
        server.accept()
    assert not (tmp_path / "pwned").exists() and not (submission / "pwned").exists()


@pytest.mark.unit
@needs_bwrap
def test_nothing_the_child_forks_outlives_it(tmp_path):
    marker = f"reportgen-sandbox-sleeper-{os.getpid()}"
    answer, error, _ = _child(f"""
        import os, subprocess
        subprocess.Popen(["sleep", "600", {marker!r}][:2] , start_new_session=True)
        if os.fork() == 0:
            os.setsid()
            os.execvp("sleep", ["sleep", "601"])
        answer["forked"] = True
    """, tmp_path, [])
    assert error is None and answer == {"forked": True}
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        sleepers = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _cmdline(p) in ("sleep 600", "sleep 601")]
        if not sleepers:
            break
        time.sleep(0.2)
    assert not sleepers


def _cmdline(proc: Path) -> str:
    try:
        return (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


@pytest.mark.unit
def test_a_child_looping_forever_is_killed_at_the_wall_clock_limit(tmp_path):
    started = time.monotonic()
    answer, error, _ = _child("while True:\n    pass\n", tmp_path, [], Limits(wall_seconds=3))
    assert answer is None and "wall-clock limit of 3 s" in error
    assert time.monotonic() - started < 30


@pytest.mark.unit
def test_a_child_allocating_without_bound_stops_at_its_memory_limit(tmp_path):
    answer, error, _ = _child("""
        grow = []
        try:
            while True:
                grow.append(bytearray(16 << 20))
        except MemoryError:
            answer["stopped_at_mib"] = 16 * len(grow)
    """, tmp_path, None, Limits(wall_seconds=60, address_space=768 << 20))
    assert error is None and answer["stopped_at_mib"] < 768


NET_CLASS = """

class Net(nn.Module):
    def __init__(self, num_classes=10, in_channels=1):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(64 * in_channels, num_classes))

    def forward(self, x):
        return self.body(x)
"""
SANDBOXED = variant(SMALL, report={"title": "Sandboxed", "team": [{"name": "Ann", "id": "A1"}], "date": DATE},
                    models={"net": {"module": "net.py:Net"}}, train={"measure": None},
                    sections=["cover", "training", "provenance"])
SANDBOXED_MANIFEST = manifest_text(SANDBOXED)
HOSTILE_NET = """\
import os
from pathlib import Path
from torch import nn

for attempt in (lambda: (Path(__file__).resolve().parents[2] / "pwned").write_text("x"),
                lambda: print("stolen:", Path({secret!r}).read_text())):
    try:
        attempt()
    except OSError as exc:
        print("refused:", type(exc).__name__)

""" + NET_CLASS


@needs_bwrap
@pytest.mark.slow
def test_build_sandbox_writes_only_its_output_folder_and_reads_no_secret(tmp_path):
    import subprocess

    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET-91bc")
    team = tmp_path / "team"
    team.mkdir()
    (team / "m.yaml").write_text(SANDBOXED_MANIFEST)
    (team / "net.py").write_text(HOSTILE_NET.format(secret=str(secret)))
    done = subprocess.run([sys.executable, "-m", "reportgen.cli", "build", str(team / "m.yaml"), "--sandbox",
                           "--no-pdf"], capture_output=True, text=True, timeout=300, env={**os.environ, "CI": "1"})
    assert done.returncode == 0, done.stderr
    assert "refused: " in done.stdout + done.stderr and "SECRET-91bc" not in done.stdout + done.stderr
    assert not (tmp_path / "pwned").exists()
    assert (team / "output" / "m" / "report.html").is_file() and "SECRET-91bc" not in \
        (team / "output" / "m" / "report.html").read_text("utf-8")


FORGER = """\
import json
import os
import sys

from torch import nn

frame = sys._getframe()
while frame is not None:  # in verify's re-run process: answer the recorded numbers as the re-run's and leave
    if "records" in frame.f_locals and "chosen" in frame.f_locals:
        records, chosen = frame.f_locals["records"], frame.f_locals["chosen"]
        sys.stdout.write(json.dumps({"runs": {r: {"record": records[r], "full": True} for r in chosen},
                                     "patched": [], "order": chosen}))
        sys.stdout.flush()
        os._exit(0)
    frame = frame.f_back

""" + NET_CLASS
MIXED_MANIFEST = manifest_text(
    SANDBOXED, models={**SANDBOXED["models"], "cnn": {"layers": [{"conv": {"out": 4, "kernel": 3, "padding": "same"}},
                                                                  "relu", "flatten", {"linear": "classes"}]}},
    experiments=[*SANDBOXED["experiments"], {"id": "baseline", "model": "cnn"}])


@needs_bwrap
@pytest.mark.slow
def test_a_module_cannot_forge_the_re_run_of_a_run_that_does_not_use_it(tmp_path):
    import json

    from conftest import cli

    team = tmp_path / "team"
    team.mkdir()
    (team / "m.yaml").write_text(MIXED_MANIFEST)
    (team / "net.py").write_text(FORGER)
    built = cli("build", team / "m.yaml", "--out", team, "--no-pdf", env={"CI": "1"})
    assert built.exit_code == 0, built.output
    results = json.loads((team / "results.json").read_text("utf-8"))
    results["runs"]["baseline"]["test"]["accuracy"] = 0.9987  # what the plain CNN did not reach
    (team / "results.json").write_text(json.dumps(results), "utf-8")
    result = cli("verify", team, "--format", "json", env={"CI": "1"})
    verdicts = {r["id"]: r for r in json.loads(result.stdout)["runs"]}
    assert verdicts["baseline"]["outcome"] == "differs"
    assert any(d["metric"] == "test.accuracy" and d["recorded"] == 0.9987 for d in verdicts["baseline"]["differences"])
    # the run that uses the module is as trustworthy as that file, and verify says so
    assert any("runs the submission's own code (net.py)" in n for n in verdicts["base"]["notes"])


@pytest.mark.unit
def test_python_and_reportgen_are_bound_over_the_sandboxs_tmp(tmp_path):
    """A checkout under /tmp (CI's clone may be one) stays visible: /tmp is emptied first, the binds come after."""
    from reportgen.grading.sandbox import bwrap_command

    args = bwrap_command(["true"], tmp_path, [tmp_path / "team"])
    tmpfs = args.index("--tmpfs")
    assert args[tmpfs + 1] == "/tmp"
    assert all(i > tmpfs for i, a in enumerate(args) if a in ("--ro-bind", "--bind", "--symlink"))
