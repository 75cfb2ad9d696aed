"""Process-wide settings that make PyTorch on a CPU faster without changing any result.

glibc's ``malloc`` serves every block above a dynamic threshold (128 KiB to 32 MiB) with a fresh ``mmap`` and
returns it to the kernel on ``free``. A training step allocates and frees activations and gradients of tens of MB
each (ViraMiner's first convolution: 44 MB per batch of 128), so every step page-faults them in again and the kernel
zeroes each page: measured, nearly half of a ViraMiner step went to those faults (``sys`` time).
:func:`tune_allocator` raises the mmap threshold to 1 GiB and stops the heap from being trimmed, so freed blocks are
reused from the heap: 1.8x ViraMiner and 1.05x ResVG training throughput (``benchmarks/allocator_ab.py``,
benchmarks/README.md). The cost is that memory freed by a step stays with the process, so its resident size stays at
its peak.

Set ``RESGENOME_MALLOC=default`` to leave glibc's settings alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import sys

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameters, <malloc.h>
_MMAP_THRESHOLD = 1 << 30  # blocks above this still get their own mapping (they are rare and huge)
_TRIM_THRESHOLD = 1 << 31


@functools.cache
def tune_allocator() -> bool:
    """Keep large freed blocks in the heap (glibc only; a no-op elsewhere). Runs once; True if settings changed."""
    if os.environ.get("RESGENOME_MALLOC", "").lower() == "default" or not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):  # musl and other C libraries have no mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))
