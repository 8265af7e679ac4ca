"""The one-thread section of request scoring (matcher.ranking.estimates.single_threaded)."""

from __future__ import annotations

import threading

import faiss  # noqa: F401  (loads the OpenMP and OpenBLAS libraries whose thread counts are checked)
import numpy as np  # noqa: F401
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from matcher.ranking.estimates import SingleThreaded, single_threaded


def thread_counts() -> set[int]:
    """The thread counts of every loaded BLAS and OpenMP library, as the calling thread sees them
    (OpenMP and OpenBLAS built on it count per thread)."""
    return {lib["num_threads"] for lib in threadpool_info()}


@pytest.fixture()
def two_threads():
    if not thread_counts():
        pytest.skip("no BLAS library with a thread pool is loaded")
    with threadpool_limits(limits=2):
        if thread_counts() != {2}:
            pytest.skip("the thread pools cannot be set to two threads here")
        yield


def test_overlapping_sections_keep_one_thread_until_the_last_leaves(two_threads):
    section = SingleThreaded()
    steps = [threading.Event() for _ in range(4)]
    seen: dict[str, set[int]] = {}

    def first() -> None:
        with section:
            seen["first in"] = thread_counts()
            steps[0].set()
            steps[1].wait(10)
        steps[2].set()  # left while the second is still inside

    def second() -> None:
        steps[0].wait(10)
        with section:
            steps[1].set()
            steps[2].wait(10)
            seen["second after first left"] = thread_counts()
            with section:  # nested in the same thread
                seen["nested"] = thread_counts()
            seen["after nested"] = thread_counts()
        steps[3].set()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert steps[3].is_set()
    assert seen == {"first in": {1}, "second after first left": {1}, "nested": {1}, "after nested": {1}}
    assert thread_counts() == {2}


def test_many_threads_entering_and_leaving_restore_the_original_count(two_threads):
    section = SingleThreaded()
    start = threading.Barrier(8)
    inside: list[set[int]] = []

    def work(i: int) -> None:
        start.wait(10)
        for _ in range(20 + i):
            with section:
                inside.append(thread_counts())

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(inside) == sum(20 + i for i in range(8))
    assert all(counts == {1} for counts in inside)
    assert thread_counts() == {2}


def test_the_process_shares_one_section(two_threads):
    assert single_threaded() is single_threaded()
    with single_threaded():
        assert thread_counts() == {1}
    assert thread_counts() == {2}


def test_a_thread_pool_loaded_after_the_first_section_is_limited_too():
    """The encoder's libraries (torch) load on first use, after requests have used the section."""
    import subprocess
    import sys

    code = """
import faiss, numpy
from threadpoolctl import threadpool_info, threadpool_limits
from matcher.ranking.estimates import SingleThreaded
section = SingleThreaded()
with threadpool_limits(limits=2):
    with section:
        pass
    import torch  # brings thread pools of its own
    with section:
        print(sorted({lib["num_threads"] for lib in threadpool_info()}))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[1]"
