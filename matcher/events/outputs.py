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
from pathlib import Path
from typing import Any, Iterable

from icalendar import Calendar
from icalendar import Event as VEvent
from jinja2 import Environment, PackageLoader, select_autoescape
from openpyxl import Workbook
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
    people = {p.id: p for p in plan.participants}
    rows = []
    slots = plan.event.slots()
    for m in sorted(plan.meetings_of(pid), key=lambda m: m.slot):
        other = people[m.b if m.a == pid else m.a]
        slot = slots[m.slot]
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
    sheet.append(columns)
    for r, row in enumerate(rows, start=2):
        for c, column in enumerate(columns, start=1):
            value = row.get(column, "")
            cell = sheet.cell(row=r, column=c, value=value if not isinstance(value, (list, dict)) else str(value))
            if starts_like_formula(value):
                cell.data_type = "s"
                cell.quotePrefix = True
    sheet.freeze_panes = "A2"


def write_xlsx(plan: Plan, path: Path) -> None:
    """The schedule workbook; text cells are stored as text, never as formulas."""

    book = Workbook()
    book.remove(book.active)
    _sheet(book, "Schedule", schedule_rows(plan), SCHEDULE_COLUMNS)
    people = [p.model_dump(mode="json") for p in plan.participants]
    _sheet(book, "Participants", people, list(PlanParticipant.model_fields))
    issues = [{"kind": i.kind, "participants": "; ".join(i.participants), "message": i.message} for i in plan.issues]
    _sheet(book, "Constraint report", issues, ["kind", "participants", "message"])
    book.save(path)


def meeting_uid(plan: Plan, meeting: Meeting) -> str:
    """A UID that stays the same for a pair across re-plans, so calendars update the entry."""
    return f"{slugify(plan.event.name) or 'event'}-{meeting.a}-{meeting.b}@c2c-matcher"


def ics_bytes(plan: Plan, pid: str, now: dt.datetime | None = None) -> bytes:
    """An iCalendar file with one VEVENT per meeting of a participant, in the event's time zone."""

    people = {p.id: p for p in plan.participants}
    me = people[pid]
    zone = plan.event.zone
    stamp = (now or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc)
    cal = Calendar()
    cal.add("prodid", "-//c2c-matcher//B2B event planner//EN")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", f"{plan.event.name}: {me.name}")
    for m in sorted(plan.meetings_of(pid), key=lambda m: m.slot):
        other = people[m.b if m.a == pid else m.a]
        ev = VEvent()
        ev.add("uid", meeting_uid(plan, m))
        ev.add("dtstamp", stamp)
        ev.add("dtstart", m.start.astimezone(zone))
        ev.add("dtend", m.end.astimezone(zone))
        ev.add("summary", f"Meeting with {other.name}")
        where = f"Table {m.table}" + (f", {plan.event.venue}" if plan.event.venue else "")
        ev.add("location", where)
        ev.add("description", f"{plan.event.name}: {me.name} meets {other.name} ({other.country}, "
                              f"{other.type.replace('_', ' ')}) at table {m.table}.")
        cal.add_component(ev)
    cal.add_missing_timezones()
    return cal.to_ical()


def _environment() -> Environment:
    return Environment(loader=PackageLoader("matcher.events", "templates"),
                       autoescape=select_autoescape(["html", "j2"], default=True))


def agenda_html(plan: Plan, pid: str) -> str:
    """A printable agenda page (names are HTML-escaped by the template engine)."""
    template = _environment().get_template("agenda.html.j2")
    return template.render(event=plan.event, me=plan.participant(pid), rows=agenda_rows(plan, pid),
                           tz=plan.event.timezone)


def _check_target(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise EventError(f"--out {out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / "plan.json").is_file():
        raise EventError(f"--out {out}: the folder is not empty and holds no earlier plan; choose another folder")


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
        for p in plan.participants:
            (agendas / f"{p.id}.csv").write_text(csv_text(agenda_rows(plan, p.id), AGENDA_COLUMNS), encoding="utf-8")
            (agendas / f"{p.id}.ics").write_bytes(ics_bytes(plan, p.id, now))
            (agendas / f"{p.id}.html").write_text(agenda_html(plan, p.id), encoding="utf-8")
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
