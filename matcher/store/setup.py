"""Bringing a store up: migrate the schema, keep the taxonomy's sectors in step, seed once.

:func:`prepare` is idempotent and safe to run from several processes at once (PostgreSQL
migrations hold an advisory lock; seeding re-checks under a row lock).
"""

from __future__ import annotations

import sys
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from tqdm import tqdm

from matcher.dataset import load_dataset
from matcher.errors import StoreUnavailable
from matcher.store.engine import Store
from matcher.store.records import cooperation_values, insert_organisations
from matcher.store.tables import CooperationRow, MetaRow, OrganisationRow, SectorRow, utcnow
from matcher.taxonomy import Taxonomy

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_PG_MIGRATION_LOCK = 0x0C2C


def open_store(url: str) -> Store:
    """The store at ``url``; :class:`StoreUnavailable` (password hidden) when it cannot be opened."""
    try:
        return Store(url)
    except (SQLAlchemyError, OSError) as exc:
        raise StoreUnavailable(f"cannot open the store {_safe_url(url)}: {first_line(exc)}") from None


def first_line(exc: BaseException) -> str:
    """The first line of a database error, for a one-line message."""
    orig = getattr(exc, "orig", None) or exc
    return (str(orig).strip().splitlines() or [type(orig).__name__])[0]


def _safe_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except SQLAlchemyError:
        return "(unparseable URL)"


def alembic_config() -> Config:
    """The Alembic configuration of the registry schema (the migrations shipped in this package)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


@lru_cache(maxsize=1)
def alembic_head() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head() or ""


def prepare(store: Store, taxonomy: Taxonomy, seed: bool = True, progress: bool = False) -> list[str]:
    """Create or migrate the schema, sync the taxonomy and seed the shipped dataset.

    Seeding happens once, into a store that has no organisations and was never seeded.
    Returns the ids of the organisations seeded now.
    """
    migrate(store)
    sync_taxonomy(store, taxonomy)
    return seed_dataset(store, progress) if seed else []


def migrate(store: Store) -> None:
    """Upgrade the schema to the newest migration (nothing to do when it is there already)."""
    with store.engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    if current == alembic_head():
        return
    config = alembic_config()
    with store.write_engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})")
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


def sync_taxonomy(store: Store, taxonomy: Taxonomy) -> None:
    """Make the sectors table match the shipped taxonomy."""
    wanted = {s.id: (s.name, s.name_es, s.parent) for s in taxonomy.sectors.values()}
    with store.read() as s:
        stored = {r.id: (r.name, r.name_es, r.parent_id) for r in s.scalars(select(SectorRow))}
    stale = [sid for sid, row in wanted.items() if stored.get(sid) != row]
    if not stale:
        return
    with store.write() as s:
        for sid in stale:
            name, name_es, parent = wanted[sid]
            s.merge(SectorRow(id=sid, name=name, name_es=name_es, parent_id=parent))


def seed_dataset(store: Store, progress: bool) -> list[str]:
    """Load the shipped dataset into an empty, never-seeded store; the ids seeded."""
    with store.read() as s:
        meta = s.get(MetaRow, 1)
        if meta is None or meta.seeded_at is not None or count_rows(s, OrganisationRow):
            return []
    dataset = load_dataset()
    if not dataset.organisations:
        return []
    with store.write() as s:
        meta = s.scalars(select(MetaRow).where(MetaRow.id == 1).with_for_update()).one()
        if meta.seeded_at is not None or count_rows(s, OrganisationRow):
            return []
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
        store.bump_version(s)
    return [org.id for org in dataset.organisations]


def count_rows(s: Session, table: type) -> int:
    return int(s.scalar(select(func.count()).select_from(table)) or 0)
