"""Import and export of profiles and cooperations as CSV, JSON and XLSX.

File layout (export and import are symmetric: an exported file imports back unchanged):

* **JSON** — an array of records exactly as in :mod:`matcher.profiles` (``model_dump``), or an
  object ``{"profiles": [...], "cooperations": [...]}`` holding both kinds (``--kind all``).
  Errors name the array index: ``item 3``.
* **CSV** — one header row, then one record per row. Profile columns: ``id, name, acronym,
  aliases, side, country, region, type, sectors, description, website, facts, contact,
  sources``; cooperation columns: ``id, eu, mx, type, year, description, sources, confidence,
  tier, split`` (the last three optional).
  List fields (``aliases``, ``sectors``) are ``;``-separated (inside an item, ``;`` is
  written ``\\;`` and a backslash ``\\\\``). ``facts``, ``contact`` and ``sources`` hold
  JSON (an object, an object and an array of ``{"document", "section"}``). Empty cells mean
  "not given". Errors name the file line of the row (the header is line 1).
* **XLSX** — the same columns on a sheet named ``profiles`` or ``cooperations`` (both sheets
  for ``--kind all``). Errors name the sheet row (the header is row 1).

Spreadsheet cells that would run as formulas (text starting with ``=``, ``+``, ``-``, ``@``,
a tab or a carriage return) are written with a leading ``'`` (:func:`escape_formula`); import
removes exactly that quote again (:func:`unescape_formula`).

Import is validated as a whole before anything is written: every row is checked against the
schema, the sector taxonomy (names and synonyms are mapped to sector ids), duplicate ids in
the file, ``facts.member_of`` ids and cooperation parties (in the store or in the same file,
on the right side). Every bad row is reported in one :class:`~matcher.errors.ImportRejected`.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Iterable
from zipfile import BadZipFile

from openpyxl import Workbook, load_workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from pydantic import BaseModel, ValidationError

from matcher.errors import ImportRejected, InvalidProfile, LocatedRowError, RowError, UnknownSector
from matcher.profiles import XLSX_CELL_LIMIT, Cooperation, Organisation, Side, error_field
from matcher.taxonomy import Taxonomy


class Kind(str, Enum):
    profiles = "profiles"
    cooperations = "cooperations"
    all = "all"


class FileFormat(str, Enum):
    csv = "csv"
    json = "json"
    xlsx = "xlsx"


PROFILE_COLUMNS = [
    "id", "name", "acronym", "aliases", "side", "country", "region", "type",
    "sectors", "description", "website", "facts", "contact", "sources",
]  # fmt: skip
COOPERATION_COLUMNS = ["id", "eu", "mx", "type", "year", "description", "sources", "confidence", "tier", "split"]
COLUMNS = {Kind.profiles: PROFILE_COLUMNS, Kind.cooperations: COOPERATION_COLUMNS}
REQUIRED = {
    Kind.profiles: ["id", "name", "side", "country", "type", "sectors"],
    Kind.cooperations: ["id", "eu", "mx", "type"],
}
LIST_COLUMNS = {"aliases", "sectors"}
JSON_COLUMNS = {"facts", "contact", "sources"}
SECTION_NAMES = {"profiles": Kind.profiles, "organisations": Kind.profiles, "cooperations": Kind.cooperations}

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

# Cells longer than the schema allows are read whole and refused by the schema, naming their
# field and line, rather than stopping the reader (its default limit is 131,072 characters).
csv.field_size_limit(max(csv.field_size_limit(), 64 * 1024 * 1024))


# --- cells ------------------------------------------------------------------------------------


def starts_like_formula(value: Any) -> bool:
    """Whether a spreadsheet would run ``value`` as a formula (text starting with = + - @, a tab or CR)."""
    return isinstance(value, str) and value.startswith(_FORMULA_START)


def escape_formula(value: Any) -> Any:
    """Prefix ``'`` to text a spreadsheet would run as a formula; other values pass through.

    Text that already starts with quotes before such a character gets one more quote, so that
    :func:`unescape_formula` restores every value exactly.
    """
    if isinstance(value, str) and starts_like_formula(value.lstrip("'")):
        return "'" + value
    return value


def unescape_formula(value: Any) -> Any:
    """Undo :func:`escape_formula`."""
    if isinstance(value, str) and value.startswith("'") and value.lstrip("'").startswith(_FORMULA_START):
        return value[1:]
    return value


def join_list(items: Iterable[str]) -> str:
    """One cell for a list: items joined by ``; ``, with ``\\`` and ``;`` inside items escaped."""
    return "; ".join(item.replace("\\", "\\\\").replace(";", "\\;") for item in items)


def split_list(cell: str) -> list[str]:
    """The items of a list cell (inverse of :func:`join_list`); blank items are dropped.

    A backslash escapes only ``;`` and another backslash; any other backslash is kept as
    written, so hand-made cells such as ``C:\\data`` survive.
    """
    items: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(cell):
        char = cell[i]
        if char == "\\" and i + 1 < len(cell) and cell[i + 1] in ";\\":
            current.append(cell[i + 1])
            i += 2
            continue
        if char == ";":
            items.append("".join(current))
            current = []
        else:
            current.append(char)
        i += 1
    items.append("".join(current))
    return [item.strip() for item in items if item.strip()]


def _json_cell(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")) if value else ""


def profile_cells(org: Organisation) -> dict[str, Any]:
    """The CSV/XLSX cells of one profile (unescaped)."""
    facts = org.facts.model_dump(mode="json", exclude_defaults=True)
    return {
        "id": org.id,
        "name": org.name,
        "acronym": org.acronym or "",
        "aliases": join_list(org.aliases),
        "side": org.side.value,
        "country": org.country,
        "region": org.region or "",
        "type": org.type.value,
        "sectors": join_list(org.sectors),
        "description": org.description,
        "website": org.website or "",
        "facts": _json_cell(facts),
        "contact": _json_cell(org.contact.model_dump(mode="json", exclude_none=True) if org.contact else None),
        "sources": _json_cell([s.model_dump(mode="json", exclude_none=True) for s in org.sources]),
    }


def cooperation_cells(coop: Cooperation) -> dict[str, Any]:
    """The CSV/XLSX cells of one cooperation (unescaped)."""
    return {
        "id": coop.id,
        "eu": coop.eu,
        "mx": coop.mx,
        "type": coop.type.value,
        "year": coop.year if coop.year is not None else "",
        "description": coop.description,
        "sources": _json_cell([s.model_dump(mode="json", exclude_none=True) for s in coop.sources]),
        "confidence": coop.confidence.value,
        "tier": coop.tier.value,
        "split": coop.split.value,
    }


# --- export -----------------------------------------------------------------------------------


def export_bytes(
    kind: Kind | str,
    fmt: FileFormat | str,
    organisations: list[Organisation],
    cooperations: list[Cooperation],
) -> bytes:
    """Serialise profiles, cooperations or both (``all``: JSON and XLSX only) in ``fmt``."""
    kind, fmt = Kind(kind), FileFormat(fmt)
    sections: list[tuple[Kind, list[BaseModel]]] = []
    if kind in (Kind.profiles, Kind.all):
        sections.append((Kind.profiles, list(organisations)))
    if kind in (Kind.cooperations, Kind.all):
        sections.append((Kind.cooperations, list(cooperations)))
    if fmt is FileFormat.json:
        dumped = {k.value: [r.model_dump(mode="json") for r in records] for k, records in sections}
        payload: Any = dumped if kind is Kind.all else dumped[kind.value]
        return (json.dumps(payload, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    if fmt is FileFormat.csv:
        if kind is Kind.all:
            raise InvalidProfile("CSV holds one kind per file; export profiles and cooperations separately", "kind")
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(COLUMNS[kind])
        for cells in _cells(kind, sections[0][1]):
            writer.writerow([escape_formula(cells[c]) for c in COLUMNS[kind]])
        return buf.getvalue().encode("utf-8")
    return _xlsx(sections)


def _cells(kind: Kind, records: list[Any]) -> Iterable[dict[str, Any]]:
    convert = profile_cells if kind is Kind.profiles else cooperation_cells
    return (convert(r) for r in records)


def _xlsx(sections: list[tuple[Kind, list[Any]]]) -> bytes:

    book = Workbook()
    book.remove(book.active)
    for kind, records in sections:
        sheet = book.create_sheet(kind.value)
        sheet.append(COLUMNS[kind])
        for cells in _cells(kind, records):
            row = [escape_formula(cells[c]) for c in COLUMNS[kind]]
            for column, value in zip(COLUMNS[kind], row):
                if isinstance(value, str) and ILLEGAL_CHARACTERS_RE.search(value):
                    raise InvalidProfile(f"{cells['id']}: contains a control character XLSX cannot hold", column)
                if isinstance(value, str) and len(value) > XLSX_CELL_LIMIT:
                    raise InvalidProfile(f"{cells['id']}: {len(value)} characters, more than an XLSX cell holds "
                                         f"({XLSX_CELL_LIMIT})", column)
            sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# --- reading ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RowRef:
    """Where a row sits in its file: ``line`` (CSV), ``row`` (XLSX) or ``item`` (JSON)."""

    number: int
    where: str
    section: str | None = None

    def error(self, field_name: str, reason: str) -> RowError:
        return LocatedRowError(self.number, field_name, reason, where=self.where, section=self.section)


@dataclass
class Section:
    """The raw rows of one kind read from a file, each a dict of model fields."""

    kind: Kind
    rows: list[tuple[RowRef, dict[str, Any]]] = field(default_factory=list)
    #: rows that could not even be turned into records (reported together with validation)
    errors: list[RowError] = field(default_factory=list)


def _file_error(field_name: str, reason: str) -> RowError:
    """An error about the file as a whole rather than one of its rows."""
    return LocatedRowError(0, field_name, reason, where="file")


def detect_format(path: Path) -> FileFormat:
    suffix = path.suffix.lower().lstrip(".")
    try:
        return FileFormat(suffix)
    except ValueError:
        raise ImportRejected(
            str(path), [_file_error("format", f"cannot tell the format of {path.name!r}; use csv, json or xlsx")]
        ) from None


def read_file(path: Path | str, kind: Kind | str | None = None, fmt: FileFormat | str | None = None) -> list[Section]:
    """Read ``path`` into sections of raw records.

    Problems with the file as a whole (format, header) raise ImportRejected at once; cells that
    cannot be read are kept in ``Section.errors`` and reported by :func:`validate` with the rest.
    """
    path = Path(path)
    kind = Kind(kind) if kind else None
    fmt = FileFormat(fmt) if fmt and fmt != "auto" else detect_format(path)
    if not path.is_file():
        raise ImportRejected(str(path), [_file_error("file", "no such file")])
    errors: list[RowError] = []
    if fmt is FileFormat.json:
        sections = _read_json(path, kind, errors)
    elif fmt is FileFormat.csv:
        sections = _read_csv(path, kind, errors)
    else:
        sections = _read_xlsx(path, kind, errors)
    if errors:
        raise ImportRejected(str(path), errors)
    return sections


def _guess_kind(keys: Iterable[str]) -> Kind | None:
    keys = set(keys)
    if {"eu", "mx"} <= keys:
        return Kind.cooperations
    if "name" in keys or "sectors" in keys:
        return Kind.profiles
    return None


def _read_json(path: Path, kind: Kind | None, errors: list[RowError]) -> list[Section]:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        errors.append(_file_error("file", f"not valid JSON: {exc}"))
        return []
    if isinstance(data, dict):
        unknown = [k for k in data if k not in SECTION_NAMES]
        for key in unknown:
            errors.append(_file_error(key, "unknown section; expected profiles and/or cooperations"))
        parts = [(SECTION_NAMES[k], k, v) for k, v in data.items() if k in SECTION_NAMES]
        if kind and kind is not Kind.all:
            parts = [p for p in parts if p[0] is kind]
    elif isinstance(data, list):
        first = next((item for item in data if isinstance(item, dict)), {})
        guessed = kind if kind and kind is not Kind.all else _guess_kind(first)
        if guessed is None:
            errors.append(_file_error("kind", "cannot tell profiles from cooperations; give --kind"))
            return []
        parts = [(guessed, None, data)]
    else:
        errors.append(_file_error("file", "expected a JSON array or an object of arrays"))
        return []
    sections = []
    for part_kind, name, items in parts:
        if not isinstance(items, list):
            errors.append(_file_error(name or "file", "expected an array of records"))
            continue
        section = Section(part_kind)
        for i, item in enumerate(items):
            ref = RowRef(i, "item", name)
            if isinstance(item, dict):
                section.rows.append((ref, item))
            else:
                section.errors.append(ref.error("record", "expected an object"))
        sections.append(section)
    return sections


def _check_header(header: list[str], kind: Kind, ref: RowRef, errors: list[RowError]) -> None:
    seen: set[str] = set()
    for column in header:
        if column in seen:
            errors.append(ref.error(column, "column appears twice"))
        seen.add(column)
        if column not in COLUMNS[kind]:
            errors.append(ref.error(column or "header", f"unknown {kind.value} column"))
    for column in REQUIRED[kind]:
        if column not in seen:
            errors.append(ref.error(column, "required column is missing"))


def _table_section(
    header: list[Any], rows: Iterable[tuple[RowRef, list[Any]]], kind: Kind | None, head: RowRef, errors: list[RowError]
) -> Section | None:
    names = [str(h).strip() if h is not None else "" for h in header]
    while names and not names[-1]:
        names.pop()
    kind = kind if kind and kind is not Kind.all else _guess_kind(names)
    if kind is None:
        errors.append(head.error("header", "cannot tell profiles from cooperations; give --kind"))
        return None
    before = len(errors)
    _check_header(names, kind, head, errors)
    if len(errors) > before:
        return None
    section = Section(kind)
    for ref, values in rows:
        extra = [v for v in values[len(names):] if v not in (None, "")]
        if extra:
            section.errors.append(ref.error("row", f"{len(extra)} cell(s) beyond the last column"))
            continue
        cells = dict(zip(names, values))
        if all(v is None or (isinstance(v, str) and not v.strip()) for v in cells.values()):
            continue
        record = _cells_to_record(cells, ref, section.errors)
        if record is not None:
            section.rows.append((ref, record))
    return section


def _cells_to_record(cells: dict[str, Any], ref: RowRef, errors: list[RowError]) -> dict[str, Any] | None:
    record: dict[str, Any] = {}
    ok = True
    for column, value in cells.items():
        if value is None:
            continue
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if column != "year" and not isinstance(value, str):
            value = value.isoformat() if hasattr(value, "isoformat") else str(value)
        if isinstance(value, str):
            value = unescape_formula(value)
            if not value.strip():
                continue
        if column in LIST_COLUMNS:
            value = split_list(value)
        elif column in JSON_COLUMNS:
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                errors.append(ref.error(column, f"not valid JSON: {exc.msg} at character {exc.pos}"))
                ok = False
                continue
        record[column] = value
    return record if ok else None


def _read_csv(path: Path, kind: Kind | None, errors: list[RowError]) -> list[Section]:
    if kind is Kind.all:
        errors.append(_file_error("kind", "a CSV file holds one kind; give --kind profiles or cooperations"))
        return []
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        errors.append(_file_error("file", f"not UTF-8 text: {exc.reason} at byte {exc.start}"))
        return []
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None:
            errors.append(RowRef(1, "line").error("header", "the file is empty"))
            return []
        rows: list[tuple[RowRef, list[Any]]] = []
        previous = reader.line_num
        for values in reader:
            start, previous = previous + 1, reader.line_num
            if values:
                rows.append((RowRef(start, "line"), values))
    except csv.Error as exc:
        errors.append(RowRef(reader.line_num, "line").error("file", f"malformed CSV: {exc}"))
        return []
    section = _table_section(header, rows, kind, RowRef(1, "line"), errors)
    return [section] if section else []


def _read_xlsx(path: Path, kind: Kind | None, errors: list[RowError]) -> list[Section]:


    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except (BadZipFile, OSError, KeyError, ValueError) as exc:
        errors.append(_file_error("file", f"not a readable XLSX workbook: {exc}"))
        return []
    try:
        named = {SECTION_NAMES[s.lower()]: s for s in book.sheetnames if s.lower() in SECTION_NAMES}
        if kind is Kind.all or (kind is None and len(named) > 1):
            chosen = [(k, book[s]) for k, s in named.items()]
        elif kind is not None and kind in named:
            chosen = [(kind, book[named[kind]])]
        else:
            chosen = [(kind, book.worksheets[0])]
        multi = len(chosen) > 1
        sections = []
        for sheet_kind, sheet in chosen:
            name = sheet.title if multi else None
            rows_iter = sheet.iter_rows(values_only=True)
            header = next(rows_iter, None)
            if header is None:
                errors.append(RowRef(1, "row", sheet.title).error("header", "the sheet is empty"))
                continue
            rows = [(RowRef(n, "row", name), list(values)) for n, values in enumerate(rows_iter, start=2)]
            section = _table_section(list(header), rows, sheet_kind, RowRef(1, "row", name), errors)
            if section:
                sections.append(section)
        return sections
    finally:
        book.close()


# --- validation -------------------------------------------------------------------------------


@dataclass
class Known:
    """What the store already holds that an import must agree with."""

    sides: dict[str, Side] = field(default_factory=dict)
    #: org id -> roles ("eu"/"mx") it plays in cooperations already stored
    roles: dict[str, set[str]] = field(default_factory=dict)
    #: (eu, mx, type, year) of each stored cooperation -> its id
    cooperations: dict[tuple[str, str, str, int | None], str] = field(default_factory=dict)


@dataclass
class ParsedImport:
    """Validated records of a file, each with where it came from."""

    organisations: list[tuple[RowRef, Organisation]] = field(default_factory=list)
    cooperations: list[tuple[RowRef, Cooperation]] = field(default_factory=list)


def _pydantic_errors(exc: ValidationError, ref: RowRef) -> list[RowError]:
    out = []
    for err in exc.errors():
        loc = error_field(err) or "country"
        reason = err["msg"]
        value = err.get("input")
        if err["loc"] and isinstance(value, (str, int, float)) and len(str(value)) <= 80:
            reason += f" (got {value!r})"
        out.append(ref.error(loc, reason))
    return out


def sector_id(taxonomy: Taxonomy, term: str) -> str:
    """The sector id ``term`` names: an id as is, otherwise a name or synonym in either language."""
    return term if term in taxonomy else taxonomy.resolve(term)


def _resolve_sectors(terms: list[str], taxonomy: Taxonomy, ref: RowRef, name: str, errors: list[RowError]) -> list[str]:
    resolved: list[str] = []
    for term in terms:
        try:
            sector = sector_id(taxonomy, term)
        except UnknownSector:
            errors.append(ref.error(name, f"unknown sector {term!r}"))
            continue
        if sector in resolved:
            errors.append(ref.error(name, f"sector {sector!r} is listed twice"))
            continue
        resolved.append(sector)
    return resolved


def validate(sections: list[Section], known: Known, taxonomy: Taxonomy, source: str) -> ParsedImport:
    """Check every row of every section; raise ImportRejected listing all bad rows."""
    errors: list[RowError] = [e for s in sections for e in s.errors]
    parsed = ParsedImport()
    first_seen: dict[tuple[Kind, str], RowRef] = {}

    def duplicate(kind: Kind, record_id: str, ref: RowRef) -> bool:
        earlier = first_seen.setdefault((kind, record_id), ref)
        if earlier is not ref:
            errors.append(ref.error("id", f"id {record_id!r} appears twice (first at {earlier.where} {earlier.number})"))
            return True
        return False

    for section in (s for s in sections if s.kind is Kind.profiles):
        for ref, raw in section.rows:
            try:
                org = Organisation.model_validate(raw)
            except ValidationError as exc:
                errors.extend(_pydantic_errors(exc, ref))
                continue
            before = len(errors)
            sectors = _resolve_sectors(org.sectors, taxonomy, ref, "sectors", errors)
            interest = _resolve_sectors(org.facts.mexico_interest, taxonomy, ref, "facts.mexico_interest", errors)
            old_side = known.sides.get(org.id)
            if old_side is not None and old_side is not org.side and known.roles.get(org.id):
                errors.append(ref.error("side", f"{org.id} is a party to stored cooperations on the {old_side.value} side"))
            if duplicate(Kind.profiles, org.id, ref) or len(errors) > before:
                continue
            facts = org.facts.model_copy(update={"mexico_interest": interest})
            parsed.organisations.append((ref, org.model_copy(update={"sectors": sectors, "facts": facts})))

    sides = dict(known.sides)
    sides.update({org.id: org.side for _, org in parsed.organisations})
    for ref, org in parsed.organisations:
        for parent in org.facts.member_of:
            if parent not in sides:
                errors.append(ref.error("facts.member_of", f"unknown organisation {parent!r}"))

    file_ids = {str(raw.get("id")) for s in sections if s.kind is Kind.cooperations for _, raw in s.rows}
    same_as: dict[tuple[str, str, str, int | None], tuple[str, str]] = {
        key: (coop_id, "in the store") for key, coop_id in known.cooperations.items() if coop_id not in file_ids}
    for section in (s for s in sections if s.kind is Kind.cooperations):
        for ref, raw in section.rows:
            try:
                coop = Cooperation.model_validate(raw)
            except ValidationError as exc:
                errors.extend(_pydantic_errors(exc, ref))
                continue
            before = len(errors)
            for role, side in (("eu", Side.EU), ("mx", Side.MX)):
                party = getattr(coop, role)
                if party not in sides:
                    errors.append(ref.error(role, f"unknown organisation {party!r}"))
                elif sides[party] is not side:
                    errors.append(ref.error(role, f"{party} is on the {sides[party].value} side, not {side.value}"))
            if duplicate(Kind.cooperations, coop.id, ref) or len(errors) > before:
                continue
            key = (coop.eu, coop.mx, coop.type.value, coop.year)
            other, where = same_as.setdefault(key, (coop.id, f"at {ref.where} {ref.number}"))
            if other != coop.id:
                errors.append(ref.error("id", f"the same cooperation ({coop.eu}, {coop.mx}, {coop.type.value}, "
                                              f"year {coop.year}) is already recorded as {other!r} {where}"))
                continue
            parsed.cooperations.append((ref, coop))

    if errors:
        errors.sort(key=lambda e: (getattr(e, "section", None) or "", e.line))
        raise ImportRejected(source, errors)
    return parsed


@dataclass
class ImportCounts:
    """Ids of one kind of record an import created, updated or left as they were."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{len(self.created)} created, {len(self.updated)} updated, {len(self.unchanged)} unchanged"


@dataclass
class ImportReport:
    """What an import did, per kind of record."""

    source: str
    profiles: ImportCounts = field(default_factory=ImportCounts)
    cooperations: ImportCounts = field(default_factory=ImportCounts)

    @property
    def created(self) -> int:
        return len(self.profiles.created) + len(self.cooperations.created)

    @property
    def updated(self) -> int:
        return len(self.profiles.updated) + len(self.cooperations.updated)

    @property
    def unchanged(self) -> int:
        return len(self.profiles.unchanged) + len(self.cooperations.unchanged)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)

    def summary(self) -> str:
        parts = [f"profiles: {self.profiles}"] if self._has(self.profiles) else []
        if self._has(self.cooperations):
            parts.append(f"cooperations: {self.cooperations}")
        return f"{self.source}: " + ("; ".join(parts) or "no records")

    @staticmethod
    def _has(counts: ImportCounts) -> bool:
        return bool(counts.created or counts.updated or counts.unchanged)
