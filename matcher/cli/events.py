"""``c2c event ...``: plan the meetings of a B2B event from a participants file.

Scoring modes (``--scorer``): ``model`` (default) asks the partner-suggestion layer for
reciprocal pair scores; ``sectors`` scores by sector overlap in the taxonomy (a simpler,
deterministic mode that needs no registry or trained ranker; the tests use it).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from enum import Enum
from pathlib import Path
from typing import Optional

import typer
from pydantic import ValidationError
from rich.console import Console

from matcher.cli.app import app
from matcher.errors import EventError
from matcher.events import (PlanOptions, load_participants, load_requests, make_event, plan_event, read_plan,
                            sector_scorer, summary, summary_text, write_outputs)
from matcher.service import Service

event_app = typer.Typer(help="Plan B2B meeting events.", no_args_is_help=True)
app.add_typer(event_app, name="event")


class ScorerMode(str, Enum):
    model = "model"
    sectors = "sectors"


class PlanFormat(str, Enum):
    table = "table"
    json = "json"


class _LazyService:
    """The service, opened on first need: a sector-scored plan of guests needs no registry."""

    def __init__(self) -> None:
        self._service: Service | None = None

    def __call__(self) -> Service:
        if self._service is None:
            self._service = Service.open()
        return self._service

    def __enter__(self) -> "_LazyService":
        return self

    def __exit__(self, *exc: object) -> None:
        if self._service is not None:
            self._service.close()


def _days(text: str) -> list[dt.date]:
    try:
        return [dt.date.fromisoformat(d.strip()) for d in text.split(",") if d.strip()]
    except ValueError:
        raise EventError(f"--days: {text!r} is not a comma-separated list of YYYY-MM-DD dates") from None


def _clock(text: str) -> dt.time:
    try:
        return dt.time.fromisoformat(text)
    except ValueError:
        raise EventError(f"--start: {text!r} is not a time like 09:00") from None


def _breaks(after: str | None, minutes: int) -> list[dict]:
    if not after:
        return []
    try:
        return [{"after_slot": int(a), "minutes": minutes} for a in after.split(",") if a.strip()]
    except ValueError:
        raise EventError(f"--break-after: {after!r} is not a slot number or a comma-separated list of them") from None


@event_app.command("plan")
def plan_command(
    participants_file: Path = typer.Argument(..., help="CSV or XLSX with one participant per row."),
    days: str = typer.Option(..., "--days", help="Event days, comma-separated: 2026-10-12,2026-10-13."),
    slots: int = typer.Option(..., "--slots", help="Meeting slots per day."),
    slot_minutes: int = typer.Option(30, "--slot-minutes", help="Length of a meeting in minutes."),
    start: str = typer.Option("09:00", "--start", help="Start of the first slot of each day."),
    break_after: Optional[str] = typer.Option(None, "--break-after", help="Break after these slots (e.g. 4 or 3,6)."),
    break_minutes: int = typer.Option(30, "--break-minutes", help="Length of each break."),
    tables: int = typer.Option(..., "--tables", help="Tables (meetings at the same time)."),
    max_meetings: Optional[int] = typer.Option(None, "--max-meetings", help="Most meetings per participant."),
    min_meetings: int = typer.Option(0, "--min-meetings", help="Target least meetings per participant."),
    requests_file: Optional[Path] = typer.Option(None, "--requests", help="CSV/XLSX: requester, target, status."),
    previous: Optional[Path] = typer.Option(None, "--previous", help="Earlier plan folder or plan.json to keep."),
    name: str = typer.Option("B2B meetings", "--name", help="Event name (calendar and agenda titles)."),
    timezone: str = typer.Option("America/Mexico_City", "--timezone", help="IANA time zone of the venue."),
    venue: str = typer.Option("", "--venue", help="Venue shown in calendar entries."),
    same_side: bool = typer.Option(False, "--same-side", help="Also plan EU-EU and MX-MX meetings."),
    exclude_existing: bool = typer.Option(False, "--exclude-existing", help="Do not suggest pairs that already cooperate."),
    scorer: ScorerMode = typer.Option(ScorerMode.model, "--scorer", help="model: partner ranker; sectors: sector overlap."),
    seed: int = typer.Option(0, "--seed", help="Solver seed (same input and seed give the same plan)."),
    time_limit: float = typer.Option(10.0, "--time-limit", help="Solver time budget in seconds."),
    candidates: Optional[int] = typer.Option(
        None, "--candidates", help="Best-scored counterparts per participant to plan from "
        "(default: 4 x --max-meetings, at least 40)."),
    out: Path = typer.Option(..., "--out", help="Folder for the plan's files (replaced only if it holds a plan)."),
    fmt: PlanFormat = typer.Option(PlanFormat.table, "--format", help="Summary as text (table) or JSON."),
) -> None:
    """Plan the meetings of an event and write the schedule, agendas and summary to --out."""
    console = Console(stderr=True)
    event = make_event(name=name, days=_days(days), start=_clock(start), slots_per_day=slots,
                       meeting_minutes=slot_minutes, breaks=_breaks(break_after, break_minutes), tables=tables,
                       max_meetings=max_meetings, min_meetings=min_meetings, timezone=timezone, venue=venue)
    with _LazyService() as service, console.status("reading participants") as status:
        people = load_participants(participants_file, event, lookup=lambda ref: service().registry.lookup(ref))
        requests = load_requests(requests_file) if requests_file else []
        earlier = read_plan(previous) if previous else None
        pairs = [c.pair for c in service().registry.all_cooperations()] if exclude_existing else []
        try:
            options = PlanOptions(seed=seed, time_limit=time_limit, same_side=same_side, exclude_pairs=pairs,
                                  candidates=candidates)
        except ValidationError as exc:
            raise EventError(f"--{exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}".replace("_", "-")) from None
        score = sector_scorer if scorer is ScorerMode.sectors else service().suggester.score_pairs
        plan = plan_event(event, people, requests, score, options, earlier,
                          progress=lambda stage: status.update(f"planning: {stage}"))
        status.update("writing files")
        folder = write_outputs(plan, out)
    if fmt is PlanFormat.json:
        sys.stdout.write(json.dumps(summary(plan), ensure_ascii=False, indent=2) + "\n")
    else:
        sys.stdout.write(summary_text(plan) + "\n")
    console.print(f"plan written to {folder}")
