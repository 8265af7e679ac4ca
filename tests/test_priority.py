"""Background threads yield the processor to requests (matcher.priority)."""

from __future__ import annotations

import os
import threading

import pytest

from matcher.priority import BACKGROUND_NICENESS, lower_this_thread


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="threads have no nice value of their own here")
def test_only_the_calling_thread_becomes_nicer():
    main = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    seen: dict[str, int | bool] = {}

    def background() -> None:
        tid = threading.get_native_id()
        seen["before"] = os.getpriority(os.PRIO_PROCESS, tid)
        seen["took"] = lower_this_thread()
        seen["after"] = os.getpriority(os.PRIO_PROCESS, tid)

    worker = threading.Thread(target=background)
    worker.start()
    worker.join()
    assert seen["took"] is True
    assert seen["after"] == min(19, int(seen["before"]) + BACKGROUND_NICENESS)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == main  # the caller's own is untouched
