"""Journey analytics over HTTP: the same analyses as `kokemus journeys`, as JSON records."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Annotated, Any

import pyarrow as pa
from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool

from kokemus.analytics import (
    accounts,
    breakdowns,
    channels,
    conformance,
    dropoff,
    funnels,
    journeys,
)
from kokemus.analytics.engines import DuckDBEngine, Engine
from kokemus.analytics.logs import Log, Outcome, selection
from kokemus.analytics.scores import answers_sql
from kokemus.api.auth import Read, kokemus
from kokemus.api.errors import AUTHENTICATED, ApiError, documented
from kokemus.domain.calendar import LONGEST_SECONDS, Moment
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.storage import people

router = APIRouter(prefix="/api/v1/journeys", tags=["journeys"],
                   responses=documented(*AUTHENTICATED))

Channels = Annotated[list[str] | None, Query(description="Only these channels.")]
Since = Annotated[Moment | None, Query(description="From this time on (ISO 8601).")]
Until = Annotated[Moment | None, Query(description="Before this time (ISO 8601).")]
Journey = Annotated[str | None, Query(description="A journey id; default: all touchpoints.")]
Accounts = Annotated[bool, Query(description="Cases are B2B accounts, not customers.")]
Segment = Annotated[str | None, Query(description="Only customers in this segment.")]
OutcomeQ = Annotated[Outcome | None, Query(
    description="Only journeys that reached the journey's goal, or not.")]


def journey_log(workspace: ActiveWorkspace, journey: str | None, channel: list[str] | None,
                since: datetime | None, until: datetime | None, accounts: bool,
                members: list[str] | None = None, outcome: Outcome | None = None) -> Log:
    chosen = None
    if journey is not None:
        chosen = next((j for j in workspace.document.journeys if j.id == journey), None)
        if chosen is None:
            raise ApiError(404, "not_found", f"no journey '{journey}'")
    goal = chosen.goals if chosen else None  # reached at any of them
    if outcome is not None and not goal:
        raise ApiError(422, "invalid", "outcome needs a journey with a goal")
    return selection(workspace.id, chosen, channels=channel or (), since=since, until=until,
                     subject="account" if accounts else "customer", customers=members,
                     outcome=outcome, goal=goal)


async def segment_members(request: Request, workspace: ActiveWorkspace,
                          segment: str | None) -> list[str] | None:
    if segment is None:
        return None
    return await run_in_threadpool(people.customers_in_segment, kokemus(request).db,
                                   workspace.id, segment)


async def answer(request: Request, log: Log,
                 analysis: Callable[[Engine, Log], pa.Table | Mapping[str, pa.Table]]
                 ) -> dict[str, Any]:
    """Run in a worker thread on a cursor of its own; a table as {rows, n}, several tables
    as {name: {rows, n}}."""
    kk = kokemus(request)

    def run() -> pa.Table | Mapping[str, pa.Table]:
        with kk.events.reading() as cursor:
            return analysis(DuckDBEngine(cursor), log)

    result = await run_in_threadpool(run)
    if isinstance(result, pa.Table):
        return {"rows": result.to_pylist(), "n": result.num_rows}
    return {name: {"rows": t.to_pylist(), "n": t.num_rows} for name, t in result.items()}


@router.get("/dfg", summary="Directly-follows graph with counts and times (seconds)")
async def get_dfg(request: Request, workspace: Read, journey: Journey = None,
                  channel: Channels = None, since: Since = None, until: Until = None,
                  accounts: Accounts = False, segment: Segment = None,
                  outcome: OutcomeQ = None) -> dict[str, Any]:
    members = await segment_members(request, workspace, segment)
    log = journey_log(workspace, journey, channel, since, until, accounts, members, outcome)
    return await answer(request, log, journeys.dfg)


@router.get("/variants", summary="Distinct ordered paths with cases and share")
async def get_variants(request: Request, workspace: Read, journey: Journey = None,
                       channel: Channels = None, since: Since = None, until: Until = None,
                       accounts: Accounts = False, segment: Segment = None,
                       outcome: OutcomeQ = None,
                       limit: Annotated[int, Query(ge=1, le=10_000)] = 100) -> dict[str, Any]:
    members = await segment_members(request, workspace, segment)
    log = journey_log(workspace, journey, channel, since, until, accounts, members, outcome)
    return await answer(request, log, lambda e, lg: journeys.variants(e, lg, limit=limit))


@router.get("/starts", summary="How many journeys start and end at each touchpoint")
async def get_starts(request: Request, workspace: Read, journey: Journey = None,
                     channel: Channels = None, since: Since = None, until: Until = None,
                     accounts: Accounts = False) -> dict[str, Any]:
    log = journey_log(workspace, journey, channel, since, until, accounts)
    return await answer(request, log, journeys.start_end)


@router.get("/channels", summary="Channel switching: pairs, multichannel share, sequences")
async def get_channels(request: Request, workspace: Read, journey: Journey = None,
                       channel: Channels = None, since: Since = None, until: Until = None,
                       accounts: Accounts = False) -> dict[str, Any]:
    log = journey_log(workspace, journey, channel, since, until, accounts)
    return await answer(request, log, lambda e, lg: vars(channels.channel_switches(e, lg)))


@router.get("/consistency",
            summary="The same touchpoint by channel: conversion, time and answer scores")
async def get_consistency(request: Request, workspace: Read, journey: Journey = None,
                          channel: Channels = None, since: Since = None,
                          until: Until = None, accounts: Accounts = False,
                          goal: Annotated[str | None, Query(
                              description="Goal touchpoint for conversion.")] = None,
                          ) -> dict[str, Any]:
    log = journey_log(workspace, journey, channel, since, until, accounts)
    answers = answers_sql(workspace.id)
    return await answer(request, log, lambda e, lg: channels.touchpoint_by_channel(
        e, lg, goal=goal, scores=answers))


@router.get("/committee", summary="B2B buying committee coverage and win rates")
async def get_committee(request: Request, workspace: Read) -> dict[str, Any]:
    kk = kokemus(request)
    members = await run_in_threadpool(accounts.read_members, kk.db, workspace.id)
    roles = accounts.roles_relation(members)
    log = selection(workspace.id)
    return await answer(request, log, lambda e, _lg: vars(
        accounts.committee_coverage(e, workspace.id, roles)))


def _designed(workspace: ActiveWorkspace, journey: str) -> Any:
    found = next((j for j in workspace.document.journeys if j.id == journey), None)
    if found is None:
        raise ApiError(404, "not_found", f"no journey '{journey}'")
    return found


@router.get("/{journey}/conformance",
            summary="Conformance to the designed path: fitness, deviations, alignments")
async def get_conformance(request: Request, workspace: Read, journey: str,
                          channel: Channels = None, since: Since = None, until: Until = None,
                          accounts: Accounts = False,
                          variants: Annotated[int, Query(ge=0, le=1000)] = 20
                          ) -> dict[str, Any]:
    design = _designed(workspace, journey)
    log = journey_log(workspace, journey, channel, since, until, accounts)

    def analysis(e: Engine, lg: Log) -> dict[str, pa.Table]:
        result = conformance.conformance(e, lg, design)
        figures = pa.table({k: [getattr(result, k)] for k in (
            "cases", "fitness", "transition_fitness", "conforming_share", "complete_share")})
        return {"conformance": figures, "deviations": result.deviations,
                "skipped": result.skipped,
                "by_touchpoint": conformance.deviations_by_touchpoint(e, lg, design),
                "variants": conformance.align_variants(e, lg, design, top=variants)}

    return await answer(request, log, analysis)


@router.get("/{journey}/dropoff", summary="Lost touchpoints, outcomes and stalls")
async def get_dropoff(request: Request, workspace: Read, journey: str,
                      channel: Channels = None, since: Since = None, until: Until = None,
                      accounts: Accounts = False,
                      goal: Annotated[list[str] | None, Query()] = None,
                      idle_days: Annotated[float, Query(
                          gt=0, le=LONGEST_SECONDS / 86400)] = 30,
                      by: Annotated[str | None, Query(
                          max_length=80,
                          description="property:<name>, attribute:<name> or event:<type>: "
                                      "the lost share of each group (small ones pooled as "
                                      "'other') and where it is worst.")] = None,
                      where: Annotated[list[str] | None, Query(
                          max_length=breakdowns.MAX_FILTERS,
                          description="Only journeys where <breakdown>=<value>, e.g. "
                                      "property:carrier=Kiito; repeat for several.")] = None,
                      ) -> dict[str, Any]:
    goals = goal or _designed(workspace, journey).goals
    if not goals:
        raise ApiError(422, "invalid", "the journey has no goal: name one with goal=")
    log = journey_log(workspace, journey, channel, since, until, accounts)
    dimension = breakdowns.parse(by) if by else None
    conditions = breakdowns.parse_conditions(where)
    lookups = [d for d in [dimension, *(c.dimension for c in conditions)] if d]
    kk = kokemus(request)
    min_n = workspace.document.feedback.min_answers

    def analysis(e: Engine, lg: Log) -> dict[str, pa.Table]:
        cursor = e.connection  # type: ignore[attr-defined]
        if lookups:
            breakdowns.check(lookups, breakdowns.discover(cursor, kk.db, workspace.id),
                             cursor, workspace.id)
        source = breakdowns.Source(workspace.id, e.dialect,
                                   case="account" if accounts else "customer")
        with breakdowns.attached(cursor, breakdowns.tables_for(kk.db, workspace.id,
                                                               lookups)):
            lg = dropoff.where_cases(e, lg, conditions, source)
            counts = dropoff.outcomes(e, lg, goals, idle_days=idle_days)
            result = {"outcomes": pa.table({k: [v] for k, v in counts.items()}),
                      "lost_touchpoints": dropoff.dropoff(e, lg, goals, idle_days=idle_days),
                      "stalls": dropoff.stalls(e, lg, "transition", min_steps=10)}
            if dimension is not None:
                found = dropoff.groups(e, lg, goals, dimension, source, idle_days=idle_days,
                                       min_n=min_n)
                result["groups"] = pa.Table.from_pylist(
                    [g.as_dict() for g in found],
                    schema=None if found else pa.schema([("key", pa.string())]))
                result["worst"] = pa.Table.from_pylist(
                    [c.as_dict() for c in dropoff.worst(found, min_n)],
                    schema=None if found else pa.schema([("key", pa.string())]))
        return result

    return await answer(request, log, analysis)


@router.get("/funnel", summary="Ordered steps with time windows: conversion and time")
async def get_funnel(request: Request, workspace: Read,
                     step: Annotated[list[str], Query(min_length=1)],
                     within_s: Annotated[float | None, Query(gt=0, le=LONGEST_SECONDS)] = None,
                     step_within_s: Annotated[float | None, Query(
                         gt=0, le=LONGEST_SECONDS)] = None,
                     journey: Journey = None, channel: Channels = None, since: Since = None,
                     until: Until = None, accounts: Accounts = False) -> dict[str, Any]:
    log = journey_log(workspace, journey, channel, since, until, accounts)
    within = timedelta(seconds=within_s) if within_s else None
    step_within = timedelta(seconds=step_within_s) if step_within_s else None
    return await answer(request, log, lambda e, lg: funnels.funnel(
        e, lg, step, within=within, step_within=step_within))
