"""The five warning signals of a customer experience in trouble (seed 002), each computed
from the data with its evidence, a severity and where to look (docs/signals.md):

1. `complaints_rising`: complaint events, or detractors' comments, rising;
2. `handoff_stalls`: broken promises lose their time at department hand-offs;
3. `channel_inconsistency`: the same touchpoint converting, taking time or scoring
   differently by channel;
4. `no_social_listening`: nothing ingested from social media;
5. `kpis_unlinked`: operational measures (commitments kept on time) with no link to what
   customers say.

A signal that cannot be judged (too little data) says so instead of firing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc

from kokemus.analytics import channels as channel_analytics
from kokemus.analytics import timeline as timeline_analytics
from kokemus.analytics.engines import DuckDBEngine
from kokemus.analytics.logs import events_log, one_of
from kokemus.analytics.scores import answers_sql
from kokemus.bootstrap import Kokemus
from kokemus.domain.scores import Z95
from kokemus.services import promises
from kokemus.services.workspaces import ActiveWorkspace

Severity = Literal["none", "low", "medium", "high", "unknown"]
SIGNALS = ("complaints_rising", "handoff_stalls", "channel_inconsistency",
           "no_social_listening", "kpis_unlinked")

RECENT_WEEKS = 8  # complaints: the last eight weeks against the eight before
RISE = 1.25  # ... rising when at least this many times as many, and significant
LISTENING_DAYS = 90  # social listening: events from a social channel in this many days
SOCIAL_WORDS = ("social", "some", "facebook", "instagram", "twitter", "linkedin", "tiktok",
                "youtube", "x-com")
HANDOFF_DAYS = 90  # hand-offs: the promises broken in the last 90 days
MIN_BROKEN = 10  # ... judged from this many broken occurrences
UNLINKED_POINTS = 10.0  # a KPI is unlinked when kept and broken differ by less (NPS points)


@dataclass(frozen=True)
class Signal:
    id: str
    fired: bool
    severity: Severity
    summary: dict[str, Any]  # the figures the sentence is made of (for the UI's words)
    evidence: list[dict[str, Any]] = field(default_factory=list)  # rows a person can check
    link: str = ""  # the page where to look, relative to the workspace

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "fired": self.fired, "severity": self.severity,
                "summary": self.summary, "evidence": self.evidence, "link": self.link}


def signals(kk: Kokemus, ws: ActiveWorkspace, *, as_of: datetime | None = None,
            table: pa.Table | None = None,
            consequences: Sequence[promises.Consequence] | None = None) -> list[Signal]:
    """All five, in their order, as of `as_of` (default now); `table`: the promises'
    occurrences of `promises.Period(as_of)`, and `consequences`: their
    `promises.consequences` (default days and outcome), when the caller has them already
    (the report)."""
    moment = (as_of or datetime.now(UTC)).astimezone(UTC)
    period = promises.Period(moment)
    if table is None:
        table = promises.occurrences(kk, ws, period)
    return [complaints_rising(kk, ws, moment), handoff_stalls(kk, ws, moment, table),
            channel_inconsistency(kk, ws), no_social_listening(kk, ws, moment),
            kpis_unlinked(kk, ws, period, table, consequences)]


def _rising(recent: int, before: int) -> tuple[bool, float | None]:
    """Whether `recent` counts are significantly more than `before` over equal periods: the
    conditional test of two Poisson counts (recent ~ Bin(recent + before, 1/2)), and the
    ratio."""
    total = recent + before
    if total == 0:
        return False, None
    z = (recent - before) / math.sqrt(total)
    ratio = recent / before if before else math.inf
    return z > Z95 and ratio >= RISE, ratio


def complaints_rising(kk: Kokemus, ws: ActiveWorkspace, now: datetime) -> Signal:
    """Complaint events (the workspace's `insights.complaints` types) and detractors'
    comments, in the last RECENT_WEEKS weeks against the RECENT_WEEKS before."""
    cut = now - timedelta(weeks=RECENT_WEEKS)
    first = cut - timedelta(weeks=RECENT_WEEKS)
    types = list(ws.document.insights.complaints)
    rows: list[dict[str, Any]] = []
    with kk.events.reading() as cur:
        if types:
            recent, before = cur.execute(
                f"SELECT count(*) FILTER (WHERE occurred_at >= ?), "
                f"count(*) FILTER (WHERE occurred_at < ?) FROM events "
                f"WHERE workspace_id = ? AND {one_of('type', types)} "
                f"AND occurred_at >= ? AND occurred_at < ?",
                [cut, cut, ws.id, first, now]).fetchone() or (0, 0)
            rows.append({"what": "complaints", "recent": recent, "before": before})
        recent, before = cur.execute(
            "SELECT count(*) FILTER (WHERE started_at >= ?), "
            "count(*) FILTER (WHERE started_at < ?) FROM responses "
            "WHERE workspace_id = ? AND nps <= 6 AND comment IS NOT NULL "
            "AND started_at >= ? AND started_at < ?",
            [cut, cut, ws.id, first, now]).fetchone() or (0, 0)
        rows.append({"what": "negative_comments", "recent": recent, "before": before})
    fired = False
    for row in rows:
        rose, ratio = _rising(int(row["recent"]), int(row["before"]))
        row["ratio"] = None if ratio is None or math.isinf(ratio) else round(ratio, 2)
        row["rising"] = rose
        fired = fired or rose
    judged = any(r["recent"] + r["before"] >= 20 for r in rows)
    ratios = [r["ratio"] for r in rows if r["rising"] and r["ratio"] is not None]
    severity: Severity = ("unknown" if not judged else "none" if not fired
                          else "high" if ratios and max(ratios) >= 2 else "medium")
    return Signal("complaints_rising", fired, severity,
                  {"weeks": RECENT_WEEKS, "since": cut.date().isoformat()}, rows,
                  "responses?band=nps:detractor")


def handoff_stalls(kk: Kokemus, ws: ActiveWorkspace, now: datetime,
                   table: pa.Table) -> Signal:
    """Of the promises broken in the last HANDOFF_DAYS days, how many lost their time at a
    department hand-off (the wait that broke them lay between touchpoints of two departments,
    as the customer's timeline finds it), and the hand-offs that broke most."""
    since = now - timedelta(days=HANDOFF_DAYS)
    recent = table.filter(pc.and_(pc.equal(table["verdict"], "broken"),
                                  pc.greater_equal(table["start_ts"],
                                                   pa.scalar(since, pa.timestamp("us", "UTC")))))
    if recent.num_rows < MIN_BROKEN:
        return Signal("handoff_stalls", False, "unknown",
                      {"broken": recent.num_rows, "days": HANDOFF_DAYS}, [], "promises")
    with kk.events.reading() as cur:
        gaps = timeline_analytics.breaking_gaps(cur, ws, recent, now)
        cur.register("gaps", gaps)
        try:
            found = cur.execute("""
                SELECT from_department, to_department, count(*) AS broken,
                       median(gap_s) AS median_wait_s
                FROM gaps WHERE gap_s IS NOT NULL
                GROUP BY ALL ORDER BY broken DESC, median_wait_s DESC""").fetchall()
        finally:
            cur.unregister("gaps")
    rows = [{"from": a, "to": b, "broken": n, "median_wait_s": w,
             "handoff": a is not None and b is not None and a != b} for a, b, n, w in found]
    measured = sum(r["broken"] for r in rows)
    at_handoffs = sum(r["broken"] for r in rows if r["handoff"])
    share = at_handoffs / measured if measured else 0.0
    severity: Severity = ("high" if share >= 0.5 else "medium" if share >= 0.25
                          else "low" if share >= 0.1 else "none")
    return Signal("handoff_stalls", severity in ("medium", "high"), severity,
                  {"broken": measured, "at_handoffs": at_handoffs, "share": round(share, 3),
                   "days": HANDOFF_DAYS},
                  [r for r in rows if r["handoff"]][:5], "promises")


def channel_inconsistency(kk: Kokemus, ws: ActiveWorkspace) -> Signal:
    """The touchpoints reached through two or more channels whose conversion to a journey's
    goal or time to the next step differs by channel beyond the journey analytics' rules
    (analytics/channels.py), with the answers given there by channel."""
    rows: list[dict[str, Any]] = []
    with kk.events.reading() as cur:
        engine = DuckDBEngine(cur)
        for journey in ws.document.journeys:
            found = channel_analytics.touchpoint_by_channel(
                engine, events_log(ws.id, journey), goal=journey.goal,
                scores=answers_sql(ws.id))
            for row in found.to_pylist():
                if row["inconsistent"] and row["judged"]:
                    rows.append({"journey": journey.id, "touchpoint": row["touchpoint"],
                                 "channel": row["channel"], "cases": row["cases"],
                                 "conversion": row["conversion"],
                                 "median_next_s": row["median_next_s"], "rule": row["rule"],
                                 "nps": row.get("nps"), "nps_n": row.get("nps_n")})
    touchpoints = sorted({r["touchpoint"] for r in rows})
    severity: Severity = ("none" if not touchpoints else "high" if len(touchpoints) >= 3
                          else "medium")
    return Signal("channel_inconsistency", bool(touchpoints), severity,
                  {"touchpoints": touchpoints}, rows, "journeys")


def social_channels(ws: ActiveWorkspace) -> list[str]:
    """The workspace's social-media channels: those `insights.listening` names, else those
    whose id says social media."""
    named = list(ws.document.insights.listening)
    if named:
        return named
    return [c.id for c in ws.document.channels if any(w in c.id for w in SOCIAL_WORDS)]


def no_social_listening(kk: Kokemus, ws: ActiveWorkspace, now: datetime) -> Signal:
    """Fires when no social-media channel is defined (high), or none sent an event in the
    last LISTENING_DAYS days (medium)."""
    social = social_channels(ws)
    counts: dict[str, int] = {}
    if social:
        since = now - timedelta(days=LISTENING_DAYS)
        with kk.events.reading() as cur:
            counts = dict(cur.execute(
                f"SELECT channel, count(*) FROM events WHERE workspace_id = ? "
                f"AND {one_of('channel', social)} AND occurred_at >= ? AND occurred_at <= ? "
                f"GROUP BY channel", [ws.id, since, now]).fetchall())
    heard = sum(counts.values())
    severity: Severity = "high" if not social else "medium" if heard == 0 else "none"
    return Signal("no_social_listening", severity != "none", severity,
                  {"channels": social, "events": heard, "days": LISTENING_DAYS},
                  [{"channel": c, "events": counts.get(c, 0)} for c in social], "")


def kpis_unlinked(kk: Kokemus, ws: ActiveWorkspace, period: promises.Period,
                  table: pa.Table,
                  consequences: Sequence[promises.Consequence] | None = None) -> Signal:
    """The commitments (operational measures: on time or not) whose kept and broken
    occurrences are followed by NPS answers that do not differ: both sides judged, the
    difference not significant and under UNLINKED_POINTS points. `consequences`: those of
    `table` when the caller has them (they are read from it otherwise)."""
    rows: list[dict[str, Any]] = []
    judged = 0
    if consequences is None:
        consequences = promises.consequences(kk, ws, period, table=table)
    for c in consequences:
        if c.commitment == "*":
            continue
        change = c.nps_change
        if not (change.before.enough and change.after.enough) or change.difference is None:
            continue
        judged += 1
        loose = not change.significant and abs(change.difference) < UNLINKED_POINTS
        rows.append({"promise": c.promise, "commitment": c.commitment,
                     "nps_kept": change.before.value, "nps_broken": change.after.value,
                     "difference": change.difference, "significant": change.significant,
                     "n_kept": change.before.n, "n_broken": change.after.n,
                     "unlinked": loose})
    unlinked = [r for r in rows if r["unlinked"]]
    severity: Severity = ("unknown" if judged == 0 else "none" if not unlinked
                          else "high" if len(unlinked) * 2 >= judged else "medium")
    return Signal("kpis_unlinked", bool(unlinked), severity,
                  {"judged": judged, "unlinked": [r["commitment"] for r in unlinked]},
                  rows, "promises")

