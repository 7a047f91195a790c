"""`kokemus cases ...`: the cases of the owning departments from the command line, thin over
services/cases.py (docs/cases.md).

The command line acts with the data folder's own rights: it sees every case, and what it
changes is written to the case's history as `cli:NAME` (the operating-system user). Only
`recovery` reads the event store (and is run by `kokemus serve` when one is running); the
rest need the app store alone.
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
    from kokemus.services.cases import Case, Entry

cases_app = typer.Typer(help="Cases for the owning departments: list, show, assign, move, "
                             "resolve, note; who works which department; recovery.",
                        no_args_is_help=True)

NumberArg = Annotated[int, typer.Argument(min=1, help="The case's number.")]
NoteOpt = Annotated[str | None, typer.Option(help="A note written with the change.")]
COLUMNS = ["number", "state", "priority", "department", "title", "customer", "assignee",
           "sla_due_at", "escalated", "created_at", "updated_at"]


class State(StrEnum):
    new = "new"
    assigned = "assigned"
    in_progress = "in_progress"
    waiting = "waiting"
    resolved = "resolved"
    closed = "closed"


def _actor() -> Any:
    from kokemus.services.cases import Actor

    return Actor(actor())


def _record(case: Case) -> dict[str, Any]:
    row = case.as_dict()
    row["title"] = case.title_in("en")
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items()}


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


@cases_app.command("list")
@reports_errors
def list_command(
    workspace: WorkspaceOpt = None,
    department: Annotated[list[str] | None, typer.Option(
        help="Only this department; repeat for several.")] = None,
    state: Annotated[list[State] | None, typer.Option(
        help="Only this state; repeat for several [default: the open ones].")] = None,
    all_states: Annotated[bool, typer.Option("--all", help="Every state.")] = False,
    assignee: Annotated[str | None, typer.Option(help="Only this user's cases.")] = None,
    customer: Annotated[str | None, typer.Option(help="Only this customer's cases.")] = None,
    limit: LimitOpt = 50,
    offset: OffsetOpt = 0,
    output: OutputOpt = Output.table, data_dir: DataDir = None,
) -> None:
    """Cases, the newest first: the open ones unless --state or --all says otherwise."""
    from kokemus.domain.errors import KokemusError
    from kokemus.services import cases

    with stores(data_dir) as kk:
        ws = workspace_for(kk, workspace)
        known = [d.id for d in ws.document.departments]
        for d in department or []:
            if d not in known:
                raise KokemusError(f"no department '{d}' in workspace '{ws.slug}' "
                                   f"(known: {', '.join(known) or 'none'})")
        assignee_id = None
        if assignee is not None:
            assignee_id = cases.user_id(kk.db, assignee)
            if assignee_id is None:
                raise KokemusError(f"no user '{assignee}'")
        filters = cases.Filters(departments=department or [],
                                states=[s.value for s in state or []],
                                open_only=not state and not all_states, assignee=assignee_id,
                                customer=customer)
        found, total = cases.listing(kk.db, ws.id, filters, limit=limit, offset=offset)
    records = [_record(c) for c in found]
    if output is Output.json:
        write_json({"total": total, "cases": records})
        return
    if output is Output.csv:
        write_csv(({k: r[k] for k in COLUMNS} for r in records), COLUMNS)
        return
    from rich.table import Table

    table = Table("#", "state", "priority", "department", "title", "customer", "assignee",
                  "due (UTC)", title=f"cases in {ws.slug}",
                  caption=caption(len(found), total, "cases", offset))
    for c in found:
        due = _when(c.sla_due_at) + (f" {c.escalated}" if c.escalated else "")
        table.add_row(str(c.number), c.state, c.priority, c.department, c.title_in("en"),
                      c.customer or c.account or "-", c.assignee or "-", due)
    out.print(table)


def _show(case: Case, history: list[Entry], output: Output) -> None:
    if output is not Output.table:
        write_json({**_record(case), "history": [
            {k: (v.isoformat() if isinstance(v, datetime) else v)
             for k, v in e.as_dict().items()} for e in history]})
        return
    out.print(f"case {case.number}: {case.title_in('en')}")
    for name, value in (("state", case.state), ("priority", case.priority),
                        ("department", case.department), ("customer", case.customer),
                        ("account", case.account), ("assignee", case.assignee),
                        ("rule", case.rule), ("cause", case.cause),
                        ("due (UTC)", _when(case.sla_due_at) if case.sla_due_at else None),
                        ("escalated", case.escalated)):
        if value is not None:
            out.print(f"  {name}: {value}")
    from rich.markup import escape

    out.print("history (UTC):")
    for e in history:
        what = {"state": f"state {e.state}", "assigned": f"assigned to {e.assignee}",
                "escalated": f"escalated: {e.state}",
                "followup": f"follow-up survey {e.body} planned"}.get(e.kind, e.kind)
        out.print(f"  {_when(e.at)}  {escape(e.author or e.actor or 'engine')}: "
                  f"{escape(what)}")
        if e.kind == "note" and e.body:
            out.print(f"    {escape(e.body)}", highlight=False)


@cases_app.command("show")
@reports_errors
def show_command(number: NumberArg, workspace: WorkspaceOpt = None,
                 output: OutputOpt = Output.table, data_dir: DataDir = None) -> None:
    """One case and its history: who did what, and when."""
    from kokemus.services import cases

    with stores(data_dir) as kk:
        ws = workspace_for(kk, workspace)
        case = cases.get(kk.db, ws.id, number)
        _show(case, cases.history(kk.db, case), output)


@cases_app.command("assign")
@reports_errors
def assign_command(number: NumberArg,
                   user: Annotated[str, typer.Argument(help="Who works it: a member whose "
                                                          "role works cases (an agent of "
                                                          "its department).")],
                   workspace: WorkspaceOpt = None, data_dir: DataDir = None) -> None:
    """Give a case to someone; a new case becomes assigned."""
    from kokemus.services import cases

    with stores(data_dir) as kk:
        ws = workspace_for(kk, workspace)
        case = cases.assign(kk.db, ws, number, user, actor=_actor())
    out.print(f"case {case.number} is {case.assignee}'s ({case.state})")


@cases_app.command("move")
@reports_errors
def move_command(number: NumberArg, state: Annotated[State, typer.Argument(
                     help="in_progress, waiting, resolved, closed (docs/cases.md).")],
                 note: NoteOpt = None, workspace: WorkspaceOpt = None,
                 data_dir: DataDir = None) -> None:
    """Move a case along its states; a move the state machine lacks is refused."""
    from kokemus.services import cases

    with stores(data_dir) as kk:
        ws = workspace_for(kk, workspace)
        case = cases.move(kk.db, ws, number, state.value, actor=_actor(), note=note)
    out.print(f"case {case.number} is {case.state}")


@cases_app.command("resolve")
@reports_errors
def resolve_command(number: NumberArg, note: NoteOpt = None,
                    workspace: WorkspaceOpt = None, data_dir: DataDir = None) -> None:
    """Mark a case resolved (from in progress or waiting); the workspace's follow-up survey
    is planned for its customer."""
    from kokemus.services import cases

    with stores(data_dir) as kk:
        ws = workspace_for(kk, workspace)
        case = cases.move(kk.db, ws, number, "resolved", actor=_actor(), note=note)
        planned = [e.body for e in cases.history(kk.db, case) if e.kind == "followup"]
    out.print(f"case {case.number} is resolved"
              + (f"; follow-up survey {planned[0]} planned" if planned else ""))


@cases_app.command("note")
@reports_errors
def note_command(number: NumberArg, text: Annotated[str, typer.Argument(help="The note.")],
                 workspace: WorkspaceOpt = None, data_dir: DataDir = None) -> None:
    """Add a note to a case."""
    from kokemus.services import cases

    with stores(data_dir) as kk:
        ws = workspace_for(kk, workspace)
        case = cases.add_note(kk.db, ws, number, text, actor=_actor())
    out.print(f"note added to case {case.number}")


@cases_app.command("departments")
@reports_errors
def departments_command(
    user: Annotated[str, typer.Argument(help="A member of the workspace.")],
    department: Annotated[list[str] | None, typer.Argument(
        help="The departments whose cases they work; none: show them.")] = None,
    clear: Annotated[bool, typer.Option("--none", help="Work no department's cases.")] = False,
    workspace: WorkspaceOpt = None, data_dir: DataDir = None,
) -> None:
    """The departments whose cases an agent works (their inbox); the other roles see every
    case whatever is set here."""
    from kokemus.services import cases

    with stores(data_dir) as kk:
        ws = workspace_for(kk, workspace)
        if department or clear:
            chosen = cases.set_departments(kk.db, ws, user, department or [], actor=actor())
        else:
            held = cases.departments_by_user(kk.db, ws.id)
            if user not in held:
                from kokemus.domain.errors import NotFound

                raise NotFound(f"user '{user}' has no role in workspace '{ws.slug}'")
            chosen = held[user]
    out.print(f"{user} works the cases of: {', '.join(chosen) or 'no department'} "
              f"in {ws.slug}")


@cases_app.command("recovery")
@reports_errors
def recovery_command(
    workspace: WorkspaceOpt = None,
    since: Annotated[datetime | None, typer.Option(
        formats=["%Y-%m-%d"], help="Detractor answers from this day on (UTC).")] = None,
    until: Annotated[datetime | None, typer.Option(
        formats=["%Y-%m-%d"], help="Detractor answers before this day (UTC).")] = None,
    window: Annotated[str, typer.Option(
        help="A case counts when opened within this long of the answer.")] = "30d",
    output: OutputOpt = Output.table, data_dir: DataDir = None,
) -> None:
    """Of the detractors who got a case, how many answered again as passives or promoters,
    against those who got none: n, shares with 95% intervals, and the difference's."""
    from kokemus.services import cases

    with stores(data_dir, events=True) as kk:
        ws = workspace_for(kk, workspace)
        found = cases.recovery(
            kk.db, kk.events, ws, window=window,
            since=None if since is None else since.replace(tzinfo=UTC),
            until=None if until is None else until.replace(tzinfo=UTC))
    if output is not Output.table:
        write_json(found.as_dict(), default=lambda v: v.isoformat())
        return
    from rich.table import Table

    def share(score: Any) -> str:
        if score.value is None:
            return f"- (n = {score.n})"
        return (f"{score.value:.1f} % [{score.low:.1f}, {score.high:.1f}] (n = {score.n})"
                + ("" if score.enough else " too few"))

    table = Table("detractors", "n", "answered again", "recovered (7-10)",
                  title=f"recovery in {ws.slug}")
    for name, group in (("with a case", found.with_case), ("without", found.without_case)):
        table.add_row(name, str(group.detractors), share(group.answered),
                      share(group.recovered))
    out.print(table)
    if found.difference is None:
        out.print("difference: nobody answered again in one of the groups")
    else:
        out.print(f"difference: {found.difference:+.1f} points, 95% interval "
                  f"[{found.low:+.1f}, {found.high:+.1f}]"
                  + ("" if found.enough else " (too few answers to judge)"))
