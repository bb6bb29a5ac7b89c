"""The C allocator of a process that trains, told to keep the memory a training step frees.

glibc's malloc serves a large block by mapping fresh pages and unmaps them when the block is freed, or trims the top of
its heap, so every training step on the CPU faults its activations in again, page by page (1.7 million page faults
against 0.14 million for the same 250 steps of the EN3150 CNN, and 1.1 to 1.3 times the images/s kept:
benchmarks/throughput.py). Kept, the freed memory serves the next step as it is. The numbers a run computes do not
change; the process keeps up to its peak of memory, as jemalloc or tcmalloc would."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import platform

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameters (malloc.h)
M_MMAP_MAX = -4
KEPT_TRIM = 1 << 30  # freed memory at the heap's top kept before any goes back to the system
GLIBC_TRIM, GLIBC_MMAP_MAX = 128 * 1024, 65536  # glibc's own starting values
_TUNED_BY_USER = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_MMAP_MAX_", "MALLOC_TOP_PAD_")

_applied: bool | None = None  # None: not asked yet


def _mallopt():
    """glibc's mallopt, or None where the C library is another (macOS, Windows, musl)."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return None


def tuned_by_user() -> bool:
    """Whether the environment already sets malloc's thresholds (MALLOC_*_ variables or glibc.malloc tunables)."""
    return any(name in os.environ for name in _TUNED_BY_USER) or "glibc.malloc" in os.environ.get("GLIBC_TUNABLES", "")


def keep_freed_memory() -> bool:
    """Serve every allocation from the heap and keep up to 1 GiB freed at its top, once per process; True where that
    is in effect. Left as it is off glibc and where the user tuned malloc through the environment."""
    global _applied
    if _applied is None:
        mallopt = None if tuned_by_user() else _mallopt()
        _applied = bool(mallopt and mallopt(M_MMAP_MAX, 0) == 1 and mallopt(M_TRIM_THRESHOLD, KEPT_TRIM) == 1)
        log.debug("freed memory kept by the C allocator: %s", _applied)
    return _applied


def release_freed_memory() -> None:
    """glibc's starting values again (mapped large blocks, trimmed heap): for a benchmark that times both."""
    global _applied
    mallopt = _mallopt()
    if mallopt is not None and _applied:
        mallopt(M_MMAP_MAX, GLIBC_MMAP_MAX)
        mallopt(M_TRIM_THRESHOLD, GLIBC_TRIM)
    _applied = None
