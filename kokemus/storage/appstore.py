"""The app store: an engine for the configured URL, migrated to the newest schema."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, exc, text

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


def connect(url: str, **options: Any) -> Engine:
    if url.startswith("sqlite"):
        # A pool as large as the server's thread pool: a connection opened per request
        # (and its pragmas) costs more than the query it serves.
        options = {"pool_size": 20, "max_overflow": 20, **options}
        engine = create_engine(url, connect_args={"timeout": 30}, **options)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            # Deleted and overwritten rows are zeroed in the file, not left in free space:
            # an erased customer's name must not survive in the bytes (services/privacy.py).
            cursor.execute("PRAGMA secure_delete=ON")
            cursor.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_pre_ping=True, **options)


def alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration; safe to call on every start (a store
    already at the newest costs one query: Alembic, slow to load, only loads to migrate)."""
    if at_newest(engine):
        return
    from alembic import command

    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


_REVISION = re.compile(
    r"""^(down_)?revision(?:\s*:[^=\n]+)?\s*=\s*(?:["']([^"']*)["']|None)\s*$""", re.MULTILINE)


def newest_revisions() -> set[str]:
    """The heads of the migrations: revisions no other migration follows (empty when a
    migration file does not name its revision plainly: then Alembic decides)."""
    revisions: set[str] = set()
    followed: set[str] = set()
    files = list((MIGRATIONS / "versions").glob("*.py"))
    for path in files:
        found = _REVISION.findall(path.read_text(encoding="utf-8"))
        mine = [value for down, value in found if not down]
        if len(mine) != 1:
            return set()
        revisions.add(mine[0])
        followed.update(value for down, value in found if down and value)
    return revisions - followed if len(revisions) == len(files) else set()


def at_newest(engine: Engine) -> bool:
    """Whether the store's schema is at the newest migration (False when unsure)."""
    try:
        with engine.connect() as connection:
            current = {str(row[0]) for row in connection.execute(
                text("SELECT version_num FROM alembic_version"))}
    except exc.DBAPIError:
        return False
    newest = newest_revisions()
    return bool(newest) and current == newest
