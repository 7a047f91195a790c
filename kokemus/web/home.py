"""The home page after sign-in: every workspace the person may see, with its headline figures
and what changed since last week.

The figures come from kokemus.analytics.headlines (one event-store statement per workspace:
answers and promise occurrences of the last 7 days and the 7 before) and the open cases from
one app-store query for all workspaces (services/cases.open_by_workspace). What a card shows
follows the person's role in that workspace: scores and keep rates need `analyse` (as the
scores and promises pages do), open cases count those their reach sees (an agent's
departments), and responses are counted for anyone who may view them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from kokemus.analytics import headlines
from kokemus.api.auth import kokemus
from kokemus.bootstrap import Kokemus
from kokemus.domain.roles import Permission, Role
from kokemus.domain.scores import Change
from kokemus.domain.texts import localized
from kokemus.services import cases as case_service
from kokemus.services import promises as promise_service
from kokemus.services import workspaces as workspace_service
from kokemus.services.sessions import Viewer
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.web import i18n, sessions
from kokemus.web.page import SignedIn, render, workspace_roles
from kokemus.web.scores import day_span, figure

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)

# The figures of a card, in order, and the unit their change is said in.
FIGURES = ("nps", "keep_rate", "csat", "ces")
DIGITS = {"nps": 0, "keep_rate": 0, "csat": 0, "ces": 1}
SHARES = ("keep_rate", "csat")


@dataclass(frozen=True)
class Headline:
    """One figure of a card: the last 7 days, the 7 before, and the move between them."""

    kind: str
    value: str  # "" when there is no answer; see `enough`
    interval: str
    n: str
    enough: bool
    before: str
    before_n: str
    before_enough: bool
    difference: str  # "+5"; "" when either period has none
    direction: str  # up, down, flat, none (not judged: too few answers in a period)
    significant: bool  # beyond the 95% interval of the difference


@dataclass
class Card:
    slug: str
    name: str
    role: str  # the role's name in the reader's language
    responses: str
    responses_before: str
    open_cases: str | None  # None: not for this role
    figures: list[Headline] = field(default_factory=list)
    analyse: bool = False


@dataclass
class Home:
    cards: list[Card]
    after: str  # "24.11.–30.11.2026"
    before: str


def headline(kind: str, c: Change, language: str) -> Headline:
    after, before = figure(c.after, language), figure(c.before, language)
    judged = c.before.enough and c.after.enough and c.difference is not None
    if not judged or c.difference is None:
        direction = "none"
    elif round(c.difference, DIGITS[kind]) == 0:
        direction = "flat"
    else:
        direction = "up" if c.difference > 0 else "down"
    difference = ("" if c.difference is None or not judged
                  else i18n.number(c.difference, language, DIGITS[kind], signed=True))
    if difference and kind in SHARES:  # a move of a share is in percentage points
        difference += "\u00a0" + i18n.translate("home.points", language)
    return Headline(kind, after.value, after.interval, after.n, after.enough, before.value,
                    before.n, before.enough, difference, direction, c.significant and judged)


def _card(kk: Kokemus, ws: ActiveWorkspace, role: Role | None, open_cases: int | None,
          now: datetime, language: str) -> Card:
    permissions = frozenset(Permission) if role is None else role.permissions
    analyse = Permission.ANALYSE in permissions
    doc = ws.document
    with kk.events.reading() as cursor:
        week = headlines.week(
            cursor, ws.id, now, min_n=doc.feedback.min_answers,
            commitments=promise_service.clocked(ws) if analyse else (),
            members=promise_service.members(kk, ws) if analyse else None,
            business_hours=doc.business_hours)
    t = i18n.translator(language)
    card = Card(
        slug=ws.slug, name=localized(doc.name, language),
        role=t("home.admin") if role is None else t(f"roles.{role.value}"),
        responses=i18n.number(week.responses[1], language),
        responses_before=i18n.number(week.responses[0], language),
        open_cases=None if open_cases is None else i18n.number(open_cases, language),
        analyse=analyse)
    if analyse:
        card.figures = [headline(kind, week.changes[kind], language) for kind in FIGURES]
    return card


def build(kk: Kokemus, viewer: Viewer, roles: dict[str, Role | None], language: str,
          now: datetime | None = None) -> Home:
    """The cards of every workspace in `roles` (the viewer's), in slug order."""
    now = now or datetime.now(UTC)
    # one app-store query for every workspace's current version (documents parsed once)
    active = [(ws, roles[ws.slug]) for ws in workspace_service.current(kk.db, list(roles))]
    # every role views cases (the inbox is a `view` page); an agent only their departments'
    reaches = {ws.id: case_service.reach_of(kk.db, viewer.id, ws.id, role)
               for ws, role in active}
    counts = case_service.open_by_workspace(kk.db, reaches)
    week = headlines.Week.ending(now.date())
    return Home(
        cards=[_card(kk, ws, role, counts.get(ws.id), now, language) for ws, role in active],
        after=day_span(*week.after, language), before=day_span(*week.before, language))


@router.get("/")
def home(request: Request, viewer: SignedIn) -> Response:
    roles = workspace_roles(request, viewer)
    if not roles:
        return render(request, "empty.html", admin=viewer.is_admin)
    view = build(kokemus(request), viewer, roles, sessions.language(request))
    if not view.cards:
        return render(request, "empty.html", admin=viewer.is_admin)
    return render(request, "home.html", home=view, workspaces=list(roles))
