"""Write a plan's files: summary, schedule (CSV, XLSX), and per participant CSV, iCalendar, HTML.

:func:`write_outputs` builds everything in a temporary folder next to the target and moves it
into place only when complete, so a folder never holds half a plan. Spreadsheet cells that a
spreadsheet program would read as a formula are escaped.

Layout::

    OUT/summary.json    organiser summary (see matcher.events.report)
    OUT/plan.json       the full plan (input of a later re-planning)
    OUT/schedule.csv    every meeting, one row each
    OUT/schedule.xlsx   sheets Schedule, Participants, Constraint report
    OUT/agendas/<participant id>.csv | .ics | .html
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

from icalendar import Calendar
from icalendar import Event as VEvent
from icalendar.prop import vDatetime
from jinja2 import Environment, PackageLoader, Template, select_autoescape
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from pydantic import ValidationError

from matcher.errors import EventError
from matcher.events.model import Meeting, Plan, PlanParticipant
from matcher.events.report import summary
from matcher.io import escape_formula, starts_like_formula
from matcher.text import slugify

SCHEDULE_COLUMNS = ["day", "start", "end", "session", "slot", "table", "a_id", "a_name", "a_side", "b_id",
                    "b_name", "b_side", "score", "origin", "kept"]
AGENDA_COLUMNS = ["day", "start", "end", "table", "counterpart", "counterpart_id", "counterpart_side",
                  "counterpart_country", "counterpart_type", "score", "origin"]


class _Index:
    """A plan's participants by id, its slots, and each participant's meetings in time order."""

    def __init__(self, plan: Plan):
        self.plan = plan
        self.people = {p.id: p for p in plan.participants}
        self.slots = plan.event.slots()
        self.meetings: dict[str, list[Meeting]] = {}
        for m in sorted(plan.meetings, key=lambda m: m.slot):
            self.meetings.setdefault(m.a, []).append(m)
            self.meetings.setdefault(m.b, []).append(m)

    def person(self, pid: str) -> PlanParticipant:
        if pid not in self.people:
            raise EventError(f"participant {pid!r} is not in the plan")
        return self.people[pid]


def schedule_rows(plan: Plan) -> list[dict[str, Any]]:
    """Every meeting of the plan as a row of the schedule (plain values, in the plan's order)."""
    people = {p.id: p for p in plan.participants}
    slots = plan.event.slots()
    rows = []
    for m in plan.meetings:
        a, b = people[m.a], people[m.b]
        rows.append({
            "day": slots[m.slot].day.isoformat(), "start": f"{slots[m.slot].start:%H:%M}",
            "end": f"{slots[m.slot].end:%H:%M}",
            "session": slots[m.slot].session, "slot": m.slot + 1, "table": m.table,
            "a_id": a.id, "a_name": a.name, "a_side": a.side.value,
            "b_id": b.id, "b_name": b.name, "b_side": b.side.value,
            "score": round(m.score, 4), "origin": m.origin.value, "kept": m.kept,
        })
    return rows


def agenda_rows(plan: Plan, pid: str) -> list[dict[str, Any]]:
    """One participant's meetings in time order."""
    return _agenda_rows(_Index(plan), pid)


def _agenda_rows(index: _Index, pid: str) -> list[dict[str, Any]]:
    rows = []
    for m in index.meetings.get(pid, []):
        other = index.people[m.b if m.a == pid else m.a]
        slot = index.slots[m.slot]
        rows.append({
            "day": slot.day.isoformat(), "start": f"{slot.start:%H:%M}", "end": f"{slot.end:%H:%M}",
            "table": m.table, "counterpart": other.name, "counterpart_id": other.id,
            "counterpart_side": other.side.value, "counterpart_country": other.country,
            "counterpart_type": other.type, "score": round(m.score, 4), "origin": m.origin.value,
        })
    return rows


def csv_text(rows: Iterable[dict[str, Any]], columns: list[str]) -> str:
    """CSV with formula-escaped cells."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([escape_formula(row.get(c, "")) for c in columns])
    return buf.getvalue()


def _sheet(book: Any, title: str, rows: list[dict[str, Any]], columns: list[str]) -> None:
    sheet = book.create_sheet(title)
    sheet.freeze_panes = "A2"
    sheet.append(columns)
    for row in rows:
        line: list[Any] = []
        for column in columns:
            value = row.get(column, "")
            if isinstance(value, (list, dict)):
                value = str(value)
            if starts_like_formula(value):
                cell = WriteOnlyCell(sheet, value=value)
                cell.data_type = "s"
                cell.quotePrefix = True
                value = cell
            line.append(value)
        sheet.append(line)


def write_xlsx(plan: Plan, path: Path) -> None:
    """The schedule workbook; text cells are stored as text, never as formulas."""

    book = Workbook(write_only=True)
    _sheet(book, "Schedule", schedule_rows(plan), SCHEDULE_COLUMNS)
    people = [p.model_dump(mode="json") for p in plan.participants]
    _sheet(book, "Participants", people, list(PlanParticipant.model_fields))
    issues = [{"kind": i.kind, "participants": "; ".join(i.participants), "message": i.message} for i in plan.issues]
    _sheet(book, "Constraint report", issues, ["kind", "participants", "message"])
    book.save(path)


def meeting_uid(plan: Plan, meeting: Meeting) -> str:
    """A UID that stays the same for a pair across re-plans, so calendars update the entry."""
    return f"{slugify(plan.event.name) or 'event'}-{meeting.a}-{meeting.b}@c2c-matcher"


def _ical_text(text: str) -> str:
    """RFC 5545 TEXT escaping (as icalendar's vText)."""
    return (text.replace("\\N", "\n").replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n"))


def _fold(line: str) -> str:
    """RFC 5545 line folding: lines under 75 octets, never splitting an escape from its character."""
    if len(line) < 75 and (line.isascii() or len(line.encode()) < 75):
        return line
    if line.isascii():
        parts, pos = [], 0
        while len(line) - pos > 74:
            end = pos + 74
            if line[end - 1] in "\\^":
                end -= 1
            parts.append(line[pos:end])
            pos = end
        parts.append(line[pos:])
        return "\r\n ".join(parts)
    folded: list[str] = []
    current: list[str] = []
    count = 0
    for char in line:
        size = len(char.encode())
        if current and count + size >= 75:
            if len(current) > 1 and current[-1] in "\\^":
                carry = current.pop()
                folded.append("".join(current))
                current, count = [carry], len(carry.encode())
            else:
                folded.append("".join(current))
                current, count = [], 0
        current.append(char)
        count += size
    folded.append("".join(current))
    return "\r\n ".join(folded)


class _Calendars:
    """Writes participants' iCalendar files; the time zone and slot times are rendered once per plan."""

    def __init__(self, index: _Index, now: dt.datetime | None = None):
        plan = index.plan
        self.index = index
        self.event = plan.event
        zone = plan.event.zone
        stamp = (now or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc)
        self.stamp = vDatetime(stamp).to_ical().decode()
        self.times: list[tuple[str, str]] = []
        for slot in index.slots:
            start, end = slot.start.astimezone(zone), slot.end.astimezone(zone)
            self.times.append((_time_line("DTSTART", start), _time_line("DTEND", end)))
        probe = Calendar()
        ev = VEvent()
        if index.slots:
            ev.add("dtstart", index.slots[0].start.astimezone(zone))
        probe.add_component(ev)
        probe.add_missing_timezones()
        self.timezones = "".join(tz.to_ical().decode() for tz in probe.walk("VTIMEZONE"))
        self.uid_prefix = f"{slugify(plan.event.name) or 'event'}-"
        self.where = f", {plan.event.venue}" if plan.event.venue else ""

    def ics(self, pid: str) -> bytes:
        me = self.index.person(pid)
        name = self.event.name
        lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//c2c-matcher//B2B event planner//EN",
                 _fold("X-WR-CALNAME:" + _ical_text(f"{name}: {me.name}"))]
        meetings = self.index.meetings.get(pid, [])
        out = "\r\n".join(lines) + "\r\n"
        if meetings and self.timezones:
            out += self.timezones
        lines = []
        for m in meetings:
            other = self.index.people[m.b if m.a == pid else m.a]
            start, end = self.times[m.slot]
            lines += [
                "BEGIN:VEVENT",
                _fold("SUMMARY:" + _ical_text(f"Meeting with {other.name}")),
                start, end, "DTSTAMP:" + self.stamp,
                _fold("UID:" + _ical_text(f"{self.uid_prefix}{m.a}-{m.b}@c2c-matcher")),
                _fold("DESCRIPTION:" + _ical_text(
                    f"{name}: {me.name} meets {other.name} ({other.country}, "
                    f"{other.type.replace('_', ' ')}) at table {m.table}.")),
                _fold("LOCATION:" + _ical_text(f"Table {m.table}{self.where}")),
                "END:VEVENT",
            ]
        lines.append("END:VCALENDAR")
        return (out + "\r\n".join(lines) + "\r\n").encode()


def _time_line(name: str, value: dt.datetime) -> str:
    ev = VEvent()
    ev.add(name.lower(), value)
    text = ev.to_ical().decode().replace("\r\n ", "")
    return _fold(next(line for line in text.split("\r\n") if line.startswith(name)))


def ics_bytes(plan: Plan, pid: str, now: dt.datetime | None = None) -> bytes:
    """An iCalendar file with one VEVENT per meeting of a participant, in the event's time zone."""
    return _Calendars(_Index(plan), now).ics(pid)


@lru_cache(maxsize=1)
def _template() -> Template:
    env = Environment(loader=PackageLoader("matcher.events", "templates"),
                      autoescape=select_autoescape(["html", "j2"], default=True))
    return env.get_template("agenda.html.j2")


def agenda_html(plan: Plan, pid: str) -> str:
    """A printable agenda page (names are HTML-escaped by the template engine)."""
    return _agenda_html(_Index(plan), pid)


def _agenda_html(index: _Index, pid: str) -> str:
    event = index.plan.event
    return _template().render(event=event, me=index.person(pid), rows=_agenda_rows(index, pid), tz=event.timezone)


def _check_target(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise EventError(f"--out {out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / "plan.json").is_file():
        raise EventError(f"--out {out}: the folder is not empty and holds no earlier plan; choose another folder")


def _write(path: str, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)


def write_outputs(plan: Plan, out: str | Path, now: dt.datetime | None = None) -> Path:
    """Write every output file of a plan to ``out`` all-or-nothing and return the folder.

    An existing folder is replaced only if it holds an earlier plan (``plan.json``).
    """
    out = Path(out).resolve()
    _check_target(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        (tmp / "summary.json").write_text(json.dumps(summary(plan), ensure_ascii=False, indent=2), encoding="utf-8")
        (tmp / "plan.json").write_text(plan.model_dump_json(indent=1), encoding="utf-8")
        (tmp / "schedule.csv").write_text(csv_text(schedule_rows(plan), SCHEDULE_COLUMNS), encoding="utf-8")
        write_xlsx(plan, tmp / "schedule.xlsx")
        agendas = tmp / "agendas"
        agendas.mkdir()
        index = _Index(plan)
        calendars = _Calendars(index, now)
        for p in plan.participants:
            base = str(agendas / p.id)
            _write(base + ".csv", csv_text(_agenda_rows(index, p.id), AGENDA_COLUMNS).encode())
            _write(base + ".ics", calendars.ics(p.id))
            _write(base + ".html", _agenda_html(index, p.id).encode())
        os.chmod(tmp, 0o755)
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
            os.replace(out, old / "previous")
            try:
                os.replace(tmp, out)
            except OSError:
                os.replace(old / "previous", out)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def read_plan(path: str | Path) -> Plan:
    """A plan written by :func:`write_outputs` (``plan.json`` or its folder)."""
    path = Path(path)
    if path.is_dir():
        path = path / "plan.json"
    if not path.is_file():
        raise EventError(f"{path}: no such plan file")

    try:
        return Plan.model_validate_json(path.read_text(encoding="utf-8"))
    except ValidationError as exc:
        err = exc.errors()[0]
        raise EventError(f"{path}: not a plan ({'.'.join(map(str, err['loc']))}: {err['msg']})") from None
