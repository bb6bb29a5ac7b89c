"""Running a submission's code away from the grader: a child process in bubblewrap (no network, own PID namespace,
read-only system, writes only to a scratch folder) under rlimits and a wall-clock limit; it answers in JSON."""

from __future__ import annotations

import ctypes
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable

import reportgen

_PR_SET_PDEATHSIG = 1
_ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "fonts", "localtime", "passwd", "group",
        "nsswitch.conf", "mime.types")
_SYSTEM = ("/usr", "/lib", "/lib32", "/lib64", "/bin", "/sbin", "/opt")


@dataclass(frozen=True)
class Limits:
    """What one sandboxed child may use."""

    wall_seconds: float = 3600.0
    cpu_seconds: int = 7200
    address_space: int = 8 << 30  # torch alone maps about 3.5 GB of address space
    file_size: int = 2 << 30
    processes: int = 512  # enforced for non-root graders only: the kernel exempts root from RLIMIT_NPROC

    @classmethod
    def of(cls, seconds: float, gib: int) -> "Limits":
        """A wall-clock limit (CPU time twice it: a run may use two threads) and an address space in GiB."""
        return cls(wall_seconds=float(seconds), cpu_seconds=int(2 * seconds), address_space=int(gib) << 30)


@dataclass
class SandboxStatus:
    """Whether bubblewrap isolates the child here, and what is missing when it does not."""

    isolated: bool
    missing: list[str] = field(default_factory=list)

    def text(self) -> str:
        """One line for doctor and verify."""
        if self.isolated:
            return "bubblewrap: no network, own PID namespace, read-only system, writes only to a scratch folder"
        return "no sandbox: " + "; ".join(self.missing)


@lru_cache(maxsize=1)
def probe() -> SandboxStatus:
    """Try bubblewrap once: found, and allowed to make the namespaces it needs."""
    exe = shutil.which("bwrap")
    if exe is None:
        return SandboxStatus(False, ["bwrap not found (Debian/Ubuntu: apt-get install bubblewrap): no network, "
                                     "filesystem or PID isolation; module: files are not run without --trust-code"])
    try:
        done = subprocess.run([exe, "--unshare-all", "--die-with-parent", *_system_binds(), "--proc", "/proc",
                               "--dev", "/dev", "true"], capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return SandboxStatus(False, [f"bwrap cannot start ({exc})"])
    if done.returncode != 0:
        why = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no message"]
        return SandboxStatus(False, [f"bwrap cannot create namespaces here ({why[0]}; user namespaces may be "
                                     "disabled): no network, filesystem or PID isolation"])
    return SandboxStatus(True)


def _system_binds() -> list[str]:
    """Read-only binds of the system: /usr and friends (symlinks kept as symlinks) and a few files of /etc."""
    args: list[str] = []
    for path in _SYSTEM:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    for name in _ETC:
        if os.path.exists(f"/etc/{name}"):
            args += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    return args


def _python_binds() -> list[str]:
    """Read-only binds of this Python, its packages and reportgen itself (only its package folder where it is
    installed from a checkout, so the checkout's other files stay out)."""
    package = Path(reportgen.__file__).resolve().parent
    paths = {Path(sys.base_prefix), Path(sys.prefix), Path(sys.executable).resolve().parent}
    for entry in sys.path:
        p = Path(entry or ".").resolve()
        if not p.is_dir() or p == Path.cwd():
            continue
        checkout = p == package.parent and p.name not in ("site-packages", "dist-packages")
        paths.add(package if checkout else p)
    paths.add(package)
    if (package.parent / "templates").is_dir():  # a checkout's templates (the wheel carries them inside the package)
        paths.add(package.parent / "templates")
    for cache in ("TORCH_HOME", "HF_HOME"):
        if os.environ.get(cache):
            paths.add(Path(os.environ[cache]))
    paths.update(p for p in (Path.home() / ".cache/torch", Path.home() / ".cache/huggingface") if p.is_dir())
    args: list[str] = []
    for p in sorted(paths, key=lambda q: len(q.parts)):
        if p.exists() and not any(str(p).startswith(s + "/") for s in _SYSTEM):
            args += ["--ro-bind", str(p), str(p)]
    return args


def _devices() -> list[str]:
    """The GPU's device files, when there is one: CUDA runs need them (the driver is not isolated)."""
    names = sorted(n for n in os.listdir("/dev") if n.startswith("nvidia")) if os.path.isdir("/dev") else []
    return [a for n in names for a in ("--dev-bind", f"/dev/{n}", f"/dev/{n}")]


def bwrap_command(argv: list[str], scratch: Path, readable: list[Path], writable: tuple[Path, ...] = ()) -> list[str]:
    """The bubblewrap command line running argv with `readable` folders read-only, `writable` ones and `scratch`
    writable."""
    # /tmp first: Python, reportgen (a checkout may live under /tmp) and the folders below are bound on top of it
    args = [shutil.which("bwrap") or "bwrap", "--unshare-all", "--die-with-parent", "--new-session",
            "--cap-drop", "ALL", "--tmpfs", "/tmp", *_system_binds(), *_python_binds(), "--proc", "/proc",
            "--dev", "/dev", *_devices()]
    for folder in readable:
        args += ["--ro-bind", str(folder), str(folder)]
    for folder in (*writable, scratch):
        args += ["--bind", str(folder), str(folder)]
    args += ["--chdir", str(scratch)]
    for key, value in child_environment(scratch).items():
        args += ["--setenv", key, value]
    return [*args, "--", *argv]


def child_environment(scratch: Path) -> dict[str, str]:
    """Where the child's caches and temporary files go: all under scratch."""
    return {"HOME": str(scratch), "TMPDIR": str(scratch / "tmp"), "MPLCONFIGDIR": str(scratch / "mpl"),
            "REPORTGEN_UNPACK_DIR": str(scratch / "unpacked"), "TORCHINDUCTOR_CACHE_DIR": str(scratch / "inductor"),
            "XDG_CACHE_HOME": str(scratch / "cache"), "PYTHONDONTWRITEBYTECODE": "1"}


def _limit(limits: Limits) -> Callable[[], None]:
    """The child's pre-exec step: rlimits, and death with the grader (prctl), in the forked child."""
    def apply() -> None:
        for which, value in ((resource.RLIMIT_CPU, limits.cpu_seconds), (resource.RLIMIT_AS, limits.address_space),
                             (resource.RLIMIT_FSIZE, limits.file_size), (resource.RLIMIT_NPROC, limits.processes),
                             (resource.RLIMIT_CORE, 0)):
            resource.setrlimit(which, (value, value))
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            pass
    return apply


@dataclass
class ChildResult:
    """What the child answered (its JSON), or why it gave no answer."""

    answer: dict | None
    error: str | None


_LIVE: set[subprocess.Popen] = set()  # children running now, killed together when the grader is interrupted
_LIVE_LOCK = threading.Lock()


def kill_all() -> None:
    """Kill every child still running (Ctrl-C in the grader: they are in sessions of their own)."""
    with _LIVE_LOCK:
        live = list(_LIVE)
    for proc in live:
        _kill(proc)


_PASSED = ("PATH", "LANG", "LC_ALL", "REPORTGEN_THREADS", "CI", "NO_COLOR", "CUDA_VISIBLE_DEVICES", "PYTHONPATH")


def _sandbox_env(scratch: Path) -> dict[str, str]:
    """The few variables a sandboxed child keeps, and its caches and temporary files under scratch (made here)."""
    env = {k: v for k, v in os.environ.items() if k in _PASSED}
    env.update(child_environment(scratch))
    for sub in ("tmp", "mpl", "unpacked", "cache"):
        (scratch / sub).mkdir(parents=True, exist_ok=True)
    return env


@contextmanager
def _started(command: list[str], env: dict, limits: Limits, **popen):
    """A child in a session of its own under `limits`, known to kill_all while it runs, killed (its whole process
    group) when the block ends."""
    proc = subprocess.Popen(command, env=env, preexec_fn=_limit(limits), start_new_session=True, **popen)
    with _LIVE_LOCK:
        _LIVE.add(proc)
    try:
        yield proc
    finally:
        _kill(proc)
        with _LIVE_LOCK:
            _LIVE.discard(proc)


def run_child(argv: list[str], request: dict, scratch: Path, readable: list[Path] | None, limits: Limits,
              on_line: Callable[[str], None]) -> ChildResult:
    """Run argv with `request` as JSON on stdin, in the sandbox where there is one (readable=None: no sandbox, the
    grader's environment, for reportgen's own code on data); its stderr lines go to on_line, its stdout is its
    JSON answer. Killed (its whole process group) past the wall-clock limit."""
    isolated = readable is not None and probe().isolated
    command = bwrap_command(argv, scratch, readable) if isolated else argv
    env = _sandbox_env(scratch) if readable is not None else dict(os.environ)
    out: list[bytes] = []
    last: list[str] = []  # the child's last stderr line: why it gave no answer, when it gives none

    def heard(line: str) -> None:
        last[:] = [line] if line.strip() else last
        on_line(line)

    with _started(command, env, limits, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                  cwd=scratch) as proc:
        readers = [threading.Thread(target=lambda: out.append(proc.stdout.read()), daemon=True),
                   threading.Thread(target=_lines, args=(proc.stderr, heard), daemon=True)]
        for reader in readers:
            reader.start()
        try:
            proc.stdin.write(json.dumps(request).encode("utf-8"))
            proc.stdin.close()
        except BrokenPipeError:
            pass
        try:
            proc.wait(timeout=limits.wall_seconds)
        except subprocess.TimeoutExpired:
            return ChildResult(None, f"stopped after the wall-clock limit of {limits.wall_seconds:.0f} s")
    for reader in readers:
        reader.join(timeout=5)
    answer, error = _answer(proc.returncode, b"".join(out))
    if error is not None and last:
        error += f" (its last words: {last[0][-300:]})"
    return ChildResult(answer, error)


def _lines(stream, on_line: Callable[[str], None]) -> None:
    """Forward a child's stderr line by line (bounded length: a line is the child's, not trusted)."""
    for raw in iter(stream.readline, b""):
        on_line(raw[:2000].decode("utf-8", "replace").rstrip("\n"))


def _kill(proc: subprocess.Popen) -> None:
    """Kill the child's process group (anything it forked that left the sandbox's PID namespace goes too)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:  # a process stuck in the kernel (a FUSE read): it is the kernel's now
        pass


def _answer(code: int, stdout: bytes) -> tuple[dict | None, str | None]:
    """The child's JSON answer, or why there is none (a signal, a crash, no JSON)."""
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
        hint = {"SIGXCPU": " (its CPU-time limit)", "SIGKILL": " (killed: out of memory or a limit)",
                "SIGXFSZ": " (its file-size limit)"}.get(name, "")
        return None, f"the re-run process was stopped by {name}{hint}"
    try:
        answer = json.loads(stdout.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None, f"the re-run process exited with code {code} and gave no answer"
    if not isinstance(answer, dict):
        return None, "the re-run process gave an answer that is not a JSON object"
    return answer, None


def run_sandboxed(argv: list[str], readable: list[Path], writable: Path, limits: Limits) -> int:
    """Run a whole command (a `reportgen build` of a student's manifest) in bubblewrap, its output on this terminal,
    `writable` its only folder to write besides a scratch folder; its exit code (124 past the wall-clock limit)."""
    import tempfile

    writable.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="reportgen-sandbox-") as scratch:
        env = _sandbox_env(Path(scratch))
        with _started(bwrap_command(argv, Path(scratch), readable, (writable,)), env, limits) as proc:
            try:
                return proc.wait(timeout=limits.wall_seconds)
            except subprocess.TimeoutExpired:
                return 124
