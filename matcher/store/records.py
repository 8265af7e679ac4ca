"""Rows to records and back: the pydantic records of :mod:`matcher.profiles` as table rows."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from matcher import io as fileio
from matcher import lookup as names
from matcher.errors import InvalidProfile, UnknownOrganisation, UnknownSector
from matcher.profiles import Cooperation, Organisation, OrgType, Side
from matcher.store.values import choice
from matcher.taxonomy import Taxonomy
from matcher.store.tables import Base, CooperationRow, NameRow, OrganisationRow, OrganisationSectorRow
from matcher.text import normalise


def record_digest(record: Organisation | Cooperation) -> str:
    """A digest of a record's full content; equal digests mean an upsert has nothing to do."""
    text = json.dumps(record.model_dump(mode="json"), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def organisation_values(org: Organisation) -> dict[str, Any]:
    """Column values of an organisation row (timestamps excepted)."""
    names = [org.name, org.acronym or "", *org.aliases, org.region or "", org.description]
    return {
        "id": org.id,
        "name": org.name,
        "acronym": org.acronym,
        "side": org.side.value,
        "country": org.country,
        "region": org.region,
        "type": org.type.value,
        "description": org.description,
        "website": org.website,
        "facts": org.facts.model_dump(mode="json", exclude_defaults=True),
        "contact": org.contact.model_dump(mode="json") if org.contact else None,
        "sources": [s.model_dump(mode="json", exclude_none=True) for s in org.sources],
        "search_text": normalise(" ".join(names)),
        "content_hash": record_digest(org),
    }


def organisation_child_values(org: Organisation) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Column values of an organisation's name rows and sector rows."""
    names: list[tuple[str, int, str]] = [("name", 0, org.name)]
    if org.acronym:
        names.append(("acronym", 0, org.acronym))
    names.extend(("alias", i, alias) for i, alias in enumerate(org.aliases))
    name_rows = [{"org_id": org.id, "kind": kind, "position": pos, "alias": text, "normalised": normalise(text)}
                 for kind, pos, text in names]
    sector_rows = [{"org_id": org.id, "sector_id": s, "position": i} for i, s in enumerate(org.sectors)]
    return name_rows, sector_rows


def organisation_children(org: Organisation) -> list[Base]:
    """Name and sector rows of an organisation."""
    name_rows, sector_rows = organisation_child_values(org)
    return [*(NameRow(**v) for v in name_rows), *(OrganisationSectorRow(**v) for v in sector_rows)]


def organisation_from_rows(row: Any, names: list[Any], sectors: list[Any]) -> Organisation:
    """Rebuild a record from its organisation row and its name and sector rows (ORM objects or
    plain result rows with the same attribute names)."""
    aliases = sorted((n for n in names if n.kind == "alias"), key=lambda n: n.position)
    return Organisation.model_validate(
        {
            "id": row.id,
            "name": row.name,
            "aliases": [a.alias for a in aliases],
            "acronym": row.acronym,
            "side": row.side,
            "country": row.country,
            "region": row.region,
            "type": row.type,
            "sectors": [s.sector_id for s in sorted(sectors, key=lambda s: s.position)],
            "description": row.description,
            "facts": row.facts or {},
            "website": row.website,
            "contact": row.contact,
            "sources": row.sources or [],
        }
    )


def load_organisations(session: Session, rows: list[Any], everything: bool = False) -> list[Organisation]:
    """Records for organisation ``rows`` (names and sectors fetched in bulk as plain rows, which
    is several times faster than ORM objects; ``everything`` skips the id filter)."""
    ids = [r.id for r in rows]
    names: dict[str, list[Any]] = {i: [] for i in ids}
    sectors: dict[str, list[Any]] = {i: [] for i in ids}
    chunks: list[list[str] | None] = [None] if everything else [ids[i : i + 500] for i in range(0, len(ids), 500)]
    for chunk in chunks:
        name_q = select(NameRow.org_id, NameRow.kind, NameRow.position, NameRow.alias)
        sector_q = select(OrganisationSectorRow.org_id, OrganisationSectorRow.sector_id, OrganisationSectorRow.position)
        if chunk is not None:
            name_q = name_q.where(NameRow.org_id.in_(chunk))
            sector_q = sector_q.where(OrganisationSectorRow.org_id.in_(chunk))
        for n in session.execute(name_q):
            names.setdefault(n.org_id, []).append(n)
        for sec in session.execute(sector_q):
            sectors.setdefault(sec.org_id, []).append(sec)
    return [organisation_from_rows(r, names[r.id], sectors[r.id]) for r in rows]


#: Column values of new organisations' rows: organisations, names, sectors.
NewRows = tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]


def new_organisation_rows(orgs: list[Organisation], now: dt.datetime) -> NewRows:
    """Everything the rows of new organisations hold, made before a write transaction begins
    (digests, normalised names), so that the transaction only executes the inserts."""
    orgs_rows, name_rows, sector_rows = [], [], []
    for org in orgs:
        orgs_rows.append({**organisation_values(org), "created_at": now, "updated_at": now})
        names_of, sectors_of = organisation_child_values(org)
        name_rows.extend(names_of)
        sector_rows.extend(sectors_of)
    return orgs_rows, name_rows, sector_rows


def insert_organisation_rows(session: Session, rows: NewRows) -> None:
    """Insert rows made by :func:`new_organisation_rows` (plain inserts, no unit of work)."""
    for table, values in zip((OrganisationRow, NameRow, OrganisationSectorRow), rows):
        if values:
            session.execute(insert(table.__table__), values)


def insert_organisations(session: Session, orgs: list[Organisation], now: dt.datetime) -> None:
    insert_organisation_rows(session, new_organisation_rows(orgs, now))


def changed_organisation_rows(org: Organisation, now: dt.datetime) -> NewRows:
    """Everything the rows of a changed organisation hold (its row without ``created_at``), made
    before a write transaction begins, for :func:`write_changed_organisation`."""
    names_of, sectors_of = organisation_child_values(org)
    return [{**organisation_values(org), "updated_at": now}], names_of, sectors_of


def write_changed_organisation(session: Session, rows: NewRows) -> None:
    """Overwrite a stored organisation with rows made by :func:`changed_organisation_rows`
    (plain statements, no unit of work; ``created_at`` is kept)."""
    (values,), name_rows, sector_rows = rows
    org_id = values["id"]
    table = OrganisationRow.__table__
    session.execute(update(table).where(table.c.id == org_id).values(values))
    session.execute(delete(NameRow).where(NameRow.org_id == org_id))
    session.execute(delete(OrganisationSectorRow).where(OrganisationSectorRow.org_id == org_id))
    for child, values_of in ((NameRow, name_rows), (OrganisationSectorRow, sector_rows)):
        if values_of:
            session.execute(insert(child.__table__), values_of)


def replace_organisation(session: Session, row: OrganisationRow, org: Organisation, now: dt.datetime) -> None:
    """Overwrite a stored organisation with ``org`` (same id), keeping ``created_at``."""
    for key, value in organisation_values(org).items():
        setattr(row, key, value)
    row.updated_at = now
    session.execute(delete(NameRow).where(NameRow.org_id == org.id))
    session.execute(delete(OrganisationSectorRow).where(OrganisationSectorRow.org_id == org.id))
    session.add_all(organisation_children(org))
    session.flush()


def cooperation_values(coop: Cooperation) -> dict[str, Any]:
    return {
        "id": coop.id,
        "eu_id": coop.eu,
        "mx_id": coop.mx,
        "type": coop.type.value,
        "year": coop.year,
        "description": coop.description,
        "sources": [s.model_dump(mode="json", exclude_none=True) for s in coop.sources],
        "confidence": coop.confidence.value,
        "tier": coop.tier.value,
        "split": coop.split.value,
        "content_hash": record_digest(coop),
    }


def cooperation_from_row(row: CooperationRow) -> Cooperation:
    return Cooperation.model_validate(
        {
            "id": row.id,
            "eu": row.eu_id,
            "mx": row.mx_id,
            "type": row.type,
            "year": row.year,
            "description": row.description,
            "sources": row.sources or [],
            "confidence": row.confidence or "high",
            "tier": row.tier or "user",
            "split": row.split or "train",
        }
    )


def name_entries(session: Session, normalised: str | None = None) -> list[names.NameEntry]:
    """Every name organisations answer to (only those equal to ``normalised`` when given)."""
    stmt = select(NameRow)
    if normalised is not None:
        stmt = stmt.where(NameRow.normalised == normalised)
    return [names.NameEntry(r.org_id, r.kind, r.alias, r.normalised) for r in session.scalars(stmt.order_by(NameRow.id))]


def unknown_organisation(session: Session, org_id: str) -> UnknownOrganisation:
    """The error for an id no organisation has, naming the closest names that exist."""
    return UnknownOrganisation(org_id, names.suggestions(org_id, name_entries(session)))


def filter_organisations(stmt: Any, taxonomy: Taxonomy, side: Side | str | None, country: str | None,
                         sector: str | None, type: OrgType | str | None, q: str | None) -> Any:
    """``stmt`` over organisations, narrowed to those matching every filter given.

    ``sector`` is an id, name or synonym and matches that sector and every sector below it;
    ``q`` matches words in names, acronyms, aliases, region and description.
    """
    if side is not None:
        stmt = stmt.where(OrganisationRow.side == choice(Side, side, "side", upper=True).value)
    if country:
        stmt = stmt.where(OrganisationRow.country == country.strip().upper())
    if type is not None:
        stmt = stmt.where(OrganisationRow.type == choice(OrgType, type, "type").value)
    if sector:
        wanted = taxonomy.descendants(fileio.sector_id(taxonomy, sector.strip()))
        linked = select(OrganisationSectorRow.org_id).where(OrganisationSectorRow.sector_id.in_(wanted))
        stmt = stmt.where(OrganisationRow.id.in_(linked))
    for token in normalise(q or "").split():
        stmt = stmt.where(OrganisationRow.search_text.like(f"%{token}%"))
    return stmt


def resolved_organisation(taxonomy: Taxonomy, org: Organisation) -> Organisation:
    """``org`` with its sectors and Mexico interests resolved to taxonomy ids (no store access)."""
    sectors = sector_ids(taxonomy, org.sectors, "sectors")
    interest = sector_ids(taxonomy, org.facts.mexico_interest, "facts.mexico_interest")
    facts = org.facts.model_copy(update={"mexico_interest": interest})
    return org.model_copy(update={"sectors": sectors, "facts": facts})


def check_references(session: Session, org: Organisation, stored_side: Side | None = None) -> None:
    """The organisations ``org`` is a member of are stored, and a side change leaves no
    cooperation on the wrong side."""
    for parent in org.facts.member_of:
        if parent != org.id and session.get(OrganisationRow, parent) is None:
            raise InvalidProfile(f"unknown organisation {parent!r}", "facts.member_of")
    if stored_side is not None and stored_side is not org.side:
        role = CooperationRow.eu_id if stored_side is Side.EU else CooperationRow.mx_id
        if session.scalar(select(func.count()).select_from(CooperationRow).where(role == org.id)):
            raise InvalidProfile(f"{org.id} is a party to cooperations on the {stored_side.value} side", "side")


def check_parties(session: Session, coop: Cooperation) -> None:
    """The cooperation's EU party is a stored European organisation, its MX party a Mexican one."""
    for field, side in (("eu", Side.EU), ("mx", Side.MX)):
        party = session.get(OrganisationRow, getattr(coop, field))
        if party is None:
            raise InvalidProfile(f"unknown organisation {getattr(coop, field)!r}", field)
        if party.side != side.value:
            raise InvalidProfile(f"{party.id} is on the {party.side} side, not {side.value}", field)


def sector_ids(taxonomy: Taxonomy, terms: list[str], field: str) -> list[str]:
    """Taxonomy ids of sector ``terms`` (ids, names or synonyms), each once."""
    out: list[str] = []
    for term in terms:
        try:
            sector = fileio.sector_id(taxonomy, term)
        except UnknownSector:
            raise UnknownSector(f"unknown sector {term!r}", field) from None
        if sector in out:
            raise InvalidProfile(f"sector {sector!r} is listed twice", field)
        out.append(sector)
    return out
