"""How a long-running process hands freed memory back to the system."""

from __future__ import annotations

import ctypes
import ctypes.util

#: glibc's ``mallopt`` parameter for the mmap threshold.
M_MMAP_THRESHOLD = -3
#: Blocks from this size up are mapped on their own, and unmapped as soon as they are freed.
MMAP_THRESHOLD_BYTES = 128 * 1024
#: glibc's ``mallopt`` parameter for the number of arenas.
M_ARENA_MAX = -8
#: Arenas a process may have (glibc's default: eight per core).
ARENA_MAX = 2


def return_large_blocks() -> bool:
    """Fix glibc's mmap threshold at :data:`MMAP_THRESHOLD_BYTES` for this process.

    By default glibc raises the threshold each time a mapped block is freed (up to 32 MiB),
    after which blocks of that size are carved from the heap instead. A server that builds and
    drops arrays of a few megabytes every few seconds, from request threads and a background
    rebuild at once, then leaves holes in its heaps that it never returns: under a steady mix
    of reads and writes its resident memory grew by half in ten minutes. With a fixed threshold
    every such array is mapped and given back when freed.

    It also caps the allocator's arenas at :data:`ARENA_MAX`. glibc gives threads that
    allocate at the same time arenas of their own, up to eight per core, and memory freed in
    one arena serves only that arena: a server's request threads, each allocating and freeing
    in turn, leave every arena holding free memory the others cannot use. Returns whether both
    settings took (False where the C library is not glibc).
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        threshold = bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
        return bool(libc.mallopt(M_ARENA_MAX, ARENA_MAX)) and threshold
    except (OSError, AttributeError):
        return False
