"""The registry: every read and write of profiles, cooperations, feedback and API keys.

The CLI and the HTTP API call only this class. Each write is one transaction (all or
nothing); after it commits, the data version advances and subscribed callbacks hear
``(event, org_id)`` with event ``"created"``, ``"updated"`` or ``"deleted"`` so that derived
data (the vector index) can follow. A cooperation write calls back with ``"cooperation"`` for
each of its two parties, so that scores derived from the cooperation graph can follow too;
feedback and API keys touch neither the data version nor the callbacks.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import secrets
import sys
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy import func, or_, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session
from tqdm import tqdm

from matcher import io as fileio
from matcher import lookup as names
from matcher.dataset import load_dataset
from matcher.errors import (
    DuplicateCooperation,
    DuplicateOrganisation,
    ImportRejected,
    InvalidProfile,
    LocatedRowError,
    StoreUnavailable,
    UnknownApiKey,
    UnknownCooperation,
    UnknownOrganisation,
    UnknownSector,
)
from matcher.profiles import Cooperation, CooperationType, Organisation, OrgType, Scope, Side, Verdict
from matcher.settings import Settings
from matcher.store import (
    MIGRATIONS_DIR,
    ApiKeyRow,
    CooperationRow,
    FeedbackRow,
    MetaRow,
    NameRow,
    OrganisationRow,
    OrganisationSectorRow,
    SectorRow,
    Store,
    record_digest,
    cooperation_from_row,
    cooperation_values,
    insert_organisations,
    load_organisations,
    replace_organisation,
    utcnow,
)
from matcher.taxonomy import Taxonomy, load_taxonomy
from matcher.text import normalise

log = logging.getLogger(__name__)
_DATA_VERSION = select(MetaRow.store_id, MetaRow.version).where(MetaRow.id == 1)

Callback = Callable[[str, str], None]
M = TypeVar("M", bound=BaseModel)

_KEY_PREFIX = "c2c_"
_PG_MIGRATION_LOCK = 0x0C2C


@dataclass(frozen=True)
class Feedback:
    id: int
    subject_id: str
    suggested_id: str
    verdict: Verdict
    comment: str | None
    created_at: dt.datetime
    api_key_id: str | None


@dataclass(frozen=True)
class ApiKey:
    """A stored API key (its secret is only ever shown once, at creation)."""

    id: str
    name: str
    scope: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch: objects merge recursively, ``null`` removes a field."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def validate_model(model: type[M], data: M | dict[str, Any]) -> M:
    """``data`` as ``model``; a schema violation raises InvalidProfile naming the field."""
    if isinstance(data, model):
        return data
    if not isinstance(data, dict):
        raise InvalidProfile(f"expected an object, got {type(data).__name__}", "record")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or ("country" if model is Organisation else "record")
        raise InvalidProfile(err["msg"], field) from None


@lru_cache(maxsize=1)
def _alembic_head() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    return head or ""


def _alembic_config() -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def _progress(flag: bool | None) -> bool:
    return sys.stderr.isatty() if flag is None else flag


class Registry:
    """Profiles, cooperations, feedback and API keys in one SQL store."""

    def __init__(self, store: Store, settings: Settings | None = None, taxonomy: Taxonomy | None = None):
        self.store = store
        self.settings = settings or Settings()
        self.taxonomy = taxonomy or load_taxonomy()
        self._subscribers: list[Callback] = []

    # --- lifecycle ----------------------------------------------------------------------------

    @classmethod
    def open(cls, settings: Settings | None = None, *, init: bool = True, progress: bool | None = None) -> "Registry":
        """The registry at ``settings.database_url``; ``init`` makes sure it is migrated and seeded."""
        settings = settings or Settings()
        try:
            registry = cls(Store(settings.database_url), settings)
        except (SQLAlchemyError, OSError) as exc:
            raise StoreUnavailable(f"cannot open the store {_safe_url(settings.database_url)}: {_first_line(exc)}") from None
        if init:
            try:
                registry.init(progress=progress)
            except SQLAlchemyError as exc:
                registry.close()
                raise StoreUnavailable(f"cannot open the store at {registry.url}: {_first_line(exc)}") from None
            except BaseException:
                registry.close()
                raise
        return registry

    def close(self) -> None:
        self.store.dispose()

    def __enter__(self) -> "Registry":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def url(self) -> str:
        """The database URL with any password hidden."""
        return self.store.engine.url.render_as_string(hide_password=True)

    def init(self, seed: bool = True, progress: bool | None = None) -> int:
        """Create or migrate the schema, sync the taxonomy and seed the shipped dataset.

        Idempotent. Seeding happens once, into a store that has no organisations and was never
        seeded. Returns the number of organisations seeded now.
        """
        self._migrate()
        self._sync_taxonomy()
        return self._seed(_progress(progress)) if seed else 0

    def _migrate(self) -> None:
        from alembic import command
        from alembic.runtime.migration import MigrationContext

        with self.store.engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
        if current == _alembic_head():
            return
        config = _alembic_config()
        with self.store.write_engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})")
            config.attributes["connection"] = conn
            command.upgrade(config, "head")

    def _sync_taxonomy(self) -> None:
        wanted = {s.id: (s.name, s.name_es, s.parent) for s in self.taxonomy.sectors.values()}
        with self.store.read() as s:
            stored = {r.id: (r.name, r.name_es, r.parent_id) for r in s.scalars(select(SectorRow))}
        stale = [sid for sid, row in wanted.items() if stored.get(sid) != row]
        if not stale:
            return
        with self.store.write() as s:
            for sid in stale:
                name, name_es, parent = wanted[sid]
                s.merge(SectorRow(id=sid, name=name, name_es=name_es, parent_id=parent))

    def _seed(self, progress: bool) -> int:
        with self.store.read() as s:
            meta = s.get(MetaRow, 1)
            if meta is None or meta.seeded_at is not None or self._count(s, OrganisationRow):
                return 0
        dataset = load_dataset()
        if not dataset.organisations:
            return 0
        with self.store.write() as s:
            meta = s.scalars(select(MetaRow).where(MetaRow.id == 1).with_for_update()).one()
            if meta.seeded_at is not None or self._count(s, OrganisationRow):
                return 0
            now = utcnow()
            total = len(dataset.organisations) + len(dataset.cooperations)
            with tqdm(total=total, desc="seeding registry", unit="rec", disable=not progress, file=sys.stderr) as bar:
                for start in range(0, len(dataset.organisations), 100):
                    batch = dataset.organisations[start : start + 100]
                    insert_organisations(s, batch, now)
                    bar.update(len(batch))
                for coop in dataset.cooperations:
                    s.add(CooperationRow(**cooperation_values(coop), created_at=now, updated_at=now))
                    bar.update(1)
            meta.seeded_at = now
            self.store.bump_version(s)
        for org in dataset.organisations:
            self._emit("created", org.id)
        return len(dataset.organisations)

    # --- events -------------------------------------------------------------------------------

    def subscribe(self, callback: Callback) -> Callable[[], None]:
        """Call ``callback(event, org_id)`` after every committed organisation or cooperation write.

        Returns a function that unsubscribes. A failing callback is logged, never undoes the
        write, and does not stop the other callbacks.
        """
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

        return unsubscribe

    def _emit(self, event: str, org_id: str) -> None:
        for callback in list(self._subscribers):
            try:
                callback(event, org_id)
            except Exception:  # a subscriber's bug must not turn a committed write into an error
                log.exception("registry subscriber failed on %s %s", event, org_id)

    def _emit_cooperation(self, *parties: str) -> None:
        for org_id in parties:
            self._emit("cooperation", org_id)

    def data_version(self) -> str:
        """Identifies the current state of profiles and cooperations; changes on every such write."""
        # A Core query on a plain connection: this runs once per request in the API, and an ORM
        # session with identity-map loading costs several times as much.
        with self.store.engine.connect() as conn:
            row = conn.execute(_DATA_VERSION).first()
        if row is None:
            return "uninitialised"
        return f"{row.store_id}:{row.version}"

    # --- organisations: reads -----------------------------------------------------------------

    def _filtered(self, stmt: Any, side: Side | str | None, country: str | None, sector: str | None,
                  type: OrgType | str | None, q: str | None) -> Any:  # fmt: skip
        if side is not None:
            stmt = stmt.where(OrganisationRow.side == _enum(Side, side, "side", upper=True).value)
        if country:
            stmt = stmt.where(OrganisationRow.country == country.strip().upper())
        if type is not None:
            stmt = stmt.where(OrganisationRow.type == _enum(OrgType, type, "type").value)
        if sector:
            wanted = self.taxonomy.descendants(fileio.sector_id(self.taxonomy, sector.strip()))
            linked = select(OrganisationSectorRow.org_id).where(OrganisationSectorRow.sector_id.in_(wanted))
            stmt = stmt.where(OrganisationRow.id.in_(linked))
        for token in normalise(q or "").split():
            stmt = stmt.where(OrganisationRow.search_text.like(f"%{token}%"))
        return stmt

    def list_organisations(
        self,
        side: Side | str | None = None,
        country: str | None = None,
        sector: str | None = None,
        type: OrgType | str | None = None,
        q: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Organisation]:
        """Organisations matching every filter given, ordered by id.

        ``sector`` is an id, name or synonym and matches that sector and every sector below it;
        ``q`` matches words in names, acronyms, aliases, region and description.
        """
        if limit is not None and limit < 0:
            raise InvalidProfile("must be zero or more", "limit")
        if offset < 0:
            raise InvalidProfile("must be zero or more", "offset")
        columns = select(OrganisationRow.__table__)
        stmt = self._filtered(columns, side, country, sector, type, q).order_by(OrganisationRow.id)
        if offset:
            stmt = stmt.offset(offset)
        if limit is not None:
            stmt = stmt.limit(limit)
        with self.store.read() as s:
            rows = list(s.execute(stmt))
            unfiltered = limit is None and not offset and not any((side, country, sector, type, q))
            return load_organisations(s, rows, everything=unfiltered)

    def count_organisations(
        self,
        side: Side | str | None = None,
        country: str | None = None,
        sector: str | None = None,
        type: OrgType | str | None = None,
        q: str | None = None,
    ) -> int:
        stmt = self._filtered(select(func.count()).select_from(OrganisationRow), side, country, sector, type, q)
        with self.store.read() as s:
            return int(s.scalar(stmt) or 0)

    def all_organisations(self) -> list[Organisation]:
        return self.list_organisations()

    def exists(self, org_id: str) -> bool:
        with self.store.read() as s:
            return s.get(OrganisationRow, org_id) is not None

    def get(self, org_id: str) -> Organisation:
        """The organisation with exactly this id; UnknownOrganisation (with close names) if none."""
        with self.store.read() as s:
            return self._get(s, org_id)

    def _get(self, s: Session, org_id: str) -> Organisation:
        row = s.get(OrganisationRow, org_id)
        if row is None:
            raise UnknownOrganisation(org_id, names.suggestions(org_id, self._name_entries(s)))
        return load_organisations(s, [row])[0]

    def lookup(self, ref: str) -> Organisation:
        """The organisation ``ref`` names: id, name, acronym or alias, forgiving case, accents
        and small typos (see :mod:`matcher.lookup`)."""
        with self.store.read() as s:
            candidates = names.id_candidates(ref)
            ids = list(s.scalars(select(OrganisationRow.id).where(OrganisationRow.id.in_(candidates)))) if candidates else []
            key = normalise(ref)
            exact = self._name_entries(s, key) if key else []
            org_id = names.resolve(ref, ids, exact, lambda: self._name_entries(s))
            return self._get(s, org_id)

    def _name_entries(self, s: Session, normalised: str | None = None) -> list[names.NameEntry]:
        stmt = select(NameRow)
        if normalised is not None:
            stmt = stmt.where(NameRow.normalised == normalised)
        return [names.NameEntry(r.org_id, r.kind, r.alias, r.normalised) for r in s.scalars(stmt.order_by(NameRow.id))]

    # --- organisations: writes ----------------------------------------------------------------

    def _checked(self, s: Session, org: Organisation, stored_side: Side | None = None) -> Organisation:
        """``org`` with sectors resolved to taxonomy ids, after the checks the schema cannot make."""
        sectors = self._sector_ids(org.sectors, "sectors")
        interest = self._sector_ids(org.facts.mexico_interest, "facts.mexico_interest")
        for parent in org.facts.member_of:
            if parent != org.id and s.get(OrganisationRow, parent) is None:
                raise InvalidProfile(f"unknown organisation {parent!r}", "facts.member_of")
        if stored_side is not None and stored_side is not org.side:
            role = CooperationRow.eu_id if stored_side is Side.EU else CooperationRow.mx_id
            if s.scalar(select(func.count()).select_from(CooperationRow).where(role == org.id)):
                raise InvalidProfile(f"{org.id} is a party to cooperations on the {stored_side.value} side", "side")
        facts = org.facts.model_copy(update={"mexico_interest": interest})
        return org.model_copy(update={"sectors": sectors, "facts": facts})

    def _sector_ids(self, terms: list[str], field: str) -> list[str]:
        out: list[str] = []
        for term in terms:
            try:
                sector = fileio.sector_id(self.taxonomy, term)
            except UnknownSector:
                raise UnknownSector(f"unknown sector {term!r}", field) from None
            if sector in out:
                raise InvalidProfile(f"sector {sector!r} is listed twice", field)
            out.append(sector)
        return out

    def create(self, org: Organisation | dict[str, Any]) -> Organisation:
        """Store a new organisation; DuplicateOrganisation if the id is taken."""
        org = validate_model(Organisation, org)
        try:
            with self.store.write() as s:
                if s.get(OrganisationRow, org.id) is not None:
                    raise DuplicateOrganisation(f"an organisation with id {org.id!r} already exists")
                org = self._checked(s, org)
                insert_organisations(s, [org], utcnow())
                self.store.bump_version(s)
        except IntegrityError:
            raise DuplicateOrganisation(f"an organisation with id {org.id!r} already exists") from None
        self._emit("created", org.id)
        return org

    def update(self, org_id: str, patch: dict[str, Any]) -> Organisation:
        """Apply a JSON merge patch (RFC 7396) to an organisation and validate the result.

        Nested objects (``facts``, ``contact``) merge field by field; ``null`` clears a field.
        The id cannot change. A patch that changes nothing writes nothing.
        """
        if not isinstance(patch, dict):
            raise InvalidProfile("a patch must be an object", "patch")
        if "id" in patch and patch["id"] != org_id:
            raise InvalidProfile("the id of an organisation cannot change", "id")
        with self.store.write() as s:
            row = s.get(OrganisationRow, org_id)
            current = self._get(s, org_id)
            org = validate_model(Organisation, merge_patch(current.model_dump(mode="json"), patch))
            org = self._checked(s, org, stored_side=current.side)
            if record_digest(org) == row.content_hash:
                return org
            replace_organisation(s, row, org, utcnow())
            self.store.bump_version(s)
        self._emit("updated", org_id)
        return org

    def delete(self, org_id: str) -> None:
        """Remove an organisation with its names, sectors, cooperations and feedback."""
        with self.store.write() as s:
            row = s.get(OrganisationRow, org_id)
            if row is None:
                raise UnknownOrganisation(org_id, names.suggestions(org_id, self._name_entries(s)))
            s.delete(row)
            s.flush()
            self.store.bump_version(s)
        self._emit("deleted", org_id)

    # --- cooperations -------------------------------------------------------------------------

    def list_cooperations(self, org_id: str | None = None, type: CooperationType | str | None = None) -> list[Cooperation]:
        """Cooperations, optionally of one organisation (either party) and of one type."""
        stmt = select(CooperationRow).order_by(CooperationRow.id)
        with self.store.read() as s:
            if org_id is not None:
                if s.get(OrganisationRow, org_id) is None:
                    raise UnknownOrganisation(org_id, names.suggestions(org_id, self._name_entries(s)))
                stmt = stmt.where(or_(CooperationRow.eu_id == org_id, CooperationRow.mx_id == org_id))
            if type is not None:
                stmt = stmt.where(CooperationRow.type == _enum(CooperationType, type, "type").value)
            return [cooperation_from_row(r) for r in s.scalars(stmt)]

    def all_cooperations(self) -> list[Cooperation]:
        return self.list_cooperations()

    def count_cooperations(self) -> int:
        with self.store.read() as s:
            return self._count(s, CooperationRow)

    def add_cooperation(self, coop: Cooperation | dict[str, Any]) -> Cooperation:
        """Store a new cooperation between an existing EU party and an existing MX party."""
        coop = validate_model(Cooperation, coop)
        try:
            with self.store.write() as s:
                if s.get(CooperationRow, coop.id) is not None:
                    raise DuplicateCooperation(f"a cooperation with id {coop.id!r} already exists")
                for field, side in (("eu", Side.EU), ("mx", Side.MX)):
                    party = s.get(OrganisationRow, getattr(coop, field))
                    if party is None:
                        raise InvalidProfile(f"unknown organisation {getattr(coop, field)!r}", field)
                    if party.side != side.value:
                        raise InvalidProfile(f"{party.id} is on the {party.side} side, not {side.value}", field)
                now = utcnow()
                s.add(CooperationRow(**cooperation_values(coop), created_at=now, updated_at=now))
                s.flush()
                self.store.bump_version(s)
        except IntegrityError:
            raise DuplicateCooperation(f"a cooperation with id {coop.id!r} already exists") from None
        self._emit_cooperation(coop.eu, coop.mx)
        return coop

    def delete_cooperation(self, coop_id: str) -> None:
        with self.store.write() as s:
            row = s.get(CooperationRow, coop_id)
            if row is None:
                raise UnknownCooperation(f"no cooperation has id {coop_id!r}")
            parties = (row.eu_id, row.mx_id)
            s.delete(row)
            s.flush()
            self.store.bump_version(s)
        self._emit_cooperation(*parties)

    # --- import / export ----------------------------------------------------------------------

    def import_file(
        self,
        path: str | Path,
        kind: fileio.Kind | str | None = None,
        fmt: fileio.FileFormat | str | None = None,
        progress: bool | None = None,
    ) -> fileio.ImportReport:
        """Upsert the records of a CSV, JSON or XLSX file, all or nothing (see :mod:`matcher.io`)."""
        sections = fileio.read_file(path, kind, fmt)
        return self._import(sections, str(path), _progress(progress))

    def import_records(
        self,
        organisations: Iterable[Organisation | dict[str, Any]] = (),
        cooperations: Iterable[Cooperation | dict[str, Any]] = (),
        source: str = "records",
        progress: bool = False,
    ) -> fileio.ImportReport:
        """Upsert records given in memory, with the same checks and report as :meth:`import_file`."""

        def section(kind: fileio.Kind, items: Iterable[Any]) -> fileio.Section:
            rows = [(fileio.RowRef(i, "item", kind.value), _as_dict(x)) for i, x in enumerate(items)]
            return fileio.Section(kind, rows)

        sections = [section(fileio.Kind.profiles, organisations), section(fileio.Kind.cooperations, cooperations)]
        return self._import(sections, source, progress)

    def _known(self) -> fileio.Known:
        known = fileio.Known()
        with self.store.read() as s:
            for org_id, side in s.execute(select(OrganisationRow.id, OrganisationRow.side)):
                known.sides[org_id] = Side(side)
            for eu, mx in s.execute(select(CooperationRow.eu_id, CooperationRow.mx_id)):
                known.roles.setdefault(eu, set()).add("eu")
                known.roles.setdefault(mx, set()).add("mx")
        return known

    def _import(self, sections: list[fileio.Section], source: str, progress: bool) -> fileio.ImportReport:
        parsed = fileio.validate(sections, self._known(), self.taxonomy, source)
        report = fileio.ImportReport(source)
        total = len(parsed.organisations) + len(parsed.cooperations)
        try:
            with self.store.write() as s, tqdm(
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
                    self.store.bump_version(s)
        except IntegrityError as exc:
            reason = f"the store changed while importing: {str(exc.orig).splitlines()[0]}"
            raise ImportRejected(source, [LocatedRowError(0, "store", reason, where="file")]) from None
        for org_id in report.profiles.created:
            self._emit("created", org_id)
        for org_id in report.profiles.updated:
            self._emit("updated", org_id)
        changed = set(report.cooperations.created) | set(report.cooperations.updated)
        for _, coop in parsed.cooperations:
            if coop.id in changed:
                self._emit_cooperation(coop.eu, coop.mx)
        return report

    def export(
        self,
        kind: fileio.Kind | str = "profiles",
        fmt: fileio.FileFormat | str = "json",
        out: str | Path | None = None,
    ) -> bytes:
        """Profiles, cooperations or both (``all``) as CSV, JSON or XLSX bytes; also written to ``out``."""
        kind = _enum(fileio.Kind, kind, "kind")
        fmt = _enum(fileio.FileFormat, fmt, "format")
        orgs = self.all_organisations() if kind is not fileio.Kind.cooperations else []
        coops = self.all_cooperations() if kind is not fileio.Kind.profiles else []
        data = fileio.export_bytes(kind, fmt, orgs, coops)
        if out is not None:
            Path(out).write_bytes(data)
        return data

    # --- feedback -----------------------------------------------------------------------------

    def add_feedback(
        self,
        subject_id: str,
        suggested_id: str,
        verdict: Verdict | str,
        comment: str | None = None,
        api_key_id: str | None = None,
    ) -> Feedback:
        """Record what became of suggesting ``suggested_id`` to ``subject_id``."""
        verdict = _enum(Verdict, verdict, "verdict")
        if subject_id == suggested_id:
            raise InvalidProfile("an organisation cannot be suggested to itself", "suggested_id")
        if comment is not None and len(comment) > 2000:
            raise InvalidProfile("at most 2000 characters", "comment")
        with self.store.write() as s:
            for org_id in (subject_id, suggested_id):
                if s.get(OrganisationRow, org_id) is None:
                    raise UnknownOrganisation(org_id, names.suggestions(org_id, self._name_entries(s)))
            if api_key_id is not None and s.get(ApiKeyRow, api_key_id) is None:
                raise UnknownApiKey(f"no API key has id {api_key_id!r}")
            row = FeedbackRow(
                subject_id=subject_id,
                suggested_id=suggested_id,
                verdict=verdict.value,
                comment=comment,
                created_at=utcnow(),
                api_key_id=api_key_id,
            )
            s.add(row)
            s.flush()
            return _feedback(row)

    def list_feedback(self, subject_id: str | None = None) -> list[Feedback]:
        stmt = select(FeedbackRow).order_by(FeedbackRow.id)
        if subject_id is not None:
            stmt = stmt.where(FeedbackRow.subject_id == subject_id)
        with self.store.read() as s:
            return [_feedback(r) for r in s.scalars(stmt)]

    # --- API keys -----------------------------------------------------------------------------

    def create_api_key(self, name: str, scope: Scope | str) -> tuple[str, str]:
        """A new key: returns ``(key_id, secret)``. Only a SHA-256 digest of the secret is stored."""
        name = (name or "").strip()
        if not name or len(name) > 200:
            raise InvalidProfile("a key needs a name of 1 to 200 characters", "name")
        scope = _enum(Scope, scope, "scope").value
        key_id = secrets.token_hex(6)
        secret = f"{_KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
        with self.store.write() as s:
            s.add(ApiKeyRow(id=key_id, name=name, scope=scope, secret_hash=_digest(secret), created_at=utcnow()))
        return key_id, secret

    def verify_api_key(self, secret: str) -> ApiKey | None:
        """The active key ``secret`` belongs to, or None (unknown, malformed or revoked)."""
        if not isinstance(secret, str) or not secret.startswith(_KEY_PREFIX):
            return None
        key_id, sep, _ = secret[len(_KEY_PREFIX) :].partition("_")
        if not sep or not key_id:
            return None
        with self.store.read() as s:
            row = s.get(ApiKeyRow, key_id)
            if row is None or not hmac.compare_digest(row.secret_hash, _digest(secret)):
                return None
            return None if row.revoked_at is not None else _api_key(row)

    def revoke_api_key(self, key_id: str) -> None:
        with self.store.write() as s:
            row = s.get(ApiKeyRow, key_id)
            if row is None:
                raise UnknownApiKey(f"no API key has id {key_id!r}")
            if row.revoked_at is None:
                row.revoked_at = utcnow()

    def list_api_keys(self) -> list[ApiKey]:
        with self.store.read() as s:
            return [_api_key(r) for r in s.scalars(select(ApiKeyRow).order_by(ApiKeyRow.created_at, ApiKeyRow.id))]

    # --- helpers ------------------------------------------------------------------------------

    @staticmethod
    def _count(s: Session, table: type) -> int:
        return int(s.scalar(select(func.count()).select_from(table)) or 0)


E = TypeVar("E", bound=Enum)


def _enum(cls: type[E], value: E | str, field: str, upper: bool = False) -> E:
    if isinstance(value, cls):
        return value
    text = str(value).strip()
    try:
        return cls(text.upper() if upper else text)
    except ValueError:
        allowed = ", ".join(str(m.value) for m in cls)  # type: ignore[attr-defined]
        raise InvalidProfile(f"{value!r} is not one of {allowed}", field) from None


def _safe_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except SQLAlchemyError:
        return "(unparseable URL)"


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    return (str(orig).strip().splitlines() or [type(orig).__name__])[0]


def _as_dict(item: Any) -> Any:
    return item.model_dump(mode="json") if isinstance(item, BaseModel) else item


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _feedback(row: FeedbackRow) -> Feedback:
    return Feedback(
        row.id, row.subject_id, row.suggested_id, Verdict(row.verdict), row.comment, row.created_at, row.api_key_id
    )


def _api_key(row: ApiKeyRow) -> ApiKey:
    return ApiKey(row.id, row.name, row.scope, row.created_at, row.revoked_at)
