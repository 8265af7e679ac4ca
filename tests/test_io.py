"""Import and export: round trips, all-or-nothing rejection, idempotent re-import, formula escaping."""

from __future__ import annotations

import csv
import io
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from openpyxl import Workbook, load_workbook

from matcher.errors import ImportRejected, InvalidProfile
from matcher.io import escape_formula, read_file, split_list, join_list, unescape_formula
from matcher.profiles import Cooperation, Organisation
from matcher.store.registry import Registry
from matcher.settings import Settings

TRICKY = {
    "description": '=HYPERLINK("http://evil.example","click"); then -1+1 @home',
    "region": "+34 region",
    "aliases": ["-dash alias", "'=already quoted", "semi;colon", "@at"],
}


def _tricky(organisations: list[Organisation]) -> list[Organisation]:
    first = organisations[0].model_copy(update=TRICKY)
    return [first, *organisations[1:]]


@pytest.fixture
def other(tmp_path: Path, _sqlite_template: Path) -> Iterator[Registry]:
    """A second, empty SQLite registry to import into."""
    target = tmp_path / "other" / "c2c.db"
    target.parent.mkdir()
    shutil.copyfile(_sqlite_template, target)
    reg = Registry.open(Settings(database_url=f"sqlite:///{target}", home=target.parent), init=False)
    yield reg
    reg.close()


@pytest.mark.parametrize("fmt", ["csv", "json", "xlsx"])
def test_export_then_import_round_trips(
    registry: Registry, other: Registry, organisations: list[Organisation], cooperations: list[Cooperation],
    fmt: str, tmp_path: Path,
) -> None:  # fmt: skip
    orgs = _tricky(organisations)
    registry.import_records(orgs, cooperations)
    profiles = tmp_path / f"profiles.{fmt}"
    coops = tmp_path / f"cooperations.{fmt}"
    registry.export("profiles", fmt, profiles)
    registry.export("cooperations", fmt, coops)

    report = other.import_file(profiles)
    assert sorted(report.profiles.created) == sorted(o.id for o in orgs) and report.updated == 0
    other.import_file(coops)
    assert other.all_organisations() == registry.all_organisations()
    assert other.all_cooperations() == registry.all_cooperations()
    assert other.get("hegan") == orgs[0]

    version = registry.data_version()
    again = registry.import_file(profiles)
    assert (again.created, again.updated, again.unchanged) == (0, 0, len(orgs))
    assert registry.import_file(coops).unchanged == len(cooperations)
    assert registry.data_version() == version, "re-importing the same file changes nothing"


def test_bundle_export_holds_both_kinds(filled: Registry, other: Registry, tmp_path: Path) -> None:
    for fmt in ("json", "xlsx"):
        path = tmp_path / f"all.{fmt}"
        filled.export("all", fmt, path)
        report = other.import_file(path)
        assert other.all_organisations() == filled.all_organisations()
        assert other.all_cooperations() == filled.all_cooperations()
        assert report.changed == (fmt == "json")
    with pytest.raises(InvalidProfile):
        filled.export("all", "csv")


def test_export_escapes_formulas_in_csv_and_xlsx(registry: Registry, organisations: list[Organisation]) -> None:
    registry.import_records(_tricky(organisations))
    rows = list(csv.DictReader(io.StringIO(registry.export("profiles", "csv").decode())))
    hegan = next(r for r in rows if r["id"] == "hegan")
    assert hegan["description"].startswith("'=HYPERLINK")
    assert hegan["region"] == "'+34 region"
    assert hegan["aliases"].startswith("'-dash alias")

    book = load_workbook(io.BytesIO(registry.export("profiles", "xlsx")))
    sheet = book["profiles"]
    header = [c.value for c in sheet[1]]
    cells = {header[i]: c for i, c in enumerate(next(r for r in sheet.iter_rows(min_row=2) if r[0].value == "hegan"))}
    assert cells["description"].data_type == "s" and cells["description"].value.startswith("'=")
    assert all(c.data_type != "f" for row in sheet.iter_rows() for c in row), "no cell may be a formula"


@given(st.text(max_size=12))
def test_escape_is_undone_exactly(text: str) -> None:
    escaped = escape_formula(text)
    assert unescape_formula(escaped) == text
    assert not escaped.startswith(("=", "+", "-", "@", "\t", "\r"))


def test_escape_leaves_other_values_alone() -> None:
    assert escape_formula("Cluster") == "Cluster"
    assert escape_formula(42) == 42 and escape_formula(None) is None
    assert escape_formula("\tx") == "'\tx" and escape_formula("\rx") == "'\rx"


@given(st.lists(st.text(alphabet=st.sampled_from("ab ;\\é="), min_size=1, max_size=8), max_size=4))
def test_list_cells_round_trip(items: list[str]) -> None:
    items = [i.strip() for i in items if i.strip()]  # cells carry no blank items or outer spaces
    assert split_list(join_list(items)) == items


def test_hand_written_list_cells() -> None:
    assert split_list(" wind ;solar;; ") == ["wind", "solar"]
    assert split_list(r"C:\data; a\;b") == [r"C:\data", "a;b"]


def _write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    return path


HEADER = ["id", "name", "side", "country", "type", "sectors", "sources"]
SRC = json.dumps([{"document": "d.pdf", "section": "1"}])


def test_malformed_csv_row_is_rejected_with_its_line_and_field(filled: Registry, tmp_path: Path) -> None:
    before, version = filled.all_organisations(), filled.data_version()
    path = _write_csv(tmp_path / "bad.csv", [
        HEADER,
        ["new-a", "New A", "EU", "ES", "company", "wind", SRC],
        ["new-b", "New B", "EU", "Spain", "company", "wind", SRC],
        ["new-c", "New C", "MX", "MX", "company", "solar; nonsense", SRC],
        ["new-d", "New D", "EU", "FR", "company", "wind", "{not json"],
        ["new-a", "New A again", "EU", "ES", "company", "wind", SRC],
    ])  # fmt: skip
    with pytest.raises(ImportRejected) as err:
        filled.import_file(path)
    found = {(e.line, e.field) for e in err.value.errors}
    assert found == {(3, "country"), (4, "sectors"), (5, "sources"), (6, "id")}
    assert "line 3, field 'country'" in str(err.value)
    assert filled.all_organisations() == before, "nothing is written when any row is bad"
    assert filled.data_version() == version


def test_csv_line_numbers_count_multiline_cells(registry: Registry, tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "multi.csv", [
        HEADER + ["description"],
        ["ok-one", "OK One", "EU", "ES", "company", "wind", SRC, "first line\nsecond line\nthird"],
        ["ok-two", "OK Two", "XX", "ES", "company", "wind", SRC, ""],
    ])  # fmt: skip
    with pytest.raises(ImportRejected) as err:
        registry.import_file(path)
    assert [(e.line, e.field) for e in err.value.errors] == [(5, "side")]


def test_bad_header_is_reported(registry: Registry, tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "h.csv", [["id", "name", "colour"], ["a", "A", "red"]])
    with pytest.raises(ImportRejected) as err:
        registry.import_file(path, kind="profiles")
    fields = {e.field for e in err.value.errors}
    assert {"colour", "side", "country", "type", "sectors"} <= fields
    with pytest.raises(ImportRejected):
        registry.import_file(tmp_path / "missing.csv")
    with pytest.raises(ImportRejected):
        registry.import_file(_write_csv(tmp_path / "x.txt", [HEADER]))


def test_cooperation_parties_must_exist_in_store_or_file(registry: Registry, tmp_path: Path, organisations) -> None:
    registry.import_records(organisations[:1])  # hegan only
    coop_rows = [
        ["id", "eu", "mx", "type", "year"],
        ["c-1", "hegan", "claut", "listed", "2020"],
        ["c-2", "claut", "hegan", "listed", ""],
        ["c-3", "hegan", "hegan", "signed_mou", "1850"],
    ]
    with pytest.raises(ImportRejected) as err:
        registry.import_file(_write_csv(tmp_path / "c.csv", coop_rows))
    assert {(e.line, e.field) for e in err.value.errors} == {(2, "mx"), (3, "eu"), (3, "mx"), (4, "year")}
    assert registry.count_cooperations() == 0

    bundle = {
        "profiles": [o.model_dump(mode="json") for o in organisations if o.id == "claut"],
        "cooperations": [{"id": "c-1", "eu": "hegan", "mx": "claut", "type": "listed", "year": 2020}],
    }
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    report = registry.import_file(path)
    assert (report.profiles.created, report.cooperations.created) == (["claut"], ["c-1"])


def test_json_errors_name_the_item(registry: Registry, organisations: list[Organisation], tmp_path: Path) -> None:
    items = [o.model_dump(mode="json") for o in organisations[:3]]
    items[1]["facts"] = {"members": -4}
    items[2] = "not an object"
    path = tmp_path / "p.json"
    path.write_text(json.dumps(items))
    with pytest.raises(ImportRejected) as err:
        registry.import_file(path)
    assert [(e.line, e.field) for e in err.value.errors] == [(1, "facts.members"), (2, "record")]
    assert "item 1, field 'facts.members'" in str(err.value)
    assert registry.count_organisations() == 0
    path.write_text("[{")
    with pytest.raises(ImportRejected):
        registry.import_file(path)


def test_xlsx_errors_name_the_sheet_row(registry: Registry, tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    sheet.append(HEADER)
    sheet.append(["ok-one", "OK One", "EU", "ES", "company", "wind", SRC])
    sheet.append([None] * len(HEADER))  # blank rows are skipped but still counted
    sheet.append(["bad-one", "B", "EU", "ES", "company", "wind", SRC])
    path = tmp_path / "p.xlsx"
    book.save(path)
    with pytest.raises(ImportRejected) as err:
        registry.import_file(path)
    assert [(e.line, e.field) for e in err.value.errors] == [(4, "name")]
    assert "row 4, field 'name'" in str(err.value)
    path.write_bytes(b"not a zip")
    with pytest.raises(ImportRejected):
        registry.import_file(path)


def test_reimport_with_a_change_updates_only_that_record(filled: Registry, tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    filled.export("profiles", "csv", path)
    text = path.read_text().replace("Wind energy suppliers of northern Germany.", "Wind and hydrogen suppliers.")
    path.write_text(text)
    events: list[tuple[str, str]] = []
    filled.subscribe(lambda e, i: events.append((e, i)))
    report = filled.import_file(path)
    assert report.profiles.updated == ["windcluster-nord"] and report.created == 0 and report.unchanged == 5
    assert filled.get("windcluster-nord").description == "Wind and hydrogen suppliers."
    assert events == [("updated", "windcluster-nord")]


def test_read_file_guesses_the_kind(tmp_path: Path) -> None:
    coops = _write_csv(tmp_path / "c.csv", [["id", "eu", "mx", "type"], ["c", "a", "b", "listed"]])
    assert [s.kind.value for s in read_file(coops)] == ["cooperations"]
    profiles = _write_csv(tmp_path / "p.csv", [HEADER])
    assert [s.kind.value for s in read_file(profiles)] == ["profiles"]
