"""Alembic environment: the connection comes from kokemus, never from a global URL."""

from __future__ import annotations

from alembic import context

from kokemus.storage.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # run from the alembic command line
    from sqlalchemy import create_engine

    from kokemus.config import load_settings

    connection = create_engine(load_settings().app_store_url).connect()

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
