"""`kokemus journeys ...`: the journey analytics on a workspace's events, as tables."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeAlias

import pyarrow as pa
import typer
from rich.table import Table
from sqlalchemy import Engine as Engine_

from kokemus import bootstrap
from kokemus.analytics import accounts, channels, conformance, dropoff, funnels, journeys
from kokemus.analytics.engines import DuckDBEngine, Engine
from kokemus.analytics.logs import Log, Subject, selection
from kokemus.analytics.scores import answers_sql
from kokemus.cli.common import (
    DataDir,
    Output,
    OutputOpt,
    WorkspaceOpt,
    err,
    out,
    reports_errors,
    settings_for,
    workspace_for,
    write_csv,
    write_json,
)
from kokemus.domain.durations import parse_duration
from kokemus.domain.errors import KokemusError
from kokemus.domain.journeys import Journey
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.storage import people

journeys_app = typer.Typer(
    help="How customers actually travel: paths, variants, conformance, drop-off.",
    no_args_is_help=True,
)


class OutcomeChoice(StrEnum):
    reached = "reached"
    not_reached = "not_reached"



JourneyOpt = Annotated[str | None, typer.Option(
    "--journey", "-j", help="Journey id; default: all touchpoints of the workspace.")]
ChannelOpt = Annotated[list[str] | None, typer.Option(
    "--channel", "-c", help="Only events on this channel; repeat for several.")]
SinceOpt = Annotated[datetime | None, typer.Option(
    formats=["%Y-%m-%d"], help="From this day on (UTC), YYYY-MM-DD.")]
UntilOpt = Annotated[datetime | None, typer.Option(
    formats=["%Y-%m-%d"], help="Before this day (UTC), YYYY-MM-DD.")]
AccountOpt = Annotated[bool, typer.Option(
    "--accounts", help="Cases are B2B accounts (all their people together), not customers.")]
SegmentOpt = Annotated[str | None, typer.Option(
    "--segment", help="Only customers in this segment.")]
OutcomeOpt = Annotated[OutcomeChoice | None, typer.Option(
    "--outcome", help="Only journeys that reached the journey's goal, or did not.")]


@dataclass(frozen=True)
class Filters:
    """Which events an analysis looks at; the same options on every command."""

    journey: str | None = None
    channel: list[str] | None = None
    since: datetime | None = None
    until: datetime | None = None
    by_account: bool = False
    segment: str | None = None
    outcome: OutcomeChoice | None = None


def _journey_log(kk: bootstrap.Kokemus, ws: ActiveWorkspace, f: Filters) -> Log:
    journey = None
    if f.journey is not None:
        known = {j.id: j for j in ws.document.journeys}
        if f.journey not in known:
            raise KokemusError(f"no journey '{f.journey}' in workspace '{ws.slug}' "
                               f"(known: {', '.join(known) or 'none'})")
        journey = known[f.journey]
    goal = None
    if f.outcome is not None:
        goals = [journey.goal] if journey else [j.goal for j in ws.document.journeys]
        if len(goals) != 1 or goals[0] is None:
            raise KokemusError("--outcome needs a journey with a goal: name it with --journey")
        goal = goals[0]
    members = None
    if f.segment is not None:
        members = people.customers_in_segment(kk.db, ws.id, f.segment)
    subject: Subject = "account" if f.by_account else "customer"
    return selection(ws.id, journey, channels=f.channel or (), since=f.since, until=f.until,
                     subject=subject, customers=members,
                     outcome=None if f.outcome is None else f.outcome.value,
                     goal=goal)


Result: TypeAlias = pa.Table | Mapping[str, pa.Table]


@dataclass(frozen=True)
class Question:
    """What an analysis gets: the engine, the chosen log, the workspace, the app store."""

    engine: Engine
    log: Log
    workspace: ActiveWorkspace
    db: Engine_


def show(result: Result, output: Output, title: str) -> None:
    """Print an analysis result (one table, or several by name) as tables, JSON or CSV."""
    tables = {title: result} if isinstance(result, pa.Table) else dict(result)
    if output is Output.json:
        records: Any = ({name: t.to_pylist() for name, t in tables.items()}
                        if len(tables) > 1 else next(iter(tables.values())).to_pylist())
        write_json(records)
        return
    for name, table in tables.items():
        if output is Output.csv:
            if len(tables) > 1:
                sys.stdout.write(f"# {name}\n")
            write_csv(({k: _cell(v) for k, v in row.items()} for row in table.to_pylist()),
                      table.column_names)
            continue
        shown = Table(*table.column_names, title=name)
        for row in table.to_pylist():
            shown.add_row(*(duration(v) if k.endswith("_s") else _cell(v)
                            for k, v in row.items()))
        out.print(shown)


def duration(seconds: float | None) -> str:
    """Seconds as a person reads them: 45 s, 12 min, 5.2 h, 3.1 d."""
    if seconds is None:
        return ""
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if abs(seconds) >= size * (1.5 if unit != "min" else 1):
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1 else f"{value:,.1f}"
    if isinstance(value, list):
        return " → ".join(str(v) for v in value)
    return str(value)


def ask(workspace: str | None, data_dir: Path | None, filters: Filters,
        analysis: Callable[[Question], Result]) -> Result:
    with bootstrap.build(settings_for(data_dir)) as kk:
        ws = workspace_for(kk, workspace)
        log = _journey_log(kk, ws, filters)
        with kk.events.reading() as cursor:
            return analysis(Question(DuckDBEngine(cursor), log, ws, kk.db))


def _command(name: str, help_text: str, analysis: Callable[[Question], Result]) -> None:
    @journeys_app.command(name, help=help_text)
    @reports_errors
    def command(workspace: WorkspaceOpt = None, journey: JourneyOpt = None,
                channel: ChannelOpt = None, since: SinceOpt = None, until: UntilOpt = None,
                by_account: AccountOpt = False, segment: SegmentOpt = None,
                outcome: OutcomeOpt = None, output: OutputOpt = Output.table,
                data_dir: DataDir = None) -> None:
        filters = Filters(journey, channel, since, until, by_account, segment, outcome)
        result = ask(workspace, data_dir, filters, analysis)
        show(result, output, help_text.split(":")[0])


def _goal(q: Question) -> str | None:
    goals = [j.goal for j in q.workspace.document.journeys if j.goal]
    return goals[0] if len(goals) == 1 else None


_command("dfg", "Directly-follows graph: pairs of consecutive touchpoints with counts and "
         "the time between them (median, p90, seconds).",
         lambda q: journeys.dfg(q.engine, q.log))
_command("variants", "Variants: the distinct ordered paths, with cases and share.",
         lambda q: journeys.variants(q.engine, q.log, limit=50))
_command("starts", "Starts and ends: how many journeys begin and end at each touchpoint.",
         lambda q: journeys.start_end(q.engine, q.log))
_command("channels", "Channel switching: consecutive channel pairs, multichannel share, "
         "channels per journey, common channel sequences.",
         lambda q: vars(channels.channel_switches(q.engine, q.log)))
_command("consistency", "Consistency across channels: the same touchpoint by channel, with "
         "conversion to the journey's goal, time to the next step and the survey answers "
         "given there (NPS, CES, CSAT with n); large spreads flagged.",
         lambda q: channels.touchpoint_by_channel(
             q.engine, q.log, goal=_goal(q), scores=answers_sql(q.workspace.id)))
_command("committee", "B2B buying committee: who was reached where, coverage per account, "
         "and win rates by coverage and by whether the decider was reached.",
         lambda q: vars(accounts.committee_coverage(
             q.engine, q.workspace.id,
             accounts.roles_relation(accounts.read_members(q.db, q.workspace.id)))))


def _journey(q: Question, journey_id: str | None) -> Journey:
    """The journey asked for, or the workspace's only one."""
    journeys_ = q.workspace.document.journeys
    if journey_id is None and len(journeys_) == 1:
        return journeys_[0]
    found = next((j for j in journeys_ if j.id == journey_id), None)
    if found is None:
        known = ", ".join(j.id for j in journeys_) or "none"
        raise KokemusError(f"name the journey with --journey (known: {known})")
    return found


def _figures(result: conformance.Conformance) -> pa.Table:
    return pa.table({k: [getattr(result, k)] for k in (
        "cases", "fitness", "transition_fitness", "conforming_share", "complete_share")})


@journeys_app.command("conformance")
@reports_errors
def conformance_command(
    workspace: WorkspaceOpt = None, journey: JourneyOpt = None, channel: ChannelOpt = None,
    since: SinceOpt = None, until: UntilOpt = None, by_account: AccountOpt = False,
    segment: SegmentOpt = None, outcome: OutcomeOpt = None,
    variants: Annotated[int, typer.Option(help="Exact alignments of the N commonest "
                                               "variants.")] = 20,
    output: OutputOpt = Output.table, data_dir: DataDir = None,
) -> None:
    """Conformance to the designed path: fitness, deviations per kind (skipped, wrong order,
    loop, unexpected), skipped touchpoints, and exact alignments of the commonest variants."""
    def analysis(q: Question) -> Result:
        chosen = _journey(q, journey)
        result = conformance.conformance(q.engine, q.log, chosen)
        return {"conformance": _figures(result), "deviations": result.deviations,
                "skipped": result.skipped,
                "by touchpoint": conformance.deviations_by_touchpoint(q.engine, q.log, chosen),
                "variants": conformance.align_variants(q.engine, q.log, chosen, top=variants)}

    show(ask(workspace, data_dir,
             Filters(journey, channel, since, until, by_account, segment, outcome), analysis),
         output, "conformance")


@journeys_app.command("dropoff")
@reports_errors
def dropoff_command(
    workspace: WorkspaceOpt = None, journey: JourneyOpt = None, channel: ChannelOpt = None,
    since: SinceOpt = None, until: UntilOpt = None, by_account: AccountOpt = False,
    segment: SegmentOpt = None, outcome: OutcomeOpt = None,
    goal: Annotated[list[str] | None, typer.Option(
        help="Goal touchpoint(s); default: the journey's goal.")] = None,
    idle_days: Annotated[float, typer.Option(
        help="A journey idle this long without its goal is lost, not in flight.")] = 30,
    output: OutputOpt = Output.table, data_dir: DataDir = None,
) -> None:
    """Drop-off: where journeys end without their goal (lost touchpoints, ranked), how many
    reached it, are in flight or lost, and where they stall longest."""
    def analysis(q: Question) -> Result:
        goals = goal or [g for g in [_journey(q, journey).goal] if g]
        if not goals:
            raise KokemusError("the journey has no goal: name one with --goal")
        counts = dropoff.outcomes(q.engine, q.log, goals, idle_days=idle_days)
        return {"outcomes": pa.table({k: [v] for k, v in counts.items()}),
                "lost touchpoints": dropoff.dropoff(q.engine, q.log, goals,
                                                   idle_days=idle_days),
                "stalls": dropoff.stalls(q.engine, q.log, "transition", min_steps=10)}

    show(ask(workspace, data_dir,
             Filters(journey, channel, since, until, by_account, segment, outcome), analysis),
         output, "dropoff")


@journeys_app.command("funnel")
@reports_errors
def funnel_command(
    step: Annotated[list[str], typer.Option(
        "--step", "-s", help="Touchpoint of the next step, in order; repeat for each.")],
    within: Annotated[str | None, typer.Option(
        help="Every step within this time of entering, e.g. 30d.")] = None,
    step_within: Annotated[str | None, typer.Option(
        help="Each step within this time of the previous one, e.g. 48h.")] = None,
    workspace: WorkspaceOpt = None, journey: JourneyOpt = None, channel: ChannelOpt = None,
    since: SinceOpt = None, until: UntilOpt = None, by_account: AccountOpt = False,
    segment: SegmentOpt = None, outcome: OutcomeOpt = None,
    output: OutputOpt = Output.table, data_dir: DataDir = None,
) -> None:
    """Funnel: ordered steps with time windows; cases, conversion and time per step."""
    def window(text: str | None) -> timedelta | None:
        try:
            return None if text is None else timedelta(seconds=parse_duration(text))
        except ValueError as exc:
            raise KokemusError(str(exc)) from None

    def analysis(q: Question) -> Result:
        return funnels.funnel(q.engine, q.log, step, within=window(within),
                              step_within=window(step_within))

    show(ask(workspace, data_dir,
             Filters(journey, channel, since, until, by_account, segment, outcome), analysis),
         output, "funnel")


@journeys_app.command("order")
@reports_errors
def order_command(
    force: Annotated[bool, typer.Option(help="Rebuild even if no event came since.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Store the journeys in case order, so the sequence analyses read them without sorting
    (the DFG in one pass); `kokemus serve` does it now and then by itself."""
    from kokemus.engine.worker import order_journeys

    with bootstrap.build(settings_for(data_dir)) as kk, err.status("ordering the journeys"):
        done = order_journeys(kk, force=force)
    if not done.rebuilt:
        out.print(f"journeys already in case order up to event {done.upto_seq}")
        return
    rows = ", ".join(f"{n:,} {subject} steps" for subject, n in done.rows.items())
    out.print(f"journeys in case order up to event {done.upto_seq}: {rows} "
              f"in {done.seconds:.1f} s")
