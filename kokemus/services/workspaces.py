"""Applying, reading and exporting workspaces; each apply is a new version, or no change."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Engine, insert, select, update

from kokemus.domain.errors import NotFound
from kokemus.domain.workspace import Workspace
from kokemus.storage.tables import workspace_versions, workspaces
from kokemus.workspace.document import canonical, digest


@dataclass(frozen=True)
class Applied:
    slug: str
    version: int
    changed: bool


@dataclass(frozen=True)
class ActiveWorkspace:
    """A workspace as the running system uses it: its row id, version and document."""

    id: int
    slug: str
    version: int
    document: Workspace
    touchpoint_for_event: dict[str, str] = field(default_factory=dict)
    channels: frozenset[str] = frozenset()
    touchpoints: frozenset[str] = frozenset()

    @classmethod
    def of(cls, id: int, version: int, document: Workspace) -> ActiveWorkspace:
        return cls(
            id=id,
            slug=document.workspace,
            version=version,
            document=document,
            touchpoint_for_event=document.touchpoint_for_event(),
            channels=frozenset(c.id for c in document.channels),
            touchpoints=frozenset(t.id for t in document.touchpoints()),
        )


def apply(db: Engine, workspace: Workspace, *, source: str | None = None,
          applied_by: str | None = None) -> Applied:
    """Store `workspace` as the next version of its slug unless it equals the current one."""
    new_digest = digest(workspace)
    now = datetime.now(UTC)
    with db.begin() as conn:
        row = conn.execute(
            select(workspaces.c.id, workspaces.c.version).where(
                workspaces.c.slug == workspace.workspace
            )
        ).first()
        if row is None:
            ws_id = conn.execute(
                insert(workspaces).values(slug=workspace.workspace, version=0, created_at=now)
            ).inserted_primary_key[0]  # type: ignore[index]
            version = 0
        else:
            ws_id, version = row
            current = conn.execute(
                select(workspace_versions.c.digest).where(
                    workspace_versions.c.workspace_id == ws_id,
                    workspace_versions.c.version == version,
                )
            ).scalar()
            if current == new_digest:
                return Applied(workspace.workspace, version, changed=False)
        conn.execute(
            insert(workspace_versions).values(
                workspace_id=ws_id, version=version + 1, document=canonical(workspace),
                digest=new_digest, source=source, applied_by=applied_by, applied_at=now,
            )
        )
        # The guard on the old version makes two concurrent applies fail, not interleave.
        result = conn.execute(
            update(workspaces)
            .where(workspaces.c.id == ws_id, workspaces.c.version == version)
            .values(version=version + 1)
        )
        if result.rowcount != 1:
            raise RuntimeError("workspace changed during apply; try again")
    return Applied(workspace.workspace, version + 1, changed=True)


def _load(conn: Connection, slug: str, version: int | None = None) -> ActiveWorkspace:
    row = conn.execute(
        select(workspaces.c.id, workspaces.c.version).where(workspaces.c.slug == slug)
    ).first()
    if row is None or row.version == 0:
        raise NotFound(f"no workspace '{slug}'")
    wanted = version or row.version
    document = conn.execute(
        select(workspace_versions.c.document).where(
            workspace_versions.c.workspace_id == row.id, workspace_versions.c.version == wanted
        )
    ).scalar()
    if document is None:
        raise NotFound(f"workspace '{slug}' has no version {wanted}")
    return ActiveWorkspace.of(row.id, wanted, Workspace.model_validate(document))


def get(db: Engine, slug: str, version: int | None = None) -> ActiveWorkspace:
    with db.connect() as conn:
        return _load(conn, slug, version)


# Parsed documents by (workspace id, version) per app store: a version never changes, and
# validating a whole document costs more than the rest of a survey submission.
_parsed: WeakKeyDictionary[Engine, dict[tuple[int, int], ActiveWorkspace]] = WeakKeyDictionary()


def get_by_id(db: Engine, workspace_id: int) -> ActiveWorkspace:
    """The current version of a workspace (one small query when it is already parsed)."""
    with db.connect() as conn:
        row = conn.execute(
            select(workspaces.c.slug, workspaces.c.version).where(workspaces.c.id == workspace_id)
        ).first()
        if row is None:
            raise NotFound(f"no workspace with id {workspace_id}")
        return at_version(conn, workspace_id, row.version)


def at_version(conn: Connection, workspace_id: int, version: int) -> ActiveWorkspace:
    """A version of a workspace, parsed once (no query when it is already parsed)."""
    parsed = _parsed.setdefault(conn.engine, {})
    active = parsed.get((workspace_id, version))
    if active is None:
        slug = conn.execute(select(workspaces.c.slug).where(
            workspaces.c.id == workspace_id)).scalar_one()
        active = _load(conn, slug, version)
        if len(parsed) > 64:
            parsed.clear()
        parsed[(workspace_id, active.version)] = active
    return active


def current(db: Engine, wanted: Sequence[str]) -> list[ActiveWorkspace]:
    """The current version of each of the `wanted` workspaces that has one, in slug order:
    one query for all of them when their documents are already parsed (a page over several
    workspaces, such as the home page)."""
    with db.connect() as conn:
        rows = conn.execute(
            select(workspaces.c.id, workspaces.c.version)
            .where(workspaces.c.slug.in_(list(wanted)), workspaces.c.version > 0)
            .order_by(workspaces.c.slug)).all()
        return [at_version(conn, row.id, row.version) for row in rows]


def slugs(db: Engine) -> list[str]:
    with db.connect() as conn:
        return list(
            conn.execute(
                select(workspaces.c.slug).where(workspaces.c.version > 0).order_by(
                    workspaces.c.slug)
            ).scalars()
        )


def history(db: Engine, slug: str) -> list[dict[str, Any]]:
    with db.connect() as conn:
        rows = conn.execute(
            select(
                workspace_versions.c.version, workspace_versions.c.digest,
                workspace_versions.c.source, workspace_versions.c.applied_by,
                workspace_versions.c.applied_at,
            )
            .join(workspaces, workspaces.c.id == workspace_versions.c.workspace_id)
            .where(workspaces.c.slug == slug)
            .order_by(workspace_versions.c.version)
        ).mappings().all()
    if not rows:
        raise NotFound(f"no workspace '{slug}'")
    return [dict(r) for r in rows]

