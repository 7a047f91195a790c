"""B2B accounts: which decision makers of a buying committee were reached, and at which
touchpoints, and how that relates to deals won and lost.

Definitions (for a CX analyst):

- The *buying committee* of an account is its people in the app store (customers with the
  account's id), each with a buying role (decider, researcher, finance, ...).
- A person is *reached* at a touchpoint when they have an event there. With `touchpoints`
  given, only those touchpoints count (e.g. the ones the dealer runs); by default all do.
- *Coverage* is the share of the account's people reached. Its *band* is one of
  '0-49%', '50-74%', '75-99%', '100%'.
- *Key reach* names, per role, the touchpoints where that role matters (by default the
  decider at the sales meeting). An account has its key roles reached when every key role
  has a person reached at one of that role's touchpoints.
- An account's *outcome* is its last won or lost event in (time, sequence) order: 'won',
  'lost', or 'open' without one. Win rate = won / decided (won + lost); open accounts are
  counted but not in the rate.

Who is in which account with which role lives in the app store, not the event store, so it
enters the query as a relation of (customer, account, role). `roles_relation` writes it as
a literal VALUES relation: the same SQL then runs on DuckDB and Spark, with no temporary
table to create on either (a few hundred thousand people are a few megabytes of SQL text).
A caller with a larger committee table can instead register it in the engine (a DuckDB
view of an Arrow table, a Spark temporary view) and pass its name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import pyarrow as pa
from sqlalchemy import Engine as Database
from sqlalchemy import select

from kokemus.analytics.engines import Engine
from kokemus.analytics.logs import literal, one_of
from kokemus.storage.tables import customers

KEY_REACH: Mapping[str, Sequence[str]] = {"decider": ("sales-meeting",)}


class Member(NamedTuple):
    customer: str
    account: str
    role: str | None


def read_members(db: Database, workspace_id: int) -> list[Member]:
    """The people of the workspace's accounts, with their buying roles, from the app store."""
    query = (select(customers.c.id, customers.c.account_id, customers.c.role)
             .where(customers.c.workspace_id == workspace_id,
                    customers.c.account_id.is_not(None))
             .order_by(customers.c.account_id, customers.c.id))
    with db.connect() as conn:
        return [Member(*row) for row in conn.execute(query)]


def roles_relation(members: Iterable[Member]) -> str:
    """The members as a literal relation (customer, account, role) for the engine's SQL."""
    rows = [
        f"({literal(m.customer)}, {literal(m.account)}, "
        f"{'CAST(NULL AS STRING)' if m.role is None else literal(m.role)})"
        for m in members
    ]
    if not rows:
        return ("SELECT CAST(NULL AS STRING) AS customer, CAST(NULL AS STRING) AS account, "
                "CAST(NULL AS STRING) AS role WHERE 1 = 0")
    return f"SELECT * FROM VALUES {', '.join(rows)} AS m(customer, account, role)"


@dataclass(frozen=True)
class Committee:
    """Coverage of the buying committees of a workspace's accounts.

    - `reach`: account, customer, role, touchpoint, events, first_reached.
    - `accounts`: account, people, reached, coverage, band, key_roles_reached, outcome.
    - `by_band`: band, accounts, decided, won, lost, win_rate, loss_rate.
    - `by_key_roles`: key_roles_reached, accounts, decided, won, lost, win_rate, loss_rate.
    """

    reach: pa.Table
    accounts: pa.Table
    by_band: pa.Table
    by_key_roles: pa.Table


@dataclass(frozen=True)
class _Scope:
    workspace_id: int
    roles: str
    touchpoints: tuple[str, ...] | None
    table: str

    @property
    def events(self) -> str:
        where = [f"workspace_id = {int(self.workspace_id)}", "touchpoint IS NOT NULL"]
        if self.touchpoints is not None:
            where.append(one_of("touchpoint", self.touchpoints) if self.touchpoints
                         else "1 = 0")
        return f"SELECT * FROM {self.table} WHERE {' AND '.join(where)}"


def committee_coverage(engine: Engine, workspace_id: int, roles: str,
                       key_reach: Mapping[str, Sequence[str]] = KEY_REACH,
                       touchpoints: Iterable[str] | None = None,
                       won_type: str = "deal_won", lost_type: str = "deal_lost",
                       table: str = "events") -> Committee:
    """Per account: who was reached where, coverage, key roles, outcome; and win rates by
    coverage band and by whether the key roles were reached. `roles` is a relation of
    (customer, account, role), e.g. `roles_relation(read_members(db, workspace_id))`."""
    scope = _Scope(workspace_id, roles, None if touchpoints is None else tuple(touchpoints),
                   table)
    reach = _reach(scope)
    accounts = _accounts(scope, reach, key_reach, won_type, lost_type)
    return Committee(
        reach=engine.query(f"{reach} ORDER BY account, customer, touchpoint"),
        accounts=engine.query(f"{accounts} ORDER BY account"),
        by_band=engine.query(_win_rates(accounts, "band") + " ORDER BY band"),
        by_key_roles=engine.query(_win_rates(accounts, "key_roles_reached")
                                  + " ORDER BY key_roles_reached"),
    )


def outcome_by_signal(engine: Engine, workspace_id: int, condition: str,
                      won_type: str = "deal_won", lost_type: str = "deal_lost",
                      table: str = "events") -> pa.Table:
    """Win rates of accounts with and without an event meeting `condition` (SQL over the
    event columns, e.g. "type = 'spec_sheet_missing'"): signal, accounts, decided, won, lost,
    win_rate, loss_rate. Every account with an event in the workspace is counted."""
    events = f"SELECT * FROM {table} WHERE workspace_id = {int(workspace_id)}"
    flagged = f"""
        SELECT e.account, coalesce(max(o.outcome), 'open') AS outcome,
               max(CASE WHEN {condition} THEN 1 ELSE 0 END) = 1 AS signal
        FROM ({events}) AS e
        LEFT JOIN ({_outcomes(events, won_type, lost_type)}) AS o ON o.account = e.account
        WHERE e.account IS NOT NULL
        GROUP BY e.account
    """
    return engine.query(_win_rates(flagged, "signal") + " ORDER BY signal")


def _reach(scope: _Scope) -> str:
    return f"""
        SELECT m.account, m.customer, m.role, e.touchpoint, count(*) AS events,
               min(e.occurred_at) AS first_reached
        FROM ({scope.roles}) AS m
        JOIN ({scope.events}) AS e ON e.customer = m.customer
        GROUP BY m.account, m.customer, m.role, e.touchpoint
    """


def _outcomes(events: str, won_type: str, lost_type: str) -> str:
    """Accounts with a won or lost event, and the last one's outcome in (time, seq) order."""
    won, lost = literal(won_type), literal(lost_type)
    return f"""
        SELECT account, CASE WHEN type = {won} THEN 'won' ELSE 'lost' END AS outcome
        FROM (
            SELECT account, type,
                   row_number() OVER (PARTITION BY account ORDER BY occurred_at DESC, seq DESC)
                       AS latest
            FROM ({events}) AS e
            WHERE account IS NOT NULL AND type IN ({won}, {lost})
        ) AS ranked
        WHERE latest = 1
    """


def _key_reached(scope: _Scope, reach: str, key_reach: Mapping[str, Sequence[str]]) -> str:
    """Accounts whose every key role was reached at one of its touchpoints."""
    # A role without touchpoints cannot be reached anywhere that matters: leave it out.
    key = {role: tuple(places) for role, places in key_reach.items() if places}
    if not key:
        return f"SELECT DISTINCT account, true AS key_roles_reached FROM ({scope.roles}) AS m"
    hits = " OR ".join(f"(r.role = {literal(role)} AND {one_of('r.touchpoint', places)})"
                       for role, places in key.items())
    return f"""
        SELECT m.account,
               count(DISTINCT CASE WHEN {hits} THEN r.role END) = {len(key)}
                   AS key_roles_reached
        FROM (SELECT DISTINCT account FROM ({scope.roles}) AS m0) AS m
        LEFT JOIN ({reach}) AS r ON r.account = m.account
        GROUP BY m.account
    """


def _accounts(scope: _Scope, reach: str, key_reach: Mapping[str, Sequence[str]],
              won_type: str, lost_type: str) -> str:
    events = f"SELECT * FROM {scope.table} WHERE workspace_id = {int(scope.workspace_id)}"
    return f"""
        SELECT p.account, p.people, p.reached, p.coverage,
               CASE WHEN p.coverage < 0.5 THEN '0-49%' WHEN p.coverage < 0.75 THEN '50-74%'
                    WHEN p.coverage < 1 THEN '75-99%' ELSE '100%' END AS band,
               k.key_roles_reached, coalesce(o.outcome, 'open') AS outcome
        FROM (
            SELECT m.account, count(*) AS people, count(r.customer) AS reached,
                   CAST(count(r.customer) AS DOUBLE) / count(*) AS coverage
            FROM ({scope.roles}) AS m
            LEFT JOIN (SELECT DISTINCT customer FROM ({reach}) AS r0) AS r
                ON r.customer = m.customer
            GROUP BY m.account
        ) AS p
        JOIN ({_key_reached(scope, reach, key_reach)}) AS k ON k.account = p.account
        LEFT JOIN ({_outcomes(events, won_type, lost_type)}) AS o ON o.account = p.account
    """


def _win_rates(accounts: str, group: str) -> str:
    """Accounts, decided, won, lost and the rates by `group` over (account, outcome, ...)."""
    return f"""
        SELECT {group}, count(*) AS accounts,
               CAST(sum(CASE WHEN outcome <> 'open' THEN 1 ELSE 0 END) AS BIGINT) AS decided,
               CAST(sum(CASE WHEN outcome = 'won' THEN 1 ELSE 0 END) AS BIGINT) AS won,
               CAST(sum(CASE WHEN outcome = 'lost' THEN 1 ELSE 0 END) AS BIGINT) AS lost,
               CAST(sum(CASE WHEN outcome = 'won' THEN 1 ELSE 0 END) AS DOUBLE)
                   / nullif(sum(CASE WHEN outcome <> 'open' THEN 1 ELSE 0 END), 0) AS win_rate,
               CAST(sum(CASE WHEN outcome = 'lost' THEN 1 ELSE 0 END) AS DOUBLE)
                   / nullif(sum(CASE WHEN outcome <> 'open' THEN 1 ELSE 0 END), 0) AS loss_rate
        FROM ({accounts}) AS a
        GROUP BY {group}
    """
