"""`kokemus backup DEST` and `kokemus restore SRC`: a consistent copy of both stores, taken
while the server runs, and brought back into a fresh data folder.

A backup is a folder:

- `app.sqlite`: the app store. From SQLite, SQLite's online backup (a consistent copy while
  others write); from PostgreSQL, every app-store table copied in one repeatable-read
  transaction into a SQLite file of the same schema (portable; `pg_dump` is the tool for a
  PostgreSQL-native dump).
- `events/`: the event store as DuckDB's `EXPORT DATABASE` writes it (Parquet files and the
  statements that recreate the tables), read in one transaction: a snapshot, taken without
  stopping the writer. While `kokemus serve` holds the event store, the command runs in the
  server (cli/served.py), which reads it.
- `secret.key`, when the data folder has one: survey links already sent stay valid.
- `backup.json`: when, from which kokemus version, and the rows of every table.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kokemus.cli.common import (
    DATA_FOLDER,
    DataDir,
    out,
    reports_errors,
    resolve,
    shown,
    stores,
)
from kokemus.domain.errors import KokemusError

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from kokemus.bootstrap import Kokemus
    from kokemus.config import Settings

APP_STORE = "app.sqlite"
EVENTS = "events"
MANIFEST = "backup.json"
SECRET = "secret.key"


@reports_errors
def backup_command(
    dest: Annotated[Path, typer.Argument(help="A new (or empty) folder for the backup.")],
    data_dir: DataDir = None,
) -> None:
    """Write a consistent copy of the app store and the event store into DEST, while the
    server runs (then the server takes the copy)."""
    with stores(data_dir, events=True) as kk:
        target = resolve(dest)
        _empty_folder(target, "--force is not offered: choose a new folder")
        counts = {"app store": copy_app_store(kk, target / APP_STORE),
                  "event store": export_events(kk, target / EVENTS)}
        secret = kk.settings.data_dir / SECRET
        if secret.exists():
            shutil.copy2(secret, target / SECRET)
        from kokemus import __version__

        manifest = {"created_at": datetime.now(UTC).isoformat(), "kokemus": __version__,
                    "tables": counts}
        (target / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    rows = sum(sum(c.values()) for c in counts.values())
    out.print(f"backed up {rows:,} rows of {sum(len(c) for c in counts.values())} tables "
              f"into {shown(target)}/")


@reports_errors
def restore_command(
    src: Annotated[Path, typer.Argument(help="A folder written by `kokemus backup`.")],
    data_dir: Annotated[Path | None, typer.Option(
        "--data-dir", envvar="KOKEMUS_DATA_DIR",
        help=f"The data folder to restore into [default: ./{DATA_FOLDER}].",
        show_default=False)] = None,
    force: Annotated[bool, typer.Option(
        help="Replace the stores of a data folder that has some.")] = False,
) -> None:
    """Bring a backup back into a fresh data folder (a folder with stores only with --force,
    and never while a server uses it)."""
    from kokemus import bootstrap
    from kokemus.cli import served
    from kokemus.config import load_settings

    source = resolve(src)
    if not (source / MANIFEST).is_file():
        raise KokemusError(f"{src} is not a kokemus backup (no {MANIFEST} in it)")
    target = resolve(data_dir or Path(DATA_FOLDER))
    settings = load_settings(data_dir=target)
    if served.running_server(target) is not None:
        raise KokemusError(f"a server uses {shown(target)}; stop it before restoring")
    existing = _store_files(settings)
    if existing and not force:
        raise KokemusError(f"{shown(target)} holds stores already ("
                           f"{', '.join(p.name for p in existing)}); restore into a new "
                           "folder, or replace them with --force")
    target.mkdir(parents=True, exist_ok=True)
    for path in existing:
        path.unlink()
    restore_app_store(source / APP_STORE, settings)
    import_events(source / EVENTS, settings.events_path)
    if (source / SECRET).exists() and not settings.secret_key:
        shutil.copy2(source / SECRET, target / SECRET)
        (target / SECRET).chmod(0o600)
    with bootstrap.build(settings) as kk:  # migrated to this version's schema
        counts = {"app store": app_store_counts(kk.db), "event store": event_counts(kk)}
    manifest = json.loads((source / MANIFEST).read_text())
    rows = sum(sum(c.values()) for c in counts.values())
    out.print(f"restored {rows:,} rows from the backup of {manifest['created_at']} into "
              f"{shown(target)}/")
    differ = [f"{store}: {table}" for store, tables in manifest["tables"].items()
              for table, n in tables.items() if counts.get(store, {}).get(table) != n]
    if differ:
        raise KokemusError(f"rows differ from the backup's in {', '.join(differ)}")


def _empty_folder(path: Path, hint: str) -> None:
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise KokemusError(f"{shown(path)} exists and is not an empty folder; {hint}")
    path.mkdir(parents=True, exist_ok=True)


def _store_files(settings: Settings) -> list[Path]:
    names = [settings.events_path, settings.events_path.with_name(
        settings.events_path.name + ".wal")]
    if settings.database_url is None:
        app = settings.data_dir / APP_STORE
        names += [app, app.with_name(APP_STORE + "-wal"), app.with_name(APP_STORE + "-shm")]
    return [path for path in names if path.exists()]


# --- the app store -------------------------------------------------------------------------

def copy_app_store(kk: Kokemus, target: Path) -> dict[str, int]:
    """Copy the app store into the SQLite file `target`; the rows per table."""
    if kk.db.dialect.name == "sqlite":
        source = kk.db.raw_connection()
        try:
            copy = sqlite3.connect(target)
            with copy:
                source.driver_connection.backup(copy)  # type: ignore[union-attr]
            copy.close()
        finally:
            source.close()
    else:
        from kokemus.storage import appstore

        copy_engine = appstore.connect(f"sqlite:///{target}")
        appstore.migrate(copy_engine)
        _copy_tables(kk.db, copy_engine)
        copy_engine.dispose()
    from kokemus.storage import appstore

    copy_engine = appstore.connect(f"sqlite:///{target}")
    try:
        return app_store_counts(copy_engine)
    finally:
        copy_engine.dispose()


def restore_app_store(source: Path, settings: Settings) -> None:
    from kokemus.storage import appstore

    if settings.database_url is None:
        target = sqlite3.connect(settings.data_dir / APP_STORE)
        backup = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        with target:
            backup.backup(target)
        backup.close()
        target.close()
        return
    engine = appstore.connect(settings.app_store_url)
    backup_engine = appstore.connect(f"sqlite:///{source}")
    try:
        appstore.migrate(backup_engine)  # a backup of an older version: to this schema first
        appstore.migrate(engine)
        if any(app_store_counts(engine).values()):
            raise KokemusError(f"the app store at {settings.database_url} holds data; "
                               "restore into an empty database")
        _copy_tables(backup_engine, engine)
    finally:
        backup_engine.dispose()
        engine.dispose()


def _copy_tables(source: Engine, target: Engine) -> None:
    """Every app-store table's rows from `source` into the empty `target` (same schema),
    read in one snapshot, parents before children."""
    from sqlalchemy import text

    from kokemus.storage.tables import metadata

    with source.connect() as reading, target.begin() as writing:
        if source.dialect.name == "postgresql":
            reading.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
        for table in metadata.sorted_tables:
            rows = [dict(r) for r in reading.execute(table.select()).mappings()]
            if rows:
                writing.execute(table.insert(), rows)
            if target.dialect.name == "postgresql":
                for column in table.primary_key.columns:
                    if column.autoincrement is True or (
                            column.autoincrement == "auto" and column.type.python_type is int
                            and len(table.primary_key.columns) == 1):
                        writing.execute(text(
                            f"SELECT setval(pg_get_serial_sequence('{table.name}', "
                            f"'{column.name}'), coalesce(max({column.name}), 0) + 1, false) "
                            f"FROM {table.name}"))


def app_store_counts(db: Engine) -> dict[str, int]:
    from sqlalchemy import func, select

    from kokemus.storage.tables import metadata

    with db.connect() as conn:
        return {table.name: int(conn.execute(select(func.count()).select_from(table))
                                .scalar_one()) for table in metadata.sorted_tables}


# --- the event store -----------------------------------------------------------------------

def export_events(kk: Kokemus, target: Path) -> dict[str, int]:
    """DuckDB's EXPORT DATABASE of the event store, as one snapshot: the rows per table."""
    with kk.events.reading() as cursor:
        cursor.execute("BEGIN TRANSACTION")
        try:
            counts = _event_counts(cursor)
            cursor.execute(f"EXPORT DATABASE '{_quoted(target)}' (FORMAT parquet)")
        finally:
            cursor.execute("COMMIT")
    return counts


def import_events(source: Path, target: Path) -> None:
    import duckdb

    con = duckdb.connect(str(target))
    try:
        con.execute(f"IMPORT DATABASE '{_quoted(source)}'")
    finally:
        con.close()


def event_counts(kk: Kokemus) -> dict[str, int]:
    with kk.events.reading() as cursor:
        return _event_counts(cursor)


def _event_counts(cursor: Any) -> dict[str, int]:
    tables = [str(r[0]) for r in cursor.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
        "ORDER BY table_name").fetchall()]
    return {name: int(cursor.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0])
            for name in tables}


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")
