"""Engines and transactions of the registry's store.

The embedded default is a SQLite file under ``C2C_HOME`` (WAL journal, foreign keys on,
writers serialised with ``BEGIN IMMEDIATE``); any SQLAlchemy URL such as
``postgresql+psycopg://@127.0.0.1:5432/test`` selects another server.
"""

from __future__ import annotations

import fcntl
import os
import threading
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any, Iterator

from sqlalchemy import Engine, create_engine, event, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from matcher.errors import StoreUnavailable
from matcher.store.tables import MetaRow, ModelRow

_DATA_VERSION = select(MetaRow.store_id, MetaRow.version).where(MetaRow.id == 1)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite connections get WAL, foreign keys and explicit BEGINs."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(parsed, pool_pre_ping=True)
    database = parsed.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(parsed, connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself, so reads are transactional too.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")  # safe with WAL: a crash loses at most the last commit
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        writing = connection.get_execution_options().get("c2c_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")

    return engine


class WriterQueue:
    """Lets one write transaction of a SQLite file at a time begin, waking the waiting writers in
    turn: a lock for this process's threads and an exclusive lock on a file beside the
    database for the other processes.

    Without it concurrent writers rely on SQLite's busy handler, which polls with sleeps of up
    to 100 ms, so under a stream of writes a write waited far longer than the writes ahead of
    it took. Programs that do not take this lock still wait on SQLite's own locking.
    """

    def __init__(self, path: Path):
        self.path = path
        self._threads = threading.Lock()
        self._fd: int | None = None

    def __enter__(self) -> None:
        self._threads.acquire()
        try:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        except OSError:  # an unwritable folder: SQLite's own locking still serialises the writers
            pass
        except BaseException:
            self._threads.release()
            raise

    def __exit__(self, *exc: object) -> None:
        try:
            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def writer_queue(url: str) -> WriterQueue | None:
    """The :class:`WriterQueue` of a SQLite file; None for a server database or an in-memory one."""
    parsed = make_url(url)
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:" or database.startswith("file:"):
        return None
    return WriterQueue(Path(database).expanduser().with_name(Path(database).name + "-writer.lock"))


@contextmanager
def _usable() -> Iterator[None]:
    """A database that cannot be used (unreachable, a damaged file, a missing table) is a
    :class:`StoreUnavailable` naming the reason; a broken constraint stays an IntegrityError."""
    try:
        yield
    except IntegrityError:
        raise
    except DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None and str(exc.orig).strip() else \
            type(exc).__name__
        raise StoreUnavailable(f"the store cannot be used: {reason}") from None


class Store:
    """An engine pair (readers and writers) with transaction helpers."""

    def __init__(self, url: str):
        self.url = url
        self.engine = make_engine(url)
        self.write_engine = self.engine.execution_options(c2c_write=True)
        self._writers = writer_queue(url)

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading; nothing it does is committed."""
        with _usable(), Session(self.engine, expire_on_commit=False) as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session whose work is committed as one transaction, or rolled back entirely."""
        queue: AbstractContextManager[Any] = self._writers if self._writers is not None else nullcontext()
        with _usable(), queue, Session(self.write_engine, expire_on_commit=False) as session, session.begin():
            yield session

    def data_version(self) -> str:
        """Identifies the current state of profiles and cooperations; changes on every such write."""
        return self.versions()[0]

    def versions(self, model: str | None = None) -> tuple[str, int | None]:
        """The data version and, in the same query, the stored version of ``model`` (None when
        it is not stored or not asked for)."""
        # A Core query on a plain connection: this runs once per request in the API, and an ORM
        # session with identity-map loading costs several times as much.
        query = _DATA_VERSION
        if model is not None:
            query = query.add_columns(select(ModelRow.version).where(ModelRow.name == model).scalar_subquery())
        with _usable(), self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return "uninitialised", None
        return f"{row[0]}:{row[1]}", (row[2] if model is not None else None)

    def bump_version(self, session: Session) -> None:
        """Advance the data version counter inside the caller's transaction."""
        meta = MetaRow.__table__
        session.execute(update(meta).where(meta.c.id == 1).values(version=meta.c.version + 1))

    def dispose(self) -> None:
        self.engine.dispose()
        if self._writers is not None:
            self._writers.close()
