"""The C allocator of a process that trains on the CPU, told to keep the memory a training step frees.

glibc's malloc maps a block above its mmap threshold afresh and unmaps it when freed, and gives the top of its heap
back to the system once more than its trim threshold lies free there; both start low (128 KiB) and rise only as
large blocks come and go, so training steps keep faulting their activations in again, page by page. Raised from the
start, blocks up to 32 MiB come from the heap and up to 256 MiB freed at its top stay for the next step; larger
blocks are still mapped and unmapped. The EN3150 CNN at batch 64, in fresh processes: 1.35 times the images/s, 33,000
page faults against 1.6 million over the same 190 steps, the same peak memory (benchmarks/throughput.py has the
rates). The numbers a run computes do not change. After a run, `give_back` returns the heap's free pages."""

from __future__ import annotations

import ctypes
import logging
import os
import platform

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)
MMAP_THRESHOLD = 32 << 20  # the largest glibc accepts on 64-bit systems
TRIM_THRESHOLD = 256 << 20
_TUNED_BY_USER = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_MMAP_MAX_", "MALLOC_TOP_PAD_")
_OTHER_ALLOCATORS = ("jemalloc", "tcmalloc", "mimalloc")

_applied: bool | None = None  # None: not asked yet in this process


def _glibc():
    """The C library where it is glibc's and malloc is its own, else None (macOS, Windows, musl, a preloaded
    allocator)."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    if any(name in os.environ.get("LD_PRELOAD", "") for name in _OTHER_ALLOCATORS):
        return None
    try:
        libc = ctypes.CDLL(None)  # the process's own symbols: glibc's malloc, without searching for the library
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


def tuned_by_user() -> bool:
    """Whether the environment already sets malloc's thresholds (MALLOC_*_ variables or glibc.malloc tunables)."""
    return any(name in os.environ for name in _TUNED_BY_USER) or "glibc.malloc" in os.environ.get("GLIBC_TUNABLES", "")


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds, once per process; True where that is in effect. Left as it is off
    glibc, under another allocator and where the user tuned malloc through the environment."""
    global _applied
    if _applied is None:
        libc = None if tuned_by_user() else _glibc()
        _applied = bool(libc and libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
                        and libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1)
        log.debug("C allocator thresholds raised: %s", _applied)
    return _applied


def give_back() -> None:
    """Return the heap's free pages to the system (after a run: the next one, or the report, need not hold them)."""
    if _applied:
        _glibc().malloc_trim(0)
