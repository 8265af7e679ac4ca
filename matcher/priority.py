"""Background work that yields the processor to the requests a server is answering."""

from __future__ import annotations

import os
import threading

#: How much nicer than the requests the background threads (rebuild, encoding ahead) are.
BACKGROUND_NICENESS = 10


def lower_this_thread(niceness: int = BACKGROUND_NICENESS) -> bool:
    """Raise the calling thread's nice value by ``niceness`` (Linux keeps one per thread), so
    that the scheduler gives the processor to the request threads first and to this thread
    what is left. Threads it starts inherit the value. Returns whether it took (False where
    threads have no nice value of their own, or the system refuses)."""
    if not hasattr(os, "setpriority") or not os.path.isdir("/proc/self/task"):
        return False
    tid = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + niceness))
    except OSError:
        return False
    return True
