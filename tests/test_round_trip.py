"""Export -> import is exact in CSV, JSON and XLSX for every record the schema accepts, and the
schema's limits keep every cell inside what each format holds (defect #7)."""

from __future__ import annotations

import json
import string
import tempfile
from pathlib import Path
from typing import Any

import pytest
from api_fixtures import Api, api, error_of, new_profile  # noqa: F401
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from matcher.errors import ImportRejected, InvalidProfile
from matcher.io import Kind, Known, export_bytes, read_file, validate
from matcher.profiles import (
    ACRONYM_MAX,
    DESCRIPTION_MAX,
    LIST_MAX,
    NAME_MAX,
    NOTE_MAX,
    REGION_MAX,
    SHORT_MAX,
    WEBSITE_MAX,
    XLSX_CELL_LIMIT,
    Cooperation,
    Organisation,
    Side,
)
from matcher.store.registry import Registry
from matcher.taxonomy import load_taxonomy

TAXONOMY = load_taxonomy()
SECTOR_IDS = sorted(TAXONOMY.sectors)
FORMATS = ["csv", "json", "xlsx"]

#: Characters that have tripped formats before: separators, escapes, quotes, formula starts,
#: line breaks, spreadsheet escapes, non-ASCII.
TRICKY = list(";\\'\"=+-@,\n\r\t _x0D:{}[]") + ["_x000D_", "ñ", "É", "ü", "中", "😀", "\u2028", "\x85", "\xa0"]
PIECES = st.one_of(st.sampled_from(TRICKY), st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")),
                   st.sampled_from(string.ascii_letters))


def text(max_size: int, min_size: int = 0) -> st.SearchStrategy[str]:
    """Stripped text as the schema stores it (line breaks as ``\\n``)."""
    return (st.lists(PIECES, max_size=max_size).map(lambda pieces: "".join(pieces)[:max_size])
            .map(lambda s: s.replace("\r\n", "\n").replace("\r", "\n").strip())
            .filter(lambda s: len(s) >= min_size))


def optional_text(max_size: int) -> st.SearchStrategy[str | None]:
    return st.none() | text(max_size, 1)


def text_list(max_item: int, max_items: int = 5) -> st.SearchStrategy[list[str]]:
    return st.lists(text(max_item, 1), max_size=max_items)


sources = st.lists(st.builds(dict, document=text(80, 1), section=text(40, 1), publisher=optional_text(40),
                             date=st.none() | st.sampled_from(["2020", "2021-05", "2022-11-30"])), max_size=3)
facts = st.builds(
    dict, members=st.none() | st.integers(0, 10_000_000), members_note=optional_text(60),
    founded=st.none() | st.integers(1800, 2100),
    label=st.none() | st.builds(dict, level=st.sampled_from(["gold", "silver", "bronze"]),
                                sector=optional_text(20), valid_until=st.none() | st.dates().map(str)),
    eccp_member=st.booleans(), escp4i=text_list(20), committees=text_list(40), specialities=text_list(40),
    notes=text_list(120), mexico_interest=st.lists(st.sampled_from(SECTOR_IDS), unique=True, max_size=3))
contact = st.none() | st.builds(dict, name=text(40, 1), role=optional_text(30), email=optional_text(30),
                                phone=optional_text(20))


@st.composite
def organisation(draw: st.DrawFn, org_id: str) -> Organisation:
    side = draw(st.sampled_from(["EU", "MX"]))
    return Organisation.model_validate({
        "id": org_id, "name": draw(text(60, 2)), "aliases": draw(text_list(40)), "acronym": draw(optional_text(10)),
        "side": side, "country": "MX" if side == "MX" else draw(st.sampled_from(["ES", "DE", "FR", "IT"])),
        "region": draw(optional_text(30)), "type": draw(st.sampled_from(["cluster_organisation", "company"])),
        "sectors": draw(st.lists(st.sampled_from(SECTOR_IDS), unique=True, min_size=1, max_size=4)),
        "description": draw(text(300)), "facts": draw(facts), "website": draw(optional_text(40)),
        "contact": draw(contact), "sources": draw(sources),
    })


@st.composite
def registry_files(draw: st.DrawFn) -> tuple[list[Organisation], list[Cooperation]]:
    orgs = [draw(organisation(f"org-{i}")) for i in range(draw(st.integers(1, 4)))]
    orgs.append(Organisation.model_validate({"id": "eu-anchor", "name": "EU anchor", "side": "EU", "country": "ES",
                                             "type": "company", "sectors": [SECTOR_IDS[0]]}))
    orgs.append(Organisation.model_validate({"id": "mx-anchor", "name": "MX anchor", "side": "MX", "country": "MX",
                                             "type": "company", "sectors": [SECTOR_IDS[1]]}))
    eu = [o.id for o in orgs if o.side is Side.EU]
    mx = [o.id for o in orgs if o.side is Side.MX]
    coops, seen = [], set()
    for i in range(draw(st.integers(0, 3))):
        record = {"id": f"coop-{i}", "eu": draw(st.sampled_from(eu)), "mx": draw(st.sampled_from(mx)),
                  "type": draw(st.sampled_from(["signed_mou", "delegation_visit", "listed"])),
                  "year": draw(st.none() | st.integers(1990, 2100)), "description": draw(text(200)),
                  "sources": draw(sources), "confidence": draw(st.sampled_from(["high", "medium", "low"])),
                  "tier": draw(st.sampled_from(["seed", "web", "user"])), "split": draw(st.sampled_from(["train", "test"]))}
        key = (record["eu"], record["mx"], record["type"], record["year"])
        if key not in seen:
            seen.add(key)
            coops.append(Cooperation.model_validate(record))
    return orgs, coops


def round_trip(fmt: str, orgs: list[Organisation], coops: list[Cooperation], folder: Path
               ) -> tuple[list[Organisation], list[Cooperation]]:
    """Export in ``fmt``, read the file back and validate it as an import would."""
    kinds = [Kind.profiles, Kind.cooperations] if fmt == "csv" else [Kind.all]
    back_orgs: list[Organisation] = []
    back_coops: list[Cooperation] = []
    known = Known(sides={o.id: o.side for o in orgs})
    for kind in kinds:
        path = folder / f"records-{kind.value}.{fmt}"
        path.write_bytes(export_bytes(kind, fmt, orgs, coops))
        parsed = validate(read_file(path, kind), known, TAXONOMY, str(path))
        back_orgs += [o for _, o in parsed.organisations]
        back_coops += [c for _, c in parsed.cooperations]
    return back_orgs, back_coops


@given(registry_files())
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
def test_export_then_import_is_exact_in_every_format(records: tuple[list[Organisation], list[Cooperation]]) -> None:
    orgs, coops = records
    with tempfile.TemporaryDirectory() as folder:
        for fmt in FORMATS:
            assert round_trip(fmt, orgs, coops, Path(folder)) == (orgs, coops), fmt


def biggest_profile(org_id: str = "biggest") -> dict[str, Any]:
    """A profile at every limit at once, in the characters that grow most when written."""
    many = [f"{i:02d}" + ";\\" * ((SHORT_MAX - 2) // 2) for i in range(LIST_MAX)]
    return {
        "id": org_id, "name": "=" + "N;" * ((NAME_MAX - 1) // 2), "aliases": many, "acronym": "@" * ACRONYM_MAX,
        "side": "EU", "country": "ES", "region": "+" * REGION_MAX, "type": "company",
        "sectors": SECTOR_IDS[:LIST_MAX], "description": ("-\n'=\"" * DESCRIPTION_MAX)[:DESCRIPTION_MAX],
        "website": "w" * WEBSITE_MAX,
        "facts": {"notes": ['"' * 300] * 40, "members_note": "m" * NOTE_MAX},
        "contact": {"name": "c" * SHORT_MAX, "role": "r" * SHORT_MAX},
        "sources": [{"document": f"d{i}", "section": "s" * 200} for i in range(LIST_MAX)],
    }


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_profile_at_every_limit_round_trips(fmt: str, tmp_path: Path) -> None:
    org = Organisation.model_validate(biggest_profile())
    coop = Cooperation.model_validate({"id": "c", "eu": "biggest", "mx": "mx-anchor", "type": "listed",
                                       "description": "=" * DESCRIPTION_MAX,
                                       "sources": [{"document": "d" * 600, "section": "s"}] * LIST_MAX})
    mx = Organisation.model_validate({"id": "mx-anchor", "name": "MX anchor", "side": "MX", "country": "MX",
                                      "type": "company", "sectors": [SECTOR_IDS[1]]})
    assert round_trip(fmt, [org, mx], [coop], tmp_path) == ([org, mx], [coop])
    if fmt == "xlsx":
        from openpyxl import load_workbook

        book = load_workbook(tmp_path / "records-all.xlsx", read_only=True)
        longest = max(len(str(v)) for sheet in book.worksheets for row in sheet.iter_rows(values_only=True)
                      for v in row if v is not None)
        book.close()
        assert 20_000 < longest <= XLSX_CELL_LIMIT


@pytest.mark.parametrize("fmt", FORMATS)
def test_stored_profiles_round_trip_through_the_store(fmt: str, registry: Registry, tmp_path: Path) -> None:
    anchor = {"id": "mx-anchor", "name": "MX anchor", "side": "MX", "country": "MX", "type": "company",
              "sectors": [SECTOR_IDS[1]]}
    registry.create(anchor)
    stored = registry.create(biggest_profile())
    registry.add_cooperation({"id": "c", "eu": "biggest", "mx": "mx-anchor", "type": "listed", "year": 2020,
                              "description": "'=" * 100})
    before = (registry.all_organisations(), registry.all_cooperations())
    kind = "profiles" if fmt == "csv" else "all"
    path = tmp_path / f"out.{fmt}"
    registry.export(kind, fmt, out=path)
    registry.delete(stored.id)
    report = registry.import_file(path, kind=kind)
    if fmt == "csv":
        cooperations = tmp_path / "coops.csv"
        cooperations.write_bytes(export_bytes("cooperations", "csv", [], before[1]))
        registry.import_file(cooperations, kind="cooperations")
    assert stored.id in report.profiles.created
    assert (registry.all_organisations(), registry.all_cooperations()) == before


LIMITS = [
    ("name", "n" * (NAME_MAX + 1)),
    ("aliases", ["a"] * (LIST_MAX + 1)),
    ("aliases.0", "a" * (SHORT_MAX + 1)),
    ("aliases.0", "   "),
    ("acronym", "A" * (ACRONYM_MAX + 1)),
    ("region", "r" * (REGION_MAX + 1)),
    ("sectors", SECTOR_IDS[: LIST_MAX + 1] if len(SECTOR_IDS) > LIST_MAX else ["x"] * (LIST_MAX + 1)),
    ("description", "d" * (DESCRIPTION_MAX + 1)),
    ("website", "w" * (WEBSITE_MAX + 1)),
    ("facts.notes.0", "n" * (NOTE_MAX + 1)),
    ("facts.committees", ["c"] * (LIST_MAX + 1)),
    ("facts.members", 10_000_001),
    ("facts.founded", 1799),
    ("facts", {"notes": ['"' * 1000] * 20}),
    ("contact.name", "c" * (SHORT_MAX + 1)),
    ("sources", [{"document": "d", "section": "s"}] * (LIST_MAX + 1)),
    ("sources", [{"document": "d" * 2001, "section": "s"}]),
]


def _set(record: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    parts = dotted.split(".")
    if parts[-1].isdigit():
        parts, value = parts[:-1], [value]
    target = record
    for part in parts[:-1]:
        target = target.setdefault(part, {})
    target[parts[-1]] = value
    return record


@pytest.mark.parametrize("field, value", LIMITS, ids=[f for f, _ in LIMITS])
def test_every_limit_is_checked_at_write_and_at_import(api: Api, tmp_path: Path, field: str, value: Any) -> None:
    body = _set(new_profile("too-big"), field, value)
    top = field.split(".")[0]
    err = error_of(api.client.post("/clusters", json=body, headers=api.write), 422)
    assert err["code"] in {"validation_error", "invalid"} and err["field"].startswith(top), err
    with pytest.raises(InvalidProfile) as info:
        api.registry.create(body)
    assert info.value.field.startswith(top)
    path = tmp_path / "too-big.json"
    path.write_text(json.dumps([body]))
    with pytest.raises(ImportRejected) as rejected:
        api.registry.import_file(path)
    assert rejected.value.errors[0].field.startswith(top)
    assert api.client.get("/clusters/too-big").status_code == 404
    patch = api.client.patch("/clusters/aero-north", json={top: body[top]}, headers=api.write)
    error_of(patch, 422)


def test_a_csv_cell_larger_than_the_reader_default_is_a_row_error(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    path.write_text("id,name,side,country,type,sectors,description\n"
                    f"big,Big Cluster,EU,ES,company,{SECTOR_IDS[0]},{'x' * 200_000}\n", encoding="utf-8")
    with pytest.raises(ImportRejected) as rejected:
        validate(read_file(path), Known(), TAXONOMY, str(path))
    assert [(e.line, e.field) for e in rejected.value.errors] == [(2, "description")]


def test_blank_optional_text_is_no_text() -> None:
    org = Organisation.model_validate({"id": "b", "name": "Blank", "side": "EU", "country": "ES", "type": "company",
                                       "acronym": "  ", "region": "", "contact": {"name": "x", "email": " "}})
    assert org.acronym is None and org.region is None and org.contact.email is None
    with pytest.raises(ValidationError):
        Organisation.model_validate({"id": "b", "name": "Blank", "side": "EU", "country": "ES", "type": "company",
                                     "contact": {"name": " "}})
    crlf = Organisation.model_validate({"id": "b", "name": "Bb", "side": "EU", "country": "ES", "type": "company",
                                        "description": "a\r\nb\rc"})
    assert crlf.description == "a\nb\nc"
