"""Cases over HTTP, for a help desk that mirrors them (docs/api.md, docs/cases.md): list with
filters (and every change since a moment, oldest first), one case with its history, and
changes (assign, move, note) written with the key as who did it.

Reading needs the `read` scope; changing a case needs `cases`. A key reaches every case of
its workspace (the departments bind people, not machines).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from kokemus.api.auth import Read, kokemus, requires
from kokemus.api.errors import AUTHENTICATED, ApiError, ErrorBody, documented
from kokemus.domain.calendar import Moment
from kokemus.domain.cases import MOVES, BadMove, Priority, State
from kokemus.domain.durations import parse_duration
from kokemus.domain.errors import Invalid
from kokemus.services import cases as service
from kokemus.services.cases import Actor, Case, Conflict, Filters
from kokemus.services.workspaces import ActiveWorkspace

CasesKey = Annotated[ActiveWorkspace, Depends(requires("cases"))]

# What a change can be refused with beyond AUTHENTICATED's statuses.
_CHANGES: dict[int | str, dict[str, Any]] = {
    400: documented(400)[400],
    409: {"model": ErrorBody, "description": (
        "invalid_move: the state machine has no such move from the case's state (`state`, "
        "`allowed`); conflict: the case changed between reading and writing it.")},
}

router = APIRouter(prefix="/api/v1", tags=["cases"], responses=documented(*AUTHENTICATED))

Number = Annotated[int, Path(ge=1, le=2_147_483_647, description="The case's number.")]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CaseOut(Model):
    id: str
    number: int = Field(description="Per workspace, for people to say.")
    department: str
    title: str | dict[str, str] = Field(description="Text, or one text per language.")
    customer: str | None
    account: str | None
    state: State
    priority: Priority
    assignee: str | None = Field(description="The user name it is assigned to.")
    rule: str | None = Field(description="The rule that opened it; none: a person did.")
    cause: str | None = Field(description="The event or answer behind it.")
    sla_due_at: datetime | None = Field(description="Resolve by; none: no SLA.")
    escalated: Literal["at_risk", "breached"] | None = Field(
        description="The last SLA escalation made.")
    created_at: datetime
    updated_at: datetime = Field(description="The last change of any kind (a note too).")
    resolved_at: datetime | None
    closed_at: datetime | None


class HistoryOut(Model):
    kind: Literal["opened", "assigned", "state", "note", "escalated", "followup"]
    at: datetime
    actor: str | None = Field(description="user:NAME, key:PREFIX, cli:NAME, rule:ID, engine.")
    body: str | None = Field(description="A note's text; a follow-up's survey.")
    state: str | None = Field(description="The state moved to; at_risk or breached.")
    assignee: str | None


class CaseDetail(CaseOut):
    history: list[HistoryOut]


class CaseList(Model):
    total: int = Field(description="How many cases the filters let through.")
    cases: list[CaseOut]


class CaseChange(Model):
    """Any of assignee, state and note; applied together (assign, move, note) or not at
    all."""

    assignee: str | None = Field(default=None, min_length=1, max_length=200,
                                 description="Give it to this user (who works its "
                                             "department); a new case becomes assigned.")
    state: State | None = Field(default=None, description="Move it (docs/cases.md).")
    note: str | None = Field(default=None, min_length=1, max_length=service.MAX_NOTE,
                             description="A note, written with the change.")


class NoteIn(Model):
    body: str = Field(min_length=1, max_length=service.MAX_NOTE)


def _out(case: Case) -> dict[str, Any]:
    return case.as_dict()


def _actor(request: Request) -> Actor:
    return Actor(str(getattr(request.state, "actor", "key")))


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


@router.get("/cases", response_model=CaseList,
            summary="Cases, filtered; with updated_since, every change since then, oldest "
                    "first (for a mirror)")
def list_cases(
    request: Request, workspace: Read,
    state: Annotated[list[State] | None, Query(
        description="Only these states; repeat for several.")] = None,
    open: Annotated[bool, Query(
        description="Only open cases (new, assigned, in_progress, waiting).")] = False,
    department: Annotated[list[str] | None, Query(
        max_length=50, description="Only these departments; repeat for several.")] = None,
    assignee: Annotated[str | None, Query(
        max_length=200, description="Only the cases of this user name.")] = None,
    unassigned: Annotated[bool, Query(description="Only the cases of nobody.")] = False,
    customer: Annotated[str | None, Query(max_length=200)] = None,
    account: Annotated[str | None, Query(max_length=200)] = None,
    escalated: Annotated[Literal["at_risk", "breached"] | None, Query()] = None,
    updated_since: Annotated[Moment | None, Query(
        description="Only cases changed at or after this time (ISO 8601; without zone: "
                    "UTC), the least recently changed first.")] = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_LIST)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> dict[str, Any]:
    db = kokemus(request).db
    assignee_id = None
    if assignee is not None:
        assignee_id = service.user_id(db, assignee)
        if assignee_id is None:
            return {"total": 0, "cases": []}
    filters = Filters(departments=department or [], states=state or [], open_only=open,
                      assignee=assignee_id, unassigned=unassigned, customer=customer,
                      account=account, escalated=escalated,
                      updated_since=_utc(updated_since))
    found, total = service.listing(db, workspace.id, filters, limit=limit, offset=offset)
    return {"total": total, "cases": [_out(c) for c in found]}


@router.get("/cases/recovery",
            summary="Detractors who got a case against those who got none: how many "
                    "answered again as passives or promoters, with n and 95% intervals")
async def recovery(
    request: Request, workspace: Read,
    since: Annotated[Moment | None, Query(
        description="Detractor answers started at or after this time.")] = None,
    until: Annotated[Moment | None, Query(
        description="... and before this time; default: as_of.")] = None,
    as_of: Annotated[Moment | None, Query(
        description="Count later answers and cases up to this time; default: now.")] = None,
    window: Annotated[str, Query(
        max_length=20, description="A case counts when opened within this long of the "
                                   "detractor answer (30min, 2h, 30d, 1w).")
    ] = service.RECOVERY_WINDOW,
) -> dict[str, Any]:
    try:
        parse_duration(window)
    except ValueError as exc:
        raise ApiError(422, "invalid", f"window: {exc}",
                       problems=[{"loc": ["query", "window"], "message": str(exc)}]) from None
    kk = kokemus(request)
    found = await run_in_threadpool(service.recovery, kk.db, kk.events, workspace,
                                    since=_utc(since), until=_utc(until), as_of=_utc(as_of),
                                    window=window)
    return found.as_dict()


@router.get("/cases/{number}", response_model=CaseDetail,
            summary="One case with its history (who did what, when)")
def get_case(number: Number, request: Request, workspace: Read) -> dict[str, Any]:
    db = kokemus(request).db
    case = service.get(db, workspace.id, number)
    return {**_out(case), "history": [e.as_dict() for e in service.history(db, case)]}


def _change(request: Request, workspace: ActiveWorkspace, number: int, *,
            assignee: str | None = None, state: str | None = None,
            note: str | None = None) -> dict[str, Any]:
    db = kokemus(request).db
    try:
        case = service.update(db, workspace, number, assignee=assignee, state=state,
                              note=note, actor=_actor(request))
    except BadMove as exc:
        raise ApiError(409, "invalid_move", str(exc), state=exc.current,
                       allowed=list(MOVES.get(exc.current, ()))) from None
    except Conflict as exc:
        raise ApiError(409, "conflict", str(exc)) from None
    except Invalid as exc:
        raise ApiError(422, "invalid", str(exc)) from None
    return {**_out(case), "history": [e.as_dict() for e in service.history(db, case)]}


@router.patch("/cases/{number}", response_model=CaseDetail, responses=_CHANGES,
              summary="Assign, move or note a case (the `cases` scope); all or nothing")
def change_case(number: Number, body: CaseChange, request: Request,
                workspace: CasesKey) -> dict[str, Any]:
    if body.assignee is None and body.state is None and body.note is None:
        raise ApiError(422, "invalid", "give at least one of assignee, state, note")
    return _change(request, workspace, number, assignee=body.assignee, state=body.state,
                   note=body.note)


@router.post("/cases/{number}/notes", status_code=201, response_model=CaseDetail,
             responses=_CHANGES, summary="Add a note to a case (the `cases` scope)")
def add_note(number: Number, body: NoteIn, request: Request,
             workspace: CasesKey) -> dict[str, Any]:
    return _change(request, workspace, number, note=body.body)

