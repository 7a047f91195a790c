"""The workspace overview as the page shows it: every text localized, every name resolved.

Templates stay free of lookups and fallbacks; this module turns the workspace document
and the store counts into plain values in one language.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, tzinfo

from kokemus.bootstrap import Kokemus
from kokemus.domain.journeys import Journey
from kokemus.domain.promises import Commitment, FirstContact, Never, Within, types_of
from kokemus.domain.texts import Text, localized
from kokemus.domain.workspace import Workspace
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.storage import people
from kokemus.storage.tables import customers
from kokemus.web import i18n

LATEST_EVENTS = 10


@dataclass(frozen=True)
class CommitmentView:
    text: str
    deadline: str  # "within 48 h"; "" for a kind without a limit
    measured: str  # what is measured on the events, in words


def commitment_view(c: Commitment, text: str, language: str,
                    document: Workspace) -> CommitmentView:
    """A commitment of any kind as the overview lists it, its events and touchpoint by
    their names."""
    t = i18n.translator(language)

    def named(spec: str | list[str]) -> str:
        return ", ".join(document.event_name(e, language) for e in types_of(spec))

    limit = getattr(c, "within", None)
    deadline = t("commitment.within", duration=i18n.duration(limit, language)) if limit else ""
    if isinstance(c, Within):
        measured = t("commitment.from_to", start=named(c.start), end=named(c.end))
    elif isinstance(c, Never):
        measured = t("commitment.never", event=named(c.event))
    elif isinstance(c, FirstContact):
        measured = t("commitment.first_contact", event=named(c.event), need=c.need)
    else:
        touchpoint = document.touchpoint(c.touchpoint)
        measured = t("commitment.score", score=c.score.upper(), touchpoint=localized(
            touchpoint.name, language) if touchpoint else c.touchpoint)
    return CommitmentView(text, deadline, measured)


@dataclass(frozen=True)
class PromiseView:
    text: str
    departments: list[str]
    channels: list[str]
    commitments: list[CommitmentView]


@dataclass(frozen=True)
class TouchpointView:
    id: str
    name: str
    channel: str
    owner: str
    category: str
    core: bool
    required: bool
    goal: bool
    events: list[str]


@dataclass(frozen=True)
class StageView:
    name: str
    touchpoints: list[TouchpointView]


@dataclass(frozen=True)
class JourneyView:
    id: str
    name: str
    segment: str | None
    stages: list[StageView]
    designed_path: list[str]
    goal: str | None


@dataclass(frozen=True)
class EventView:
    seq: int
    occurred_at: str
    type: str
    customer: str
    channel: str
    touchpoint: str


@dataclass(frozen=True)
class Overview:
    slug: str
    name: str
    version: int
    statement: str
    differentiation: str | None
    segments: list[str]
    promises: list[PromiseView]
    journeys: list[JourneyView]
    event_count: str
    event_total: int
    customer_count: str
    touchpoint_count: int
    events: list[EventView] = field(default_factory=list)


class _Names:
    """Ids to localized names, falling back to the id for anything the document lacks."""

    def __init__(self, document: Workspace, language: str) -> None:
        self.language = language

        def table(items: list[tuple[str, Text]]) -> dict[str, str]:
            return {ident: localized(name, language) for ident, name in items}

        self.departments = table([(d.id, d.name) for d in document.departments])
        self.channels = table([(c.id, c.name) for c in document.channels])
        self.segments = table([(s.id, s.name) for s in document.segments])
        self.touchpoints = table([(t.id, t.name) for t in document.touchpoints()])

    def text(self, text: Text) -> str:
        return localized(text, self.language)


def _journey(journey: Journey, names: _Names, language: str) -> JourneyView:
    def view(tp_index: int) -> TouchpointView:
        tp = journey.touchpoints[tp_index]
        return TouchpointView(
            id=tp.id,
            name=names.text(tp.name),
            channel=names.channels.get(tp.channel, tp.channel),
            owner=names.departments.get(tp.owner, tp.owner),
            category=i18n.translate(f"category.{tp.category.value}", language),
            core=tp.experience == "core",
            required=tp.required,
            goal=tp.id == journey.goal,
            events=list(tp.events),
        )

    stages = [
        StageView(
            name=names.text(stage.name),
            touchpoints=[view(i) for i, tp in enumerate(journey.touchpoints)
                         if tp.stage == stage.id],
        )
        for stage in journey.stages
    ]
    return JourneyView(
        id=journey.id,
        name=names.text(journey.name),
        segment=names.segments.get(journey.segment, journey.segment) if journey.segment else None,
        stages=stages,
        designed_path=[names.touchpoints.get(step, step) for step in journey.designed_path],
        goal=names.touchpoints.get(journey.goal, journey.goal) if journey.goal else None,
    )


def _event(row: dict[str, object], names: _Names, language: str, zone: tzinfo) -> EventView:
    occurred = row["occurred_at"]
    touchpoint = row["touchpoint"]
    return EventView(
        seq=int(str(row["seq"])),
        occurred_at=i18n.moment(occurred, language, zone) if isinstance(occurred, datetime)
        else str(occurred),
        type=str(row["type"]),
        customer=str(row["customer"]),
        channel=names.channels.get(str(row["channel"]), str(row["channel"])),
        touchpoint=names.touchpoints.get(str(touchpoint), str(touchpoint)) if touchpoint else "",
    )


def build(kk: Kokemus, active: ActiveWorkspace, language: str) -> Overview:
    document = active.document
    names = _Names(document, language)
    vp = document.value_proposition
    promises = [
        PromiseView(
            text=names.text(p.text),
            departments=[names.departments.get(d, d) for d in p.departments],
            channels=[names.channels.get(c, c) for c in p.channels],
            commitments=[commitment_view(c, names.text(c.text), language, document)
                         for c in p.commitments],
        )
        for p in document.promises
    ]
    total = kk.events.count(active.id)
    return Overview(
        slug=active.slug,
        name=names.text(document.name),
        version=active.version,
        statement=names.text(vp.statement),
        differentiation=names.text(vp.differentiation) if vp.differentiation else None,
        segments=[names.segments.get(s, s) for s in vp.segments],
        promises=promises,
        journeys=[_journey(j, names, language) for j in document.journeys],
        event_count=i18n.number(total, language),
        event_total=total,
        customer_count=i18n.number(people.count(kk.db, customers, active.id), language),
        touchpoint_count=sum(1 for _ in document.touchpoints()),
        events=[_event(row, names, language, i18n.zone(document))
                for row in kk.events.latest(active.id, LATEST_EVENTS)],
    )
