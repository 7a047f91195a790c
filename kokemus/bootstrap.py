"""Composition root: settings in, wired stores out."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine

from kokemus.config import Settings
from kokemus.storage import appstore
from kokemus.storage.events import EventStore
from kokemus.storage.writes import Writes


@dataclass
class Kokemus:
    settings: Settings
    db: Engine
    events: EventStore
    writes: Writes = field(init=False)  # group commit for hot-path app-store writes

    def __post_init__(self) -> None:
        self.writes = Writes(self.db)

    def close(self) -> None:
        self.writes.close()
        self.events.close()
        self.db.dispose()

    def __enter__(self) -> Kokemus:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def build(settings: Settings, *, migrate: bool = True) -> Kokemus:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = appstore.connect(settings.app_store_url)
    if migrate:
        appstore.migrate(db)
    return Kokemus(settings=settings, db=db, events=EventStore(settings.events_path))


def secret_key(settings: Settings) -> str:
    """The configured key, else one generated once and kept beside the data."""
    if settings.secret_key:
        return settings.secret_key
    path: Path = settings.data_dir / "secret.key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()
