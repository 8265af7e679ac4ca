"""Event planning pages: create an event, upload its participants, plan it in the background,
then read the grid and every agenda and download the files.

Planning calls :func:`matcher.events.plan_event` with the same scorer as ``POST /events/{id}/plan``
(``api.routes.events.model_scorer``: the partner ranker for EU–MX pairs) and stores the result in
the service's event store, so the API's schedule and agenda routes serve the same plan.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import tempfile
import threading
import zipfile
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import available_timezones

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from api.routes.events import model_scorer
from api.web import jobs as planning
from api.web.i18n import N_
from api.web.render import PREFIX, Page, PageDep, WebError
from api.web.uploads import FileRejected, RowProblem, read_participants, read_requests
from matcher.errors import C2CError, EventError, UnknownEvent
from matcher.events import (
    Participant,
    PlanOptions,
    agenda_rows,
    guest_organisation,
    ics_bytes,
    make_event,
    plan_event,
    sector_scorer,
    summary,
    write_outputs,
)
from matcher.events.store import EventRecord, StoredPlan
from index.atomic import write_text_atomic
from matcher.profiles import Scope
from matcher.text import slugify

router = APIRouter(include_in_schema=False)
EVENTS = PREFIX + "/events"
MAX_TIME_LIMIT = 300.0
_index_lock = threading.Lock()


def _jobs(page: Page) -> planning.Jobs:
    state = page.request.app.state
    if getattr(state, "web_jobs", None) is None:
        state.web_jobs = planning.Jobs(page.settings.home)
    return state.web_jobs


def _index_path(page: Page) -> Path:
    return Path(page.settings.home) / "web" / "events.json"


def _listed(page: Page) -> list[str]:
    try:
        ids = json.loads(_index_path(page).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [i for i in ids if isinstance(i, str)]


def _remember(page: Page, event_id: str) -> None:
    with _index_lock:
        ids = [i for i in _listed(page) if i != event_id] + [event_id]
        _index_path(page).parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(_index_path(page), json.dumps(ids[-200:]))


def _record(page: Page, event_id: str) -> EventRecord:
    try:
        return page.service.events.get(event_id[:80])
    except UnknownEvent:
        raise WebError(404, N_("No event has this id.")) from None


def _stored(page: Page, event_id: str) -> StoredPlan:
    stored = page.service.events.plan(event_id)
    if stored is None:
        raise WebError(404, N_("This event has not been planned yet."))
    return stored


DEFAULTS: dict[str, Any] = {
    "name": "", "days": 2, "start": "09:00", "slots": 8, "slot_minutes": 30, "tables": 20, "break_after": "4",
    "break_minutes": 30, "max_meetings": "", "min_meetings": 0, "timezone": "America/Mexico_City", "venue": "",
}


def _zones() -> list[str]:
    return sorted(z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/")))


@router.get(EVENTS)
def events_page(page: PageDep) -> Response:
    """The events made here, and the form to create one."""
    page.require_read()
    listed = []
    for event_id in reversed(_listed(page)):
        try:
            record = page.service.events.get(event_id)
        except C2CError:
            continue
        listed.append({"record": record, "planned": page.service.events.plan(event_id) is not None})
    form = dict(DEFAULTS, first_day=(dt.date.today() + dt.timedelta(days=30)).isoformat())
    return page.render("events.html", listed=listed, form=form, error=None, zones=_zones())


def _int(value: str, field: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise EventError(f"event {field}: {value!r} is not a whole number") from None


@router.post(EVENTS)
def create_event(
    page: PageDep,
    csrf: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    first_day: Annotated[str, Form()] = "",
    days: Annotated[str, Form()] = "1",
    start: Annotated[str, Form()] = "09:00",
    slots: Annotated[str, Form()] = "8",
    slot_minutes: Annotated[str, Form()] = "30",
    tables: Annotated[str, Form()] = "10",
    break_after: Annotated[str, Form()] = "",
    break_minutes: Annotated[str, Form()] = "30",
    max_meetings: Annotated[str, Form()] = "",
    min_meetings: Annotated[str, Form()] = "0",
    timezone: Annotated[str, Form()] = "America/Mexico_City",
    venue: Annotated[str, Form()] = "",
) -> Response:
    """Create an event from the form; a bad field shows the form again with the reason."""
    page.check_csrf(csrf)
    page.require(Scope.WRITE)
    form = {"name": name, "first_day": first_day, "days": days, "start": start, "slots": slots,
            "slot_minutes": slot_minutes, "tables": tables, "break_after": break_after,
            "break_minutes": break_minutes, "max_meetings": max_meetings, "min_meetings": min_meetings,
            "timezone": timezone, "venue": venue}
    try:
        try:
            first = dt.date.fromisoformat(first_day)
        except ValueError:
            raise EventError(f"event first day: {first_day!r} is not a date like 2026-10-12") from None
        count = _int(days, "days")
        if not 1 <= count <= 31:
            raise EventError("event days: between 1 and 31")
        try:
            clock = dt.time.fromisoformat(start)
        except ValueError:
            raise EventError(f"event start: {start!r} is not a time like 09:00") from None
        breaks = [{"after_slot": _int(a.strip(), "break after"), "minutes": _int(break_minutes, "break minutes")}
                  for a in break_after.replace(";", ",").split(",") if a.strip()]
        event = make_event(name=name.strip() or "B2B meetings", days=[first + dt.timedelta(days=k) for k in range(count)],
                           start=clock, slots_per_day=_int(slots, "slots"), meeting_minutes=_int(slot_minutes, "slot length"),
                           breaks=breaks, tables=_int(tables, "tables"),
                           max_meetings=_int(max_meetings, "max meetings") if max_meetings.strip() else None,
                           min_meetings=_int(min_meetings or "0", "min meetings"), timezone=timezone.strip(),
                           venue=venue.strip())
    except EventError as exc:
        return page.render("events.html", status=422, listed=[], form=form, error=str(exc), zones=_zones())
    events = page.service.events
    record = events.create(events.new_id(event.name), event)
    _remember(page, record.id)
    return page.redirect(f"{EVENTS}/{record.id}")


@router.get(EVENTS + "/open")
def open_event(page: PageDep, id: str = "") -> Response:
    """Go to an event by its id (one made through the API, for instance)."""
    record = _record(page, slugify(id) or "-")
    _remember(page, record.id)
    return page.redirect(f"{EVENTS}/{record.id}")


def _overview(page: Page, record: EventRecord, status: int = 200, **extra: Any) -> Response:
    stored = page.service.events.plan(record.id)
    state = _jobs(page).state(record.id)
    sums = summary(stored.plan) if stored else None
    return page.render(
        "event.html", status=status, record=record, event=record.event, stored=stored, summary=sums,
        current=stored is not None and stored.revision == record.revision, job=state,
        changes=_jobs(page).changes(record.id) if stored else None,
        sessions=[s.id for s in record.event.sessions()],
        **{"problems": None, "problem_file": None, "more": False, "late_error": None, **extra})


@router.get(EVENTS + "/{event_id}")
def event_page(page: PageDep, event_id: str) -> Response:
    """An event: its timetable, participants, upload and plan forms, and the plan once made."""
    page.require_read()
    return _overview(page, _record(page, event_id))


async def _read_upload(page: Page, upload: UploadFile | None) -> tuple[str, bytes] | None:
    if upload is None or not upload.filename:
        return None
    limit = page.settings.api_max_body_bytes
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise WebError(413, N_("The upload is larger than this server accepts. Split the file or remove unused columns."))
    return upload.filename, data


@router.post(EVENTS + "/{event_id}/participants")
async def upload(
    page: PageDep,
    event_id: str,
    csrf: Annotated[str, Form()] = "",
    participants: Annotated[UploadFile | None, File()] = None,
    requests: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Replace the participants (and requests) with an uploaded file's; every bad row is shown and
    nothing is saved unless both files are clean."""
    page.check_csrf(csrf)
    page.require(Scope.WRITE)
    record = await run_in_threadpool(_record, page, event_id)
    people_file = await _read_upload(page, participants)
    requests_file = await _read_upload(page, requests)
    if people_file is None:
        return await run_in_threadpool(
            _overview, page, record, 422, problems=[RowProblem(None, None, page.gettext(N_("Choose a participants file.")))],
            problem_file="")
    registry = page.service.registry

    def check_and_save() -> Response:
        try:
            people = read_participants(*people_file, record.event, registry.lookup)
            wishes = read_requests(*requests_file) if requests_file else []
        except FileRejected as exc:
            return _overview(page, record, 422, problems=exc.problems, problem_file=exc.filename, more=exc.more)
        page.service.events.update(record.id, lambda current: current.model_copy(
            update={"participants": people, "requests": wishes}))
        return page.redirect(f"{EVENTS}/{record.id}#participants")

    return await run_in_threadpool(check_and_save)


@router.post(EVENTS + "/{event_id}/late")
def add_late(
    page: PageDep,
    event_id: str,
    csrf: Annotated[str, Form()] = "",
    ref: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    side: Annotated[str, Form()] = "",
    sectors: Annotated[str, Form()] = "",
    country: Annotated[str, Form()] = "",
) -> Response:
    """Add one late participant: a registered organisation by name, or a guest."""
    page.check_csrf(csrf)
    page.require(Scope.WRITE)
    record = _record(page, event_id)
    try:
        if ref.strip():
            org = page.service.registry.lookup(ref.strip()[:200])
        else:
            org = guest_organisation("late participant", name=name.strip(), side=side,
                                     sectors=[s.strip() for s in sectors.replace("|", ";").split(";") if s.strip()],
                                     country=country.strip().upper() or None)
        if org.id in {p.id for p in record.participants}:
            raise EventError(f"{org.name!r} is already a participant")
    except C2CError as exc:
        return _overview(page, record, 422, late_error=str(exc))
    page.service.events.update(record.id, lambda current: current.model_copy(
        update={"participants": [*current.participants, Participant(organisation=org)]}))
    return page.redirect(f"{EVENTS}/{record.id}#participants")


@router.post(EVENTS + "/{event_id}/cancel")
def cancel(page: PageDep, event_id: str, csrf: Annotated[str, Form()] = "",
           participant: Annotated[str, Form()] = "") -> Response:
    """Take a participant out (a cancellation); re-plan to free their meetings."""
    page.check_csrf(csrf)
    page.require(Scope.WRITE)
    record = _record(page, event_id)
    if participant not in {p.id for p in record.participants}:
        raise WebError(404, N_("This participant is not on the list."))
    page.service.events.update(record.id, lambda current: current.model_copy(
        update={"participants": [p for p in current.participants if p.id != participant],
                "requests": [r for r in current.requests if participant not in (r.requester, r.target)]}))
    return page.redirect(f"{EVENTS}/{record.id}#participants")


@router.post(EVENTS + "/{event_id}/plan")
def start_plan(
    page: PageDep,
    event_id: str,
    csrf: Annotated[str, Form()] = "",
    scorer: Annotated[str, Form()] = "model",
    time_limit: Annotated[float, Form()] = 10.0,
    seed: Annotated[int, Form()] = 0,
    same_side: Annotated[bool, Form()] = False,
    exclude_existing: Annotated[bool, Form()] = False,
    keep_previous: Annotated[bool, Form()] = True,
) -> Response:
    """Start planning in the background and go to its progress page."""
    page.check_csrf(csrf)
    page.require(Scope.WRITE)
    record = _record(page, event_id)
    if not record.participants:
        raise WebError(422, N_("Upload the participants before planning."))
    service = page.service
    pairs = [c.pair for c in service.registry.all_cooperations()] if exclude_existing else []
    options = PlanOptions(seed=seed, time_limit=min(max(time_limit, 1.0), MAX_TIME_LIMIT), same_side=same_side,
                          exclude_pairs=pairs)
    score = sector_scorer if scorer == "sectors" else model_scorer(service.suggester)

    def work(progress: Any) -> tuple[Any, Any]:
        current = service.events.get(record.id)
        earlier = service.events.plan(record.id)
        result = plan_event(current.event, current.participants, current.requests, score, options,
                            earlier.plan if earlier and keep_previous else None, progress=progress)
        service.events.save_plan(record.id, current.revision, result)
        return (earlier.plan if earlier else None), result

    _jobs(page).start(record.id, work)
    return page.redirect(f"{EVENTS}/{record.id}/progress")


@router.get(EVENTS + "/{event_id}/progress")
def progress(page: PageDep, event_id: str) -> Response:
    """How far planning has got; refreshes itself until it is done (no script needed)."""
    page.require_read()
    record = _record(page, event_id)
    state = _jobs(page).state(record.id)
    return page.render("progress.html", record=record, job=state, running=bool(state and state.running))


def _names(stored: StoredPlan) -> dict[str, str]:
    return {p.id: p.name for p in stored.plan.participants}


@router.get(EVENTS + "/{event_id}/grid")
def grid(page: PageDep, event_id: str) -> Response:
    """Every slot × table of the plan."""
    page.require_read()
    record = _record(page, event_id)
    stored = _stored(page, record.id)
    plan = stored.plan
    names = _names(stored)
    used = max((m.table for m in plan.meetings), default=0)
    cells: dict[tuple[int, int], Any] = {(m.slot, m.table): m for m in plan.meetings}
    rows = []
    for slot in plan.event.slots():
        rows.append({"slot": slot, "cells": [
            (names[m.a], names[m.b], m.a, m.b, m.origin.value) if (m := cells.get((slot.index, t))) else None
            for t in range(1, used + 1)]})
    return page.render("grid.html", record=record, stored=stored, rows=rows, tables=list(range(1, used + 1)),
                       current=stored.revision == record.revision)


@router.get(EVENTS + "/{event_id}/agendas/{participant}")
def agenda(page: PageDep, event_id: str, participant: str) -> Response:
    """One participant's meetings, ready to print."""
    page.require_read()
    record = _record(page, event_id)
    stored = _stored(page, record.id)
    try:
        person = stored.plan.participant(participant)
    except EventError:
        raise WebError(404, N_("This participant is not in the plan.")) from None
    return page.render("agenda.html", record=record, stored=stored, person=person,
                       rows=agenda_rows(stored.plan, person.id))


def _outputs(stored: StoredPlan) -> dict[str, bytes]:
    """Every file of the plan (``write_outputs``), by its path inside the plan folder."""
    with tempfile.TemporaryDirectory(prefix="c2c-plan-") as folder:
        out = write_outputs(stored.plan, Path(folder) / "plan")
        return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


@router.get(EVENTS + "/{event_id}/files/{name}")
def download(page: PageDep, event_id: str, name: str) -> Response:
    """The plan's files: everything as a zip, or the schedule, the summary or one calendar."""
    page.require_read()
    record = _record(page, event_id)
    stored = _stored(page, record.id)
    stem = slugify(record.event.name)[:40] or "event"
    if name == "plan.zip":
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
            for path, data in _outputs(stored).items():
                archive.writestr(f"{stem}/{path}", data)
        return page.file(buf.getvalue(), "application/zip", f"{stem}.zip")
    if name.endswith(".ics"):
        pid = name[: -len(".ics")]
        if pid not in {p.id for p in stored.plan.participants}:
            raise WebError(404, N_("This participant is not in the plan."))
        return page.file(ics_bytes(stored.plan, pid), "text/calendar; charset=utf-8", f"{pid}.ics")
    media = {"schedule.csv": "text/csv; charset=utf-8", "summary.json": "application/json",
             "schedule.xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
    if name not in media:
        raise WebError(404, N_("There is no such file."))
    return page.file(_outputs(stored)[name], media[name], f"{stem}-{name}")

