"""Opening the store and running its transactions, on SQLite (embedded default) or PostgreSQL (shared by
several API processes).

Every write is one short transaction through ``writing``: on SQLite it takes the write lock when it begins
(``BEGIN IMMEDIATE``), so two writers queue on the busy timeout instead of failing when both try to upgrade a
read lock; on PostgreSQL rows are locked where a decision depends on them (``SELECT … FOR UPDATE``). A store
that stays busy past the timeout raises ``StoreBusyError`` (HTTP 503 with Retry-After), never a bare driver
error.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event, exc, insert, inspect, select, text, update

from assistant.store.migrations import MIGRATIONS
from assistant.store.schema import SCHEMA_VERSION, metadata, schema_version, tenants
from erp_assist.errors import ErpAssistError, StoreBusyError
from erp_assist.settings import DEFAULT_TENANT

__all__ = ["NotFoundError", "ConflictError", "open_store", "reading", "writing", "now", "aware"]

_WRITE = "erp_assist_write"
# PostgreSQL SQLSTATEs that mean "busy, try again": serialization failure, deadlock, lock not available (our
# lock_timeout), too many connections, the server starting up or shutting down.
_BUSY_SQLSTATES = {"40001", "40P01", "55P03", "53300", "57P03"}
# An arbitrary constant: the advisory lock that lets one process at a time create or migrate a PostgreSQL store.
_MIGRATION_LOCK = 0x45525041


class NotFoundError(ErpAssistError, LookupError):
    """No such tenant, question or suggestion (in the caller's tenant)."""


class ConflictError(ErpAssistError):
    """The request does not fit the question's current state."""


def now() -> datetime:
    return datetime.now(timezone.utc)


def aware(value: datetime) -> datetime:
    # SQLite drops the offset; everything stored is UTC.
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _busy(error: exc.DBAPIError) -> bool:
    sqlstate = getattr(error.orig, "sqlstate", None)
    if sqlstate is not None:
        return sqlstate in _BUSY_SQLSTATES
    message = str(error.orig).lower()
    return "database is locked" in message or "database table is locked" in message or "busy" in message


@contextmanager
def _busy_as_error() -> Iterator[None]:
    try:
        yield
    except exc.TimeoutError as error:  # every pooled connection in use for longer than the pool timeout
        raise StoreBusyError("the review store has no free connection; retry in a second") from error
    except exc.DBAPIError as error:
        if _busy(error):
            raise StoreBusyError("the review store is busy; retry in a second") from error
        raise


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """One write transaction: committed when the block ends, rolled back if it raises."""
    with _busy_as_error(), engine.connect() as conn:
        conn.execution_options(**{_WRITE: True})
        with conn.begin():
            yield conn


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A connection for reads, with busy errors translated like writes."""
    with _busy_as_error(), engine.connect() as conn:
        yield conn


def open_store(url: str, *, busy_timeout_seconds: float = 5.0) -> Engine:
    """Engine for the store; creates the schema on first use, migrates an older one, refuses a newer one.

    ``busy_timeout_seconds`` is how long a request waits for a lock or a pooled connection before
    ``StoreBusyError``."""
    if url.startswith("sqlite"):
        engine = _sqlite_engine(url, busy_timeout_seconds)
    else:
        engine = create_engine(
            url, pool_pre_ping=True, pool_timeout=busy_timeout_seconds,
            connect_args={"options": f"-c lock_timeout={int(busy_timeout_seconds * 1000)}"}
            if url.startswith("postgresql") else {},
        )
    with writing(engine) as conn:
        if engine.dialect.name == "postgresql":
            # Several API workers start at once; one of them creates or migrates the schema, the others wait.
            conn.execute(select(text(f"pg_advisory_xact_lock({_MIGRATION_LOCK})")))
        _create_or_migrate(conn)
    return engine


def _sqlite_engine(url: str, busy_timeout_seconds: float) -> Engine:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, pool_timeout=busy_timeout_seconds, connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001
        # Transactions are begun by us (below), not by the driver, so a write can begin IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_seconds * 1000)}")
        _use_wal(cursor, busy_timeout_seconds)
        # WAL with NORMAL syncs at checkpoints, not at every commit: a committed write survives the process
        # being killed (what a server must promise), not a power cut in the last moments before a checkpoint.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(_WRITE) else "BEGIN")

    return engine


def _use_wal(cursor, timeout_seconds: float) -> None:  # noqa: ANN001 - a sqlite3 cursor
    """Switch a new database file to WAL. The switch needs the file to itself and SQLite does not wait for it
    on the busy timeout, so workers opening a new store together retry until one of them has made it."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode=WAL").fetchone()[0].lower() == "wal":
                return
        except sqlite3.OperationalError:
            pass  # locked by a connection creating the schema right now
        if time.monotonic() > deadline:
            raise StoreBusyError("the review store could not be switched to WAL; retry in a second")
        time.sleep(0.02)


def _create_or_migrate(conn: Connection) -> None:
    version = (conn.execute(select(schema_version.c.version)).scalar()
               if inspect(conn).has_table(schema_version.name) else None)
    if version is not None and version > SCHEMA_VERSION:
        raise ErpAssistError(f"database schema {version} is newer than this erp-assist ({SCHEMA_VERSION}); upgrade")
    metadata.create_all(conn)  # new tables only; columns added to old tables come from the migrations
    if version is None:
        conn.execute(insert(schema_version).values(version=SCHEMA_VERSION))
    else:
        for number in range(version + 1, SCHEMA_VERSION + 1):
            MIGRATIONS[number](conn)
        conn.execute(update(schema_version).values(version=SCHEMA_VERSION))
    if conn.execute(select(tenants.c.id).where(tenants.c.id == DEFAULT_TENANT)).first() is None:
        conn.execute(insert(tenants).values(id=DEFAULT_TENANT, name=DEFAULT_TENANT, created_at=now()))
