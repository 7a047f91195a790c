"""The rules' outbox as people see it: counts by status, the actions with their reasons,
and re-driving dead ones (engine/deliver.py delivers; this reads and puts back); and the
unsubscribe link of the rules' emails.

Re-driving makes a dead action planned again, due at once, with its tries counted from
zero: the worker delivers it as it was decided (the payload is not re-decided), after the
contact pressure checks of that moment. Each re-drive is in the audit log with who did it.

A rule's `email` is marketing automation: it carries a link (and the List-Unsubscribe
headers, RFC 8058 one-click) that records a withdrawn `marketing` consent for the customer,
after which the worker skips their rule emails ("unsubscribed"). The link is signed with the
instance's secret key and does not expire.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, Select, func, select, update

from kokemus.domain.errors import Invalid, NotFound
from kokemus.domain.privacy import ConsentStatement
from kokemus.services import audit, consents, workspaces
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.storage.tables import actions

STATUSES = ("planned", "done", "skipped", "dead")
SHOWN = ("id", "rule", "action", "kind", "customer", "cause", "status", "reason", "attempts",
         "due_at", "done_at", "created_at", "key")
MAX_RETRY = 10_000  # rows one re-drive may put back


def counts(db: Engine, workspace_id: int) -> dict[str, int]:
    """Actions per status, every status named (0 when none)."""
    with db.connect() as conn:
        found = {str(s): int(n) for s, n in conn.execute(
            select(actions.c.status, func.count()).where(
                actions.c.workspace_id == workspace_id).group_by(actions.c.status))}
    return {status: found.pop(status, 0) for status in STATUSES} | found


def latest(db: Engine, workspace_id: int, *, status: str | None = None,
           rule: str | None = None, kind: str | None = None, limit: int = 50,
           offset: int = 0) -> list[dict[str, Any]]:
    """The newest actions first (`limit` of them, after `offset`)."""
    query = _chosen(select(*(actions.c[name] for name in SHOWN)), workspace_id, status, rule,
                    kind)
    with db.connect() as conn:
        rows = conn.execute(query.order_by(actions.c.created_at.desc(), actions.c.id)
                            .limit(limit).offset(offset)).mappings().all()
    return [dict(r) for r in rows]


def count(db: Engine, workspace_id: int, *, status: str | None = None,
          rule: str | None = None, kind: str | None = None) -> int:
    """How many actions `latest` pages through."""
    query = _chosen(select(func.count()).select_from(actions), workspace_id, status, rule, kind)
    with db.connect() as conn:
        return int(conn.execute(query).scalar_one())


def get(db: Engine, workspace_id: int, action_id: str) -> dict[str, Any]:
    """One action with its payload (parsed)."""
    with db.connect() as conn:
        row = conn.execute(select(actions).where(actions.c.workspace_id == workspace_id,
                                                 actions.c.id == action_id)).mappings().first()
    if row is None:
        raise NotFound(f"no action '{action_id}' in this workspace")
    found = dict(row)
    found["payload"] = json.loads(found["payload"])
    return found


def retry(db: Engine, workspace: ActiveWorkspace, ids: Sequence[str] = (), *,
          every_dead: bool = False, actor: str, now: datetime | None = None) -> int:
    """Put dead actions back (those of `ids`, or with `every_dead` all of the workspace's):
    planned, due now, tries from zero. Returns how many; an id that is not a dead action of
    the workspace is an Invalid naming it, and nothing is put back."""
    now = now or datetime.now(UTC)
    if not ids and not every_dead:
        raise Invalid("name the actions to retry, or retry every dead one")
    wanted = sorted(set(ids))
    with db.begin() as conn:
        where = [actions.c.workspace_id == workspace.id, actions.c.status == "dead"]
        if not every_dead:
            if len(wanted) > MAX_RETRY:
                raise Invalid(f"at most {MAX_RETRY} actions at once")
            dead = set(conn.execute(select(actions.c.id).where(
                *where, actions.c.id.in_(wanted))).scalars())
            missing = [i for i in wanted if i not in dead]
            if missing:
                raise Invalid(f"not a dead action of '{workspace.slug}': "
                              f"{', '.join(missing[:5])}" + (" ..." if len(missing) > 5 else ""))
            where.append(actions.c.id.in_(wanted))
        n = conn.execute(update(actions).where(*where).values(
            status="planned", attempts=0, due_at=now, done_at=None,
            reason=f"re-driven by {actor}"[:300])).rowcount
        audit.record(conn, actor, "actions.retry", workspace=workspace.slug,
                     target="dead" if every_dead else ",".join(wanted[:20]),
                     detail={"count": n})
    return int(n)


def _chosen(query: Select[Any], workspace_id: int, status: str | None, rule: str | None,
            kind: str | None) -> Select[Any]:
    query = query.where(actions.c.workspace_id == workspace_id)
    if status:
        query = query.where(actions.c.status == status)
    if rule:
        query = query.where(actions.c.rule == rule)
    if kind:
        query = query.where(actions.c.kind == kind)
    return query


# ------------------------------------------------------------------------- unsubscribing


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _signature(secret: str, payload: str) -> str:
    digest = hmac.new(secret.encode(), b"unsubscribe\0" + payload.encode(), hashlib.sha256)
    return _b64(digest.digest())[:27]


def unsubscribe_token(secret: str, workspace_id: int, customer: str) -> str:
    """The signed part of a customer's unsubscribe link (no expiry)."""
    payload = _b64(f"{workspace_id}:{customer}".encode())
    return f"{payload}.{_signature(secret, payload)}"


def unsubscribe_link(base_url: str, secret: str, workspace_id: int, customer: str) -> str:
    return f"{base_url}/u/{unsubscribe_token(secret, workspace_id, customer)}"


def unsubscriber(db: Engine, secret: str, token: str) -> tuple[ActiveWorkspace, str]:
    """The workspace and customer a link names; NotFound for a forged or broken one."""
    payload, _, signature = token.partition(".")
    if not payload or not hmac.compare_digest(signature, _signature(secret, payload)):
        raise NotFound("not an unsubscribe link of this service")
    try:
        text = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
        workspace_id, customer = text.split(":", 1)
        return workspaces.get_by_id(db, int(workspace_id)), customer
    except (ValueError, UnicodeDecodeError):
        raise NotFound("not an unsubscribe link of this service") from None


def unsubscribe(db: Engine, secret: str, token: str,
                now: datetime | None = None) -> tuple[ActiveWorkspace, str]:
    """Record that the link's customer withdrew `marketing` (once: a second click records
    nothing more); returns the workspace and the customer."""
    workspace, customer = unsubscriber(db, secret, token)
    marketing = consents.current(db, workspace.id, customer)["marketing"]
    if marketing["by"] == "statement" and not marketing["allowed"]:
        return workspace, customer
    consents.record(db, workspace, customer, ConsentStatement(
        purpose="marketing", granted=False, channel="email"), source="link",
        actor="customer", now=now)
    return workspace, customer
