"""Where the service keeps B2B events between requests: in the store, beside the registry.

Each event is one row of the ``events`` table: its record (the event, its participants and
meeting requests) and its latest plan, as JSON. Every server of a store sees the same events;
a read-modify-write runs in one write transaction holding the row (``SELECT ... FOR UPDATE``
on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), so concurrent changes are never lost.

Earlier versions kept events as ``<home>/events/<id>/event.json`` and ``plan.json``;
:meth:`EventStore.import_folder` copies such folders in once.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select

from matcher.errors import DuplicateEvent, UnknownEvent, UnreadableEvent
from matcher.events.model import Event, MeetingRequest, Participant, Plan
from matcher.store.engine import Store
from matcher.store.tables import EventRow
from matcher.text import slugify

log = logging.getLogger(__name__)

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


def _valid_id(event_id: object) -> bool:
    """An event id is a slug of at most 80 characters (the width of its column)."""
    return isinstance(event_id, str) and bool(event_id) and slugify(event_id) == event_id and len(event_id) <= 80


def _record(row: EventRow) -> EventRecord:
    try:
        return EventRecord.model_validate_json(row.record)
    except ValidationError:
        raise UnreadableEvent(f"the stored event {row.id!r} is unreadable") from None


class EventStore:
    """Events as rows of a store's ``events`` table."""

    def __init__(self, store: Store):
        self.store = store

    @staticmethod
    def _checked(event_id: str) -> str:
        if not _valid_id(event_id):
            raise _not_found(event_id)
        return event_id

    def new_id(self, name: str) -> str:
        return f"{slugify(name)[:60].strip('-') or 'event'}-{secrets.token_hex(3)}"

    def create(self, event_id: str, event: Event) -> EventRecord:
        """Store a new event; :class:`DuplicateEvent` if the id is taken."""
        self._checked(event_id)
        now = dt.datetime.now(dt.timezone.utc)
        record = EventRecord(id=event_id, event=event, created_at=now, updated_at=now)
        with self.store.write() as s:
            if s.get(EventRow, event_id) is not None:
                raise DuplicateEvent(f"an event with id {event_id!r} already exists", "id")
            s.add(EventRow(id=event_id, record=record.model_dump_json(), revision=0, created_at=now, updated_at=now))
        return record

    def get(self, event_id: str) -> EventRecord:
        self._checked(event_id)
        with self.store.read() as s:
            row = s.get(EventRow, event_id)
            if row is None:
                raise _not_found(event_id)
            return _record(row)

    def list(self) -> list[EventRecord]:
        """Every stored event, newest first (unreadable ones left out, with a warning)."""
        out = []
        with self.store.read() as s:
            for row in s.scalars(select(EventRow).order_by(EventRow.updated_at.desc(), EventRow.id)):
                try:
                    out.append(_record(row))
                except UnreadableEvent as exc:
                    log.warning("%s", exc)
        return out

    def update(self, event_id: str, change: Callable[[EventRecord], EventRecord]) -> EventRecord:
        """Apply ``change`` to the stored record, holding its row; bumps the revision."""
        self._checked(event_id)
        with self.store.write() as s:
            row = s.scalars(select(EventRow).where(EventRow.id == event_id).with_for_update()).first()
            if row is None:
                raise _not_found(event_id)
            record = change(_record(row))
            now = dt.datetime.now(dt.timezone.utc)
            record = record.model_copy(update={"revision": row.revision + 1, "updated_at": now})
            row.record, row.revision, row.updated_at = record.model_dump_json(), record.revision, now
        return record

    def save_plan(self, event_id: str, revision: int, plan: Plan) -> StoredPlan:
        self._checked(event_id)
        stored = StoredPlan(revision=revision, planned_at=dt.datetime.now(dt.timezone.utc), plan=plan)
        with self.store.write() as s:
            row = s.scalars(select(EventRow).where(EventRow.id == event_id).with_for_update()).first()
            if row is None:
                raise _not_found(event_id)
            row.plan = stored.model_dump_json()
        return stored

    def plan(self, event_id: str) -> StoredPlan | None:
        self._checked(event_id)
        with self.store.read() as s:
            row = s.get(EventRow, event_id)
            if row is None:
                raise _not_found(event_id)
            text = row.plan
        if text is None:
            return None
        try:
            return StoredPlan.model_validate_json(text)
        except ValidationError:
            raise UnreadableEvent(f"the stored plan of event {event_id!r} is unreadable") from None

    def import_folder(self, root: Path) -> int:
        """Copy events kept as ``<root>/<id>/event.json`` (and ``plan.json``) into the store,
        skipping ids it already holds and unreadable files; returns how many were copied.

        The folder is then renamed ``<root>-copied`` (kept, not deleted), so that later starts
        do not read it again."""
        root = Path(root)
        if not root.is_dir():
            return 0
        copied = 0
        for folder in sorted(p for p in root.iterdir() if p.is_dir()):
            try:
                record = EventRecord.model_validate_json((folder / EVENT_FILE).read_text(encoding="utf-8"))
                plan_path = folder / PLAN_FILE
                plan = StoredPlan.model_validate_json(plan_path.read_text(encoding="utf-8")) if plan_path.is_file() else None
            except (OSError, ValueError) as exc:
                log.warning("left out the event folder %s: %s", folder, exc)
                continue
            if not _valid_id(record.id):
                continue
            with self.store.write() as s:
                if s.get(EventRow, record.id) is not None:
                    continue
                s.add(EventRow(id=record.id, record=record.model_dump_json(), revision=record.revision,
                               plan=plan.model_dump_json() if plan else None,
                               created_at=record.created_at, updated_at=record.updated_at))
            copied += 1
        done = root.with_name(f"{root.name}-copied")
        try:
            root.rename(done)
        except OSError as exc:
            log.warning("could not rename %s after copying its events: %s", root, exc)
        if copied:
            log.info("copied %d events from %s into the store (the folder is now %s)", copied, root, done)
        return copied
