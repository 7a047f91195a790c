"""Composition root: settings in, wired stores out.

The stores open when first used: a command that reads only the app store (keys, users,
history) never opens the event store, so it runs beside `kokemus serve`, which holds the
event store's one writer (DuckDB lets a single process write a database file)."""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from kokemus.config import Settings

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from kokemus.storage.events import EventStore
    from kokemus.storage.journal import Journal
    from kokemus.storage.writes import Writes


@dataclass
class Kokemus:
    settings: Settings
    db: Engine
    # the event store, opened on first use; given here, it is used as it is
    opened_events: EventStore | None = None
    _writes: Writes | None = field(default=None, init=False)
    _journal: Journal | None = field(default=None, init=False)
    _opening: threading.Lock = field(default_factory=threading.Lock, init=False)

    @property
    def events(self) -> EventStore:
        """The event store, opened now if it is not open yet."""
        if self.opened_events is None:
            with self._opening:
                if self.opened_events is None:
                    from kokemus.storage.events import EventStore

                    self.opened_events = EventStore(self.settings.events_path,
                                                     memory_limit=self.settings.events_memory_limit)
        store = self.opened_events
        if store.settle is None:  # its readers see the response journal's answers
            store.settle = self.journal.settle
        return store

    @property
    def writes(self) -> Writes:
        """Group commit for hot-path app-store writes, started on first use."""
        if self._writes is None:
            with self._opening:
                if self._writes is None:
                    from kokemus.storage.writes import Writes

                    self._writes = Writes(self.db)
        return self._writes

    @property
    def journal(self) -> Journal:
        """Survey submissions acknowledged after one app-store commit, drained into the
        event store (storage/journal.py)."""
        if self._journal is None:
            writes = self.writes
            with self._opening:
                if self._journal is None:
                    from kokemus.storage.journal import Journal

                    self._journal = Journal(self.db, writes, lambda: self.events)
        return self._journal

    def close(self) -> None:
        if self._journal is not None:  # its last drain needs the writer and the events
            self._journal.close()
        if self._writes is not None:
            self._writes.close()
        if self.opened_events is not None:
            self.opened_events.close()
        self.db.dispose()

    def __enter__(self) -> Kokemus:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def build(settings: Settings, *, migrate: bool = True) -> Kokemus:
    """The stores of `settings`: the app store connected (and migrated), the event store
    opened when first used."""
    from kokemus.storage import appstore

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = appstore.connect(settings.app_store_url)
    if migrate:
        appstore.migrate(db)
    return Kokemus(settings=settings, db=db)


def secret_key(settings: Settings) -> str:
    """The configured key, else one generated once and kept beside the data."""
    if settings.secret_key:
        return settings.secret_key
    path: Path = settings.data_dir / "secret.key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()
