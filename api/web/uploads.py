"""Read an uploaded participants or requests file and report every bad row, not just the first.

The event reader (:func:`matcher.events.load_participants`) stops at the first problem and names
its line and field. To show an organiser every bad row at once, the file is read again after
blanking each reported row (a blank row is skipped and keeps the other rows' line numbers),
until it reads cleanly or ``MAX_ERRORS`` rows have been reported. Nothing is saved unless the
whole file is clean.
"""

from __future__ import annotations

import csv
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TypeVar

from openpyxl import load_workbook

from matcher.errors import EventError
from matcher.events import Event, MeetingRequest, Participant, load_participants, load_requests
from matcher.events.participants import Lookup

MAX_ERRORS = 50
SUFFIXES = (".csv", ".xlsx")
_LINE = re.compile(r", line (\d+)(?:, field '([^']+)')?:? ?")

T = TypeVar("T")


@dataclass(frozen=True)
class RowProblem:
    """One bad row (``line`` None for a problem of the whole file)."""

    line: int | None
    field: str | None
    message: str


class FileRejected(Exception):
    """An uploaded file has bad rows; nothing was saved."""

    def __init__(self, filename: str, problems: list[RowProblem], more: bool = False):
        super().__init__(f"{filename}: {len(problems)} problem(s)")
        self.filename = filename
        self.problems = problems
        self.more = more


def problem(message: str) -> RowProblem:
    """The line, field and reason of one of the reader's messages."""
    found = _LINE.search(message)
    if not found:
        return RowProblem(None, None, message)
    return RowProblem(int(found.group(1)), found.group(2), message[found.end():].strip() or message)


def _blank_csv(path: Path, line: int) -> bool:
    """Blank the record starting at ``line`` (every physical line it spans); False if none does."""
    text = path.read_text(encoding="utf-8-sig")
    lines = text.splitlines()
    first = text.split("\n", 1)[0]
    reader = csv.reader(lines, delimiter=";" if first.count(";") > first.count(",") else ",")
    start = 1
    for _ in reader:
        if start == line:
            end = reader.line_num
            for k in range(start - 1, end):
                lines[k] = ""
            path.write_text("\n".join(lines) + "\n", encoding="utf-8")
            return True
        start = reader.line_num + 1
    return False


def _blank_xlsx(path: Path, line: int) -> bool:
    book = load_workbook(path)
    sheet = book.worksheets[0]
    if line > sheet.max_row:
        return False
    for cell in sheet[line]:
        cell.value = None
    book.save(path)
    return True


def _every_problem(path: Path, read: Callable[[Path], T]) -> T:
    problems: list[RowProblem] = []
    while True:
        try:
            result = read(path)
        except EventError as exc:
            found = problem(str(exc))
            problems.append(found)
            if found.line is None or found.line <= 1 or len(problems) >= MAX_ERRORS:
                raise FileRejected(path.name, problems, more=len(problems) >= MAX_ERRORS) from None
            blank = _blank_xlsx if path.suffix == ".xlsx" else _blank_csv
            if not blank(path, found.line):
                raise FileRejected(path.name, problems) from None
            continue
        if problems:
            raise FileRejected(path.name, problems)
        return result


def _saved(folder: Path, filename: str, data: bytes) -> Path:
    suffix = Path(filename or "").suffix.lower()
    if suffix not in SUFFIXES:
        raise FileRejected(filename or "?", [RowProblem(None, None, "expected a .csv or .xlsx file")])
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(filename).stem)[:80] or "upload"
    path = folder / f"{stem}{suffix}"
    path.write_bytes(data)
    return path


def read_participants(filename: str, data: bytes, event: Event, lookup: Lookup) -> list[Participant]:
    """Participants of an uploaded CSV/XLSX file; :class:`FileRejected` lists every bad row."""
    with tempfile.TemporaryDirectory(prefix="c2c-upload-") as folder:
        path = _saved(Path(folder), filename, data)
        return _every_problem(path, lambda p: load_participants(p, event, lookup=lookup))


def read_requests(filename: str, data: bytes) -> list[MeetingRequest]:
    """Meeting requests of an uploaded CSV/XLSX file; :class:`FileRejected` lists every bad row."""
    with tempfile.TemporaryDirectory(prefix="c2c-upload-") as folder:
        path = _saved(Path(folder), filename, data)
        return _every_problem(path, load_requests)

