"""`kokemus demo`: apply the three demo workspaces and fill them with seeded history:
events, customers and accounts, and the survey invitations and responses the events gave.

Customers are generated in blocks; each block's events are built as arrays and written
while the next block is generated (the event store and the app store each get one writer
thread, so writes to a store stay in order). The same seed, size and end date give the same
customers and the same event ids, so running the demo again stores nothing twice.
"""

from __future__ import annotations

import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pyarrow as pa
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from kokemus.bootstrap import Kokemus
from kokemus.demo import appliance_shop, customers_choice, feedback, machinery_dealer
from kokemus.demo.scenario import Block, Scenario
from kokemus.demo.timeline import Period
from kokemus.engine.worker import order_journeys
from kokemus.services import workspaces
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.storage import people, responses
from kokemus.storage.tables import invitations, trigger_cursors
from kokemus.workspace import document

SCENARIOS: tuple[Scenario, ...] = (
    appliance_shop.SCENARIO,
    machinery_dealer.SCENARIO,
    customers_choice.SCENARIO,
)
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


def _sizes(total: int, block: int) -> list[int]:
    return [min(block, total - start) for start in range(0, total, block)]


def _write_people(kk: Kokemus, ws: ActiveWorkspace, block: Block, now: datetime,
                  invited: list[dict[str, Any]]) -> None:
    for start in range(0, len(block.accounts), _ACCOUNTS_PER_WRITE):
        people.upsert_accounts(kk.db, ws.id, block.accounts[start:start + _ACCOUNTS_PER_WRITE],
                               now)
    people.upsert_customers(kk.db, ws.id, block.customers, now)
    if invited:
        # executemany of one prepared statement; a second run finds them there already.
        dialect_insert = pg_insert if kk.db.dialect.name == "postgresql" else sqlite_insert
        with kk.db.begin() as conn:
            conn.execute(dialect_insert(invitations).on_conflict_do_nothing(), invited)


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
    stmt = dialect_insert(trigger_cursors)
    stmt = stmt.on_conflict_do_update(index_elements=["workspace_id"], set_={
        "seq": func.max(trigger_cursors.c.seq, stmt.excluded.seq)
        if kk.db.dialect.name == "sqlite" else func.greatest(trigger_cursors.c.seq,
                                                             stmt.excluded.seq),
        "updated_at": stmt.excluded.updated_at})
    with kk.db.begin() as conn:
        conn.execute(stmt, rows)


def run(kk: Kokemus, *, customers: int = 20_000, days: int = 180, seed: int = 7,
        console: Console | None = None, end: date | None = None) -> list[str]:
    """Generate the demo; returns summary lines to print."""
    began = time.perf_counter()
    period = Period.ending(end or datetime.now(UTC).date(), days)
    active: dict[str, ActiveWorkspace] = {}
    for scenario in SCENARIOS:
        workspaces.apply(kk.db, document.load(scenario.workspace_file),
                         source=f"kokemus demo ({scenario.workspace_file.name})")
        active[scenario.slug] = workspaces.get(kk.db, scenario.slug)

    plans = [(s, _sizes(round(customers * s.share), s.block_size)) for s in SCENARIOS]
    tallies = {s.slug: _Tally() for s in SCENARIOS}
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

        for number, (scenario, sizes) in enumerate(plans):
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
                tally.invitations += len(invited)
                tally.responses += answers.num_rows
                first += len(block.customers)
                tally.customers += len(block.customers)
                tally.accounts += len(block.accounts)
                tally.events += table.num_rows
                pending.append((size, event_writer.submit(_write_events, kk, table, answers),
                                people_writer.submit(_write_people, kk, ws, block, now,
                                                     invited),
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
        lines.append(f"  {slug}: {t.customers:,} customers{accounts}, {t.events:,} events "
                     f"({t.stored:,} new); {t.invitations:,} invitations, "
                     f"{t.responses:,} responses")
    total = sum(t.events for t in tallies.values())
    lines.append(f"  together {total:,} events")
    return lines

