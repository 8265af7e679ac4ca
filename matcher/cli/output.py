"""Render listings as a table, JSON or CSV (``--format table|json|csv``)."""

from __future__ import annotations

import csv
import io
import json
import sys
from enum import Enum
from typing import Any, Iterable

from rich.console import Console
from rich.table import Table

from matcher.io import escape_formula


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return "; ".join(_cell(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def render(rows: Iterable[dict[str, Any]], fmt: Format, columns: list[str] | None = None, title: str | None = None) -> None:
    """Print rows in the chosen format; ``columns`` selects and orders table/CSV columns."""
    rows = list(rows)
    if fmt is Format.json:
        sys.stdout.write(json.dumps(rows, ensure_ascii=False, indent=2, default=str) + "\n")
        return
    columns = columns or (list(rows[0].keys()) if rows else [])
    if fmt is Format.csv:

        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([escape_formula(_cell(row.get(c))) for c in columns])
        sys.stdout.write(buf.getvalue())
        return
    table = Table(title=title, show_lines=False)
    for c in columns:
        table.add_column(c)
    for row in rows:
        table.add_row(*[_cell(row.get(c)) for c in columns])
    Console(width=200).print(table)
