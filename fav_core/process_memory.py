"""How a ``fav`` process's allocator treats big CPU buffers: huge pages, and freed memory kept for reuse.

The network allocates tens of activation tensors per frame, the largest 73 MB at 1024×436 (the 32-channel map
of the first layer plus its border). With glibc's defaults every buffer over 32 MiB is a fresh ``mmap`` that the
kernel must fault in and zero again for every frame, and smaller ones are trimmed back to the OS when freed:
about 14,000 page faults and a re-zeroed gigabyte per frame, ~20 % of the network time on the 2-core CPU
(bench/RESULTS.md). Two settings remove that:

- ``THP_MEM_ALLOC_ENABLE=1``: torch puts large CPU tensors on transparent huge pages (one fault per 2 MiB). torch
  reads it once, at its first allocation, so it only works before torch allocates.
- glibc ``mallopt(M_MMAP_MAX, 0)`` and ``mallopt(M_TRIM_THRESHOLD, INT_MAX)``: every block comes from the heap
  and freed blocks stay there, so the next frame's same-sized tensors reuse memory that is already mapped. The
  process then keeps its peak memory until it exits (about +0.2 GiB at 1024×436) — right for a ``fav`` process
  that stylizes one shot, wrong inside a host application, which is why only the ``fav`` console entry point
  calls :func:`tune_process` and library code never does.

``FAV_NO_MALLOC_TUNING=1`` in the environment skips the glibc part.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys

log = logging.getLogger(__name__)

#: glibc mallopt parameters (malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
INT_MAX = 2**31 - 1


def enable_huge_pages() -> bool:
    """Ask torch for transparent huge pages on large CPU tensors (a value the user set wins).

    Returns:
        True when torch has not been imported yet, so the setting can still take effect.
    """
    os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")
    return "torch" not in sys.modules


def retain_freed_memory() -> bool:
    """Make glibc serve every allocation from its heap and keep freed memory for reuse (module docstring).

    Returns:
        True when applied; False on other C libraries / systems, when ``FAV_NO_MALLOC_TUNING`` is set, or when
        glibc refused a setting.
    """
    if os.environ.get("FAV_NO_MALLOC_TUNING"):
        return False
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
        if not callable(getattr(libc, "gnu_get_libc_version", None)):
            return False  # musl and others have no mallopt semantics to rely on
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    ok = mallopt(M_MMAP_MAX, 0) == 1 and mallopt(M_TRIM_THRESHOLD, INT_MAX) == 1
    if not ok:
        log.debug("glibc refused the malloc settings; large buffers stay on mmap")
    return ok


def tune_process() -> dict[str, bool]:
    """Both settings, for a process that exists to run ``fav`` (the console entry point calls this first).

    Returns:
        {"huge_pages": ..., "retain_freed_memory": ...}: what could take effect.
    """
    return {"huge_pages": enable_huge_pages(), "retain_freed_memory": retain_freed_memory()}
