"""Alembic environment: the engine is handed in by bot.storage.db, never read from an ini file."""

from __future__ import annotations

from alembic import context

from bot.storage.models import Base

engine = context.config.attributes["engine"]
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
