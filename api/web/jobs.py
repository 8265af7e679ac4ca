"""Planning in the background, with progress a page can show while it runs.

A plan takes seconds to a minute; the request that starts it returns at once and the page polls
the job's state. The state is a small JSON file under ``<home>/web/jobs`` (so every server
worker sees it); the work runs in a thread of the process that started it.

When an earlier plan exists, the new one is compared with it: which meetings stayed where they
were, which moved to another time or table, which are new and which were dropped.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from matcher.events import Plan
from index.atomic import write_text_atomic
from matcher.text import slugify

#: A job whose state has not changed for this long is taken as abandoned (its server stopped).
STALE_SECONDS = 15 * 60


@dataclass(frozen=True)
class JobState:
    """Where a planning job is: ``running``, ``done`` or ``failed``, with its latest stage."""

    status: str
    stage: str
    started: str
    updated: str
    error: str | None = None

    @property
    def running(self) -> bool:
        if self.status != "running":
            return False
        age = dt.datetime.now(dt.timezone.utc) - dt.datetime.fromisoformat(self.updated)
        return age.total_seconds() < STALE_SECONDS


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


class Jobs:
    """Planning jobs of one installation, one at a time per event."""

    def __init__(self, home: Path):
        self.folder = Path(home) / "web" / "jobs"
        self._lock = threading.Lock()

    def _path(self, event_id: str, kind: str = "job") -> Path:
        return self.folder / f"{slugify(event_id)}.{kind}.json"

    def _write(self, event_id: str, state: JobState) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        write_text_atomic(self._path(event_id), json.dumps(state.__dict__))

    def state(self, event_id: str) -> JobState | None:
        try:
            return JobState(**json.loads(self._path(event_id).read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return None

    def changes(self, event_id: str) -> dict[str, Any] | None:
        """What the latest re-plan changed, if it had an earlier plan."""
        try:
            return json.loads(self._path(event_id, "changes").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def start(self, event_id: str, work: Callable[[Callable[[str], None]], tuple[Plan | None, Plan]]) -> bool:
        """Run ``work(progress)`` in a thread; False when this event is already being planned.

        ``work`` returns the earlier plan (or None) and the new one, already saved.
        """
        with self._lock:
            current = self.state(event_id)
            if current is not None and current.running:
                return False
            started = _now()
            self._write(event_id, JobState("running", "starting", started, started))

        def progress(stage: str) -> None:
            self._write(event_id, JobState("running", stage, started, _now()))

        def run() -> None:
            try:
                earlier, plan = work(progress)
                if earlier is not None:
                    self.folder.mkdir(parents=True, exist_ok=True)
                    write_text_atomic(self._path(event_id, "changes"), json.dumps(compare(earlier, plan)))
                else:
                    self._path(event_id, "changes").unlink(missing_ok=True)
                self._write(event_id, JobState("done", "done", started, _now()))
            except Exception as exc:  # reported on the page; the thread must not die silently
                message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                self._write(event_id, JobState("failed", "failed", started, _now(), message))

        threading.Thread(target=run, name=f"plan-{event_id}", daemon=True).start()
        return True


def compare(earlier: Plan, plan: Plan) -> dict[str, Any]:
    """Meetings kept in place, moved, added and dropped between two plans (pairs by name)."""
    names = {p.id: p.name for p in earlier.participants} | {p.id: p.name for p in plan.participants}
    slots = plan.event.slots()
    before = {frozenset(m.pair): m for m in earlier.meetings}
    after = {frozenset(m.pair): m for m in plan.meetings}

    def label(m: Any, event_slots: list[Any]) -> str:
        slot = event_slots[m.slot] if m.slot < len(event_slots) else None
        when = f"{slot.day.isoformat()} {slot.start:%H:%M}" if slot else f"#{m.slot + 1}"
        return f"{when}, {m.table}"

    def pair(m: Any) -> str:
        return f"{names.get(m.a, m.a)} – {names.get(m.b, m.b)}"

    old_slots = earlier.event.slots()
    moved, kept = [], 0
    for key, m in after.items():
        old = before.get(key)
        if old is None:
            continue
        if (old.slot, old.table) == (m.slot, m.table):
            kept += 1
        else:
            moved.append({"pair": pair(m), "from": label(old, old_slots), "to": label(m, slots)})
    added = [{"pair": pair(m), "to": label(m, slots)} for key, m in after.items() if key not in before]
    dropped = [{"pair": pair(m), "from": label(m, old_slots)} for key, m in before.items() if key not in after]
    return {"kept": kept, "moved": sorted(moved, key=lambda r: r["to"]), "added": sorted(added, key=lambda r: r["to"]),
            "dropped": sorted(dropped, key=lambda r: r["from"])}
