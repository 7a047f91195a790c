"""Messages that reached customers, counted for the workspace's contact cap
(domain/contact.py): survey invitations sent (any channel) and rule actions done that
reach the customer (emails and notices). The invitation dispatcher and the action worker
both ask it, so the cap holds across the two.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection, func, select

from kokemus.storage.tables import actions, invitations

# Action kinds whose delivery reaches the customer (a webhook reaches a system, a case the
# staff, a survey action an invitation, counted as one when it is sent).
REACHING = ("email", "notify")
_CHUNK = 5_000  # customers per query (SQLite binds at most 32,766 parameters)


def messages(conn: Connection, workspace_id: int, customers: Iterable[str], since: datetime,
             until: datetime) -> Counter[str]:
    """Per customer, the messages that reached them in (since, until]."""
    wanted = sorted(set(customers))
    found: Counter[str] = Counter()
    for i in range(0, len(wanted), _CHUNK):
        chunk = wanted[i:i + _CHUNK]
        for customer, n in conn.execute(
                select(invitations.c.customer, func.count()).where(
                    invitations.c.workspace_id == workspace_id,
                    invitations.c.customer.in_(chunk), invitations.c.sent_at > since,
                    invitations.c.sent_at <= until).group_by(invitations.c.customer)):
            found[customer] += int(n)
        for customer, n in conn.execute(
                select(actions.c.customer, func.count()).where(
                    actions.c.workspace_id == workspace_id, actions.c.customer.in_(chunk),
                    actions.c.status == "done", actions.c.kind.in_(REACHING),
                    actions.c.done_at > since, actions.c.done_at <= until)
                .group_by(actions.c.customer)):
            found[customer] += int(n)
    return found
