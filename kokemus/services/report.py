"""The report a board can read: every insight of a workspace in one place, and the three
things to fix first with their evidence and their value.

Sections (each the same figures as its own page, CLI command and API route): the promise
scorecard, the gaps, the key drivers, the elements of value, outcomes by effort, silent
moments, what customers say, the five warning signals, the journeys' drop-off, and the
fixes. A section whose data is missing (no quality survey, no outcome events) is left out
with the reason, never guessed.

**What to fix first.** Every candidate is measured in the same unit, the NPS points the
whole would gain: a commitment whose broken occurrences are followed by a significantly
lower NPS gains (share of judged occurrences broken) x (the NPS difference); a group of any
breakdown the data knows (an event property such as the carrier, an event on the journey
such as a damaged delivery) that scores significantly worse than the rest gains (its share
of the answers) x (its difference to the rest). The three largest gains are the fixes, each
with its evidence.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from kokemus.analytics import breakdowns, dropoff, kano, outcomes, scores, silent, text, value
from kokemus.analytics.engines import DuckDBEngine
from kokemus.analytics.logs import selection
from kokemus.bootstrap import Kokemus
from kokemus.domain.promises import Never, Within, types_of
from kokemus.services import drivers, gaps, promises, signals
from kokemus.services.workspaces import ActiveWorkspace

PROPERTIES = 8  # event properties broken down when looking for the worst groups
MAX_VALUES = 30  # ... each with at most this many values (in the latest SAMPLE events)
SAMPLE = 20_000
# A feedback event's own properties are the answers (and the survey asked): grouping the
# answers by themselves finds nothing to fix.
ANSWERS = frozenset({"nps", "ces", "csat", "survey"})
TOP = 3


@dataclass(frozen=True)
class Fix:
    """One thing to fix: what, the NPS points the whole would gain, and the evidence."""

    kind: str  # "commitment" or "group"
    what: str  # a commitment id, or "dimension=key" (e.g. property:carrier=Kiito)
    gain: float  # NPS points
    evidence: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "what": self.what, "gain": round(self.gain, 2),
                "evidence": self.evidence}


@dataclass
class Report:
    workspace: str
    as_of: datetime
    sections: dict[str, Any] = field(default_factory=dict)  # name -> its figures (plain)
    missing: dict[str, str] = field(default_factory=dict)  # name -> why it is left out
    fixes: list[Fix] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"workspace": self.workspace, "as_of": self.as_of.isoformat(),
                "fixes": [f.as_dict() for f in self.fixes], "sections": self.sections,
                "missing": self.missing}


def plain(value: Any) -> Any:
    """Figures as JSON: a dataclass by its `as_dict` (or its fields), dates as ISO text,
    NaN and infinities as null."""
    if hasattr(value, "as_dict"):
        return plain(value.as_dict())
    if hasattr(value, "__dataclass_fields__"):
        return {k: plain(getattr(value, k)) for k in value.__dataclass_fields__}
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def build(kk: Kokemus, ws: ActiveWorkspace, *, as_of: datetime | None = None,
          language: str = "en", progress: Callable[[str], None] | None = None) -> Report:
    moment = (as_of or datetime.now(UTC)).astimezone(UTC)
    report = Report(ws.slug, moment)
    min_n = ws.document.feedback.min_answers
    period = promises.Period(moment)
    table = promises.occurrences(kk, ws, period)

    def section(name: str, make: Callable[[], Any]) -> Any:
        if progress is not None:
            progress(name)
        started = time.perf_counter()
        try:
            found = make()
        except (ValueError, LookupError) as exc:  # the data cannot answer: say why
            report.missing[name] = str(exc)
            return None
        finally:
            report.seconds[name] = round(time.perf_counter() - started, 3)
        if found is None:
            return None
        report.sections[name] = plain(found)
        return found

    def reading(run: Callable[[Any], Any]) -> Callable[[], Any]:
        def read() -> Any:
            with kk.events.reading() as cursor:
                return run(cursor)
        return read

    section("promises", lambda: promises.scorecard(kk, ws, period, language=language,
                                                   table=table))
    costs = section("costs", lambda: promises.consequences(kk, ws, period, table=table))
    section("gaps", lambda: gaps.report(kk, ws, as_of=moment, language=language,
                                        table=table))
    section("drivers", lambda: drivers.key_drivers(kk, ws))
    document = ws.document
    section("value", reading(lambda c: value.report(c, ws.id, document, min_n=min_n)))
    if kano.questions(document):
        section("kano", reading(lambda c: kano.report(c, ws.id, document)))
    else:
        report.missing["kano"] = "the workspace asks no Kano question"
    if document.insights.outcomes.repurchase:
        section("outcomes", reading(lambda c: outcomes.report(
            c, ws.id, document.insights.outcomes, "repurchase", as_of=moment, min_n=min_n)))
    else:
        report.missing["outcomes"] = "the workspace names no repurchase event"
    section("silent_moments", reading(lambda c: silent.report(c, ws.id, document)))
    section("comments", reading(lambda c: text.report(
        c, ws.id, list(document.insights.themes), default_language=document.languages[0],
        min_n=min_n)))
    section("signals", lambda: signals.signals(kk, ws, as_of=moment, table=table,
                                               consequences=costs))
    section("dropoff", reading(lambda c: _dropoff(c, ws, moment)))
    worst = section("worst", reading(lambda c: _worst(c, kk, ws, min_n)))
    report.fixes = fixes(costs or [], worst or [])
    return report


def _dropoff(cursor: Any, ws: ActiveWorkspace, as_of: datetime) -> list[dict[str, Any]]:
    """Per journey with a goal: how many reach it, and where the others stop, as of the
    report's day (the events until then; idle since when, in flight or lost)."""
    engine = DuckDBEngine(cursor)
    out = []
    for journey in ws.document.journeys:
        if journey.goal is None:
            continue
        log = selection(ws.id, journey, until=as_of)
        found = dropoff.outcomes(engine, log, journey.goals, as_of=as_of)  # any goal
        stalls = dropoff.stalls(engine, log, "touchpoint", min_steps=30).to_pylist()[:5]
        out.append({"journey": journey.id, "goal": journey.goal, "outcomes": found,
                    "stalls": stalls})
    return out


def _groupable(cursor: Any, workspace_id: int, names: Sequence[str]) -> list[str]:
    """The properties that make groups: 2 to MAX_VALUES distinct values among those of the
    latest SAMPLE events, the answers themselves (ANSWERS) left out. An order
    number or a price is a key, not a group; its breakdown would fetch a group per response
    only to pool them all."""
    names = [n for n in names if n not in ANSWERS]
    if not names:
        return []
    counts = ", ".join(f"count(DISTINCT properties->>{_quoted(n)}) AS v{i}"
                       for i, n in enumerate(names))
    found = cursor.execute(
        f"SELECT {counts} FROM ({breakdowns.latest_properties(workspace_id, SAMPLE)}) AS e"
    ).fetchone()
    return [n for n, v in zip(names, found or (), strict=True) if 2 <= v <= MAX_VALUES]


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _dimensions(ws: ActiveWorkspace, known: breakdowns.Known,
                properties: Sequence[str]) -> list[str]:
    """The breakdowns searched for the worst groups: the events that start or break a
    commitment (was the journey damaged?), then the events' groupable properties."""
    events: list[str] = []
    for _, c in ws.document.commitments():
        if isinstance(c, Within):
            events += types_of(c.start)
        elif isinstance(c, Never):
            events += types_of(c.event)
    chosen = [f"event:{e}" for e in dict.fromkeys(events) if e in known.events]
    return chosen + [f"property:{p}" for p in properties[:PROPERTIES]]


def _worst(cursor: Any, kk: Kokemus, ws: ActiveWorkspace, min_n: int) -> list[dict[str, Any]]:
    """Every searched breakdown's groups that score NPS significantly worse than the rest,
    with their share of the answers."""
    known = breakdowns.discover(cursor, kk.db, ws.id)
    dims = _dimensions(ws, known, _groupable(cursor, ws.id, known.properties))
    if not dims:
        return []
    found = scores.report(cursor, ws.id, dims, min_n=min_n)
    total = found.overall.nps.n
    out = []
    for dim in dims:
        for c in found.worst.get(dim, {}).get("nps", []):
            if not c.worse or c.key == breakdowns.OTHER or not total:
                continue
            if dim.startswith("event:") and c.key != "yes":
                continue  # "had no damage" is not a thing to fix
            out.append({"dimension": dim, "key": c.key, "group": c.group.as_dict(),
                        "rest": c.rest.as_dict(), "difference": c.difference,
                        "low": c.low, "high": c.high, "share": c.group.n / total})
    return out


def fixes(costs: list[promises.Consequence], worst: list[dict[str, Any]]) -> list[Fix]:
    """The three largest NPS gains among the broken commitments and the worst groups (one
    per dimension: the damage and its carrier are one problem seen twice at most)."""
    candidates: list[Fix] = []
    for c in costs:
        change = c.nps_change
        if c.commitment == "*" or not change.significant or change.difference is None:
            continue
        kept, broken = c.kept["occurrences"], c.broken["occurrences"]
        if kept + broken == 0 or change.difference >= 0:
            continue
        share = broken / (kept + broken)
        candidates.append(Fix("commitment", c.commitment, share * -change.difference, {
            "promise": c.promise, "broken": broken, "judged": kept + broken,
            "nps_kept": change.before.value, "nps_broken": change.after.value,
            "difference": change.difference}))
    for w in worst:
        gain = w["share"] * -float(w["difference"])
        candidates.append(Fix("group", f"{w['dimension']}={w['key']}", gain, {
            "nps_group": w["group"]["value"], "nps_rest": w["rest"]["value"],
            "n": w["group"]["n"], "share": w["share"], "low": w["low"], "high": w["high"]}))
    candidates.sort(key=lambda f: -f.gain)
    chosen: list[Fix] = []
    seen: set[str] = set()
    for f in candidates:
        dimension = f.what.split("=")[0]
        if dimension in seen:
            continue
        seen.add(dimension)
        chosen.append(f)
        if len(chosen) == TOP:
            break
    return chosen

