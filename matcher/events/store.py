"""Where the service keeps B2B events between requests: one JSON folder per event.

``<home>/events/<id>/event.json`` holds the event, its participants and meeting requests;
``plan.json`` the latest plan. Files are replaced atomically (write to a temporary name, then
``os.replace``) and every read-modify-write holds an exclusive lock on the event's folder, so
several server workers can share the folder safely.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from index.atomic import write_text_atomic
from matcher.errors import DuplicateEvent, UnknownEvent, UnreadableEvent
from matcher.events.model import Event, MeetingRequest, Participant, Plan
from matcher.text import slugify

EVENT_FILE = "event.json"
PLAN_FILE = "plan.json"


class EventRecord(BaseModel):
    """An event with everything needed to plan it."""

    model_config = ConfigDict(extra="forbid")

    id: str
    event: Event
    participants: list[Participant] = Field(default_factory=list)
    requests: list[MeetingRequest] = Field(default_factory=list)
    revision: int = 0
    created_at: dt.datetime
    updated_at: dt.datetime


class StoredPlan(BaseModel):
    """A plan and the revision of the event record it was made from."""

    model_config = ConfigDict(extra="forbid")

    revision: int
    planned_at: dt.datetime
    plan: Plan


def _not_found(event_id: str) -> UnknownEvent:
    return UnknownEvent(f"no event has id {event_id!r}", "id")


class EventStore:
    """Events as JSON folders under ``root``."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def _folder(self, event_id: str) -> Path:
        if slugify(event_id) != event_id:
            raise _not_found(event_id)
        return self.root / event_id

    @contextmanager
    def _locked(self, folder: Path) -> Iterator[None]:
        with open(folder / ".lock", "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def new_id(self, name: str) -> str:
        return f"{slugify(name)[:60].strip('-') or 'event'}-{secrets.token_hex(3)}"

    def create(self, event_id: str, event: Event) -> EventRecord:
        """Store a new event; :class:`DuplicateEvent` if the id is taken."""
        self.root.mkdir(parents=True, exist_ok=True)
        folder = self.root / event_id
        try:
            folder.mkdir()
        except FileExistsError:
            raise DuplicateEvent(f"an event with id {event_id!r} already exists", "id") from None
        now = dt.datetime.now(dt.timezone.utc)
        record = EventRecord(id=event_id, event=event, created_at=now, updated_at=now)
        with self._locked(folder):
            write_text_atomic(folder / EVENT_FILE, record.model_dump_json())
        return record

    def get(self, event_id: str) -> EventRecord:
        path = self._folder(event_id) / EVENT_FILE
        try:
            return EventRecord.model_validate_json(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise _not_found(event_id) from None
        except ValidationError:
            raise UnreadableEvent(f"the stored event {event_id!r} is unreadable") from None

    def update(self, event_id: str, change: Callable[[EventRecord], EventRecord]) -> EventRecord:
        """Apply ``change`` to the stored record under the event's lock; bumps the revision."""
        folder = self._folder(event_id)
        if not (folder / EVENT_FILE).is_file():
            raise _not_found(event_id)
        with self._locked(folder):
            record = change(self.get(event_id))
            record = record.model_copy(update={"revision": record.revision + 1,
                                               "updated_at": dt.datetime.now(dt.timezone.utc)})
            write_text_atomic(folder / EVENT_FILE, record.model_dump_json())
        return record

    def save_plan(self, event_id: str, revision: int, plan: Plan) -> StoredPlan:
        folder = self._folder(event_id)
        stored = StoredPlan(revision=revision, planned_at=dt.datetime.now(dt.timezone.utc), plan=plan)
        with self._locked(folder):
            write_text_atomic(folder / PLAN_FILE, stored.model_dump_json())
        return stored

    def plan(self, event_id: str) -> StoredPlan | None:
        path = self._folder(event_id) / PLAN_FILE
        if not path.is_file():
            if not (path.parent / EVENT_FILE).is_file():
                raise _not_found(event_id)
            return None
        return StoredPlan.model_validate_json(path.read_text(encoding="utf-8"))
