"""Recovery: do detractors who got a case come back as passives or promoters more often than
detractors who got none?

Counted in the event store's engine, one query, over the workspace's NPS answers:

- a customer's *detractor answer* is their first NPS answer of 0-6 started in the period
  [since, until); each customer counts once;
- their *next answer* is their first NPS answer started after it (any survey), up to
  `as_of`; *recovered*: that answer is 7 or more;
- they *got a case* when a case of theirs (or, for a case of an account without a
  customer, of the account they answered for) was opened after the detractor answer, within
  `window` of it and before their next answer: a case opened after they had answered again
  cannot have changed that answer.

The cases come from the app store as a small table (customer, account, opened) that the
query joins, so the query runs on the embedded engine only (the event store's cursor).
Equal start times are ordered by the response id, so a re-run gives the same answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa

CASES_SCHEMA = pa.schema([("customer", pa.string()), ("account", pa.string()),
                          ("opened", pa.timestamp("us", tz="UTC"))])


@dataclass(frozen=True)
class Group:
    """Detractors of one kind (with a case, or without) and what became of them."""

    detractors: int
    answered: int  # answered NPS again by as_of
    recovered: int  # ... with 7 or more


def counts(cursor: Any, workspace_id: int, cases: pa.Table, *, since: datetime | None,
           until: datetime, as_of: datetime, window_s: float) -> dict[bool, Group]:
    """{got a case: Group} over the detractor answers of [since, until), read on a DuckDB
    cursor of the event store; `cases` has CASES_SCHEMA."""
    name = "recovery_cases"
    cursor.register(name, cases.cast(CASES_SCHEMA))
    try:
        rows = cursor.execute(f"""
            WITH nps AS (
                SELECT id, customer, account, started_at AS ts, nps FROM responses
                WHERE workspace_id = ? AND nps IS NOT NULL AND customer IS NOT NULL
                  AND started_at < ?::TIMESTAMPTZ
            ),
            detractors AS (
                SELECT customer, arg_min(account, (ts, id)) AS account,
                       min(ts) AS first_ts, arg_min(id, (ts, id)) AS first_id
                FROM nps
                WHERE nps <= 6 AND ts < ?::TIMESTAMPTZ
                  AND (?::TIMESTAMPTZ IS NULL OR ts >= ?::TIMESTAMPTZ)
                GROUP BY customer
            ),
            nexts AS (
                SELECT d.customer, arg_min(n.nps, (n.ts, n.id)) AS next_nps,
                       min(n.ts) AS next_ts
                FROM detractors AS d JOIN nps AS n ON n.customer = d.customer
                 AND (n.ts, n.id) > (d.first_ts, d.first_id)
                GROUP BY d.customer
            ),
            judged AS (
                SELECT d.customer, x.next_nps, EXISTS (
                    SELECT 1 FROM {name} AS c
                    WHERE (c.customer = d.customer
                           OR (c.customer IS NULL AND c.account = d.account))
                      AND c.opened >= d.first_ts
                      AND c.opened < d.first_ts + to_seconds(?::DOUBLE)
                      AND (x.next_ts IS NULL OR c.opened < x.next_ts)
                ) AS got_case
                FROM detractors AS d LEFT JOIN nexts AS x ON x.customer = d.customer
            )
            SELECT got_case, count(*), count(next_nps), count(*) FILTER (next_nps >= 7)
            FROM judged GROUP BY got_case""",
            [workspace_id, as_of, until, since, since, window_s]).fetchall()
    finally:
        cursor.unregister(name)
    found = {bool(got): Group(int(n), int(answered), int(recovered))
             for got, n, answered, recovered in rows}
    return {got: found.get(got, Group(0, 0, 0)) for got in (True, False)}
