"""Exports of the registry as files: ``/export/clusters`` and ``/export/cooperations``.

CSV cells that a spreadsheet would run as a formula are escaped (see :mod:`matcher.io`).
Callers without a key get profiles without their contact details.
"""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import Any

from fastapi import APIRouter, Response

from api.auth import Reader
from api.deps import RegistryDep
from matcher import io as fileio


class ExportFormat(str, Enum):
    csv = "csv"
    json = "json"


MEDIA_TYPES = {ExportFormat.csv: "text/csv; charset=utf-8", ExportFormat.json: "application/json"}
FILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}, "application/json": {"schema": {"type": "array", "items": {"type": "object"}}}}}
}


def _attachment(data: bytes, name: str, fmt: ExportFormat) -> Response:
    stamp = dt.date.today().isoformat()
    return Response(
        content=data,
        media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{name}-{stamp}.{fmt.value}"'},
    )


router = APIRouter(prefix="/export", tags=["export"])


@router.get("/clusters", response_class=Response, responses=FILE_RESPONSES,
            summary="Every profile as CSV or JSON (contacts only for callers with a key)")
def export_clusters(caller: Reader, registry: RegistryDep, format: ExportFormat = ExportFormat.csv) -> Response:
    orgs = registry.all_organisations()
    if not caller.keyed:
        orgs = [o.model_copy(update={"contact": None}) for o in orgs]
    data = fileio.export_bytes(fileio.Kind.profiles, format.value, orgs, [])
    return _attachment(data, "clusters", format)


@router.get("/cooperations", response_class=Response, responses=FILE_RESPONSES,
            summary="Every documented cooperation as CSV or JSON")
def export_cooperations(caller: Reader, registry: RegistryDep, format: ExportFormat = ExportFormat.csv) -> Response:
    data = registry.export(fileio.Kind.cooperations, format.value)
    return _attachment(data, "cooperations", format)
