"""`kokemus feedback ...`: plan and send survey invitations, list them, opt a customer out.

Planning reads the event store, so `plan` and `run` go to a running server (see
cli/served.py), where they wait for its worker's run in progress; the others need only the
app store and run beside it.
"""

from __future__ import annotations

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
    out,
    reports_errors,
    stores,
    workspace_for,
    write_csv,
    write_json,
)

if TYPE_CHECKING:
    from kokemus.engine.dispatch import Dispatched
    from kokemus.engine.triggers import Planned

feedback_app = typer.Typer(
    help="Survey invitations: planned from events, sent by email or shown by the widget.",
    no_args_is_help=True,
)



class Status(StrEnum):
    planned = "planned"
    sent = "sent"
    answered = "answered"
    skipped = "skipped"
    failed = "failed"




def _planned(result: Planned) -> None:
    out.print(f"planned {result.invited} invitations from {result.events} new events "
              f"({result.matched} matched a trigger; {result.again} planned before, "
              f"{result.too_old} too old, {result.not_sampled} not sampled, "
              f"{result.not_targeted} outside the segments or roles)")


def _dispatched(result: Dispatched) -> None:
    skipped = ", ".join(f"{n} {reason}" for reason, n in sorted(result.skipped.items()))
    out.print(f"sent {result.sent} emails, {result.web} web invitations; "
              f"{result.postponed} held for the end of quiet hours, {result.retrying} to retry, "
              f"{result.waiting} waiting for the mail server, {result.failed} failed; "
              f"skipped: {skipped or 'none'}")


@feedback_app.command("plan")
@reports_errors
def plan_(data_dir: DataDir = None) -> None:
    """Plan invitations for the events stored since the last run (every workspace)."""
    from kokemus.engine.triggers import plan
    from kokemus.engine.worker import RUNS

    with stores(data_dir, events=True) as kk, RUNS:
        _planned(plan(kk))


@feedback_app.command("send")
@reports_errors
def send(data_dir: DataDir = None) -> None:
    """Send the invitations that are due, by email (SMTP settings) or to the widget."""
    from kokemus.engine.dispatch import dispatch
    from kokemus.engine.worker import RUNS

    with stores(data_dir, events=True) as kk, RUNS:
        _dispatched(dispatch(kk))


@feedback_app.command("run")
@reports_errors
def run(data_dir: DataDir = None) -> None:
    """Plan, then send: what the server's worker does every few seconds, once."""
    from kokemus.engine.dispatch import dispatch
    from kokemus.engine.triggers import plan
    from kokemus.engine.worker import RUNS

    now = datetime.now(UTC)
    with stores(data_dir, events=True) as kk, RUNS:
        _planned(plan(kk, now))
        _dispatched(dispatch(kk, now))


@feedback_app.command("invitations")
@reports_errors
def invitations(
    status: Annotated[Status | None, typer.Option(help="Only invitations in this status.")] = None,
    survey: Annotated[str | None, typer.Option(help="Only this survey's.")] = None,
    limit: LimitOpt = 50,
    offset: OffsetOpt = 0,
    output: OutputOpt = Output.table,
    workspace: WorkspaceOpt = None,
    data_dir: DataDir = None,
) -> None:
    """List invitations with their status and reason (latest due first), and the counts by
    status."""
    from rich.table import Table

    from kokemus.engine import outbox

    with stores(data_dir) as kk:
        ws = workspace_for(kk, workspace)
        counted = outbox.counts(kk.db, ws.id)
        rows = outbox.latest(kk.db, ws.id, status=status.value if status else None,
                             survey=survey, limit=limit, offset=offset)
        total = outbox.count(kk.db, ws.id, status=status.value if status else None,
                             survey=survey)
    if output is Output.json:
        write_json({"counts": counted, "invitations": rows}, default=_text)
        return
    if output is Output.csv:
        write_csv(({k: _text(v) for k, v in row.items()} for row in rows), list(outbox.SHOWN))
        return
    out.print("  ".join(f"{status}: {n}" for status, n in counted.items()))
    table = Table("survey", "customer", "channel", "status", "reason", "tries", "event",
                  "due (UTC)", "sent (UTC)",
                  caption=caption(len(rows), total, "invitations", offset))
    for r in rows:
        table.add_row(r["survey"], r["customer"], r["channel"], r["status"], r["reason"] or "",
                      str(r["attempts"]), r["event_type"] or "", _text(r["due_at"]),
                      _text(r["sent_at"]))
    out.print(table)


@feedback_app.command("opt-out")
@reports_errors
def opt_out(
    customer: Annotated[str, typer.Argument(help="The customer's id.")],
    workspace: WorkspaceOpt = None,
    data_dir: DataDir = None,
) -> None:
    """Send this customer no more surveys (any survey of the workspace); planned ones are
    skipped."""
    from kokemus.services import feedback as feedback_service
    from kokemus.storage import people

    with stores(data_dir) as kk:
        ws = workspace_for(kk, workspace)
        known = people.get_customer(kk.db, ws.id, customer) is not None
        feedback_service.opt_out(kk.db, ws.id, customer, source="cli", now=datetime.now(UTC),
                                 actor=actor())
    note = "" if known else " (not a known customer yet; the opt-out waits for them)"
    out.print(f"{customer} gets no more surveys from '{ws.slug}'{note}")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    return str(value)
