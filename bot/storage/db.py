"""Engine, sessions and schema upgrade.

The schema is upgraded once, behind a lock (`migrate_to_head`): by `triage-bot migrate` before several instances
start on PostgreSQL, or by `Database(url)` itself for the embedded SQLite default. Either way a database already at the
migrations' head is left alone after one cheap read, and two processes never upgrade at once.
"""

from __future__ import annotations

import fcntl
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from bot.storage.gate import WriteGate

MIGRATIONS = Path(__file__).with_name("migrations")

WAL_TRIES = 40  # about 40 s in all: the other process's whole upgrade of a fresh file
MIGRATION_LOCK_KEY = 0x7472_6961_6765  # "triage": the pg_advisory_lock every instance's upgrade takes
"""Fixed, so `triage-bot migrate` and any instance that auto-migrates wait for each other."""

READ_ONLY = "triage_read_only"  # the execution option of the engine that `Database.read` sessions use

POOL_SIZE = 5
"""Connections kept per process on PostgreSQL: the webhook threads, the outbox and the scheduler's jobs."""
POOL_OVERFLOW = 10


class SchemaNotCurrent(RuntimeError):
    """The database is not at the migrations' head and this process was told not to upgrade it."""


def _wal(cursor: Any) -> None:
    """Switch a new database file to WAL. Two processes opening a fresh file at once (two `triage-bot migrate`)
    race for the switch, and SQLite answers the loser "database is locked" at once, whatever the busy timeout:
    it tries again, briefly, before giving up."""
    for attempt in range(WAL_TRIES):
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == WAL_TRIES - 1:
                raise
            time.sleep(0.05 * (attempt + 1))


def make_engine(url: str) -> Engine:
    """`hide_parameters`: a database error's message never carries the row's values (bodies, phones, names)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, hide_parameters=True)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA busy_timeout=30000")  # first: every statement after it waits for a lock
            cursor.execute("PRAGMA foreign_keys=ON")
            _wal(cursor)
            cursor.close()
            # pysqlite's own transaction handling starts a transaction only at the first write and lets a
            # savepoint's release commit it; SQLAlchemy's documented fix: the driver stays out, and we BEGIN.
            dbapi_connection.isolation_level = None

        @event.listens_for(engine, "begin")
        def _sqlite_begin(connection):  # type: ignore[no-untyped-def]
            # A write transaction takes the write lock at its start (two writers never deadlock on an upgrade);
            # a read (`Database.read`) is a snapshot that takes no lock (WAL: readers and the writer run together).
            read = connection.get_execution_options().get(READ_ONLY, False)
            connection.exec_driver_sql("BEGIN" if read else "BEGIN IMMEDIATE")

        return engine
    # PostgreSQL (READ COMMITTED): a small pool per process, checked before use so a restarted server or a
    # connection dropped by a proxy costs one reconnect, not a failed request.
    return create_engine(url, pool_pre_ping=True, pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW,
                         pool_timeout=30, pool_recycle=1800, hide_parameters=True)


def alembic_config(engine: Engine) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str) -> None:
    command.downgrade(alembic_config(engine), revision)


def head_revisions(engine: Engine) -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config(engine)).get_heads())


def current_revisions(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
        return set(MigrationContext.configure(connection).get_current_heads())


def at_head(engine: Engine) -> bool:
    return current_revisions(engine) == head_revisions(engine)


@contextmanager
def migration_lock(engine: Engine) -> Iterator[None]:
    """Held by one process at a time, across processes: an advisory lock on PostgreSQL, a lock file on SQLite."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            connection.commit()  # the lock is the session's; no transaction stays open while others migrate
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
                connection.commit()
        return
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield  # an in-memory database belongs to this process alone
        return
    # Not BEGIN EXCLUSIVE on the database itself: Alembic's own connection would then wait for ours.
    with open(f"{database}.migrate-lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def migrate_to_head(engine: Engine) -> set[str] | None:
    """Upgrade to head under the lock. Returns the revisions it upgraded from, or None when already at head."""
    if at_head(engine):
        return None
    with migration_lock(engine):
        before = current_revisions(engine)
        if before == head_revisions(engine):  # another process upgraded it while we waited
            return None
        upgrade(engine)
        return before


def check_current(engine: Engine) -> None:
    current, heads = current_revisions(engine), head_revisions(engine)
    if current != heads:
        at = ", ".join(sorted(current)) or "an empty schema"
        raise SchemaNotCurrent(f"database at {at}, this version needs {', '.join(sorted(heads))} — run "
                               "`triage-bot migrate` once (TRIAGE_AUTO_MIGRATE=false: nothing upgrades it at start)")


CHAT_PLATFORMS = "chat_platforms"  # a write session's info key: the messengers its chat posts go to


class Database:
    """One engine and a session factory; `transaction()` commits on success and rolls back on error.

    `migrate=True` (the embedded default) upgrades the schema under the migration lock unless it is at head;
    `migrate=False` with `require_current=True` (several instances) refuses a schema that is not at head.
    """

    def __init__(self, url: str, *, migrate: bool = True, require_current: bool = False) -> None:
        self.url = url
        self.engine = make_engine(url)
        try:
            if migrate:
                migrate_to_head(self.engine)
            elif require_current:
                check_current(self.engine)
        except BaseException:
            self.engine.dispose()
            raise
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._reads = sessionmaker(self.engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False)
        # SQLite: one writer at a time, queued in this process with the request path first (bot/storage/gate.py).
        self.gate = WriteGate() if self.engine.dialect.name == "sqlite" else None
        # The messengers this instance posts to, when more than one (Slack and Teams): every chat post queued in a
        # transaction goes to each (bot/outbox/queue.py). Empty: the one messenger (or the console).
        self.chat_platforms: tuple[str, ...] = ()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A write transaction: committed when the block ends, rolled back on an error."""
        info = {CHAT_PLATFORMS: self.chat_platforms}
        if self.gate is None:
            with self._sessions(info=info) as session, session.begin():
                yield session
            return
        with self.gate.held(), self._sessions(info=info) as session, session.begin():
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only snapshot: on SQLite it takes no lock and never waits for a writer."""
        with self._reads() as session, session.begin():
            yield session

    def session(self) -> Session:
        """A session for reading (reports, health): on SQLite its transactions take no lock."""
        return self._reads()

    def dispose(self) -> None:
        self.engine.dispose()
