"""The gaps and the key drivers over HTTP: the same figures as `kokemus gaps`, `kokemus
drivers` and their pages, each with n, value, 95% interval and whether there are enough
answers to judge it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool

from kokemus.api.auth import Read, kokemus
from kokemus.api.errors import AUTHENTICATED, ApiError, documented
from kokemus.domain.calendar import Moment
from kokemus.domain.drivers import RESAMPLES, SEED
from kokemus.services import drivers, gaps

router = APIRouter(prefix="/api/v1", tags=["insights"], responses=documented(*AUTHENTICATED))

Since = Annotated[Moment | None, Query(
    description="Answers started from this time on (ISO 8601; without a zone, UTC).")]
Until = Annotated[Moment | None, Query(description="Answers started before this time.")]
Slug = Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


@router.get("/gaps", summary="The gaps per touchpoint: experience, strategy, delivery, "
                             "communication, with SERVQUAL and SERVPERF")
async def get_gaps(
    request: Request, workspace: Read,
    touchpoint: Annotated[str | None, Query(max_length=64,
                                            description="Only this touchpoint.")] = None,
    event: Annotated[str | None, Query(
        max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$",
        description="Only the answers of customers who had an event of this type.")] = None,
    had: Annotated[bool, Query(
        description="With event: false for the customers who never had it.")] = True,
    since: Since = None, until: Until = None,
) -> dict[str, Any]:
    known = {t.id for t in workspace.document.touchpoints()}
    if touchpoint is not None and touchpoint not in known:
        raise ApiError(404, "unknown_touchpoint",
                       f"no touchpoint '{touchpoint}' in workspace '{workspace.slug}' "
                       f"(known: {', '.join(sorted(known)) or 'none'})")
    kk = kokemus(request)
    found = await run_in_threadpool(
        gaps.report, kk, workspace,
        gaps.Filters(_utc(since), _utc(until), event, had, touchpoint))
    return {**found.as_dict(), "event": event, "had": had if event else None}


@router.get("/drivers", summary="Key drivers: Johnson's relative weights as shares of R² "
                                "with bootstrap intervals, and each driver's performance")
async def get_drivers(
    request: Request, workspace: Read,
    outcome: Annotated[str, Query(
        max_length=80, pattern=r"^[A-Za-z0-9_.:,-]+$",
        description="nps (default), ces, csat, <survey>.<question> (a rating), repurchase, "
                    "churn, or event:<type> (1 when it follows within `days`).")] = "nps",
    days: Annotated[float, Query(ge=1, le=3650,
                                 description="An event outcome's window.")] = 30,
    missing: Annotated[Literal["pairwise", "listwise"], Query(
        description="pairwise: every answer; listwise: complete answers only")] = "pairwise",
    resamples: Annotated[int, Query(ge=20, le=1000)] = RESAMPLES,
    seed: Annotated[int, Query(ge=0, le=2**32 - 1)] = SEED,
    segment: Slug = None,
    since: Since = None, until: Until = None,
) -> dict[str, Any]:
    kk = kokemus(request)
    found = await run_in_threadpool(
        lambda: drivers.key_drivers(
            kk, workspace,
            drivers.Filters(outcome, _utc(since), _utc(until), segment, days, missing),
            resamples=resamples, seed=seed))
    return found.as_dict()
