"""Read event participants and meeting requests from CSV or XLSX files.

Participants file, one row per participant (header names are case-blind):

``ref``
    registry id, name, alias or acronym of a registered organisation (resolved through the
    ``lookup`` the caller passes, ``Registry.lookup``); its profile comes from the registry and the profile columns below are
    ignored. A row with a ``name`` but neither ``side`` nor ``sectors`` is looked up the same way.
``name``, ``side`` (EU/MX), ``sectors``, ``description``, ``country``, ``type``, ``acronym``
    a guest that is not in the registry. Sectors are taxonomy ids, names or synonyms in
    English or Spanish. The country defaults to MX on the Mexican side and ``EU`` on the
    European side; the type defaults to ``company``. The id is a slug of the name.
``available``, ``unavailable``
    sessions (``2026-10-12/1``) or days (``2026-10-12``); empty ``available`` = the whole event.
``must_meet``, ``will_not_meet``
    other participants by id or name.
``max_meetings``, ``min_meetings``
    override the event's limits for this participant.

List cells separate items with ``;`` or ``|``. Requests file: ``requester``, ``target`` and
``status`` (requested, accepted or declined; default requested).

Every problem raises :class:`matcher.errors.EventError` naming the line and the field.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from openpyxl import load_workbook
from pydantic import ValidationError

from matcher.errors import C2CError, EventError, InvalidProfile
from matcher.events.model import Event, MeetingRequest, Participant, RequestStatus
from matcher.intake import new_organisation, parse_side, resolve_sectors
from matcher.profiles import Organisation, OrgType, Side
from matcher.taxonomy import Taxonomy, load_taxonomy
from matcher.text import normalise, slugify

Lookup = Callable[[str], Organisation]

PARTICIPANT_COLUMNS = {
    "ref": "ref", "registry_id": "ref", "registry": "ref", "id": "ref",
    "name": "name", "organisation": "name", "organization": "name",
    "side": "side", "sectors": "sectors", "sector": "sectors", "description": "description",
    "country": "country", "type": "type", "acronym": "acronym",
    "available": "available", "availability": "available", "unavailable": "unavailable",
    "must_meet": "must_meet", "will_not_meet": "will_not_meet",
    "max_meetings": "max_meetings", "min_meetings": "min_meetings",
}
REQUEST_COLUMNS = {"requester": "requester", "from": "requester", "target": "target", "to": "target",
                   "status": "status"}
_LIST_SPLIT = re.compile(r"[;|]")


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time(0) else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def read_rows(path: str | Path, columns: dict[str, str]) -> Iterator[tuple[int, dict[str, str]]]:
    """``(line, row)`` pairs of a CSV or XLSX file, header names mapped through ``columns``."""
    path = Path(path)
    if not path.is_file():
        raise EventError(f"{path}: no such file")
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        rows = _xlsx_rows(path)
    elif path.suffix.lower() in (".csv", ".txt"):
        rows = _csv_rows(path)
    else:
        raise EventError(f"{path}: expected a .csv or .xlsx file")
    header: list[str | None] | None = None
    for line, cells in rows:
        if header is None:
            header = []
            for raw in cells:
                key = normalise(raw).replace(" ", "_")
                if not key:
                    header.append(None)
                    continue
                if key not in columns:
                    raise EventError(f"{path.name}, line {line}: unknown column {raw!r} "
                                     f"(known: {', '.join(sorted(set(columns.values())))})")
                header.append(columns[key])
            continue
        if not any(cells):
            continue
        row = {name: cells[k] for k, name in enumerate(header) if name and k < len(cells) and cells[k]}
        yield line, row
    if header is None:
        raise EventError(f"{path.name}: the file is empty")


def _csv_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise EventError(f"{path.name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(text.splitlines(), delimiter=delimiter)
    start = 1
    for cells in reader:
        yield start, [c.strip() for c in cells]
        start = reader.line_num + 1


def _xlsx_rows(path: Path) -> Iterator[tuple[int, list[str]]]:

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken file
        raise EventError(f"{path.name}: not a readable XLSX file ({exc.__class__.__name__})") from None
    try:
        for k, cells in enumerate(book.worksheets[0].iter_rows(values_only=True), start=1):
            yield k, [_cell(c) for c in cells]
    finally:
        book.close()


def _items(text: str | None) -> list[str]:
    return [t.strip() for t in _LIST_SPLIT.split(text or "") if t.strip()]


def _int(row: dict[str, str], field: str, where: str) -> int | None:
    if field not in row:
        return None
    try:
        value = int(row[field])
    except ValueError:
        raise EventError(f"{where}, field {field!r}: {row[field]!r} is not a whole number") from None
    if value < 0:
        raise EventError(f"{where}, field {field!r}: must not be negative")
    return value


def guest_organisation(
    where: str,
    *,
    name: str,
    side: Side | str,
    sectors: Sequence[str],
    description: str = "",
    country: str | None = None,
    type: OrgType | str = OrgType.COMPANY,
    acronym: str | None = None,
    taxonomy: Taxonomy | None = None,
) -> Organisation:
    """A guest that is not in the registry (id = slug of its name), made by
    :func:`matcher.intake.new_organisation`; a problem is an :class:`EventError` naming
    ``where`` and the field."""
    try:
        side = parse_side(side)
        sector_ids = resolve_sectors(sectors, taxonomy or load_taxonomy(), indexed=False)
        if not sector_ids:
            raise InvalidProfile("at least one sector is needed", "sectors")
        return new_organisation(id=slugify(name) or "guest", name=name, side=side, sectors=sector_ids,
                                description=description, country=country, type=type, acronym=acronym)
    except InvalidProfile as exc:
        field = exc.field or ("country" if "country" in exc.reason else "row")
        raise EventError(f"{where}, field {field!r}: {exc.reason}") from None


def load_participants(
    path: str | Path,
    event: Event | None = None,
    lookup: Lookup | None = None,
    taxonomy: Taxonomy | None = None,
) -> list[Participant]:
    """Participants from a CSV/XLSX file (see the module doc for the columns).

    ``lookup`` resolves registry references (``Registry.lookup`` of the caller's service; it is
    called only when a row needs it, and without it such a row is an error). With ``event``,
    availability cells are checked against its sessions.
    """
    name_of = Path(path).name
    out: list[Participant] = []
    ids: dict[str, int] = {}
    for line, row in read_rows(path, PARTICIPANT_COLUMNS):
        where = f"{name_of}, line {line}"
        ref = row.get("ref") or (row.get("name") if not (row.get("side") or row.get("sectors")) else None)
        if ref:
            if lookup is None:
                raise EventError(f"{where}, field 'ref': {ref!r} needs the registry, which is not available; "
                                 "give name, side and sectors instead")
            try:
                org = lookup(ref)
            except C2CError as exc:
                raise EventError(f"{where}, field {'ref' if row.get('ref') else 'name'!r}: {exc}") from None
            if org.id in ids:
                raise EventError(f"{where}: {org.name!r} is already listed on line {ids[org.id]}")
        else:
            if not row.get("name"):
                raise EventError(f"{where}, field 'name': a participant needs a name or a registry ref")
            org = guest_organisation(where, name=row["name"], side=row.get("side", ""),
                                     sectors=_items(row.get("sectors")), description=row.get("description", ""),
                                     country=row.get("country", "").upper() or None, type=row.get("type", "company"),
                                     acronym=row.get("acronym"), taxonomy=taxonomy)
            base, k = org.id, 2
            while org.id in ids:
                org = org.model_copy(update={"id": f"{base}-{k}"})
                k += 1
        ids[org.id] = line
        try:
            participant = Participant(
                organisation=org,
                available=_items(row["available"]) if row.get("available") else None,
                unavailable=_items(row.get("unavailable")),
                must_meet=_items(row.get("must_meet")),
                will_not_meet=_items(row.get("will_not_meet")),
                max_meetings=_int(row, "max_meetings", where),
                min_meetings=_int(row, "min_meetings", where),
            )
        except ValidationError as exc:  # pragma: no cover - fields are checked above
            raise EventError(f"{where}: {exc.errors()[0]['msg']}") from None
        if event is not None:
            for field in ("available", "unavailable"):
                event.slots_for(getattr(participant, field) or None, where=f"{where}, field {field!r}")
        out.append(participant)
    if not out:
        raise EventError(f"{name_of}: no participants")
    return out


def load_requests(path: str | Path) -> list[MeetingRequest]:
    """Meeting requests from a CSV/XLSX file with ``requester``, ``target`` and ``status``."""
    name_of = Path(path).name
    out: list[MeetingRequest] = []
    statuses = {s.value: s for s in RequestStatus}
    for line, row in read_rows(path, REQUEST_COLUMNS):
        where = f"{name_of}, line {line}"
        for field in ("requester", "target"):
            if not row.get(field):
                raise EventError(f"{where}, field {field!r}: missing")
        status = normalise(row.get("status", "requested"))
        if status not in statuses:
            raise EventError(f"{where}, field 'status': {row['status']!r} is not requested, accepted or declined")
        out.append(MeetingRequest(requester=row["requester"], target=row["target"], status=statuses[status]))
    return out
