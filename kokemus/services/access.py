"""Who may do what: API keys for machines, users with passwords for people."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, insert, select, update

from kokemus.domain.errors import Invalid, NotFound
from kokemus.storage.tables import api_keys, users, workspaces

SCOPES = frozenset({"ingest", "read", "admin"})
_hasher = PasswordHasher()


@dataclass(frozen=True)
class KeyOwner:
    workspace_id: int
    workspace: str
    scopes: frozenset[str]
    name: str
    version: int  # the workspace's current version, so callers can cache its document


def _digest(secret: str) -> str:
    # API keys are long random secrets, so one fast hash suffices (a password needs argon2).
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(db: Engine, workspace: str, name: str, scopes: set[str]) -> str:
    """A new key; the secret is returned once and only its hash is kept."""
    unknown = scopes - SCOPES
    if unknown or not scopes:
        raise Invalid(f"scopes must be some of {', '.join(sorted(SCOPES))}; got {sorted(scopes)}")
    prefix = secrets.token_hex(4)
    secret = f"kk_{prefix}_{secrets.token_urlsafe(32)}"
    with db.begin() as conn:
        ws_id = conn.execute(select(workspaces.c.id).where(workspaces.c.slug == workspace)).scalar()
        if ws_id is None:
            raise NotFound(f"no workspace '{workspace}'")
        conn.execute(insert(api_keys).values(
            workspace_id=ws_id, name=name, prefix=prefix, secret_hash=_digest(secret),
            scopes=" ".join(sorted(scopes)), created_at=datetime.now(UTC),
        ))
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
    if not hmac.compare_digest(row.secret_hash, _digest(secret)):
        return None
    return KeyOwner(row.id, row.slug, frozenset(row.scopes.split()), row.name, row.version)


def list_keys(db: Engine, workspace: str) -> list[dict[str, object]]:
    with db.connect() as conn:
        rows = conn.execute(
            select(api_keys.c.prefix, api_keys.c.name, api_keys.c.scopes, api_keys.c.created_at,
                   api_keys.c.revoked_at)
            .join(workspaces, workspaces.c.id == api_keys.c.workspace_id)
            .where(workspaces.c.slug == workspace).order_by(api_keys.c.created_at)
        ).mappings().all()
    return [dict(r) for r in rows]


def revoke_key(db: Engine, prefix: str) -> None:
    with db.begin() as conn:
        done = conn.execute(update(api_keys).where(
            api_keys.c.prefix == prefix, api_keys.c.revoked_at.is_(None)
        ).values(revoked_at=datetime.now(UTC))).rowcount
    if done != 1:
        raise NotFound(f"no active key with prefix '{prefix}'")


def create_user(db: Engine, username: str, password: str | None = None, *,
                admin: bool = False, language: str = "fi") -> str:
    """Create a user; with no password given, generate one and return it (shown once)."""
    if len(username.strip()) == 0:
        raise Invalid("a user needs a name")
    password = password or secrets.token_urlsafe(12)
    if len(password) < 8:
        raise Invalid("a password has at least 8 characters")
    with db.begin() as conn:
        exists = conn.execute(select(users.c.id).where(users.c.username == username)).scalar()
        if exists is not None:
            raise Invalid(f"user '{username}' exists already")
        conn.execute(insert(users).values(
            username=username, password_hash=_hasher.hash(password), is_admin=admin,
            language=language, created_at=datetime.now(UTC),
        ))
    return password


def reset_password(db: Engine, username: str, *, admin: bool = False) -> str:
    """A new generated password for `username`, created if missing; returned once."""
    password = secrets.token_urlsafe(12)
    with db.begin() as conn:
        done = conn.execute(update(users).where(users.c.username == username).values(
            password_hash=_hasher.hash(password))).rowcount
    if done == 0:
        create_user(db, username, password, admin=admin)
    return password


def authenticate(db: Engine, username: str, password: str) -> dict[str, object] | None:
    with db.connect() as conn:
        row = conn.execute(select(users).where(users.c.username == username)).first()
    if row is None:
        _hasher.hash(password)  # spend the same time as a real check: no user enumeration
        return None
    try:
        _hasher.verify(row.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    return {"id": row.id, "username": row.username, "is_admin": row.is_admin,
            "language": row.language}


def has_users(db: Engine) -> bool:
    with db.connect() as conn:
        return conn.execute(select(users.c.id).limit(1)).first() is not None
