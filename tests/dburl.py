"""The database a test runs on: SQLite by default (a file under the test's tmp_path), PostgreSQL on request.

`TRIAGE_TEST_DATABASE=postgresql` (or `pytest --db=postgresql`) gives every `db_url()` call a fresh database
of its own on the server `TRIAGE_TEST_PG_URL` names. The schema is migrated once per session, by the code's
own `Database()`, into a template; each test's database is a copy of it (so `Database()` in the test finds it
at head after its one cheap check), or an empty one with `empty=True` for tests of the migrations themselves.
Each test's databases are dropped after it, the template when the session ends.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
POSTGRESQL = "postgresql"
SQLITE = "sqlite"


def backend() -> str:
    return os.environ.get("TRIAGE_TEST_DATABASE", SQLITE).strip().lower() or SQLITE


def on_postgresql() -> bool:
    return backend() == POSTGRESQL


def db_url(tmp_path: Path, name: str = "triage", *, empty: bool = False) -> str:
    """A fresh database for one test (migrated to head on PostgreSQL unless `empty`; SQLite files start empty
    and `Database()` migrates them); `name` tells apart several databases in one test."""
    if on_postgresql():
        return _server().fresh(empty=empty)
    return f"sqlite:///{tmp_path / (name + '.db')}"


class _PgServer:
    """Makes and drops the test databases, over one autocommit admin connection."""

    def __init__(self, url: str) -> None:
        import psycopg
        from sqlalchemy.engine import make_url

        self.url = make_url(url)
        admin = self.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.admin = psycopg.connect(admin, autocommit=True)
        self.prefix = f"{os.environ.get('TRIAGE_TEST_PG_PREFIX', 'triage_test')}_{os.getpid()}"
        self.names = itertools.count(1)
        self.made: list[str] = []
        self.template: str | None = None

    def _create(self, name: str, template: str | None = None) -> str:
        self.admin.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        return self.url.set(database=name).render_as_string(hide_password=False)

    def fresh(self, *, empty: bool) -> str:
        name = f"{self.prefix}_{next(self.names)}"
        if not empty and self.template is None:
            from bot.storage.db import Database

            template = f"{self.prefix}_template"
            Database(self._create(template)).dispose()  # the code's own migration, once per session
            self.template = template
        self.made.append(name)
        return self._create(name, None if empty else self.template)

    def drop(self, keep: int = 0) -> None:
        """Every test database made after the first `keep` (FORCE: a test may leave a connection open)."""
        while len(self.made) > keep:
            self._drop(self.made.pop())

    def _drop(self, name: str) -> None:
        self.admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        self.drop()
        if self.template is not None:
            self._drop(self.template)
            self.template = None
        self.admin.close()


_SERVER: _PgServer | None = None


def _server() -> _PgServer:
    global _SERVER
    if _SERVER is None:
        _SERVER = _PgServer(os.environ.get("TRIAGE_TEST_PG_URL", DEFAULT_PG_URL))
    return _SERVER


def made() -> int:
    """How many databases exist now, for `drop_test_databases(keep=...)` after one test."""
    return len(_SERVER.made) if _SERVER is not None else 0


def drop_test_databases(keep: int | None = None) -> None:
    """After a test, the databases it made (`keep`: how many there were before); with no `keep` (the end of
    the session), every one and the template too."""
    global _SERVER
    if _SERVER is None:
        return
    if keep is not None:
        _SERVER.drop(keep)
        return
    _SERVER.close()
    _SERVER = None
