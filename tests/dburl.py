"""The database a test runs on: SQLite by default (a file under the test's tmp_path)."""

from __future__ import annotations

from pathlib import Path


def db_url(tmp_path: Path, name: str = "triage") -> str:
    """A fresh, empty database for one test; `name` tells apart several databases in one test."""
    return f"sqlite:///{tmp_path / (name + '.db')}"
