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

FAULTS = textwrap.dedent("""
    import resource, sys, torch
    from reportgen.run import allocator
    kept = allocator.keep_freed_memory() if sys.argv[1] == "kept" else False
    for _ in range(10):  # 64 MiB, written: faulted in while the heap grows to hold it, either way
        torch.ones(16 << 20)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        torch.ones(16 << 20)  # as a training step's activations: allocated, written, freed
    print(kept, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
""")

TRAINED = textwrap.dedent("""
    import torch
    from reportgen.manifest.schema import TrainSpec
    from reportgen.run import allocator
    from reportgen.run.train import make_optimizer
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 64, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                                torch.nn.Linear(64 * 30 * 30, 10))
    opt = make_optimizer(model.parameters(), TrainSpec().optimizer)
    x, y = torch.randn(256, 3, 32, 32), torch.randint(0, 10, (256,))
    kept = allocator.keep_freed_memory()
    for _ in range(5):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
    print(kept, loss.item().hex(), float(sum(p.double().sum() for p in model.parameters())).hex())
""")


def _python(code: str, *args: str, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120,
                          env={**clean, "OMP_NUM_THREADS": "1", **env}, check=True)
    return proc.stdout.split()


def test_kept_freed_memory_serves_the_next_large_block_without_faulting_its_pages_in_again():
    kept, faults_kept = _python(FAULTS, "kept")
    default, faults_default = _python(FAULTS, "default")
    assert kept == "True" and default == "False"
    # glibc's default maps each 64 MiB block afresh: 16,384 page faults each time, 20 times; kept, the same memory
    assert int(faults_default) > 100_000
    assert int(faults_kept) < int(faults_default) / 10


def test_training_computes_the_same_numbers_with_freed_memory_kept_or_not():
    kept = _python(TRAINED)
    plain = _python(TRAINED, MALLOC_TOP_PAD_="131072")  # the user's own malloc settings: left as they are
    assert kept[0] == "True" and plain[0] == "False"
    assert kept[1:] == plain[1:]


def test_a_user_who_tuned_malloc_through_glibc_tunables_keeps_their_settings():
    out = _python("from reportgen.run import allocator; print(allocator.keep_freed_memory())",
                  GLIBC_TUNABLES="glibc.malloc.trim_threshold=0")
    assert out == ["False"]
