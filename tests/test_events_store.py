"""The event store: events and plans as rows of the registry's store, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path

import pytest

from matcher.errors import DuplicateEvent, UnknownEvent, UnreadableEvent
from matcher.events.model import Event, Participant
from matcher.events.store import EventRecord, EventStore
from matcher.profiles import Organisation, OrgType, Side, Source
from matcher.store.registry import Registry
from matcher.store.tables import EventRow

EVENT = Event(name="Aero days", days=[dt.date(2026, 10, 12)], slots_per_day=4, tables=2)


def _guest(i: int) -> Participant:
    org = Organisation(id=f"guest-{i}", name=f"Guest {i}", side=Side.EU if i % 2 else Side.MX,
                       country="ES" if i % 2 else "MX", type=OrgType.COMPANY, sectors=["aerospace"],
                       sources=[Source(document="participants.csv", section=f"line {i}")])
    return Participant(organisation=org)


def test_create_get_update_and_list(registry: Registry):
    events = EventStore(registry.store)
    made = events.create("aero-days", EVENT)
    assert made.revision == 0 and events.get("aero-days").event == EVENT
    with pytest.raises(DuplicateEvent):
        events.create("aero-days", EVENT)
    changed = events.update("aero-days", lambda r: r.model_copy(update={"participants": [_guest(1)]}))
    assert changed.revision == 1
    again = events.get("aero-days")
    assert again.revision == 1 and [p.organisation.id for p in again.participants] == ["guest-1"]
    assert events.plan("aero-days") is None
    assert [r.id for r in events.list()] == ["aero-days"]
    for missing in ("nothing", "../etc", "", "A B"):
        with pytest.raises(UnknownEvent):
            events.get(missing)
    with pytest.raises(UnknownEvent):
        events.update("nothing", lambda r: r)


def test_a_second_store_object_sees_the_same_events(registry: Registry, tmp_path: Path):
    # Two servers over one database: each has its own engine, and both see every write.
    other = Registry.open(registry.settings, init=False)
    try:
        EventStore(registry.store).create("shared-day", EVENT)
        assert EventStore(other.store).get("shared-day").event.name == "Aero days"
    finally:
        other.close()


def test_concurrent_updates_lose_nothing(registry: Registry):
    events = EventStore(registry.store)
    events.create("busy-day", EVENT)
    errors: list[BaseException] = []

    def add(start: int) -> None:
        try:
            for i in range(start, start + 10):
                events.update("busy-day", lambda r, i=i: r.model_copy(update={"participants": [*r.participants, _guest(i)]}))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(k * 100,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    record = events.get("busy-day")
    assert record.revision == 30 and len({p.organisation.id for p in record.participants}) == 30


def test_an_unreadable_row_is_a_clear_error_and_left_out_of_lists(registry: Registry):
    events = EventStore(registry.store)
    events.create("good-day", EVENT)
    now = dt.datetime.now(dt.timezone.utc)
    with registry.store.write() as s:
        s.add(EventRow(id="bad-day", record="{not json", revision=0, created_at=now, updated_at=now))
    with pytest.raises(UnreadableEvent):
        events.get("bad-day")
    assert [r.id for r in events.list()] == ["good-day"]


def test_events_kept_in_folders_are_copied_in_once(registry: Registry, tmp_path: Path):
    root = tmp_path / "old-events"
    now = dt.datetime.now(dt.timezone.utc)
    record = EventRecord(id="old-day", event=EVENT, participants=[_guest(3)], revision=4, created_at=now, updated_at=now)
    (root / "old-day").mkdir(parents=True)
    (root / "old-day" / "event.json").write_text(record.model_dump_json(), encoding="utf-8")
    (root / "broken").mkdir()
    (root / "broken" / "event.json").write_text(json.dumps({"id": "broken"}), encoding="utf-8")
    events = EventStore(registry.store)
    assert events.import_folder(root) == 1
    assert events.import_folder(root) == 0  # already there
    copied = events.get("old-day")
    assert copied.revision == 4 and copied.participants[0].organisation.id == "guest-3"
    assert events.import_folder(tmp_path / "absent") == 0
