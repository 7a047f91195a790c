"""Is the promise kept? The scorecard, the broken and at-risk lists and what a broken promise
costs, for the web page, the CLI and the API alike.

The occurrences are judged in the event store's engine (analytics/promises.py) as of a
moment (default now); the keep rates are counted over them (analytics/keep_rates.py), by
any breakdown the data knows (analytics/breakdowns.py: `property:carrier` and the like,
small groups pooled as `other`, each group against the rest); a
`score` commitment is judged on the touchpoint's answers with their interval
(analytics/scores.py). Python only does the arithmetic on counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc

from kokemus.analytics import breakdowns, keep_rates
from kokemus.analytics import promises as judged
from kokemus.analytics import scores as score_analytics
from kokemus.analytics.breakdowns import Condition, Contrast
from kokemus.analytics.engines import DuckDBEngine
from kokemus.bootstrap import Kokemus
from kokemus.domain import scores
from kokemus.domain.promises import Clocked, ScoreTarget
from kokemus.domain.scores import Score
from kokemus.domain.texts import localized
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.storage import people

Verdict = Literal["kept", "broken", "undecided", "too_few"]


@dataclass(frozen=True)
class Period:
    """Which occurrences: those started in [since, until), judged as of `as_of`."""

    as_of: datetime
    since: datetime | None = None
    until: datetime | None = None

    @classmethod
    def now(cls, since: datetime | None = None, until: datetime | None = None) -> Period:
        return cls(datetime.now(UTC), since, until)


@dataclass(frozen=True)
class Rate:
    """A group's counts and keep rate (kept of kept + broken, Wilson interval)."""

    key: str | None
    kept: int
    broken: int
    open: int
    at_risk: int
    not_applicable: int
    rate: Score
    median_s: float | None
    p90_s: float | None
    pooled: int = 0  # the `other` group: how many small groups it holds

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "kept": self.kept, "broken": self.broken, "open": self.open,
                "at_risk": self.at_risk, "not_applicable": self.not_applicable,
                "keep_rate": self.rate.as_dict(), "median_s": self.median_s,
                "p90_s": self.p90_s, **({"pooled": self.pooled} if self.pooled else {})}


@dataclass(frozen=True)
class Card:
    """One commitment on the scorecard: its keep rate overall and by the breakdown asked
    for, or, for a `score` commitment, the score against its target."""

    promise: str
    commitment: str
    kind: str
    text: str
    promise_text: str
    departments: tuple[str, ...]
    limit_s: float | None
    overall: Rate | None
    groups: list[Rate] = field(default_factory=list)
    weeks: list[Rate] = field(default_factory=list)  # the trend, by the start's week
    score: Score | None = None  # a `score` commitment's score
    target: float | None = None
    verdict: Verdict | None = None  # of a `score` commitment
    worst: list[Contrast] = field(default_factory=list)  # groups against the rest

    def as_dict(self) -> dict[str, Any]:
        return {
            "promise": self.promise, "commitment": self.commitment, "kind": self.kind,
            "text": self.text, "departments": list(self.departments), "limit_s": self.limit_s,
            "overall": self.overall.as_dict() if self.overall else None,
            "groups": [g.as_dict() for g in self.groups],
            "weeks": [g.as_dict() for g in self.weeks],
            "score": self.score.as_dict() if self.score else None, "target": self.target,
            "verdict": self.verdict, "worst": [c.as_dict() for c in self.worst],
        }


@dataclass(frozen=True)
class Scorecard:
    period: Period
    by: str | None
    cards: list[Card]
    departments: list[Rate]  # every commitment of each department's promises together


def clocked(ws: ActiveWorkspace) -> list[tuple[str, Clocked]]:
    """The workspace's commitments judged on events, with their promise's id."""
    return [(p.id, c) for p, c in ws.document.commitments() if not isinstance(c, ScoreTarget)]


def members(kk: Kokemus, ws: ActiveWorkspace) -> dict[str, list[str]]:
    """The customers of each segment a commitment names."""
    named = {s for _, c in ws.document.commitments() for s in getattr(c, "segments", [])}
    return {s: people.customers_in_segment(kk.db, ws.id, s) for s in sorted(named)}


def occurrences(kk: Kokemus, ws: ActiveWorkspace, period: Period, *,
                customer: str | None = None, account: str | None = None,
                where: tuple[Condition, ...] = ()) -> pa.Table:
    """Every clocked commitment's occurrences in the period (analytics/promises.COLUMNS),
    those that meet the `where` conditions (property:carrier=Kiito, ...)."""
    scope = judged.Scope(ws.id, period.as_of, customer=customer, account=account,
                         since=period.since, until=period.until)
    tables = breakdowns.tables_for(kk.db, ws.id, [c.dimension for c in where
                                                  if not c.dimension.plain])
    with kk.events.reading() as cursor:
        table = judged.all_occurrences(DuckDBEngine(cursor), scope, clocked(ws),
                                       members=members(kk, ws),
                                       calendar=ws.document.business_hours)
        if not where:
            return table
        with breakdowns.attached(cursor, tables):
            return keep_rates.matching(cursor, ws.id, table, where, period.as_of)


def check(kk: Kokemus, ws: ActiveWorkspace, by: str | None,
          where: tuple[Condition, ...] = ()) -> None:
    """Invalid for a lookup breakdown or filter the data does not know (naming those it
    knows)."""
    wanted = [c.dimension for c in where if not c.dimension.plain]
    if by is not None and ":" in by:
        wanted.append(breakdowns.parse(by))
    if wanted:
        with kk.events.reading() as cursor:
            breakdowns.check(wanted, breakdowns.discover(cursor, kk.db, ws.id), cursor, ws.id)


def scorecard(kk: Kokemus, ws: ActiveWorkspace, period: Period, *,
              by: keep_rates.Breakdown | str | None = None, language: str = "en",
              table: pa.Table | None = None) -> Scorecard:
    """Every commitment's card, with groups `by` a breakdown (one of keep_rates.BREAKDOWNS,
    or a lookup: property:<name>, attribute:<name>, event:<type>, whose small groups are
    pooled as `other`) and the weekly trend, and each group against the rest of the
    commitment's occurrences; `table`: the period's occurrences when the caller has them."""
    min_n = ws.document.feedback.min_answers
    if table is None:
        table = occurrences(kk, ws, period)
    rates = overall(table, min_n)
    lookup = breakdowns.parse(by) if by is not None and ":" in by else None

    def grouped(breakdown: str) -> dict[tuple[str, str], list[Rate]]:
        found: dict[tuple[str, str], list[Rate]] = {}
        segments = _segments(kk, ws) if breakdown == "segment" else None
        source = table
        if lookup is not None and breakdown == keep_rates.KEY:
            tables = breakdowns.tables_for(kk.db, ws.id, [lookup])
            with kk.events.reading() as cursor, breakdowns.attached(cursor, tables):
                source = keep_rates.with_keys(cursor, ws.id, table, lookup, period.as_of)
        for row in keep_rates.counts(source, breakdown,  # type: ignore[arg-type]
                                     segments=segments):
            found.setdefault((row["promise"], row["commitment"]), []).append(
                _rate(row, min_n))
        if lookup is not None and breakdown == keep_rates.KEY:
            found = {k: _pooled([g for g in rates if g.key is not None], min_n)
                     for k, rates in found.items()}
        return found

    if lookup is not None:
        groups = grouped(keep_rates.KEY)
    else:
        groups = grouped(by) if by is not None and by != "department" else {}
    weeks = grouped("week")
    owners = {p.id: list(p.departments) for p in ws.document.promises}
    scored = pc.equal(table["kind"], "score")  # none from `occurrences`: copy only if any
    clocked_only = table.filter(pc.invert(scored)) if pc.any(scored).as_py() else table
    departments = [_rate(r, min_n) for r in keep_rates.counts(
        clocked_only, "department", departments=owners)]
    cards: list[Card] = []
    for promise, commitment in ws.document.commitments():
        key = (promise.id, commitment.id)
        common: dict[str, Any] = {"promise": promise.id, "commitment": commitment.id,
                                  "kind": commitment.kind,
                  "text": localized(commitment.text, language),
                  "promise_text": localized(promise.text, language),
                  "departments": tuple(promise.departments)}
        if isinstance(commitment, ScoreTarget):
            cards.append(_score_card(kk, ws, commitment, period, common, min_n))
            continue
        whole = rates.get(key) or nothing(min_n)
        mine = groups.get(key, [])
        worst = (breakdowns.worst([against_rest(g, whole, min_n) for g in mine])
                 if by not in (None, "week", "month", "department") else [])
        cards.append(Card(
            **common, limit_s=commitment.seconds, overall=whole, groups=mine,
            weeks=weeks.get(key, []), worst=worst))
    return Scorecard(period, by, cards, departments)


def overall(table: pa.Table, min_n: int) -> dict[tuple[str, str], Rate]:
    """(promise, commitment) -> its keep rate over all of `table`'s occurrences (a
    commitment without any is not there: `nothing`)."""
    return {(r["promise"], r["commitment"]): _rate(r, min_n) for r in keep_rates.counts(table)}


def _pooled(rates: list[Rate], min_n: int) -> list[Rate]:
    """Groups with fewer than `min_n` judged occurrences (and beyond the largest
    breakdowns.MAX_GROUPS) added up into one `other` group, last."""
    ordered = sorted(rates, key=lambda r: (-(r.kept + r.broken), r.key or ""))
    kept, small = breakdowns.pool(ordered, lambda r: r.kept + r.broken, min_n)
    if not small:
        return kept
    total = {k: sum(getattr(r, k) for r in small)
             for k in ("kept", "broken", "open", "at_risk", "not_applicable")}
    other = _rate({"key": breakdowns.OTHER, **total, "median_s": None, "p90_s": None}, min_n)
    return [*kept, Rate(**{**vars(other), "pooled": len(small)})]


def against_rest(group: Rate, whole: Rate, min_n: int) -> Contrast:
    """A group's keep rate against the rest of the commitment's judged occurrences."""
    kept, broken = whole.kept - group.kept, whole.broken - group.broken
    rest = scores.keep_rate(kept, kept + broken, min_n)
    return breakdowns.contrast(group.key or "", group.rate, rest, pooled=group.pooled)


def _rate(row: dict[str, Any], min_n: int) -> Rate:
    kept, broken = int(row["kept"]), int(row["broken"])
    return Rate(row.get("key"), kept, broken, int(row["open"]), int(row["at_risk"]),
                int(row["not_applicable"]), scores.keep_rate(kept, kept + broken, min_n),
                row["median_s"], row["p90_s"])


def nothing(min_n: int) -> Rate:
    return Rate(None, 0, 0, 0, 0, 0, scores.keep_rate(0, 0, min_n), None, None)


def _segments(kk: Kokemus, ws: ActiveWorkspace) -> dict[str, list[str]]:
    """customer -> segments, for the segment breakdown."""
    out: dict[str, list[str]] = {}
    for segment in ws.document.segments:
        for customer in people.customers_in_segment(kk.db, ws.id, segment.id):
            out.setdefault(customer, []).append(segment.id)
    return out


def _score_card(kk: Kokemus, ws: ActiveWorkspace, c: ScoreTarget, period: Period,
                common: dict[str, Any], min_n: int) -> Card:
    """A touchpoint's score against its target, judged with the interval: kept when the
    interval's low end reaches the target, broken when its high end is below it."""
    target = c.target
    if target is None:
        tp = ws.document.touchpoint(c.touchpoint)
        target = getattr(tp.target, c.score) if tp is not None else None
    filters = score_analytics.Filters(touchpoint=c.touchpoint, since=period.since,
                                      until=period.until)
    with kk.events.reading() as cursor:
        found = score_analytics.overall(cursor, ws.id, filters, min_n=min_n)
    score: Score = getattr(found, c.score)
    return Card(**common, limit_s=None, overall=None, score=score, target=target,
                verdict=judge_score(score, target))


def judge_score(score: Score, target: float | None) -> Verdict:
    if target is None or score.value is None or not score.enough:
        return "too_few"
    if score.low is not None and score.low >= target:
        return "kept"
    if score.high is not None and score.high < target:
        return "broken"
    return "undecided"


# ----------------------------------------------------------------------- the lists


ListName = Literal["broken", "at_risk", "open", "kept"]


def listing(kk: Kokemus, ws: ActiveWorkspace, period: Period, which: ListName, *,
            commitment: str | None = None, limit: int = 50, offset: int = 0,
            table: pa.Table | None = None) -> tuple[list[dict[str, Any]], int]:
    """Occurrences of one verdict (or at risk), the latest start first, a page of them and
    how many there are in all."""
    if table is None:
        table = occurrences(kk, ws, period)
    rows = table.filter(pc.equal(table["at_risk"], True) if which == "at_risk"
                        else pc.equal(table["verdict"], which))
    if commitment is not None:
        rows = rows.filter(pc.equal(rows["commitment"], commitment))
    total = rows.num_rows
    ordered = rows.sort_by([("start_ts", "descending"), ("occurrence", "ascending")])
    return ordered.slice(offset, limit).to_pylist(), total


# ------------------------------------------------------------- what a broken promise costs


@dataclass(frozen=True)
class Consequence:
    """Kept against broken for one commitment: the NPS and CES of the first answer after
    the occurrence, the share that saw the outcome event, and the differences."""

    promise: str
    commitment: str
    kept: dict[str, Any]
    broken: dict[str, Any]
    nps_change: scores.Change
    ces_change: scores.Change
    outcome_change: scores.Change | None

    def as_dict(self) -> dict[str, Any]:
        return {"promise": self.promise, "commitment": self.commitment,
                "kept": self.kept, "broken": self.broken,
                "nps_difference": self.nps_change.as_dict(),
                "ces_difference": self.ces_change.as_dict(),
                "outcome_difference": (self.outcome_change.as_dict()
                                       if self.outcome_change else None)}


def consequences(kk: Kokemus, ws: ActiveWorkspace, period: Period, *, days: float = 30,
                 outcome: str | None = None,
                 table: pa.Table | None = None) -> list[Consequence]:
    """Per commitment, kept against broken (see Consequence), and last every promise
    together (promise and commitment '*': customers with any broken promise against those
    whose judged promises were all kept); `outcome` an event type."""
    min_n = ws.document.feedback.min_answers
    if table is None:
        table = occurrences(kk, ws, period)
    with kk.events.reading() as cursor:  # and every promise together: promise '*'
        rows = keep_rates.after(cursor, ws.id, table, days=days, outcome=outcome,
                                together=True)
    by: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for row in rows:
        by.setdefault((row["promise"], row["commitment"]), {})[row["verdict"]] = row
    out: list[Consequence] = []
    for (promise, commitment), sides in by.items():
        kept, broken = (_side(sides.get(v), min_n, outcome) for v in ("kept", "broken"))
        out.append(Consequence(
            promise, commitment, _public(kept), _public(broken),
            scores.change(kept["nps"], broken["nps"]), scores.change(kept["ces"], broken["ces"]),
            scores.change(kept["outcome"], broken["outcome"]) if outcome else None))
    return out


def _side(row: dict[str, Any] | None, min_n: int, outcome: str | None) -> dict[str, Any]:
    row = row or {"occurrences": 0, "outcome": 0, "promoters": 0, "passives": 0,
                  "detractors": 0, "ces_n": 0, "ces_sum": 0, "ces_squares": 0}
    share = scores.keep_rate(int(row["outcome"]), int(row["occurrences"]), min_n)
    return {"occurrences": int(row["occurrences"]),
            "nps": scores.nps(row["promoters"], row["passives"], row["detractors"], min_n),
            "ces": scores.ces(row["ces_n"], row["ces_sum"], row["ces_squares"], min_n),
            "outcome": scores.Score("outcome", share.n, share.value, share.low, share.high,
                                    share.enough, share.se) if outcome else None}


def _public(side: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.as_dict() if isinstance(v, Score) else v) for k, v in side.items()}


def commitment_names(ws: ActiveWorkspace, language: str) -> dict[str, str]:
    return {c.id: localized(c.text, language) for _, c in ws.document.commitments()}

