"""Value, Kano, outcomes, silent moments and comments over HTTP: the same figures as
`kokemus value|kano|outcomes|silent|comments` and the value page, each share with its n and
Wilson interval, each NPS with its adjusted-Wald interval."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool

from kokemus.analytics import kano, outcomes, silent, text, value
from kokemus.analytics.scores import Filters
from kokemus.api.auth import Read, kokemus
from kokemus.api.errors import AUTHENTICATED, ApiError, documented, unknown_survey
from kokemus.domain.calendar import Moment
from kokemus.services.workspaces import ActiveWorkspace

router = APIRouter(prefix="/api/v1", tags=["insights"], responses=documented(*AUTHENTICATED))
T = TypeVar("T")

SurveyQ = Annotated[str | None, Query(description="Only this survey.")]
TouchpointQ = Annotated[str | None, Query(description="Only answers about this touchpoint.")]
Since = Annotated[Moment | None, Query(
    description="Responses started from this time on (ISO 8601; a time without zone is UTC).")]
Until = Annotated[Moment | None, Query(description="Responses started before this time.")]


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def _filters(workspace: ActiveWorkspace, survey: str | None, touchpoint: str | None,
             since: datetime | None, until: datetime | None) -> Filters:
    if survey is not None and workspace.document.survey(survey) is None:
        raise unknown_survey(survey, workspace.slug, [s.id for s in workspace.document.surveys])
    return Filters(survey=survey, touchpoint=touchpoint, since=_utc(since), until=_utc(until))


async def _read(request: Request, run: Callable[[Any], T]) -> T:
    kk = kokemus(request)

    def reading() -> T:
        with kk.events.reading() as cursor:
            return run(cursor)

    return await run_in_threadpool(reading)


@router.get("/value", summary="Elements of value: claimed against perceived, and NPS by "
                              "the number perceived")
async def get_value(
    request: Request, workspace: Read,
    kind: Annotated[Literal["b2c", "b2b"] | None, Query(
        description="The B2C (30) or B2B (40) list [default: the value proposition's]")] = None,
    survey: SurveyQ = None, touchpoint: TouchpointQ = None, since: Since = None,
    until: Until = None,
) -> dict[str, Any]:
    filters = _filters(workspace, survey, touchpoint, since, until)
    min_n = workspace.document.feedback.min_answers
    result = await _read(request, lambda c: value.report(c, workspace.id, workspace.document,
                                                         filters, kind, min_n))
    return {"min_answers": min_n, **result.as_dict()}


@router.get("/kano", summary="Kano category, Better and Worse per feature")
async def get_kano(
    request: Request, workspace: Read, survey: SurveyQ = None, touchpoint: TouchpointQ = None,
    since: Since = None, until: Until = None,
) -> dict[str, Any]:
    filters = _filters(workspace, survey, touchpoint, since, until)
    found = await _read(request, lambda c: kano.report(c, workspace.id, workspace.document,
                                                       filters))
    return {"min_answers": workspace.document.feedback.min_answers,
            "features": [f.as_dict() for f in found]}


@router.get("/outcomes", summary="Repurchase, retention or churn after an answer, by effort "
                                 "band and NPS group")
async def get_outcomes(
    request: Request, workspace: Read,
    outcome: Annotated[Literal["repurchase", "retention", "churn"], Query(
        description="What followed the answer (event types from insights.outcomes).")
    ] = "repurchase",
    days: Annotated[int, Query(ge=1, le=3660, description="The window after the answer.")
                    ] = 90,
    as_of: Annotated[Moment | None, Query(
        description="Judge as of this time [default: the latest event], so a figure can be "
                    "reproduced.")] = None,
    survey: SurveyQ = None, touchpoint: TouchpointQ = None, since: Since = None,
    until: Until = None,
) -> dict[str, Any]:
    filters = _filters(workspace, survey, touchpoint, since, until)
    min_n = workspace.document.feedback.min_answers
    try:
        result = await _read(request, lambda c: outcomes.report(
            c, workspace.id, workspace.document.insights.outcomes, outcome, days=days,
            as_of=_utc(as_of), filters=filters, min_n=min_n))
    except outcomes.NoOutcomeEvents as exc:
        raise ApiError(422, "no_outcome_events", str(exc)) from None
    return {"min_answers": min_n, **result.as_dict()}


@router.get("/silent-moments", summary="What each silent moment could be worth a year")
async def get_silent(
    request: Request, workspace: Read,
    since: Annotated[Moment | None, Query(description="Traffic from this time on.")] = None,
    until: Annotated[Moment | None, Query(description="Traffic before this time.")] = None,
) -> dict[str, Any]:
    result = await _read(request, lambda c: silent.report(c, workspace.id, workspace.document,
                                                          _utc(since), _utc(until)))
    return result.as_dict()


@router.get("/comments", summary="Words and phrases detractors use more than promoters, "
                                 "themes and comments per touchpoint")
async def get_comments(
    request: Request, workspace: Read, survey: SurveyQ = None, touchpoint: TouchpointQ = None,
    since: Since = None, until: Until = None,
    min_count: Annotated[int, Query(ge=1, le=1000, description="Uses a term needs in the two "
                                                               "groups together.")] = 2,
) -> dict[str, Any]:
    filters = _filters(workspace, survey, touchpoint, since, until)
    doc = workspace.document
    min_n = doc.feedback.min_answers
    result = await _read(request, lambda c: text.report(
        c, workspace.id, list(doc.insights.themes), filters,
        default_language=doc.languages[0], min_n=min_n, min_count=min_count))
    return {"min_answers": min_n, **result.as_dict()}
