"""Shared fixtures: store URLs for SQLite and PostgreSQL, a registry over both, small records.

``registry`` is parametrised over ``sqlite`` and ``postgres`` so one test body checks both
backends. The PostgreSQL tests use the local server at ``127.0.0.1:5432/test``: each test run
creates a schema of its own (selected through ``search_path``), migrates it once, empties it
before every test and drops it at the end. They are skipped, with the reason shown, only when
no server answers. SQLite tests get a copy of a once-migrated empty file.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import pytest

from matcher.logs import StderrHandler
from matcher.profiles import Cooperation, Organisation
from matcher.store.registry import Registry
from matcher.settings import Settings

@pytest.fixture(autouse=True)
def _logging_as_it_was() -> Iterator[None]:
    """Undo the logging set-up of a command run in-process (``matcher.cli.main`` configures it),
    so that one test's level does not change what the next one's ``caplog`` sees."""
    root, c2c = logging.getLogger(), logging.getLogger("c2c")
    handlers, level = list(root.handlers), c2c.level
    yield
    root.handlers[:] = [h for h in root.handlers if h in handlers or not isinstance(h, StderrHandler)]
    c2c.setLevel(level)


PG_CONNINFO = "host=127.0.0.1 port=5432 dbname=test connect_timeout=3"
PG_URL = "postgresql+psycopg://@127.0.0.1:5432/test"


@lru_cache(maxsize=1)
def pg_unavailable() -> str | None:
    """Why PostgreSQL cannot be used, or None when it answers."""
    try:
        import psycopg

        with psycopg.connect(PG_CONNINFO) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # any failure to connect means "no server to test against"
        return f"no PostgreSQL server answers at 127.0.0.1:5432/test ({type(exc).__name__}: {exc})"
    return None


@contextmanager
def fresh_pg_schema(prefix: str) -> Iterator[str]:
    """A new, empty schema on the local server (the test is skipped without one), dropped after."""
    reason = pg_unavailable()
    if reason:
        pytest.skip(reason)
    import psycopg

    schema = f"{prefix}_{secrets.token_hex(6)}"
    with psycopg.connect(PG_CONNINFO, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield schema
    finally:
        with psycopg.connect(PG_CONNINFO, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def pg_schema_url(schema: str, application_name: str | None = None) -> str:
    """The local server's URL with ``schema`` first on the search path."""
    url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    return f"{url}&application_name={application_name}" if application_name else url


DATA_TABLES = ("feedback", "api_keys", "cooperations", "organisation_sectors", "aliases", "organisations", "events", "models")


def _migrated(url: str, home: Path) -> None:
    with Registry.open(Settings(database_url=url, home=home), init=False) as reg:
        reg.init(seed=False)


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated, empty SQLite file, copied for each test (migrating is the slow part)."""
    home = tmp_path_factory.mktemp("sqlite-template")
    _migrated(f"sqlite:///{home / 'c2c.db'}", home)
    return home / "c2c.db"


@pytest.fixture
def sqlite_url(tmp_path: Path, _sqlite_template: Path) -> str:
    """A migrated, empty SQLite store of this test's own."""
    target = tmp_path / "c2c.db"
    shutil.copyfile(_sqlite_template, target)
    return f"sqlite:///{target}"


@pytest.fixture(scope="session")
def _pg_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A schema of this test run's own on the local server, migrated once, dropped at the end."""
    with fresh_pg_schema("c2c_test") as schema:
        _migrated(pg_schema_url(schema), tmp_path_factory.mktemp("pg"))
        yield schema


@pytest.fixture
def pg_url(_pg_schema: str) -> str:
    """The run's PostgreSQL schema, emptied of every record (as fresh as a new store).

    Every connection the tests open through this URL carries the schema as its application
    name. Before emptying the tables, connections a finished test left behind (a pool not
    disposed, a thread still running) are ended, so they can neither block nor deadlock the
    ``TRUNCATE``; a lock that is still not granted fails within seconds with a clear error.
    """
    import psycopg

    with psycopg.connect(PG_CONNINFO, autocommit=True, options=f"-csearch_path={_pg_schema}") as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                     "WHERE application_name = %s AND pid <> pg_backend_pid()", (_pg_schema,))
        conn.execute("SET lock_timeout = '10s'")
        conn.execute(f"TRUNCATE {', '.join(DATA_TABLES)} RESTART IDENTITY CASCADE")
        conn.execute("UPDATE meta SET version = 0, seeded_at = NULL, store_id = %s", (str(uuid.uuid4()),))
    return pg_schema_url(_pg_schema, application_name=_pg_schema)


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest) -> str:
    """A fresh, empty database URL on each backend."""
    return request.getfixturevalue(f"{'pg' if request.param == 'postgres' else 'sqlite'}_url")


@pytest.fixture
def registry(store_url: str, tmp_path: Path) -> Iterator[Registry]:
    """An empty, migrated registry (the shipped dataset is not loaded) on each backend."""
    reg = Registry.open(Settings(database_url=store_url, home=tmp_path), init=False)
    reg.init(seed=False)
    try:
        yield reg
    finally:
        reg.close()


def _source(section: str) -> dict[str, str]:
    return {"document": "fixture-report.pdf", "section": section}


def make_organisations() -> list[Organisation]:
    """Six small profiles, three per side, made up for the tests."""
    raw = [
        dict(id="hegan", name="HEGAN Basque Aerospace Cluster", acronym="HEGAN", side="EU", country="ES",
             region="Basque Country", type="cluster_organisation", sectors=["aerospace", "aerostructures"],
             aliases=["Clúster de Aeronáutica del País Vasco"], description="Aerospace firms of the Basque Country.",
             facts={"members": 60, "eccp_member": True, "mexico_interest": ["aerospace"]}, sources=[_source("T2")]),
        dict(id="windcluster-nord", name="Windcluster Nord", side="EU", country="DE", region="Schleswig-Holstein",
             type="cluster_organisation", sectors=["wind"], description="Wind energy suppliers of northern Germany.",
             sources=[_source("T3")]),
        dict(id="pole-mobilite", name="Pôle Mobilité Électrique", acronym="PME", side="EU", country="FR",
             type="partnership_network", sectors=["electromobility"], description="Electric vehicles network.",
             contact={"name": "A. Martin", "email": "a.martin@example.org"}, sources=[_source("T3")]),
        dict(id="cluster-energia-coahuila", name="Clúster de Energía Coahuila", side="MX", country="MX",
             region="Coahuila", type="cluster_organisation", sectors=["solar", "oil-gas"],
             aliases=["Coahuila Energy Cluster"], description="Energy companies of Coahuila.", sources=[_source("A1")]),
        dict(id="aerocluster-queretaro", name="Aeroclúster de Querétaro", acronym="AQ", side="MX", country="MX",
             region="Querétaro", type="cluster_organisation", sectors=["aerospace", "mro"],
             description="Aerospace manufacturing and maintenance in Querétaro.", sources=[_source("A1")]),
        dict(id="claut", name="Clúster Automotriz de Nuevo León", acronym="CLAUT", side="MX", country="MX",
             region="Nuevo León", type="cluster_organisation", sectors=["automotive", "auto-parts"],
             website="https://claut.example.org", sources=[_source("A2")]),
    ]  # fmt: skip
    return [Organisation.model_validate(r) for r in raw]


def make_cooperations() -> list[Cooperation]:
    raw = [
        dict(id="hegan-queretaro", eu="hegan", mx="aerocluster-queretaro", type="signed_mou", year=2019,
             description="Memorandum on supplier development.", sources=[_source("T2")]),
        dict(id="windnord-coahuila", eu="windcluster-nord", mx="cluster-energia-coahuila", type="delegation_visit",
             year=2021, sources=[_source("T3")]),
    ]  # fmt: skip
    return [Cooperation.model_validate(r) for r in raw]


@pytest.fixture
def organisations() -> list[Organisation]:
    return make_organisations()


@pytest.fixture
def cooperations() -> list[Cooperation]:
    return make_cooperations()


@pytest.fixture
def filled(registry: Registry, organisations: list[Organisation], cooperations: list[Cooperation]) -> Registry:
    """``registry`` holding the six fixture profiles and two cooperations."""
    registry.import_records(organisations, cooperations)
    return registry
