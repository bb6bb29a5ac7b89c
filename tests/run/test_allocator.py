"""A process that trains keeps the memory a step frees (glibc): a freed large block serves the next allocation
instead of fresh pages faulted in; the numbers trained are the same bit for bit; a user's own malloc settings win."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                                reason="tunes glibc's malloc: Linux with glibc only")

STEPS = textwrap.dedent("""
    import resource, sys, torch
    from torch import nn
    from reportgen.run import allocator
    kept = allocator.keep_freed_memory() if sys.argv[1] == "kept" else False
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.Conv2d(32, 64, 3, padding=1),
                          nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(),
                          nn.Flatten(), nn.Linear(64 * 16 * 16, 10)).to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(64, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (64,))
    def step():
        opt.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss
    for _ in range(5):
        step()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        loss = step()
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    weights = float(sum(p.double().sum() for p in model.parameters()))
    print(kept, faults, loss.item().hex(), weights.hex())
""")


def _python(code: str, *args: str, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120,
                          env={**clean, "OMP_NUM_THREADS": "1", **env}, check=True)
    return proc.stdout.split()


@pytest.mark.slow  # two fresh processes each, importing torch
@pytest.mark.parametrize("threads", ["1", "2"])
def test_kept_freed_memory_serves_the_next_steps_activations_and_trains_the_same_numbers(threads):
    kept, faults_kept, *numbers_kept = _python(STEPS, "kept", OMP_NUM_THREADS=threads)
    default, faults_default, *numbers_default = _python(STEPS, "default", OMP_NUM_THREADS=threads)
    assert kept == "True" and default == "False"
    # glibc's defaults give 16 MiB activations back and fault them in again: about 21,000 page faults a step
    assert int(faults_default) > 100_000
    assert int(faults_kept) < int(faults_default) / 10
    assert numbers_kept == numbers_default  # the last loss and the weights, bit for bit


def test_the_user_s_own_malloc_settings_win():
    for env in ({"MALLOC_TRIM_THRESHOLD_": "131072"}, {"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=0"}):
        out = _python("from reportgen.run import allocator; print(allocator.keep_freed_memory())", **env)
        assert out == ["False"], env


def test_training_on_the_cpu_keeps_freed_memory_and_the_heap_is_trimmed_after_it(tmp_path, monkeypatch):
    from conftest import TINY_MANIFEST, write_manifest
    from reportgen import build
    from reportgen.run import allocator
    from reportgen.run.estimate import PlanDatasets
    from reportgen.run.plan import plan_runs
    from reportgen.run.probe import measure_speed

    for name in ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_MMAP_MAX_", "MALLOC_TOP_PAD_",
                 "GLIBC_TUNABLES", "LD_PRELOAD"):
        monkeypatch.delenv(name, raising=False)
    trims: list[int] = []
    monkeypatch.setattr(allocator, "_applied", None)  # this test process, as if it had not trained yet
    real = allocator._glibc()
    monkeypatch.setattr(allocator, "_glibc", lambda: _Counting(real, trims))
    loaded = build.Pipeline.open(write_manifest(tmp_path, TINY_MANIFEST), models=None).loaded
    datasets = PlanDatasets(loaded, False)
    plan = plan_runs(loaded, datasets, False)[0]
    measure_speed(loaded, plan, datasets.get(), 1, 0.3)  # builds and trains the run's state as a run does
    assert allocator._applied is True and trims == [0]


class _Counting:
    """glibc, with its malloc_trim calls counted."""

    def __init__(self, libc, trims: list[int]):
        self.libc, self.trims, self.mallopt = libc, trims, libc.mallopt

    def malloc_trim(self, pad: int) -> int:
        self.trims.append(pad)
        return self.libc.malloc_trim(pad)
