"""`kokemus journeys ...`: the journey analytics on a workspace's events, as tables."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeAlias

import typer

from kokemus.cli.common import (
    DataDir,
    OffsetOpt,
    Output,
    OutputOpt,
    WorkspaceOpt,
    caption,
    err,
    out,
    reports_errors,
    stdout,
    stores,
    workspace_for,
    write_csv,
    write_json,
)
from kokemus.domain.errors import KokemusError

if TYPE_CHECKING:
    import pyarrow as pa
    from sqlalchemy import Engine as Engine_

    from kokemus.analytics.engines import Engine
    from kokemus.analytics.logs import Log
    from kokemus.bootstrap import Kokemus
    from kokemus.domain.journeys import Journey
    from kokemus.services.workspaces import ActiveWorkspace

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


def _journey_log(kk: Kokemus, ws: ActiveWorkspace, f: Filters) -> Log:
    from kokemus.analytics.logs import Subject, selection
    from kokemus.storage import people

    journey = None
    if f.journey is not None:
        known = {j.id: j for j in ws.document.journeys}
        if f.journey not in known:
            raise KokemusError(f"no journey '{f.journey}' in workspace '{ws.slug}' "
                               f"(known: {', '.join(known) or 'none'})")
        journey = known[f.journey]
    goal: list[str] | None = None
    if f.outcome is not None:
        goals = [journey.goals] if journey else [j.goals for j in ws.document.journeys]
        if len(goals) != 1 or not goals[0]:
            raise KokemusError("--outcome needs a journey with a goal: name it with --journey")
        goal = goals[0]  # reached at any of them
    members = None
    if f.segment is not None:
        members = people.customers_in_segment(kk.db, ws.id, f.segment)
    subject: Subject = "account" if f.by_account else "customer"
    return selection(ws.id, journey, channels=f.channel or (), since=f.since, until=f.until,
                     subject=subject, customers=members,
                     outcome=None if f.outcome is None else f.outcome.value,
                     goal=goal)


@dataclass(frozen=True)
class Paged:
    """One page of a longer result (the analysis paged it itself), and how many rows exist."""

    table: pa.Table
    total: int


Result: TypeAlias = "pa.Table | Paged | Mapping[str, pa.Table]"

TABLE_ROWS = 50  # rows per table shown when --limit is not given (JSON and CSV: all)

JourneyLimitOpt = Annotated[int | None, typer.Option(
    min=0, help=f"Rows per table [default: {TABLE_ROWS} in a table, all in JSON and CSV].",
    show_default=False)]


@dataclass(frozen=True)
class Question:
    """What an analysis gets: the engine, the chosen log, the workspace, the app store, and
    the page asked for (an analysis may page itself and answer `Paged`)."""

    engine: Engine
    log: Log
    workspace: ActiveWorkspace
    db: Engine_
    limit: int | None = None
    offset: int = 0


def _rows_limit(limit: int | None, output: Output) -> int | None:
    return limit if limit is not None else (TABLE_ROWS if output is Output.table else None)


def show(result: Result, output: Output, title: str, *, limit: int | None = None,
         offset: int = 0, noun: str = "rows") -> None:
    """Print an analysis result (one table, or several by name) as tables, JSON or CSV:
    `limit` rows of each from `offset` on, the table's caption saying how many exist."""
    import pyarrow as pa

    parts = {title: result} if isinstance(result, pa.Table | Paged) else dict(result)
    pages: dict[str, tuple[pa.Table, int]] = {}
    for name, part in parts.items():
        if isinstance(part, Paged):
            pages[name] = (part.table, part.total)
        else:
            end = part.num_rows if limit is None else min(part.num_rows, offset + limit)
            pages[name] = (part.slice(offset, max(0, end - offset)), part.num_rows)
    if output is Output.json:
        records: Any = ({name: t.to_pylist() for name, (t, _) in pages.items()}
                        if len(pages) > 1 else next(iter(pages.values()))[0].to_pylist())
        write_json(records)
        return
    for name, (table, total) in pages.items():
        if output is Output.csv:
            if len(pages) > 1:
                stdout().write(f"# {name}\n")
            write_csv(({k: _cell(v) for k, v in row.items()} for row in table.to_pylist()),
                      table.column_names)
            continue
        out.print(render(table, name, caption(table.num_rows, total,
                                              noun if len(pages) == 1 else "rows", offset)))


def render(table: pa.Table, title: str, note: str) -> Any:
    """A result table as Rich renders it: each column headed with its unit (durations in
    one unit per column, shares in %), wrapped to the terminal's width."""
    from rich.table import Table

    columns: list[tuple[str, Callable[[Any], str]]] = []
    for name in table.column_names:
        values = table.column(name).to_pylist()
        if name.endswith("_s"):
            unit, size = _duration_unit(values)
            columns.append((f"{name[:-2].replace('_', ' ')} ({unit})",
                            functools.partial(_in_unit, size=size)))
        elif "share" in name or name.endswith("_rate"):
            columns.append((f"{name.replace('_', ' ')} (%)", _percent))
        else:
            columns.append((name.replace("_", " "), _cell))
    shown = Table(*(heading for heading, _ in columns), title=title, caption=note)
    for row in zip(*(table.column(name).to_pylist() for name in table.column_names),
                   strict=True):
        shown.add_row(*(cell(v) for (_, cell), v in zip(columns, row, strict=True)))
    return shown


def _in_unit(value: float | None, size: float) -> str:
    return "" if value is None else f"{value / size:,.1f}"


def _percent(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.1f}"


def _duration_unit(values: list[Any]) -> tuple[str, float]:
    """The unit a column of seconds reads best in: that of its median value."""
    known = sorted(abs(v) for v in values if v is not None)
    middle = known[len(known) // 2] if known else 0
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if middle >= size * (1.5 if unit != "min" else 1):
            return unit, size
    return "s", 1.0


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1 else f"{value:,.1f}"
    if isinstance(value, list):
        return " → ".join(str(v) for v in value)
    return str(value)


def ask(workspace: str | None, data_dir: Path | None, filters: Filters,
        analysis: Callable[[Question], Result], *, limit: int | None = None,
        offset: int = 0) -> Result:
    from kokemus.analytics.engines import DuckDBEngine

    with stores(data_dir, events=True) as kk:
        ws = workspace_for(kk, workspace)
        log = _journey_log(kk, ws, filters)
        with kk.events.reading() as cursor:
            return analysis(Question(DuckDBEngine(cursor), log, ws, kk.db, limit, offset))


def _command(name: str, help_text: str, analysis: Callable[[Question], Result],
             noun: str = "rows") -> None:
    @journeys_app.command(name, help=help_text)
    @reports_errors
    def command(workspace: WorkspaceOpt = None, journey: JourneyOpt = None,
                channel: ChannelOpt = None, since: SinceOpt = None, until: UntilOpt = None,
                by_account: AccountOpt = False, segment: SegmentOpt = None,
                outcome: OutcomeOpt = None, limit: JourneyLimitOpt = None,
                offset: OffsetOpt = 0, output: OutputOpt = Output.table,
                data_dir: DataDir = None) -> None:
        filters = Filters(journey, channel, since, until, by_account, segment, outcome)
        rows = _rows_limit(limit, output)
        result = ask(workspace, data_dir, filters, analysis, limit=rows, offset=offset)
        show(result, output, help_text.split(":")[0], limit=rows, offset=offset, noun=noun)


def _goal(q: Question) -> str | None:
    goals = [j.goal for j in q.workspace.document.journeys if j.goal]
    return goals[0] if len(goals) == 1 else None


def _dfg(q: Question) -> Result:
    from kokemus.analytics import journeys

    return journeys.dfg(q.engine, q.log)


def _variants(q: Question) -> Result:
    from kokemus.analytics import journeys

    page = journeys.variants(q.engine, q.log, limit=q.limit, offset=q.offset)
    if q.limit is None or (page.num_rows < q.limit and (page.num_rows or not q.offset)):
        return Paged(page, q.offset + page.num_rows)  # the last page: the count is known
    return Paged(page, journeys.variant_count(q.engine, q.log))


def _starts(q: Question) -> Result:
    from kokemus.analytics import journeys

    return journeys.start_end(q.engine, q.log)


def _channels(q: Question) -> Result:
    from kokemus.analytics import channels

    return vars(channels.channel_switches(q.engine, q.log))


def _consistency(q: Question) -> Result:
    from kokemus.analytics import channels
    from kokemus.analytics.scores import answers_sql

    return channels.touchpoint_by_channel(q.engine, q.log, goal=_goal(q),
                                          scores=answers_sql(q.workspace.id))


def _committee(q: Question) -> Result:
    from kokemus.analytics import accounts

    members = accounts.read_members(q.db, q.workspace.id)
    return vars(accounts.committee_coverage(q.engine, q.workspace.id,
                                            accounts.roles_relation(members)))


_command("dfg", "Directly-follows graph: pairs of consecutive touchpoints with counts and "
         "the time between them (median, p90).", _dfg, "pairs")
_command("variants", "Variants: the distinct ordered paths, with cases and share.",
         _variants, "variants")
_command("starts", "Starts and ends: how many journeys begin and end at each touchpoint.",
         _starts, "touchpoints")
_command("channels", "Channel switching: consecutive channel pairs, multichannel share, "
         "channels per journey, common channel sequences.", _channels)
_command("consistency", "Consistency across channels: the same touchpoint by channel, with "
         "conversion to the journey's goal, time to the next step and the survey answers "
         "given there (NPS, CES, CSAT with n); large spreads flagged.", _consistency)
_command("committee", "B2B buying committee: who was reached where, coverage per account, "
         "and win rates by coverage and by whether the decider was reached.", _committee)


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


def _figures(result: Any) -> pa.Table:
    import pyarrow as pa

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
    limit: JourneyLimitOpt = None, offset: OffsetOpt = 0,
    output: OutputOpt = Output.table, data_dir: DataDir = None,
) -> None:
    """Conformance to the designed path: fitness, deviations per kind (skipped, wrong order,
    loop, unexpected), skipped touchpoints, and exact alignments of the commonest variants."""
    def analysis(q: Question) -> Result:
        from kokemus.analytics import conformance

        chosen = _journey(q, journey)
        result = conformance.conformance(q.engine, q.log, chosen)
        return {"conformance": _figures(result), "deviations": result.deviations,
                "skipped": result.skipped,
                "by touchpoint": conformance.deviations_by_touchpoint(q.engine, q.log, chosen),
                "variants": conformance.align_variants(q.engine, q.log, chosen, top=variants)}

    rows = _rows_limit(limit, output)
    show(ask(workspace, data_dir,
             Filters(journey, channel, since, until, by_account, segment, outcome), analysis),
         output, "conformance", limit=rows, offset=offset)


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
    by: Annotated[str | None, typer.Option(
        "--by", help="Lost share (lost of reached + lost) per value of property:<name> "
                     "(e.g. property:carrier), attribute:<name> or event:<type>, each group "
                     "against the others, the worst first.")] = None,
    where: Annotated[list[str] | None, typer.Option(
        "--where", help="Only journeys where <breakdown>=<value>, e.g. "
                              "property:carrier=Kiito or event:delivery_damaged=yes.")] = None,
    limit: JourneyLimitOpt = None, offset: OffsetOpt = 0,
    output: OutputOpt = Output.table, data_dir: DataDir = None,
) -> None:
    """Drop-off: where journeys end without their goal (lost touchpoints, ranked), how many
    reached it, are in flight or lost, and where they stall longest; with --by, the lost
    share of each group and where it is worst."""
    from kokemus.analytics import breakdowns

    dimension = breakdowns.parse(by) if by else None
    conditions = breakdowns.parse_conditions(where)

    def analysis(q: Question) -> Result:
        import pyarrow as pa

        from kokemus.analytics import dropoff

        goals = goal or _journey(q, journey).goals
        if not goals:
            raise KokemusError("the journey has no goal: name one with --goal")
        lookups = [d for d in [dimension, *(c.dimension for c in conditions)] if d]
        cursor = q.engine.connection  # type: ignore[attr-defined]
        if lookups:
            breakdowns.check(lookups, breakdowns.discover(cursor, q.db, q.workspace.id),
                             cursor, q.workspace.id)
        source = breakdowns.Source(q.workspace.id, q.engine.dialect,
                                   case="account" if by_account else "customer")
        with breakdowns.attached(cursor, breakdowns.tables_for(q.db, q.workspace.id,
                                                               lookups)):
            log = dropoff.where_cases(q.engine, q.log, conditions, source)
            counts = dropoff.outcomes(q.engine, log, goals, idle_days=idle_days)
            result = {"outcomes": pa.table({k: [v] for k, v in counts.items()}),
                      "lost touchpoints": dropoff.dropoff(q.engine, log, goals,
                                                         idle_days=idle_days),
                      "stalls": dropoff.stalls(q.engine, log, "transition", min_steps=10)}
            if dimension is not None:
                min_n = q.workspace.document.feedback.min_answers
                found = dropoff.groups(q.engine, log, goals, dimension, source,
                                       idle_days=idle_days, min_n=min_n)
                def share(value: float | None) -> float | None:  # shown as a share, in %
                    return None if value is None else value / 100

                result["by " + dimension.text] = pa.Table.from_pylist([
                    {"group": g.key, "pooled": g.pooled, "reached": g.reached,
                     "in_flight": g.in_flight, "lost": g.lost,
                     "lost_share": share(g.lost_share.value),
                     "share_low": share(g.lost_share.low),
                     "share_high": share(g.lost_share.high),
                     "enough": g.lost_share.enough} for g in found])
                result["where is it worst"] = pa.Table.from_pylist([
                    {"group": c.key, "lost_share": share(c.group.value),
                     "others_share": share(c.rest.value),
                     "difference_share": share(c.difference), "share_low": share(c.low),
                     "share_high": share(c.high), "worse": c.worse}
                    for c in dropoff.worst(found, min_n)])
        return result

    rows = _rows_limit(limit, output)
    show(ask(workspace, data_dir,
             Filters(journey, channel, since, until, by_account, segment, outcome), analysis),
         output, "dropoff", limit=rows, offset=offset)


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
    limit: JourneyLimitOpt = None, offset: OffsetOpt = 0,
    output: OutputOpt = Output.table, data_dir: DataDir = None,
) -> None:
    """Funnel: ordered steps with time windows; cases, conversion and time per step."""
    def window(text: str | None) -> timedelta | None:
        from kokemus.domain.durations import parse_duration

        try:
            return None if text is None else timedelta(seconds=parse_duration(text))
        except ValueError as exc:
            raise KokemusError(str(exc)) from None

    def analysis(q: Question) -> Result:
        from kokemus.analytics import funnels

        return funnels.funnel(q.engine, q.log, step, within=window(within),
                              step_within=window(step_within))

    rows = _rows_limit(limit, output)
    show(ask(workspace, data_dir,
             Filters(journey, channel, since, until, by_account, segment, outcome), analysis),
         output, "funnel", limit=rows, offset=offset)


@journeys_app.command("order")
@reports_errors
def order_command(
    force: Annotated[bool, typer.Option(help="Rebuild even if no event came since.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Store the journeys in case order, so the sequence analyses read them without sorting
    (the DFG in one pass); `kokemus serve` does it now and then by itself."""
    from kokemus.engine.worker import RUNS, order_journeys

    with stores(data_dir, events=True) as kk, RUNS, err.status("ordering the journeys"):
        done = order_journeys(kk, force=force)
    if not done.rebuilt:
        out.print(f"journeys already in case order up to event {done.upto_seq}")
        return
    rows = ", ".join(f"{n:,} {subject} steps" for subject, n in done.rows.items())
    out.print(f"journeys in case order up to event {done.upto_seq}: {rows} "
              f"in {done.seconds:.1f} s")
