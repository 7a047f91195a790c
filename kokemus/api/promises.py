"""Promises over HTTP: the same scorecard, lists and costs as `kokemus promises` and the
scorecard page, each keep rate with n, value, Wilson interval and whether there are enough
occurrences to judge it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import pyarrow as pa
from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool

from kokemus.analytics import breakdowns, keep_rates
from kokemus.analytics.breakdowns import Condition
from kokemus.api.auth import Read, kokemus
from kokemus.api.errors import AUTHENTICATED, ApiError, documented
from kokemus.bootstrap import Kokemus
from kokemus.domain.calendar import Moment
from kokemus.services import promises
from kokemus.services.workspaces import ActiveWorkspace

router = APIRouter(prefix="/api/v1/promises", tags=["promises"],
                   responses=documented(*AUTHENTICATED))

Since = Annotated[Moment | None, Query(
    description="Occurrences started from this time on (ISO 8601; without a zone, UTC).")]
Until = Annotated[Moment | None, Query(description="Occurrences started before this time.")]
AsOf = Annotated[Moment | None, Query(
    description="Judge as of this time (default: now), so a figure can be reproduced.")]
Where = Annotated[list[str] | None, Query(
    max_length=breakdowns.MAX_FILTERS,
    description="Only occurrences where <breakdown>=<value> (property:carrier=Kiito, "
                "event:delivery_damaged=yes, channel=web, ...); repeat for several.")]
MAX_ROWS = 1000
WHERE = ("channel", "touchpoint", "promise", "commitment")  # an occurrence's own columns


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def _period(since: datetime | None, until: datetime | None,
            as_of: datetime | None) -> promises.Period:
    return promises.Period(_utc(as_of) or datetime.now(UTC), _utc(since), _utc(until))


def _commitment(workspace: ActiveWorkspace, commitment: str | None) -> None:
    known = sorted(c.id for _, c in workspace.document.commitments())
    if commitment is not None and commitment not in known:
        raise ApiError(404, "unknown_commitment",
                       f"no commitment '{commitment}' in workspace '{workspace.slug}' "
                       f"(known: {', '.join(known) or 'none'})")


@router.get("", summary="Every commitment's keep rate, counts and time used")
async def get_scorecard(
    request: Request, workspace: Read,
    by: Annotated[str | None, Query(
        max_length=80,
        description="channel, segment, week or month (groups of each commitment); "
                    "department (each department's promises together); or property:<name> "
                    "(e.g. property:carrier: the start event's, else the customer's latest "
                    "up to the occurrence's end), attribute:<name>, event:<type> (yes/no). "
                    "Groups under the minimum n are pooled as 'other'; each commitment's "
                    "'worst' lists its groups against the rest, worst first.")] = None,
    where: Where = None,
    since: Since = None, until: Until = None, as_of: AsOf = None,
) -> dict[str, Any]:
    period = _period(since, until, as_of)
    kk = kokemus(request)
    dimension = breakdowns.parse(by, keep_rates.BREAKDOWNS) if by else None
    conditions = breakdowns.parse_conditions(where, WHERE)
    name = dimension.text if dimension else None
    grouped = name if name != "department" else None

    def run() -> promises.Scorecard:
        promises.check(kk, workspace, name, conditions)
        table = promises.occurrences(kk, workspace, period, where=conditions)
        return promises.scorecard(kk, workspace, period, by=grouped, table=table)

    card = await run_in_threadpool(run)
    answer: dict[str, Any] = {
        "as_of": period.as_of.isoformat(),
        "min_occurrences": workspace.document.feedback.min_answers,
        "commitments": [c.as_dict() for c in card.cards],
        "departments": [d.as_dict() for d in card.departments],
    }
    if name is not None:
        answer["by"] = name
    return {**answer, **_where(conditions)}


@router.get("/occurrences", summary="Occurrences of one verdict, or at risk now")
async def get_occurrences(
    request: Request, workspace: Read,
    verdict: Annotated[Literal["broken", "at_risk", "open", "kept"], Query(
        description="broken, at_risk (open and past its share of the time), open or kept")],
    commitment: Annotated[str | None, Query(max_length=64,
                                            description="Only this commitment.")] = None,
    where: Where = None,
    since: Since = None, until: Until = None, as_of: AsOf = None,
    limit: Annotated[int, Query(ge=1, le=MAX_ROWS)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> dict[str, Any]:
    _commitment(workspace, commitment)
    period = _period(since, until, as_of)
    kk = kokemus(request)
    conditions = breakdowns.parse_conditions(where, WHERE)

    def run() -> tuple[list[dict[str, Any]], int]:
        table = _occurrences(kk, workspace, period, conditions)
        return promises.listing(kk, workspace, period, verdict, commitment=commitment,
                                limit=limit, offset=offset, table=table)

    rows, total = await run_in_threadpool(run)
    return {"as_of": period.as_of.isoformat(), "total": total, "offset": offset,
            **_where(conditions),
            "occurrences": [
                {**{k: r[k] for k in ("promise", "commitment", "kind", "case_id", "customer",
                                      "occurrence", "channel", "used_s", "limit_s",
                                      "verdict", "at_risk")},
                 "start_ts": r["start_ts"].isoformat(),
                 "end_ts": r["end_ts"].isoformat() if r["end_ts"] else None}
                for r in rows]}


@router.get("/costs", summary="Kept against broken: the answers and outcomes that follow")
async def get_costs(
    request: Request, workspace: Read,
    outcome: Annotated[str | None, Query(
        max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$",
        description="An event type that follows (a repurchase, a churn).")] = None,
    days: Annotated[float, Query(ge=1, le=3650,
                                 description="How long after the start to look.")] = 30,
    where: Where = None,
    since: Since = None, until: Until = None, as_of: AsOf = None,
) -> dict[str, Any]:
    period = _period(since, until, as_of)
    kk = kokemus(request)
    conditions = breakdowns.parse_conditions(where, WHERE)

    def run() -> list[promises.Consequence]:
        table = _occurrences(kk, workspace, period, conditions)
        return promises.consequences(kk, workspace, period, days=days, outcome=outcome,
                                     table=table)

    found = await run_in_threadpool(run)
    return {"as_of": period.as_of.isoformat(), "days": days, "outcome": outcome,
            **_where(conditions), "commitments": [c.as_dict() for c in found]}


def _occurrences(kk: Kokemus, workspace: ActiveWorkspace, period: promises.Period,
                 conditions: tuple[Condition, ...]) -> pa.Table | None:
    """The period's occurrences that meet the conditions (a lookup the data does not know
    is 422 naming those it knows); None without conditions: the service reads them all."""
    if not conditions:
        return None
    promises.check(kk, workspace, None, conditions)
    return promises.occurrences(kk, workspace, period, where=conditions)


def _where(conditions: tuple[Condition, ...]) -> dict[str, Any]:
    return {"where": [c.text for c in conditions]} if conditions else {}
