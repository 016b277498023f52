"""Hand memory that a step freed back to the operating system.

CPython and the libraries under it (GEOS, GDAL, Arrow) allocate through the C library's
``malloc``. glibc keeps freed memory inside its heaps, and the heaps of a large run get
fragmented: after reading the layers of 600,000 villages, 0.6 of the 2.0 GB resident is
free but kept, and the next steps' peaks stack on top of it. :func:`release_memory`
collects garbage and asks glibc to return every free page (``malloc_trim``); elsewhere
(macOS, Windows, musl) it only collects garbage.
"""

from __future__ import annotations

import ctypes
import gc
import sys
from collections.abc import Callable
from functools import cache

__all__ = ["release_memory"]


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or ``None`` where the C library has none."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return None
    trim = getattr(libc, "malloc_trim", None)
    if trim is None:
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


def release_memory() -> bool:
    """Collect garbage and return the free pages of the C heaps to the operating system.

    Returns
    -------
    bool
        Whether the C library could be asked to return pages (glibc).
    """
    gc.collect()
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
