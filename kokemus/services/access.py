"""Who may do what: API keys for machines, users with passwords for people."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, Engine, delete, insert, select, update

from kokemus.domain.errors import Invalid, KokemusError, NotFound
from kokemus.domain.roles import Role
from kokemus.services import audit
from kokemus.storage.tables import api_keys, memberships, sessions, users, workspaces

# ingest: send events and answers; read: read everything; cases: work cases (a help desk
# mirroring them); admin: all of them, and personal data
SCOPES = frozenset({"ingest", "read", "cases", "admin"})
LANGUAGES = ("fi", "en")
MAX_PASSWORD = 1024  # argon2 reads all of it; a megabyte "password" is an attack
HASH_WAIT_SECONDS = 10.0
_hasher = PasswordHasher()
_hashing = threading.BoundedSemaphore(max(1, os.cpu_count() or 1))


@dataclass(frozen=True)
class KeyOwner:
    workspace_id: int
    workspace: str
    scopes: frozenset[str]
    name: str
    version: int  # the workspace's current version, so callers can cache its document
    prefix: str  # names the key in the audit log (key:PREFIX)


def digest(secret: str) -> str:
    # API keys and session tokens are long random secrets: one fast hash suffices (a
    # password needs argon2).
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(db: Engine, workspace: str, name: str, scopes: set[str], *,
               actor: str = "system") -> str:
    """A new key; the secret is returned once and only its hash is kept."""
    if not 0 < len(name.strip()) <= 200:
        raise Invalid("a key's name has 1 to 200 characters")
    unknown = scopes - SCOPES
    if unknown or not scopes:
        raise Invalid(f"scopes must be some of {', '.join(sorted(SCOPES))}; got {sorted(scopes)}")
    prefix = secrets.token_hex(4)
    secret = f"kk_{prefix}_{secrets.token_urlsafe(32)}"
    with db.begin() as conn:
        ws_id = _workspace_id(conn, workspace)
        conn.execute(insert(api_keys).values(
            workspace_id=ws_id, name=name, prefix=prefix, secret_hash=digest(secret),
            scopes=" ".join(sorted(scopes)), created_at=datetime.now(UTC),
        ))
        audit.record(conn, actor, "key.create", workspace=workspace, target=prefix,
                     detail={"name": name, "scopes": sorted(scopes)})
    return secret


def verify_key(db: Engine, secret: str) -> KeyOwner | None:
    parts = secret.split("_", 2)
    if len(parts) != 3 or parts[0] != "kk":
        return None
    with db.connect() as conn:
        row = conn.execute(
            select(api_keys.c.secret_hash, api_keys.c.scopes, api_keys.c.name,
                   api_keys.c.revoked_at, workspaces.c.id, workspaces.c.slug,
                   workspaces.c.version)
            .join(workspaces, workspaces.c.id == api_keys.c.workspace_id)
            .where(api_keys.c.prefix == parts[1])
        ).first()
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(row.secret_hash, digest(secret)):
        return None
    return KeyOwner(row.id, row.slug, frozenset(row.scopes.split()), row.name, row.version,
                    parts[1])


def list_keys(db: Engine, workspace: str) -> list[dict[str, object]]:
    with db.connect() as conn:
        rows = conn.execute(
            select(api_keys.c.prefix, api_keys.c.name, api_keys.c.scopes, api_keys.c.created_at,
                   api_keys.c.revoked_at)
            .join(workspaces, workspaces.c.id == api_keys.c.workspace_id)
            .where(workspaces.c.slug == workspace).order_by(api_keys.c.created_at)
        ).mappings().all()
    return [dict(r) for r in rows]


def revoke_key(db: Engine, prefix: str, *, actor: str = "system",
               workspace: str | None = None) -> None:
    """Revoke a key; with `workspace`, only a key of that workspace (an owner's reach)."""
    with db.begin() as conn:
        query = (select(api_keys.c.id, workspaces.c.slug)
                 .join(workspaces, workspaces.c.id == api_keys.c.workspace_id)
                 .where(api_keys.c.prefix == prefix, api_keys.c.revoked_at.is_(None)))
        if workspace is not None:
            query = query.where(workspaces.c.slug == workspace)
        found = conn.execute(query).first()
        if found is None:
            raise NotFound(f"no active key with prefix '{prefix}'")
        conn.execute(update(api_keys).where(api_keys.c.id == found.id)
                     .values(revoked_at=datetime.now(UTC)))
        audit.record(conn, actor, "key.revoke", workspace=found.slug, target=prefix)


def create_user(db: Engine, username: str, password: str | None = None, *,
                admin: bool = False, language: str = "fi", actor: str = "system") -> str:
    """Create a user; with no password given, generate one and return it (shown once)."""
    if len(username.strip()) == 0 or len(username) > 200:
        raise Invalid("a user name has 1 to 200 characters")
    if language not in LANGUAGES:
        raise Invalid(f"language must be one of {', '.join(LANGUAGES)}; got '{language}'")
    password = password or secrets.token_urlsafe(12)
    if not 8 <= len(password) <= MAX_PASSWORD:
        raise Invalid(f"a password has 8 to {MAX_PASSWORD} characters")
    with db.begin() as conn:
        exists = conn.execute(select(users.c.id).where(users.c.username == username)).scalar()
        if exists is not None:
            raise Invalid(f"user '{username}' exists already")
        conn.execute(insert(users).values(
            username=username, password_hash=_hash(password), is_admin=admin,
            language=language, created_at=datetime.now(UTC),
        ))
        audit.record(conn, actor, "user.create", target=username, detail={"admin": admin})
    return password


def reset_password(db: Engine, username: str, *, admin: bool = False,
                   actor: str = "system") -> str:
    """A new generated password for `username`, created if missing; returned once. Their
    sessions end: whoever knew the old password is signed out."""
    password = secrets.token_urlsafe(12)
    with db.begin() as conn:
        user_id = conn.execute(select(users.c.id).where(users.c.username == username)).scalar()
        if user_id is not None:
            conn.execute(update(users).where(users.c.id == user_id).values(
                password_hash=_hash(password)))
            conn.execute(delete(sessions).where(sessions.c.user_id == user_id))
            audit.record(conn, actor, "user.password_reset", target=username)
    if user_id is None:
        create_user(db, username, password, admin=admin, actor=actor)
    return password


class Busy(KokemusError):
    """Too many passwords are being checked at once; the caller should try again shortly."""


def _hash(password: str) -> str:
    with _hashing_slot():
        return _hasher.hash(password)


@contextmanager
def _hashing_slot() -> Iterator[None]:
    # argon2 spends ~64 MiB and a core per check: unbounded, a burst of sign-ins would
    # exhaust the server's memory. A check that finds no slot in time is refused as busy.
    if not _hashing.acquire(timeout=HASH_WAIT_SECONDS):
        raise Busy("too many sign-ins at once; try again in a moment")
    try:
        yield
    finally:
        _hashing.release()


def authenticate(db: Engine, username: str, password: str) -> dict[str, object] | None:
    """The user for a name and password, or None: unknown, disabled or a wrong password."""
    if len(password) > MAX_PASSWORD or len(username) > 200:
        return None
    with db.connect() as conn:
        row = conn.execute(select(users).where(users.c.username == username)).first()
    with _hashing_slot():
        if row is None:
            _hasher.hash(password)  # spend the same time as a real check: no user enumeration
            return None
        try:
            _hasher.verify(row.password_hash, password)
        except (VerificationError, InvalidHashError):
            return None
    if row.disabled_at is not None:
        return None
    return {"id": row.id, "username": row.username, "is_admin": row.is_admin,
            "language": row.language}


def _user_id(conn: Connection, username: str) -> int:
    found = conn.execute(select(users.c.id).where(users.c.username == username)).scalar()
    if found is None:
        raise NotFound(f"no user '{username}'")
    return int(found)


def _workspace_id(conn: Connection, slug: str) -> int:
    found = conn.execute(select(workspaces.c.id).where(workspaces.c.slug == slug)).scalar()
    if found is None:
        raise NotFound(f"no workspace '{slug}'")
    return int(found)


def _held(conn: Connection, user_id: int, ws_id: int) -> str | None:
    return conn.execute(select(memberships.c.role).where(
        memberships.c.user_id == user_id, memberships.c.workspace_id == ws_id)).scalar()


def grant(db: Engine, username: str, workspace: str, role: Role | str, *,
          actor: str = "system") -> None:
    """Give `username` a role in `workspace` (replacing the role they had there)."""
    try:
        role = Role(role)
    except ValueError:
        raise Invalid(f"role must be one of {', '.join(Role)}; got '{role}'") from None
    with db.begin() as conn:
        user_id, ws_id = _user_id(conn, username), _workspace_id(conn, workspace)
        had = _held(conn, user_id, ws_id)
        if had == role:
            return
        if had is not None:
            conn.execute(update(memberships).where(
                memberships.c.user_id == user_id, memberships.c.workspace_id == ws_id
            ).values(role=role.value, granted_by=actor, granted_at=datetime.now(UTC)))
        else:
            conn.execute(insert(memberships).values(
                user_id=user_id, workspace_id=ws_id, role=role.value, granted_by=actor,
                granted_at=datetime.now(UTC)))
        audit.record(conn, actor, "role.grant", workspace=workspace, target=username,
                     detail={"role": role.value, "was": had})


def revoke(db: Engine, username: str, workspace: str, *, actor: str = "system") -> None:
    """Take away `username`'s role in `workspace`: from their next request it is gone."""
    with db.begin() as conn:
        user_id, ws_id = _user_id(conn, username), _workspace_id(conn, workspace)
        had = _held(conn, user_id, ws_id)
        if had is None:
            raise NotFound(f"user '{username}' has no role in workspace '{workspace}'")
        conn.execute(delete(memberships).where(
            memberships.c.user_id == user_id, memberships.c.workspace_id == ws_id))
        audit.record(conn, actor, "role.revoke", workspace=workspace, target=username,
                     detail={"was": had})


def disable_user(db: Engine, username: str, *, disabled: bool = True,
                 actor: str = "system") -> None:
    """Disable (or enable again) a user: a disabled user's sessions end at once and no
    password lets them in; their roles stay for when they come back."""
    with db.begin() as conn:
        user_id = _user_id(conn, username)
        conn.execute(update(users).where(users.c.id == user_id).values(
            disabled_at=datetime.now(UTC) if disabled else None))
        if disabled:
            conn.execute(delete(sessions).where(sessions.c.user_id == user_id))
        audit.record(conn, actor, "user.disable" if disabled else "user.enable",
                     target=username)


def list_users(db: Engine, workspace: str | None = None) -> list[dict[str, Any]]:
    """Users with their roles ({workspace: role}); with `workspace`, its members only."""
    with db.connect() as conn:
        people = conn.execute(select(users.c.id, users.c.username, users.c.is_admin,
                                     users.c.language, users.c.created_at,
                                     users.c.disabled_at).order_by(users.c.username)).all()
        roles = conn.execute(select(memberships.c.user_id, workspaces.c.slug,
                                    memberships.c.role)
                             .join(workspaces, workspaces.c.id == memberships.c.workspace_id)
                             ).all()
    by_user: dict[int, dict[str, str]] = {}
    for user_id, slug, role in roles:
        by_user.setdefault(user_id, {})[slug] = role
    listed = []
    for p in people:
        held = dict(sorted(by_user.get(p.id, {}).items()))
        if workspace is not None and workspace not in held:
            continue
        listed.append({"username": p.username, "admin": p.is_admin, "language": p.language,
                       "created_at": p.created_at, "disabled_at": p.disabled_at,
                       "roles": held})
    return listed


def role_in(db: Engine, user_id: int, workspace: str) -> Role | None:
    with db.connect() as conn:
        found = conn.execute(
            select(memberships.c.role)
            .join(workspaces, workspaces.c.id == memberships.c.workspace_id)
            .where(memberships.c.user_id == user_id, workspaces.c.slug == workspace)).scalar()
    return Role(found) if found is not None else None


def workspace_roles(db: Engine, user_id: int, *, admin: bool) -> dict[str, Role | None]:
    """The workspaces a user may see, by slug, with their role in each; an administrator
    sees all of them and needs no role (None: every permission)."""
    with db.connect() as conn:
        if admin:
            slugs = conn.execute(select(workspaces.c.slug).order_by(workspaces.c.slug))
            return dict.fromkeys(slugs.scalars())
        held = conn.execute(
            select(workspaces.c.slug, memberships.c.role)
            .join(memberships, memberships.c.workspace_id == workspaces.c.id)
            .where(memberships.c.user_id == user_id).order_by(workspaces.c.slug))
        return {slug: Role(role) for slug, role in held}


def has_users(db: Engine) -> bool:
    with db.connect() as conn:
        return conn.execute(select(users.c.id).limit(1)).first() is not None
