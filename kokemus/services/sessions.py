"""Signed-in sessions, kept on the server: the cookie carries a random token, the app
store keeps its sha256 with the user and when it was last seen. Signing out, disabling the
user or a password reset deletes the row, so the session ends at once, whatever the
cookie says. A session ends after `idle` seconds unseen and `absolute` seconds after the
sign-in, whichever comes first."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, delete, insert, select, update

from kokemus.services.access import digest as _digest
from kokemus.storage.tables import sessions, users

# Seen-at is written at most this often per session: a page view should not be a write.
TOUCH_SECONDS = 60.0


@dataclass(frozen=True)
class Viewer:
    """A signed-in person, as the pages need them."""

    id: int
    username: str
    language: str
    is_admin: bool


def start(db: Engine, user_id: int, address: str | None = None) -> str:
    """A new session for `user_id`; the token is for the cookie and is not kept."""
    token = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    with db.begin() as conn:
        conn.execute(insert(sessions).values(id=_digest(token), user_id=user_id,
                                             created_at=now, seen_at=now,
                                             address=(address or "")[:64] or None))
    return token


def current(db: Engine, token: str, *, idle: float, absolute: float) -> Viewer | None:
    """The person of a live session, or None (unknown, ended, timed out, user disabled)."""
    if not token or len(token) > 100:
        return None
    key = _digest(token)
    with db.connect() as conn:
        row = conn.execute(
            select(sessions.c.created_at, sessions.c.seen_at, users.c.id, users.c.username,
                   users.c.language, users.c.is_admin, users.c.disabled_at)
            .join(users, users.c.id == sessions.c.user_id).where(sessions.c.id == key)
        ).first()
    if row is None:
        return None
    now = datetime.now(UTC)
    if (row.disabled_at is not None or now - row.seen_at > timedelta(seconds=idle)
            or now - row.created_at > timedelta(seconds=absolute)):
        end(db, token)
        return None
    if now - row.seen_at > timedelta(seconds=TOUCH_SECONDS):
        with db.begin() as conn:
            conn.execute(update(sessions).where(sessions.c.id == key).values(seen_at=now))
    return Viewer(row.id, row.username, row.language, row.is_admin)


def end(db: Engine, token: str) -> None:
    with db.begin() as conn:
        conn.execute(delete(sessions).where(sessions.c.id == _digest(token)))


def sweep(db: Engine, *, idle: float, absolute: float) -> int:
    """Delete sessions past either timeout (the worker's housekeeping); how many."""
    now = datetime.now(UTC)
    with db.begin() as conn:
        return conn.execute(delete(sessions).where(
            (sessions.c.seen_at < now - timedelta(seconds=idle))
            | (sessions.c.created_at < now - timedelta(seconds=absolute)))).rowcount
