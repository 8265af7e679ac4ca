"""Event model, participant and request files, and the written outputs (CSV, XLSX, ICS, HTML)."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import pytest
from icalendar import Calendar
from openpyxl import Workbook, load_workbook

from matcher.errors import EventError, UnknownOrganisation
from matcher.events import (
    MeetingRequest,
    load_participants,
    load_requests,
    plan_event,
    read_plan,
    sector_scorer,
    verify_plan,
    write_outputs,
)
from matcher.events import outputs as outputs_module
from tests.events_fixtures import DAY1, DAY2, event, org, person

HEADER = "name,side,sectors,country,type,available,must_meet,will_not_meet,max_meetings\n"


def _write(tmp_path: Path, text: str, name: str = "people.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- event model -------------------------------------------------------------------------


def test_slots_sessions_and_breaks():
    ev = event(days=[DAY2, DAY1], slots_per_day=6, meeting_minutes=20, start=dt.time(9, 30),
               breaks=[{"after_slot": 4, "minutes": 40}, {"after_slot": 2, "minutes": 10}])
    slots = ev.slots()
    assert ev.days == [DAY1, DAY2] and len(slots) == 12
    assert [f"{s.start:%H:%M}" for s in slots[:6]] == ["09:30", "09:50", "10:20", "10:40", "11:40", "12:00"]
    assert [s.session for s in slots[:6]] == ["2026-10-12/1"] * 2 + ["2026-10-12/2"] * 2 + ["2026-10-12/3"] * 2
    assert slots[6].day == DAY2 and slots[6].start.utcoffset() == dt.timedelta(hours=-6)
    assert [s.id for s in ev.sessions()][:3] == ["2026-10-12/1", "2026-10-12/2", "2026-10-12/3"]
    assert ev.slots_for(["2026-10-13", "2026-10-12/2"]) == {2, 3, 6, 7, 8, 9, 10, 11}
    assert ev.capacity == 12 * ev.tables


@pytest.mark.parametrize("fields, message", [
    ({"breaks": [{"after_slot": 4, "minutes": 10}]}, "breaks"),
    ({"timezone": "Mars/Olympus"}, "time zone"),
    ({"min_meetings": 5, "max_meetings": 2}, "min_meetings"),
    ({"tables": 0}, "tables"),
    ({"days": [DAY1, DAY1]}, "distinct"),
])
def test_bad_events_raise_event_errors_naming_the_field(fields, message):
    with pytest.raises(EventError, match=message):
        event(**fields)


# --- participants and requests -----------------------------------------------------------


def test_guests_and_registry_references_load(tmp_path):
    registry = {"clean tech cluster": org("clean-tech-cluster", "EU", ["energy"], name="Clean Tech Cluster", country="FR")}

    def lookup(ref: str):
        try:
            return registry[ref.lower()]
        except KeyError:
            raise UnknownOrganisation(ref, ["Clean Tech Cluster"]) from None

    path = _write(tmp_path, "ref,name,side,sectors,available,min_meetings\n"
                            "Clean Tech Cluster,,,,2026-10-12/1,2\n"
                            ",Sol y Agua,mx,Energía solar;agua,,\n"
                            ",Sol y Agua,MX,water,2026-10-12,\n")
    people = load_participants(path, event(), lookup=lookup)
    assert [p.id for p in people] == ["clean-tech-cluster", "sol-y-agua", "sol-y-agua-2"]
    assert people[0].organisation.country == "FR" and people[0].min_meetings == 2
    assert people[0].available == ["2026-10-12/1"]
    assert people[1].organisation.sectors == ["solar", "water"]
    assert people[1].organisation.country == "MX" and people[1].organisation.type.value == "company"


@pytest.mark.parametrize("row, message", [
    ("Acme,EU,quantum knitting,DE,,,,,", r"line 2, field 'sectors': unknown sector 'quantum knitting'"),
    ("Acme,Atlantis,solar,DE,,,,,", r"line 2, field 'side'"),
    ("Acme,EU,solar,MX,,,,,", r"line 2, field 'country'"),
    ("Acme,EU,solar,DE,startup,,,,", r"line 2, field 'type'"),
    ("Acme,EU,solar,DE,,,,,many", r"line 2, field 'max_meetings'"),
    ("Acme,EU,solar,DE,,2026-12-24,,,", r"line 2, field 'available': '2026-12-24'"),
    ("Nowhere Ltd,,,,,,,,", r"line 2, field 'name'.*no organisation"),
])
def test_bad_participant_rows_name_line_and_field(tmp_path, row, message):
    def lookup(ref):
        raise UnknownOrganisation(ref)

    path = _write(tmp_path, HEADER + row + "\n")
    with pytest.raises(EventError, match=message):
        load_participants(path, event(), lookup=lookup)


def test_unknown_column_and_empty_file(tmp_path):
    with pytest.raises(EventError, match="unknown column 'sektor'"):
        load_participants(_write(tmp_path, "name,side,sektor\nA,EU,solar\n"))
    with pytest.raises(EventError, match="no participants"):
        load_participants(_write(tmp_path, HEADER))


def test_xlsx_participants_and_requests(tmp_path):
    book = Workbook()
    sheet = book.active
    sheet.append(["Name", "Side", "Sectors", "Max meetings", "Available"])
    sheet.append(["Eólica Norte", "MX", "wind", 3, dt.datetime(2026, 10, 12)])
    sheet.append(["Wind Partners", "EU", "Wind energy", 2.0, None])
    book.save(tmp_path / "people.xlsx")
    people = load_participants(tmp_path / "people.xlsx", event())
    assert [p.id for p in people] == ["eolica-norte", "wind-partners"]
    assert people[0].max_meetings == 3 and people[0].available == ["2026-10-12"]
    reqs = _write(tmp_path, "requester;target;status\nWind Partners;Eólica Norte;ACCEPTED\nA;B;\n", "req.csv")
    assert load_requests(reqs) == [
        MeetingRequest(requester="Wind Partners", target="Eólica Norte", status="accepted"),
        MeetingRequest(requester="A", target="B", status="requested"),
    ]
    bad = _write(tmp_path, "requester,target,status\nA,B,maybe\n", "bad.csv")
    with pytest.raises(EventError, match="line 2, field 'status'"):
        load_requests(bad)


# --- outputs -----------------------------------------------------------------------------


@pytest.fixture()
def planned(tmp_path):
    ev = event(name="Fair <2026>", days=[DAY1, DAY2], tables=3, venue="Hall B")
    people = [
        person("eu-sol", "EU", ["solar"], name="<script>alert(1)</script> Solar"),
        person("eu-eq", "EU", ["water"], name="=SUM(A1:A9)"),
        person("eu-wind", "EU", ["wind"], name="Vent & Co"),
        person("mx-sol", "MX", ["solar", "water"], name="Sol Azteca"),
        person("mx-agua", "MX", ["water"], name="Agua Pura"),
    ]
    plan = plan_event(ev, people, [], sector_scorer)
    out = write_outputs(plan, tmp_path / "out", now=dt.datetime(2026, 9, 1, tzinfo=dt.timezone.utc))
    return ev, people, plan, out


def test_schedule_csv_and_xlsx_read_back(planned):
    ev, people, plan, out = planned
    rows = list(csv.DictReader((out / "schedule.csv").open(encoding="utf-8")))
    assert len(rows) == len(plan.meetings) > 0
    assert {(r["a_id"], r["b_id"]) for r in rows} == {m.pair for m in plan.meetings}
    assert all(not r["a_name"].startswith("=") for r in rows)
    assert any(r["a_name"] == "'=SUM(A1:A9)" for r in rows)
    book = load_workbook(out / "schedule.xlsx")
    assert book.sheetnames == ["Schedule", "Participants", "Constraint report"]
    sheet = book["Schedule"]
    assert sheet.max_row == len(plan.meetings) + 1
    cells = [c for row in sheet.iter_rows(min_row=2) for c in row if c.value == "=SUM(A1:A9)"]
    assert cells and all(c.data_type == "s" and c.quotePrefix for c in cells)
    assert json.loads((out / "summary.json").read_text())["meetings"] == len(plan.meetings)
    assert verify_plan(read_plan(out), ev, people, []) == []


def test_ics_has_one_event_per_meeting_in_the_event_time_zone(planned):
    ev, people, plan, out = planned
    mine = plan.meetings_of("mx-sol")
    cal = Calendar.from_ical((out / "agendas" / "mx-sol.ics").read_bytes())
    events = [c for c in cal.walk("VEVENT")]
    assert len(events) == len(mine) > 0
    names = {p.id: p.name for p in people}
    for vevent, meeting in zip(sorted(events, key=lambda e: e.decoded("dtstart")), sorted(mine, key=lambda m: m.slot)):
        start = vevent.decoded("dtstart")
        assert start == meeting.start and str(start.tzinfo) == "America/Mexico_City"
        assert vevent.decoded("dtend") == meeting.end
        other = meeting.a if meeting.b == "mx-sol" else meeting.b
        assert names[other] in str(vevent["summary"])
        assert str(vevent["location"]) == f"Table {meeting.table}, Hall B"
    other_cal = Calendar.from_ical((out / "agendas" / f"{mine[0].a}.ics").read_bytes())
    assert str(events[0]["uid"]) in {str(e["uid"]) for e in other_cal.walk("VEVENT")}


def test_agenda_html_escapes_names(planned):
    _, _, plan, out = planned
    page = (out / "agendas" / "mx-sol.html").read_text(encoding="utf-8")
    own = (out / "agendas" / "eu-sol.html").read_text(encoding="utf-8")
    assert "<script>" not in page + own
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Solar" in own
    assert "Fair &lt;2026&gt;" in own
    agenda = list(csv.DictReader((out / "agendas" / "mx-sol.csv").open(encoding="utf-8")))
    assert len(agenda) == len(plan.meetings_of("mx-sol"))


def test_outputs_are_all_or_nothing(tmp_path, planned, monkeypatch):
    _, _, plan, out = planned
    before = (out / "schedule.csv").read_text()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(outputs_module, "write_xlsx", broken)
    with pytest.raises(OSError):
        write_outputs(plan, tmp_path / "fresh")
    with pytest.raises(OSError):
        write_outputs(plan, out)
    assert not (tmp_path / "fresh").exists()
    assert (out / "schedule.csv").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    monkeypatch.undo()
    other = tmp_path / "notes"
    other.mkdir()
    (other / "todo.txt").write_text("keep me")
    with pytest.raises(EventError, match="not empty"):
        write_outputs(plan, other)
    assert write_outputs(plan, out) == out.resolve()


def test_event_csv_escapes_formulas_as_the_registry_export_does():
    # One escape for every CSV the service writes: a name that already starts with a quote
    # before a formula character keeps its quote and gains one more, so nothing runs and the
    # registry import would give the name back exactly.
    text = outputs_module.csv_text([{"name": "'=cmd|' /C calc'!A0"}, {"name": "-2+3"}, {"name": "Sol"}], ["name"])
    assert text.splitlines()[1:] == ["''=cmd|' /C calc'!A0", "'-2+3", "Sol"]
