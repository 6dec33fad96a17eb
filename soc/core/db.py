"""Database engine, sessions and the declarative base shared by every domain's models."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import DateTime, MetaData, create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

log = logging.getLogger(__name__)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use timezone-aware UTC")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def make_engine(url: str, busy_timeout: float = 5.0, pool_timeout: float = 5.0) -> Engine:
    """An engine whose waits are short: a request that cannot get the database fails within
    seconds (answered 503 busy) instead of queueing for half a minute."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": busy_timeout},
            pool_timeout=pool_timeout,
        )
        _serialise_sqlite_writers(engine, busy_timeout)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_timeout=pool_timeout)


READ_ONLY = "soc_read_only"


def _serialise_sqlite_writers(engine: Engine, busy_timeout: float) -> None:
    """Begin write transactions IMMEDIATE, read transactions DEFERRED.

    The audit hash chain reads the last entry and appends the next in one transaction; an
    immediate transaction takes the write lock first, so two writers can never fork the chain
    (and never meet SQLITE_BUSY_SNAPSHOT, which a deferred reader hits when it tries to write
    after another commit). Reads take no lock at all: under WAL they see a snapshot while
    writers go on, so a long read (a page, a hunt) never stalls ingest.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # type: ignore[no-untyped-def]
        read_only = conn.get_execution_options().get(READ_ONLY, False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


class ReadOnlySessionError(RuntimeError):
    """A read session was asked to write: the caller must use a write session (a read
    session holds no write lock, so its writes could race the audit chain)."""


@event.listens_for(Session, "before_flush")
def _refuse_writes_in_read_sessions(session: Session, _ctx: object, _instances: object) -> None:
    if session.info.get(READ_ONLY) and (session.new or session.dirty or session.deleted):
        raise ReadOnlySessionError(
            "write attempted in a read-only session; use Database.session() (write) for it"
        )


class Database:
    """Engine plus session factories for one database URL: `session()` for work that writes
    (it holds SQLite's write lock, so keep it short), `read_session()` for work that only reads
    (no lock, any length)."""

    def __init__(self, url: str, busy_timeout: float = 5.0, pool_timeout: float = 5.0) -> None:
        self.url = url
        self.engine = make_engine(url, busy_timeout, pool_timeout)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.read_sessions = sessionmaker(
            self.engine.execution_options(**{READ_ONLY: True}),
            expire_on_commit=False,
            info={READ_ONLY: True},
        )

    def configure(self, **options: object) -> None:
        """Options for both session factories (e.g. `info` the services read)."""
        for factory in (self.sessions, self.read_sessions):
            if "info" in options:
                merged = dict(factory.kw.get("info") or {})
                merged.update(options["info"])  # type: ignore[call-overload]
                factory.configure(**{**options, "info": merged})
            else:
                factory.configure(**options)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A write transaction: committed at the end, rolled back on error."""
        with self.sessions() as session:
            yield from _transaction(session)

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """A read transaction: never takes the write lock; writing in it is an error."""
        with self.read_sessions() as session:
            yield from _transaction(session)


def _transaction(session: Session) -> Iterator[Session]:
    try:
        yield session
        session.commit()
    except BaseException:
        try:
            session.rollback()
        except Exception:  # the original error matters (e.g. disk full), not the rollback's
            log.warning("rollback after a failed transaction failed too", exc_info=True)
        raise


@contextmanager
def sole_runner(db: Database, process_lock: threading.Lock, key: int) -> Iterator[bool]:
    """True when no other runner of one job (a thread here holding `process_lock`, or on
    PostgreSQL a process holding advisory lock `key`) is running; False means skip this pass."""
    if not process_lock.acquire(blocking=False):
        yield False
        return
    try:
        if db.engine.dialect.name != "postgresql":
            yield True
            return
        with db.engine.connect() as conn:
            params = {"key": key}
            got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:key)"), params).scalar())
            conn.commit()
            try:
                yield got
            finally:
                if got:
                    conn.execute(text("SELECT pg_advisory_unlock(:key)"), params)
                    conn.commit()
    finally:
        process_lock.release()
