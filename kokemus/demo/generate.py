"""`kokemus demo`: apply the three demo workspaces and fill them with seeded history.

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

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from kokemus.bootstrap import Kokemus
from kokemus.demo import appliance_shop, customers_choice, machinery_dealer
from kokemus.demo.scenario import Block, Scenario
from kokemus.demo.timeline import Period
from kokemus.services import workspaces
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.storage import people
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


def _sizes(total: int, block: int) -> list[int]:
    return [min(block, total - start) for start in range(0, total, block)]


def _write_people(kk: Kokemus, ws: ActiveWorkspace, block: Block, now: datetime) -> None:
    for start in range(0, len(block.accounts), _ACCOUNTS_PER_WRITE):
        people.upsert_accounts(kk.db, ws.id, block.accounts[start:start + _ACCOUNTS_PER_WRITE],
                               now)
    people.upsert_customers(kk.db, ws.id, block.customers, now)


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
                first += len(block.customers)
                tally.customers += len(block.customers)
                tally.accounts += len(block.accounts)
                tally.events += table.num_rows
                pending.append((size, event_writer.submit(kk.events.append, table),
                                people_writer.submit(_write_people, kk, ws, block, now),
                                tally))
                settle(_BLOCKS_IN_FLIGHT)
        settle(0)

    return _summary(tallies, period, time.perf_counter() - began)


def _summary(tallies: dict[str, _Tally], period: Period, seconds: float) -> list[str]:
    first = datetime.fromtimestamp(period.start, UTC).date()
    last = datetime.fromtimestamp(period.end - 1, UTC).date()
    lines = [f"demo history {first} – {last} ({period.days} days), made in {seconds:.1f} s"]
    for slug, t in tallies.items():
        accounts = f", {t.accounts:,} accounts" if t.accounts else ""
        lines.append(f"  {slug}: {t.customers:,} customers{accounts}, {t.events:,} events "
                     f"({t.stored:,} new)")
    total = sum(t.events for t in tallies.values())
    lines.append(f"  together {total:,} events")
    return lines

