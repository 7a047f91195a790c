"""`kokemus demo`: apply the three demo workspaces and fill them with seeded history:
events, customers and accounts, and the survey invitations and responses the events gave.

Customers are generated in blocks; each block's events are built as arrays and written
while the next block is generated (the event store and the app store each get one writer
thread, so writes to a store stay in order). The same seed, size and end date give the same
customers and the same event ids, so running the demo again stores nothing twice.
"""

from __future__ import annotations

import hashlib
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pyarrow as pa
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from kokemus.bootstrap import Kokemus
from kokemus.demo import appliance_shop, customers_choice, feedback, machinery_dealer
from kokemus.demo.scenario import Block, Cases, Scenario
from kokemus.demo.timeline import Period
from kokemus.engine.rules import EVENTS
from kokemus.engine.worker import order_journeys
from kokemus.services import workspaces
from kokemus.services.cases import stored_title
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.storage import people, responses
from kokemus.storage.tables import case_events, cases, invitations, rule_cursors, trigger_cursors
from kokemus.workspace import document

SCENARIOS: tuple[Scenario, ...] = (
    appliance_shop.SCENARIO,
    machinery_dealer.SCENARIO,
    customers_choice.SCENARIO,
)
# `kokemus demo --compare-policy`: the appliance shop again, with its damage rule on
# (workspace kodinkone-rule), beside the three.
WITH_RULE: tuple[Scenario, ...] = (*SCENARIOS, appliance_shop.RULE_SCENARIO)
_ACCOUNTS_PER_WRITE = 500  # an account's stakeholders go into one statement
_BLOCKS_IN_FLIGHT = 2  # generated blocks waiting for the writers: bounds the memory used


@dataclass
class _Tally:
    customers: int = 0
    accounts: int = 0
    events: int = 0
    stored: int = 0
    invitations: int = 0
    responses: int = 0
    cases: int = 0


def _sizes(total: int, block: int) -> list[int]:
    return [min(block, total - start) for start in range(0, total, block)]


def _write_people(kk: Kokemus, ws: ActiveWorkspace, block: Block, now: datetime,
                  invited: list[dict[str, Any]],
                  opened: tuple[list[dict[str, Any]], list[dict[str, Any]]]) -> None:
    for start in range(0, len(block.accounts), _ACCOUNTS_PER_WRITE):
        people.upsert_accounts(kk.db, ws.id, block.accounts[start:start + _ACCOUNTS_PER_WRITE],
                               now)
    people.upsert_customers(kk.db, ws.id, block.customers, now)
    if invited:
        # executemany of one prepared statement; a second run finds them there already.
        dialect_insert = pg_insert if kk.db.dialect.name == "postgresql" else sqlite_insert
        with kk.db.begin() as conn:
            conn.execute(dialect_insert(invitations).on_conflict_do_nothing(), invited)
    rows, history = opened
    if rows:
        with kk.db.begin() as conn:
            there = set(conn.execute(select(cases.c.id).where(
                cases.c.workspace_id == ws.id,
                cases.c.id.in_([r["id"] for r in rows]))).scalars())
            new = [r for r in rows if r["id"] not in there]
            if new:
                conn.execute(insert(cases), new)
                conn.execute(insert(case_events), [h for h in history if h["case_id"] not in there])


def _cases(found: Sequence[Cases], block: Block, events: pa.Table, ws: ActiveWorkspace,
           first_number: int, period: Period,
           ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The app-store rows of the cases a block's rules opened (and their history): numbered
    from `first_number` in the order of their causes, each named by its cause so that a
    second run stores none twice; a case still open when the history ends is in progress."""
    rows: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = []
    number = first_number
    for c in found:
        at = block.timeline.rows_in_table(c.step, c.rows)
        inside = np.flatnonzero((at >= 0) & (c.opened < period.end))
        causes = events.column("id").take(pa.array(at[inside])).to_pylist()
        customers = events.column("customer").take(pa.array(at[inside])).to_pylist()
        title = stored_title(c.title)
        for j, cause, customer in zip(inside.tolist(), causes, customers, strict=True):
            opened = _moment(int(c.opened[j]))
            resolved = (_moment(int(c.resolved[j])) if c.resolved[j] < period.end else None)
            ident = hashlib.sha256(f"{ws.id}:{c.rule}:{cause}".encode()).hexdigest()[:32]
            rows.append({
                "id": ident, "workspace_id": ws.id, "number": number,
                "department": c.department, "title": title, "customer": customer,
                "account": None, "state": "resolved" if resolved else "in_progress",
                "priority": c.priority, "assignee": None, "rule": c.rule, "cause": cause,
                "action_id": None, "sla_due_at": _moment(int(c.opened[j]) + c.sla_s),
                "escalated": None, "created_at": opened,
                "updated_at": resolved or opened, "resolved_at": resolved, "closed_at": None})
            number += 1
            actor = f"cli:{c.department}"
            history.append({"case_id": ident, "kind": "opened", "author": None, "body": None,
                            "state": "new", "assignee": None, "actor": f"rule:{c.rule}",
                            "at": opened})
            for state in ("assigned", "in_progress"):
                history.append({"case_id": ident, "kind": "state", "author": None,
                                "body": None, "state": state, "assignee": None,
                                "actor": actor, "at": opened})
            if resolved:
                history.append({"case_id": ident, "kind": "state", "author": None,
                                "body": None, "state": "resolved", "assignee": None,
                                "actor": actor, "at": resolved})
    return rows, history


def _moment(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _write_events(kk: Kokemus, table: pa.Table, answers: pa.Table) -> set[str]:
    stored = kk.events.append(table)
    if answers.num_rows:
        responses.insert_many(kk.events, answers)
    return stored


def _hold_triggers(kk: Kokemus, workspace_ids: list[int], now: datetime) -> None:
    """Move each demo workspace's trigger cursor past its history: a running trigger engine
    must not invite anyone again for events the demo has already asked about."""
    with kk.events.reading() as cur:
        seqs = dict(cur.execute(
            "SELECT workspace_id, max(seq) FROM events WHERE workspace_id IN "
            f"({', '.join('?' for _ in workspace_ids)}) GROUP BY 1", workspace_ids).fetchall())
    rows = [{"workspace_id": w, "seq": int(seqs.get(w, 0)), "updated_at": now}
            for w in workspace_ids]
    dialect_insert = pg_insert if kk.db.dialect.name == "postgresql" else sqlite_insert
    # the rule engine's event cursor too: a rule must not act again on what the history
    # already shows done (kodinkone-rule's damages were told, and their cases are there)
    rules = dialect_insert(rule_cursors)
    rules = rules.on_conflict_do_update(
        index_elements=["workspace_id", "stream"], set_={
            "position": func.max(rule_cursors.c.position, rules.excluded.position)
            if kk.db.dialect.name == "sqlite" else func.greatest(rule_cursors.c.position,
                                                                 rules.excluded.position),
            "updated_at": rules.excluded.updated_at})
    with kk.db.begin() as conn:
        conn.execute(rules, [{"workspace_id": r["workspace_id"], "stream": EVENTS,
                              "position": r["seq"], "updated_at": now} for r in rows])
    stmt = dialect_insert(trigger_cursors)
    stmt = stmt.on_conflict_do_update(index_elements=["workspace_id"], set_={
        "seq": func.max(trigger_cursors.c.seq, stmt.excluded.seq)
        if kk.db.dialect.name == "sqlite" else func.greatest(trigger_cursors.c.seq,
                                                             stmt.excluded.seq),
        "updated_at": stmt.excluded.updated_at})
    with kk.db.begin() as conn:
        conn.execute(stmt, rows)


def run(kk: Kokemus, *, customers: int = 20_000, days: int = 180, seed: int = 7,
        console: Console | None = None, end: date | None = None,
        scenarios: Sequence[Scenario] = SCENARIOS) -> list[str]:
    """Generate the demo (`scenarios`: the three; WITH_RULE adds kodinkone-rule); returns
    summary lines to print. A scenario draws from the random streams of its place among
    the three (or of the one it is `stream_of`), whichever others are made with it."""
    began = time.perf_counter()
    period = Period.ending(end or datetime.now(UTC).date(), days)
    active: dict[str, ActiveWorkspace] = {}
    for scenario in scenarios:
        doc = (scenario.document() if scenario.document is not None
               else document.load(scenario.workspace_file))
        workspaces.apply(kk.db, doc, source=f"kokemus demo ({scenario.workspace_file.name})")
        active[scenario.slug] = workspaces.get(kk.db, scenario.slug)
    streams = [s.slug for s in SCENARIOS]

    plans = [(s, _sizes(round(customers * s.share), s.block_size)) for s in scenarios]
    tallies = {s.slug: _Tally() for s in scenarios}
    now = datetime.now(UTC)
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=console or Console(quiet=True))
    pending: deque[tuple[int, Future[set[str]], Future[None], _Tally]] = deque()

    with progress, ThreadPoolExecutor(1) as event_writer, \
            ThreadPoolExecutor(1) as people_writer:
        task = progress.add_task("demo customers", total=sum(map(sum, (p for _, p in plans))))

        def settle(keep: int) -> None:
            while len(pending) > keep:
                size, stored, written, tally = pending.popleft()
                tally.stored += len(stored.result())
                written.result()
                progress.advance(task, size)

        for scenario, sizes in plans:
            number = streams.index(scenario.stream_of or scenario.slug)
            ws = active[scenario.slug]
            tally = tallies[scenario.slug]
            first = 0
            for block_no, size in enumerate(sizes):
                progress.update(task, description=f"demo {scenario.slug}")
                rng = np.random.default_rng([seed, number, block_no])
                block = scenario.make_block(rng, period, first, size)
                table = block.timeline.table(ws.id, block.customer_ids, block.account_ids,
                                             ws.touchpoint_for_event)
                invited, answers = feedback.records(block.feedback, block.timeline, table, ws.id,
                                                    ws.document, block.customers, now)
                opened = _cases(block.cases, block, table, ws, tally.cases + 1, period)
                tally.cases += len(opened[0])
                tally.invitations += len(invited)
                tally.responses += answers.num_rows
                first += len(block.customers)
                tally.customers += len(block.customers)
                tally.accounts += len(block.accounts)
                tally.events += table.num_rows
                pending.append((size, event_writer.submit(_write_events, kk, table, answers),
                                people_writer.submit(_write_people, kk, ws, block, now,
                                                     invited, opened),
                                tally))
                settle(_BLOCKS_IN_FLIGHT)
        settle(0)
    _hold_triggers(kk, [ws.id for ws in active.values()], now)
    order_journeys(kk)  # the journey analytics read the copy from the first page
    return _summary(tallies, period, time.perf_counter() - began)


def _summary(tallies: dict[str, _Tally], period: Period, seconds: float) -> list[str]:
    first = datetime.fromtimestamp(period.start, UTC).date()
    last = datetime.fromtimestamp(period.end - 1, UTC).date()
    lines = [f"demo history {first} – {last} ({period.days} days), made in {seconds:.1f} s"]
    for slug, t in tallies.items():
        accounts = f", {t.accounts:,} accounts" if t.accounts else ""
        opened = f", {t.cases:,} cases" if t.cases else ""
        lines.append(f"  {slug}: {t.customers:,} customers{accounts}, {t.events:,} events "
                     f"({t.stored:,} new); {t.invitations:,} invitations, "
                     f"{t.responses:,} responses{opened}")
    total = sum(t.events for t in tallies.values())
    lines.append(f"  together {total:,} events")
    return lines

