"""Scores over HTTP: the same figures as `kokemus scores`, each with n, value, interval and
whether there are enough answers to show it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool

from kokemus.analytics import breakdowns, scores
from kokemus.api.auth import Read, kokemus
from kokemus.api.errors import AUTHENTICATED, ApiError, documented, unknown_survey
from kokemus.domain import calendar
from kokemus.domain.calendar import Moment
from kokemus.services.workspaces import ActiveWorkspace

router = APIRouter(prefix="/api/v1/scores", tags=["scores"], responses=documented(*AUTHENTICATED))

SurveyQ = Annotated[str | None, Query(description="Only this survey.")]
TouchpointQ = Annotated[str | None, Query(description="Only answers about this touchpoint.")]
ChannelQ = Annotated[str | None, Query(description="Only this channel.")]
SegmentQ = Annotated[str | None, Query(description="Only customers in this segment.")]
CompleteQ = Annotated[bool, Query(description="Only finished responses (default: partial "
                                              "answers count too).")]
Since = Annotated[Moment | None, Query(
    description="Responses started from this time on (ISO 8601; a time without zone is UTC).")]
Until = Annotated[Moment | None, Query(description="Responses started before this time.")]
ByQ = Annotated[str | None, Query(
    max_length=80, description="touchpoint, channel, segment, account, role, survey, week or "
    "month; or property:<name> (an event property, e.g. property:carrier), "
    "attribute:<name> (a customer attribute), event:<type> (whether the customer had that "
    "event before answering: yes/no). Groups under the minimum n are pooled as 'other'.")]
WhereQ = Annotated[list[str] | None, Query(
    max_length=breakdowns.MAX_FILTERS,
    description="Only responses where <breakdown>=<value> (e.g. property:carrier=Kiito, "
                "event:delivery_damaged=yes); repeat for several, all must hold.")]


def lookups(request: Request, workspace: ActiveWorkspace,
            dimensions: list[breakdowns.Dimension]) -> dict[str, Any]:
    """Check the lookups against what the data knows (Invalid naming the known ones) and
    read the attribute tables they need."""
    kk = kokemus(request)
    wanted = [d for d in dimensions if not d.plain]
    if not wanted:
        return {}
    with kk.events.reading() as cursor:
        breakdowns.check(wanted, breakdowns.discover(cursor, kk.db, workspace.id), cursor,
                         workspace.id)
    return breakdowns.tables_for(kk.db, workspace.id, wanted)


def _survey(workspace: ActiveWorkspace, survey: str | None) -> None:
    if survey is not None and workspace.document.survey(survey) is None:
        raise unknown_survey(survey, workspace.slug,
                             [s.id for s in workspace.document.surveys])


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


@router.get("", summary="NPS, CES and CSAT overall and by one breakdown or trend")
async def get_scores(
    request: Request, workspace: Read,
    by: ByQ = None, where: WhereQ = None,
    survey: SurveyQ = None, touchpoint: TouchpointQ = None, channel: ChannelQ = None,
    segment: SegmentQ = None, since: Since = None, until: Until = None,
    complete: CompleteQ = False,
) -> dict[str, Any]:
    _survey(workspace, survey)
    dimension = breakdowns.parse(by, scores.BREAKDOWNS) if by else None
    conditions = breakdowns.parse_conditions(where, scores.WHERE_COLUMNS)
    filters = scores.Filters(survey, touchpoint, channel, segment, _utc(since), _utc(until),
                             complete, conditions)
    kk = kokemus(request)
    min_n = workspace.document.feedback.min_answers

    def run() -> scores.Report:
        tables = lookups(request, workspace, [
            *([dimension] if dimension else []), *(c.dimension for c in conditions)])
        with kk.events.reading() as cursor, breakdowns.attached(cursor, tables):
            return scores.report(cursor, workspace.id, (dimension,) if dimension else (),
                                 filters, min_n)

    result = await run_in_threadpool(run)
    answer: dict[str, Any] = {"min_answers": min_n, "overall": result.overall.as_dict()}
    if where:
        answer["where"] = [c.text for c in conditions]
    if dimension is not None:
        answer["by"] = dimension.text
        answer["groups"] = [g.as_dict() for g in result.breakdowns[dimension.text]]
        if dimension.text in result.worst:
            answer["worst"] = {kind: [c.as_dict() for c in contrasts]
                               for kind, contrasts in result.worst[dimension.text].items()}
    return answer


def _period(text: str, name: str) -> scores.Period:
    try:
        start, end = (calendar.day(part) for part in text.split(".."))
    except ValueError as exc:
        raise ApiError(422, "invalid", f"{name}: a period is YYYY-MM-DD..YYYY-MM-DD "
                                       f"(both days included): {exc}") from None
    if end < start:
        raise ApiError(422, "invalid", f"{name}: the period ends before it starts")
    return calendar.day_start(start), calendar.day_end(end)


@router.get("/compare", summary="Each score in two periods, and whether it changed")
async def get_compare(
    request: Request, workspace: Read,
    before: Annotated[str, Query(description="YYYY-MM-DD..YYYY-MM-DD, both days included.")],
    after: Annotated[str, Query(description="YYYY-MM-DD..YYYY-MM-DD, both days included.")],
    survey: SurveyQ = None, touchpoint: TouchpointQ = None, channel: ChannelQ = None,
    segment: SegmentQ = None, complete: CompleteQ = False, where: WhereQ = None,
) -> dict[str, Any]:
    _survey(workspace, survey)
    periods = _period(before, "before"), _period(after, "after")
    conditions = breakdowns.parse_conditions(where, scores.WHERE_COLUMNS)
    filters = scores.Filters(survey, touchpoint, channel, segment, complete_only=complete,
                             where=conditions)
    kk = kokemus(request)
    min_n = workspace.document.feedback.min_answers

    def run() -> scores.Comparison:
        tables = lookups(request, workspace, [c.dimension for c in conditions])
        with kk.events.reading() as cursor, breakdowns.attached(cursor, tables):
            return scores.compare(cursor, workspace.id, *periods, filters, min_n)

    result = await run_in_threadpool(run)
    return {"min_answers": min_n, **result.as_dict()}
