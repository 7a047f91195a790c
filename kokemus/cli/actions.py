"""`kokemus actions ...`: the rules' outbox (list, show, retry the dead, deliver once) and
`kokemus worker`, the whole worker on its own.

Everything here needs the app store alone and runs beside a server; `kokemus worker` also
takes the event store when nobody holds it (see engine/worker.py).
"""

from __future__ import annotations

import logging
import signal
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kokemus.cli.common import (
    DataDir,
    LimitOpt,
    OffsetOpt,
    Output,
    OutputOpt,
    WorkspaceOpt,
    actor,
    caption,
    err,
    out,
    reports_errors,
    settings_for,
    stores,
    workspace_for,
    write_csv,
    write_json,
)

if TYPE_CHECKING:
    from kokemus.engine.deliver import Delivered

actions_app = typer.Typer(
    help="Actions the rules decided on: delivered by the worker, listed and retried here.",
    no_args_is_help=True,
)


class Status(StrEnum):
    planned = "planned"
    done = "done"
    skipped = "skipped"
    dead = "dead"


@actions_app.command("list")
@reports_errors
def list_(
    status: Annotated[Status | None, typer.Option(help="Only actions in this status.")] = None,
    rule: Annotated[str | None, typer.Option(help="Only this rule's.")] = None,
    kind: Annotated[str | None, typer.Option(
        help="Only this kind: email, notify, webhook, survey, case, ...")] = None,
    limit: LimitOpt = 50,
    offset: OffsetOpt = 0,
    output: OutputOpt = Output.table,
    workspace: WorkspaceOpt = None,
    data_dir: DataDir = None,
) -> None:
    """Counts by status, and the newest actions with their status, tries and reason."""
    from rich.table import Table

    from kokemus.services import actions

    chosen = status.value if status else None
    with stores(data_dir) as kk:
        ws = workspace_for(kk, workspace)
        counted = actions.counts(kk.db, ws.id)
        rows = actions.latest(kk.db, ws.id, status=chosen, rule=rule, kind=kind, limit=limit,
                              offset=offset)
        total = actions.count(kk.db, ws.id, status=chosen, rule=rule, kind=kind)
    if output is Output.json:
        write_json({"counts": counted, "actions": rows}, default=_text)
        return
    if output is Output.csv:
        write_csv(({k: _text(v) for k, v in row.items()} for row in rows), list(actions.SHOWN))
        return
    out.print("  ".join(f"{s}: {n}" for s, n in counted.items()))
    table = Table("id", "rule", "kind", "customer", "cause", "status", "tries", "reason",
                  "due (UTC)", "done (UTC)",
                  caption=caption(len(rows), total, "actions", offset))
    for r in rows:
        table.add_row(r["id"], f"{r['rule']}#{r['action']}", r["kind"], r["customer"] or "",
                      r["cause"], r["status"], str(r["attempts"]), r["reason"] or "",
                      _text(r["due_at"]), _text(r["done_at"]))
    out.print(table)


@actions_app.command("show")
@reports_errors
def show(
    action_id: Annotated[str, typer.Argument(help="The action's id (`actions list`).")],
    workspace: WorkspaceOpt = None,
    data_dir: DataDir = None,
) -> None:
    """One action as JSON: its row and what it was decided with (payload)."""
    from kokemus.services import actions

    with stores(data_dir) as kk:
        ws = workspace_for(kk, workspace)
        found = actions.get(kk.db, ws.id, action_id)
    write_json(found, default=_text)


@actions_app.command("retry")
@reports_errors
def retry(
    action_ids: Annotated[list[str] | None, typer.Argument(
        help="Dead actions to put back (their ids).", show_default=False)] = None,
    dead: Annotated[bool, typer.Option("--dead", help="Every dead action of the "
                                       "workspace.")] = False,
    workspace: WorkspaceOpt = None,
    data_dir: DataDir = None,
) -> None:
    """Put dead actions back: planned, due now, tries from zero (audited). The worker
    delivers them as they were decided, after the contact checks of that moment."""
    from kokemus.services import actions

    with stores(data_dir) as kk:
        ws = workspace_for(kk, workspace)
        n = actions.retry(kk.db, ws, action_ids or [], every_dead=dead, actor=actor())
    out.print(f"{n} action{'s' if n != 1 else ''} put back; the worker delivers "
              f"{'them' if n != 1 else 'it'} on its next run")


@actions_app.command("deliver")
@reports_errors
def deliver_(data_dir: DataDir = None) -> None:
    """Deliver the due actions once, as the worker does on each run (every workspace)."""
    from kokemus.engine.deliver import deliver

    with stores(data_dir) as kk:
        delivered(deliver(kk))


def delivered(result: Delivered) -> None:
    done = ", ".join(f"{n} {kind}" for kind, n in sorted(result.done.items()))
    skipped = ", ".join(f"{n} {reason}" for reason, n in sorted(result.skipped.items()))
    out.print(f"delivered {result.delivered} actions ({done or 'none'}); "
              f"{result.postponed} held for the end of quiet hours, {result.retrying} to "
              f"retry, {result.waiting} waiting for their receiver, {result.dead} dead; "
              f"skipped: {skipped or 'none'}")


@reports_errors
def worker_command(
    interval: Annotated[float | None, typer.Option(
        min=0.01, help="Seconds between runs [default: KOKEMUS_WORKER_INTERVAL, 30].",
        show_default=False)] = None,
    once: Annotated[bool, typer.Option("--once", help="One run, then exit.")] = False,
    deliver_only: Annotated[bool, typer.Option(
        "--deliver-only", help="Only dispatch invitations and deliver actions (the app "
        "store alone); leave the event store to another process.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Run the worker on its own, in the foreground: plan invitations, advance the promise
    clocks, run the rules, send due invitations and deliver due actions, every INTERVAL
    seconds, until SIGTERM or Ctrl-C (the run in hand ends after its current batch). When
    another process (a server) holds the event store, it only dispatches and delivers."""
    _work(interval, once, deliver_only, data_dir)


def _work(interval: float | None, once: bool, deliver_only: bool,
          data_dir: Any) -> None:
    from kokemus import bootstrap
    from kokemus.engine.worker import Worker
    from kokemus.storage.events import EventStoreLocked

    settings = settings_for(data_dir)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    with bootstrap.build(settings) as kk:
        events = not deliver_only
        if events:
            try:
                kk.events  # noqa: B018 - opened now, held while the worker runs
            except EventStoreLocked:
                events = False
                err.print("the event store is held by another process (a running server?): "
                          "this worker dispatches invitations and delivers actions only")
        worker = Worker(kk, interval or settings.worker_interval, events=events)

        def _stop(_signal: int, _frame: object) -> None:
            worker.stop(timeout=0)

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        if once:
            worker.cycle()
        else:
            err.print(f"worker: every {worker.interval:g} s"
                      f"{'' if events else ', dispatch and delivery only'}; "
                      "SIGTERM or Ctrl-C stops it")
            worker.run()


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    if isinstance(value, dict | list):
        import json

        return json.dumps(value, ensure_ascii=False)
    return str(value)
