"""Freed large blocks go back to the system (glibc's mmap threshold stays fixed), and the app sets it."""

from __future__ import annotations

import subprocess
import sys

import pytest
from api_fixtures import make_api
from fastapi.testclient import TestClient

from matcher import memory

CHECK = """
import ctypes, ctypes.util

from matcher.memory import MMAP_THRESHOLD_BYTES, return_large_blocks


class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                     "fsmblks", "uordblks", "fordblks", "keepcost")]


libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
if not hasattr(libc, "mallinfo2"):
    raise SystemExit("skip: needs glibc 2.33 or later")
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
libc.mallinfo2.restype = MallInfo2
assert return_large_blocks()
libc.free(libc.malloc(16 * 1024 * 1024))  # by default this raises the threshold to 16 MiB
mapped = libc.mallinfo2().hblks
block = libc.malloc(4 * MMAP_THRESHOLD_BYTES)
print(libc.mallinfo2().hblks - mapped)  # 1: mapped on its own, not carved from the heap
libc.free(block)
print(libc.mallinfo2().hblks - mapped)  # 0: unmapped when freed
"""


ARENAS = """
import ctypes, ctypes.util, sys, threading

from matcher.memory import return_large_blocks

libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
if sys.argv[1] == "capped":
    assert return_large_blocks()
start = threading.Barrier(8)


def work():  # ctypes lets go of the interpreter during each call: the threads allocate at once
    start.wait()
    for _ in range(2000):
        for block in [libc.malloc(256) for _ in range(50)]:
            libc.free(block)


threads = [threading.Thread(target=work) for _ in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
libc.malloc_stats()  # one "Arena n:" section per arena, on stderr
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_threads_allocating_at_once_share_at_most_the_capped_number_of_arenas() -> None:
    counts = {}
    for mode in ("default", "capped"):
        done = subprocess.run([sys.executable, "-c", ARENAS, mode], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        counts[mode] = sum(line.startswith("Arena ") for line in done.stderr.splitlines())
    assert counts["capped"] <= memory.ARENA_MAX < counts["default"], counts


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_a_block_over_the_threshold_is_mapped_even_after_a_larger_one_was_freed() -> None:
    """In a new interpreter, so that no other thread allocates meanwhile."""
    done = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=60, check=False)
    if done.stderr.startswith("skip:"):
        pytest.skip(done.stderr.strip())
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "0"]


def test_the_app_fixes_the_threshold_at_start_up(sqlite_url: str, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    monkeypatch.setattr(memory, "return_large_blocks", lambda: calls.append(1) or True)
    monkeypatch.setattr("api.app.return_large_blocks", memory.return_large_blocks)
    app, registry, suggester, _ = make_api(sqlite_url, tmp_path)
    try:
        with TestClient(app) as client:
            assert client.get("/health").status_code == 200
        assert calls == [1]
    finally:
        suggester.close()
        registry.close()
