"""The registry: organisations and their cooperations, and the announcement of every change.

The CLI and the HTTP API reach it through :class:`matcher.service.Service`. Each write is one
transaction (all or nothing); after it commits, the data version advances and subscribed
callbacks hear ``(event, org_id)`` with event ``"created"``, ``"updated"`` or ``"deleted"`` so
that derived data (the vector index) can follow. A cooperation write calls back with
``"cooperation"`` for each of its two parties, so that scores derived from the cooperation
graph can follow too. API keys (:mod:`matcher.store.keys`) and feedback
(:mod:`matcher.store.feedback`) live in the same store and touch neither.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from matcher import io as fileio
from matcher import lookup as names
from matcher.errors import (
    DuplicateCooperation,
    DuplicateOrganisation,
    InvalidProfile,
    StoreUnavailable,
    UnknownCooperation,
)
from matcher.profiles import Cooperation, CooperationType, Feedback, Organisation, OrgType, Side
from matcher.settings import Settings
from matcher.store import setup, transfer
from matcher.store.changes import Callback, Changes
from matcher.store.engine import Store
from matcher.store.feedback import FeedbackStore
from matcher.store.records import (
    check_parties,
    check_references,
    changed_organisation_rows,
    cooperation_from_row,
    cooperation_values,
    filter_organisations,
    insert_organisation_rows,
    load_organisations,
    write_changed_organisation,
    name_entries,
    new_organisation_rows,
    record_digest,
    resolved_organisation,
    unknown_organisation,
)
from matcher.store.tables import CooperationRow, OrganisationRow, utcnow
from matcher.store.values import choice, merge_patch, validate_model
from matcher.taxonomy import Taxonomy, load_taxonomy
from matcher.text import normalise



def same_cooperation(coop: Cooperation) -> list[Any]:
    """Conditions on stored cooperations that duplicate ``coop``: the same two parties, the same
    type and the same year (or both without a year)."""
    year = CooperationRow.year.is_(None) if coop.year is None else CooperationRow.year == coop.year
    return [CooperationRow.eu_id == coop.eu, CooperationRow.mx_id == coop.mx,
            CooperationRow.type == coop.type.value, year]


def _progress(flag: bool | None) -> bool:
    return sys.stderr.isatty() if flag is None else flag


class Registry:
    """Organisations and cooperations in one SQL store, with change callbacks."""

    def __init__(self, store: Store, settings: Settings, taxonomy: Taxonomy | None = None):
        self.store = store
        self.settings = settings
        self.taxonomy = taxonomy or load_taxonomy()
        self.changes = Changes()

    # --- lifecycle ----------------------------------------------------------------------------

    @classmethod
    def open(cls, settings: Settings, *, init: bool = True, progress: bool | None = None) -> "Registry":
        """The registry at ``settings.database_url``; ``init`` makes sure it is migrated and seeded."""
        registry = cls(setup.open_store(settings.database_url), settings)
        if init:
            try:
                registry.init(progress=progress)
            except SQLAlchemyError as exc:
                registry.close()
                raise StoreUnavailable(f"cannot open the store at {registry.url}: {setup.first_line(exc)}") from None
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
        """Create or migrate the schema, sync the taxonomy and seed the shipped dataset
        (:func:`matcher.store.setup.prepare`). Returns the number of organisations seeded now."""
        seeded = setup.prepare(self.store, self.taxonomy, seed, _progress(progress))
        self.changes.emit("created", *seeded)
        return len(seeded)

    # --- events -------------------------------------------------------------------------------

    def subscribe(self, callback: Callback) -> Callable[[], None]:
        """Call ``callback(event, org_id)`` after every committed organisation or cooperation write
        (:meth:`matcher.store.changes.Changes.subscribe`)."""
        return self.changes.subscribe(callback)

    def data_version(self) -> str:
        """Identifies the current state of profiles and cooperations; changes on every such write."""
        return self.store.data_version()

    # --- organisations: reads -----------------------------------------------------------------

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
        stmt = filter_organisations(columns, self.taxonomy, side, country, sector, type, q).order_by(OrganisationRow.id)
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
        stmt = filter_organisations(select(func.count()).select_from(OrganisationRow), self.taxonomy, side, country, sector,
                                    type, q)
        with self.store.read() as s:
            return int(s.scalar(stmt) or 0)

    def all_organisations(self) -> list[Organisation]:
        return self.list_organisations()

    def exists(self, org_id: str) -> bool:
        with self.store.read() as s:
            return s.get(OrganisationRow, org_id) is not None

    def existing(self, org_ids: Iterable[str]) -> set[str]:
        """Those of ``org_ids`` that are stored, in one query."""
        wanted = list(dict.fromkeys(org_ids))
        if not wanted:
            return set()
        with self.store.read() as s:
            return set(s.scalars(select(OrganisationRow.id).where(OrganisationRow.id.in_(wanted))))

    def changed_organisations(self, known: Mapping[str, str]) -> tuple[dict[str, str], list[Organisation]]:
        """Every organisation's content digest (id -> digest, in id order) and the organisations
        whose digest is not the one in ``known``, read in one transaction: a reader that keeps
        the organisations it read last fetches only those written since."""
        with self.store.read() as s:
            digests = dict(s.execute(select(OrganisationRow.id, OrganisationRow.content_hash)
                                     .order_by(OrganisationRow.id)).all())
            stale = [org_id for org_id, digest in digests.items() if known.get(org_id) != digest]
            return digests, self._load_many(s, stale, everything=len(stale) == len(digests))

    def get_many(self, org_ids: Iterable[str]) -> list[Organisation]:
        """The stored organisations among ``org_ids``, in id order (the others are left out)."""
        with self.store.read() as s:
            return self._load_many(s, sorted(set(org_ids)))

    def _load_many(self, s: Session, org_ids: list[str], everything: bool = False) -> list[Organisation]:
        rows = [row for i in range(0, len(org_ids), 500) for row in s.execute(
            select(OrganisationRow.__table__).where(OrganisationRow.id.in_(org_ids[i:i + 500]))
            .order_by(OrganisationRow.id))]
        return load_organisations(s, rows, everything=everything)

    def get(self, org_id: str) -> Organisation:
        """The organisation with exactly this id; UnknownOrganisation (with close names) if none."""
        with self.store.read() as s:
            return self._get(s, org_id)

    def _get(self, s: Session, org_id: str) -> Organisation:
        row = s.get(OrganisationRow, org_id)
        if row is None:
            raise unknown_organisation(s, org_id)
        return load_organisations(s, [row])[0]

    def lookup(self, ref: str) -> Organisation:
        """The organisation ``ref`` names: id, name, acronym or alias, forgiving case, accents
        and small typos (see :mod:`matcher.lookup`)."""
        with self.store.read() as s:
            candidates = names.id_candidates(ref)
            ids = list(s.scalars(select(OrganisationRow.id).where(OrganisationRow.id.in_(candidates)))) if candidates else []
            key = normalise(ref)
            exact = name_entries(s, key) if key else []
            org_id = names.resolve(ref, ids, exact, lambda: name_entries(s))
            return self._get(s, org_id)

    # --- organisations: writes ----------------------------------------------------------------

    def create(self, org: Organisation | dict[str, Any]) -> Organisation:
        """Store a new organisation; DuplicateOrganisation if the id is taken."""
        org = resolved_organisation(self.taxonomy, validate_model(Organisation, org))
        rows = new_organisation_rows([org], utcnow())  # before the write lock: others wait while it is held
        try:
            with self.store.write() as s:
                if s.get(OrganisationRow, org.id) is not None:
                    raise DuplicateOrganisation(f"an organisation with id {org.id!r} already exists")
                check_references(s, org)
                insert_organisation_rows(s, rows)
                self.store.bump_version(s)
        except IntegrityError:
            raise DuplicateOrganisation(f"an organisation with id {org.id!r} already exists") from None
        self.changes.emit("created", org.id)
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
        # The patched record and its rows are made from a read, before the write lock (others
        # wait while it is held); under the lock they are written if the stored record is still
        # the one read, else the patch is made again from the stored record as it is now.
        with self.store.read() as s:
            current, seen = self._get(s, org_id), s.get(OrganisationRow, org_id).content_hash
        org = self._patched(current, patch)
        if record_digest(org) == seen:
            return org
        rows = changed_organisation_rows(org, utcnow())
        with self.store.write() as s:
            stored = s.scalar(select(OrganisationRow.content_hash).where(OrganisationRow.id == org_id))
            if stored != seen:
                current = self._get(s, org_id)
                org = self._patched(current, patch)
                if record_digest(org) == stored:
                    return org
                rows = changed_organisation_rows(org, utcnow())
            check_references(s, org, stored_side=current.side)
            write_changed_organisation(s, rows)
            self.store.bump_version(s)
        self.changes.emit("updated", org_id)
        return org

    def _patched(self, current: Organisation, patch: dict[str, Any]) -> Organisation:
        """``current`` with a JSON merge patch applied, validated, its sectors resolved."""
        return resolved_organisation(self.taxonomy, validate_model(Organisation, merge_patch(current.model_dump(mode="json"), patch)))

    def delete(self, org_id: str) -> None:
        """Remove an organisation with its names, sectors, cooperations and feedback."""
        with self.store.write() as s:
            row = s.get(OrganisationRow, org_id)
            if row is None:
                raise unknown_organisation(s, org_id)
            s.delete(row)
            s.flush()
            self.store.bump_version(s)
        self.changes.emit("deleted", org_id)

    # --- cooperations -------------------------------------------------------------------------

    def list_cooperations(self, org_id: str | None = None, type: CooperationType | str | None = None) -> list[Cooperation]:
        """Cooperations, optionally of one organisation (either party) and of one type."""
        stmt = select(CooperationRow).order_by(CooperationRow.id)
        with self.store.read() as s:
            if org_id is not None:
                if s.get(OrganisationRow, org_id) is None:
                    raise unknown_organisation(s, org_id)
                stmt = stmt.where(or_(CooperationRow.eu_id == org_id, CooperationRow.mx_id == org_id))
            if type is not None:
                stmt = stmt.where(CooperationRow.type == choice(CooperationType, type, "type").value)
            return [cooperation_from_row(r) for r in s.scalars(stmt)]

    def all_cooperations(self) -> list[Cooperation]:
        return self.list_cooperations()

    def count_cooperations(self) -> int:
        with self.store.read() as s:
            return setup.count_rows(s, CooperationRow)

    def add_cooperation(self, coop: Cooperation | dict[str, Any]) -> Cooperation:
        """Store a new cooperation between an existing EU party and an existing MX party."""
        coop = validate_model(Cooperation, coop)
        try:
            with self.store.write() as s:
                # First, so that concurrent writers queue on the version row before the checks.
                self.store.bump_version(s)
                if s.get(CooperationRow, coop.id) is not None:
                    raise DuplicateCooperation(f"a cooperation with id {coop.id!r} already exists")
                check_parties(s, coop)
                same = s.scalar(select(CooperationRow.id).where(*same_cooperation(coop)).limit(1))
                if same is not None:
                    raise DuplicateCooperation(
                        f"{coop.eu} and {coop.mx} already have a {coop.type.value} cooperation "
                        f"{'in ' + str(coop.year) if coop.year is not None else 'without a year'}: {same!r}")
                now = utcnow()
                s.add(CooperationRow(**cooperation_values(coop), created_at=now, updated_at=now))
                s.flush()
        except IntegrityError:
            raise DuplicateCooperation(f"a cooperation with id {coop.id!r} already exists") from None
        self.changes.emit("cooperation", coop.eu, coop.mx)
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
        self.changes.emit("cooperation", *parties)

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
        return self._import(transfer.record_sections(organisations, cooperations), source, progress)

    def _import(self, sections: list[fileio.Section], source: str, progress: bool) -> fileio.ImportReport:
        report, parties = transfer.upsert(self.store, self.taxonomy, sections, source, progress)
        self.changes.emit("created", *report.profiles.created)
        self.changes.emit("updated", *report.profiles.updated)
        for eu, mx in parties:
            self.changes.emit("cooperation", eu, mx)
        return report

    def export(
        self,
        kind: fileio.Kind | str = "profiles",
        fmt: fileio.FileFormat | str = "json",
        out: str | Path | None = None,
    ) -> bytes:
        """Profiles, cooperations or both (``all``) as CSV, JSON or XLSX bytes; also written to ``out``."""
        kind = choice(fileio.Kind, kind, "kind")
        fmt = choice(fileio.FileFormat, fmt, "format")
        orgs = self.all_organisations() if kind is not fileio.Kind.cooperations else []
        coops = self.all_cooperations() if kind is not fileio.Kind.profiles else []
        data = fileio.export_bytes(kind, fmt, orgs, coops)
        if out is not None:
            Path(out).write_bytes(data)
        return data

    # --- what the Suggester reads ------------------------------------------------------------

    def list_feedback(self) -> list[Feedback]:
        """Every verdict on suggestions, oldest first (the Suggester trains on them)."""
        return FeedbackStore(self.store).list()
