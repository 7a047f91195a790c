"""Invitations and responses over the API: for the widget and for channels without a link
(call centre, kiosk, IVR), which send the answers themselves."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from kokemus import bootstrap
from kokemus.api.auth import Ingest, Read, kokemus
from kokemus.api.errors import AUTHENTICATED, ApiError, documented, unknown_survey
from kokemus.domain.surveys import AnswerError, Survey, json_problems
from kokemus.domain.texts import Language
from kokemus.services import feedback
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.storage import people

router = APIRouter(prefix="/api/v1", tags=["feedback"], responses=documented(*AUTHENTICATED))

Identifier = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:@-]+$")]


class InvitationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    survey: str = Field(description="Survey id in the workspace.")
    customer: Identifier
    channel: str = Field(default="web", max_length=64,
                         description="Where the survey is shown: web, phone, kiosk...")
    touchpoint: str | None = Field(default=None, description="Default: the survey's own.")


class InvitationOut(BaseModel):
    id: str
    link: str = Field(description="The signed survey link; the widget's data-kokemus-link.")
    expires_at: datetime


class ResponseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Identifier | None = Field(
        default=None, description="Idempotency: the same id updates the same response. An "
                                  "invitation's id answers that invitation.")
    survey: str
    customer: Identifier | None = None
    touchpoint: str | None = None
    channel: str | None = Field(default=None, max_length=64)
    language: Language | None = None
    answers: dict[str, Any] = Field(default_factory=dict,
                                    description="Question id -> answer, as in the survey.")
    complete: bool = Field(default=False,
                           description="The respondent finished: required questions needed.")


def _survey(workspace: ActiveWorkspace, survey_id: str) -> Survey:
    survey = workspace.document.survey(survey_id)
    if survey is None:
        known = [s.id for s in workspace.document.surveys]
        raise unknown_survey(survey_id, workspace.slug, known)
    return survey


def _touchpoint(workspace: ActiveWorkspace, touchpoint: str | None) -> None:
    if touchpoint is not None and workspace.document.touchpoint(touchpoint) is None:
        known = sorted(workspace.touchpoints)
        raise ApiError(404, "unknown_touchpoint", f"no touchpoint '{touchpoint}'", known=known)


def _channel(workspace: ActiveWorkspace, channel: str | None) -> None:
    # as the events API checks it: an unknown channel would become a group of its own
    if channel is not None and workspace.channels and channel not in workspace.channels:
        raise ApiError(404, "unknown_channel", f"no channel '{channel}' in workspace "
                       f"'{workspace.slug}'", known=sorted(workspace.channels))


def _customer(request: Request, workspace: ActiveWorkspace, customer: str) -> None:
    # Customers can be millions: the error names the one that is missing and how to add it.
    if people.get_customer(kokemus(request).db, workspace.id, customer) is None:
        raise ApiError(404, "unknown_customer", f"no customer '{customer}'; send it first "
                       "with POST /api/v1/customers")


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != "workspace_id"}


@router.post("/invitations", status_code=201, response_model=InvitationOut,
             responses=documented(400),
             summary="An invitation usable at once: its signed link for the widget or a message")
def create_invitation(body: InvitationIn, request: Request, workspace: Ingest) -> InvitationOut:
    _survey(workspace, body.survey)
    _touchpoint(workspace, body.touchpoint)
    if "channel" in body.model_fields_set:  # the default, web, is where the widget shows
        _channel(workspace, body.channel)
    _customer(request, workspace, body.customer)
    kk = kokemus(request)
    row = feedback.invite(kk.db, workspace, body.survey, body.customer, channel=body.channel,
                          now=datetime.now(UTC), touchpoint=body.touchpoint)
    link = feedback.link(kk.settings.base_url, bootstrap.secret_key(kk.settings), row)
    return InvitationOut(id=row["id"], link=link, expires_at=row["expires_at"])


@router.post("/responses", responses=documented(400, 409),
             summary="Save answers (partial or complete); the same id updates")
def save_response(body: ResponseIn, request: Request, workspace: Ingest) -> dict[str, Any]:
    kk = kokemus(request)
    survey = _survey(workspace, body.survey)
    _touchpoint(workspace, body.touchpoint)
    _channel(workspace, body.channel)
    invitation = feedback.get_invitation(kk.db, body.id) if body.id else None
    if invitation is not None and invitation["workspace_id"] != workspace.id:
        invitation = None  # another workspace's invitation: this id is just an id here
    if invitation is not None:
        if invitation["survey"] != survey.id:
            raise ApiError(409, "conflict", f"invitation '{body.id}' is for survey "
                           f"'{invitation['survey']}', not '{survey.id}'")
        if body.customer and body.customer != invitation["customer"]:
            raise ApiError(409, "conflict", f"invitation '{body.id}' is for another customer")
    elif body.customer:
        _customer(request, workspace, body.customer)
    response_id = body.id or feedback.new_id()
    existing = kk.journal.get(workspace.id, response_id)
    if existing is not None and existing["survey"] != survey.id:
        raise ApiError(409, "conflict", f"response '{response_id}' answers survey "
                       f"'{existing['survey']}', not '{survey.id}'")
    typed = json_problems(survey, body.answers)
    if typed:  # named together with whatever else is wrong in the other answers
        wrong = {q for q, _ in typed}
        try:
            survey.check({q: v for q, v in body.answers.items() if q not in wrong})
        except AnswerError as exc:
            typed = exc.problems + typed
        raise ApiError(422, "invalid_answers", "; ".join(f"{q}: {r}" for q, r in typed),
                       problems=[{"question": q, "reason": r} for q, r in typed])
    try:
        row = feedback.submit(
            kk, workspace, survey, body.answers, response_id=response_id, source="api",
            now=datetime.now(UTC), complete=body.complete, invitation=invitation,
            customer=body.customer or (existing or {}).get("customer"),
            touchpoint=body.touchpoint, channel=body.channel, language=body.language)
    except AnswerError as exc:
        raise ApiError(422, "invalid_answers", str(exc), problems=[
            {"question": q, "reason": reason} for q, reason in exc.problems]) from exc
    return _public(row)


@router.get("/responses/{response_id}", summary="One response")
def get_response(response_id: str, request: Request, workspace: Read) -> dict[str, Any]:
    row = kokemus(request).journal.get(workspace.id, response_id)
    if row is None:
        raise ApiError(404, "not_found", f"no response '{response_id}'")
    return _public(row)
