"""CPU training memory: keep freed tensor memory in the process for the next step.

glibc's malloc serves a request above its mmap threshold (128 KiB, raised as blocks are
freed up to 32 MiB) with a fresh mapping and unmaps it when it is freed, and hands the
top of its heap back to the kernel beyond its trim threshold. A training step on CPU
allocates and frees the same large activations and gradients every step, so every step
faults their pages in anew: C1 at batch 256 takes about 150,000 page faults (600 MB
zero-filled by the kernel) a step, a third of its CPU time. With both thresholds raised,
a freed block stays in the heap and the next step reuses it without a fault.

Process-wide and permanent: the process keeps its peak memory (which the next step
needs again) instead of returning it between steps. Nothing changes where the C library
is not glibc.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import platform

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# mallopt takes a C int: the largest threshold it can be given, 2 GiB. Blocks above it (not
# a step of the paper's networks) are still mapped and unmapped as before.
_THRESHOLD = 2**31 - 1

_retained: bool | None = None


def retain_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds (once per process); True where they were set."""
    global _retained
    if _retained is None:
        _retained = False
        if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
            try:
                libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            except OSError:
                return False
            _retained = bool(libc.mallopt(_M_MMAP_THRESHOLD, _THRESHOLD)) and bool(
                libc.mallopt(_M_TRIM_THRESHOLD, _THRESHOLD))
    return _retained
