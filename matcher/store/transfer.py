"""Bulk upserts from files or records: validated as a whole, written in one transaction.

:mod:`matcher.io` reads and checks the rows; this module compares them with what is stored
and writes the difference. The registry announces the changes afterwards.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from tqdm import tqdm

from matcher import io as fileio
from matcher.errors import ImportRejected, LocatedRowError
from matcher.profiles import Cooperation, Organisation, Side
from matcher.store.engine import Store
from matcher.store.records import cooperation_values, insert_organisations, record_digest, replace_organisation
from matcher.store.tables import CooperationRow, OrganisationRow, utcnow
from matcher.taxonomy import Taxonomy


def record_sections(organisations: Iterable[Organisation | dict[str, Any]],
                    cooperations: Iterable[Cooperation | dict[str, Any]]) -> list[fileio.Section]:
    """Records given in memory as the sections of an import (rows counted as JSON items)."""

    def section(kind: fileio.Kind, items: Iterable[Any]) -> fileio.Section:
        rows = [(fileio.RowRef(i, "item", kind.value), _as_dict(x)) for i, x in enumerate(items)]
        return fileio.Section(kind, rows)

    return [section(fileio.Kind.profiles, organisations), section(fileio.Kind.cooperations, cooperations)]


def _as_dict(item: Any) -> Any:
    return item.model_dump(mode="json") if isinstance(item, BaseModel) else item


def known_records(store: Store) -> fileio.Known:
    """The stored organisations' sides and their cooperation roles, for checking an import."""
    known = fileio.Known()
    with store.read() as s:
        for org_id, side in s.execute(select(OrganisationRow.id, OrganisationRow.side)):
            known.sides[org_id] = Side(side)
        columns = (CooperationRow.id, CooperationRow.eu_id, CooperationRow.mx_id, CooperationRow.type, CooperationRow.year)
        for coop_id, eu, mx, type_, year in s.execute(select(*columns)):
            known.roles.setdefault(eu, set()).add("eu")
            known.roles.setdefault(mx, set()).add("mx")
            known.cooperations[(eu, mx, type_, year)] = coop_id
    return known


def upsert(store: Store, taxonomy: Taxonomy, sections: list[fileio.Section], source: str,
           progress: bool) -> tuple[fileio.ImportReport, list[tuple[str, str]]]:
    """Write ``sections`` all or nothing: the report, and the parties of every cooperation
    created or changed."""
    parsed = fileio.validate(sections, known_records(store), taxonomy, source)
    report = fileio.ImportReport(source)
    total = len(parsed.organisations) + len(parsed.cooperations)
    try:
        with store.write() as s, tqdm(
            total=total, desc="importing", unit="rec", disable=not progress, file=sys.stderr
        ) as bar:
            now = utcnow()
            stored = dict(s.execute(select(OrganisationRow.id, OrganisationRow.content_hash)).all())
            new: list[Organisation] = []
            for _, org in parsed.organisations:
                if org.id not in stored:
                    new.append(org)
                    report.profiles.created.append(org.id)
                elif stored[org.id] != record_digest(org):
                    replace_organisation(s, s.get(OrganisationRow, org.id), org, now)
                    report.profiles.updated.append(org.id)
                else:
                    report.profiles.unchanged.append(org.id)
                bar.update(1)
            insert_organisations(s, new, now)
            stored = dict(s.execute(select(CooperationRow.id, CooperationRow.content_hash)).all())
            for _, coop in parsed.cooperations:
                if coop.id not in stored:
                    s.add(CooperationRow(**cooperation_values(coop), created_at=now, updated_at=now))
                    report.cooperations.created.append(coop.id)
                elif stored[coop.id] != record_digest(coop):
                    row = s.get(CooperationRow, coop.id)
                    for key, value in cooperation_values(coop).items():
                        setattr(row, key, value)
                    row.updated_at = now
                    report.cooperations.updated.append(coop.id)
                else:
                    report.cooperations.unchanged.append(coop.id)
                bar.update(1)
            s.flush()
            if report.changed:
                store.bump_version(s)
    except IntegrityError as exc:
        reason = f"the store changed while importing: {str(exc.orig).splitlines()[0]}"
        raise ImportRejected(source, [LocatedRowError(0, "store", reason, where="file")]) from None
    changed = set(report.cooperations.created) | set(report.cooperations.updated)
    return report, [(coop.eu, coop.mx) for _, coop in parsed.cooperations if coop.id in changed]
