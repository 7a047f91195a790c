"""`kokemus demo --compare-policy`: the appliance shop without its damage rule (`kodinkone`,
the shop as it is) and with it (`kodinkone-rule`), the same customers and damages, side by
side: the promise scorecard's keep rates of the commitments a damage breaks, the scores of
the damaged orders and of all, and the recovery report.

Every figure is read the way the product reads it for one workspace (the scorecard's
occurrences, `services/cases.recovery`, the score formulas of `domain/scores`); this module
only puts the two workspaces' figures in one table. "Damaged" is by order: an answer about
an order that had a `delivery_damaged` event, as docs/demo.md's checks count them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rich.table import Table

from kokemus.bootstrap import Kokemus
from kokemus.demo.appliance_shop import RULE_SLUG, SLUG
from kokemus.domain import scores
from kokemus.domain.scores import Score
from kokemus.services import cases, promises, workspaces
from kokemus.services.cases import Recovery

# The commitments a damage breaks, as `promise.commitment`.
COMMITMENTS = (
    "delay-told-2h.damage-notice-2h",
    "one-whole.no-refused-cancellation",
    "one-whole.solved-first-contact",
    "express-48h.express-delivered-36h",
    "express-48h.express-installed-48h",
)


@dataclass(frozen=True)
class Side:
    """One workspace's figures."""

    workspace: str
    keep: dict[str, promises.Rate]  # `promise.commitment` -> keep rate
    nps: dict[str, Score]  # "damaged", "all"
    csat: dict[str, Score]
    ces: dict[str, Score]
    recovered: Score  # damaged orders' NPS answers of 7-10 (the service recovered)
    recovery: Recovery  # services/cases.recovery: detractors with a case and without
    cases: int  # cases the damage rule opened (for logistics)
    callbacks: int  # cases the detractor callback opened (for customer service)


@dataclass(frozen=True)
class Comparison:
    without: Side
    with_rule: Side


def side(kk: Kokemus, slug: str, as_of: datetime) -> Side:
    ws = workspaces.get(kk.db, slug)
    min_n = ws.document.feedback.min_answers
    table = promises.occurrences(kk, ws, promises.Period(as_of))
    rates = promises.overall(table, min_n)
    keep = {f"{p}.{c}": rates.get((p, c)) or promises.nothing(min_n)
            for p, c in (key.split(".", 1) for key in COMMITMENTS)}
    with kk.events.reading() as cur:
        rows = cur.execute("""
            WITH damaged AS (
                SELECT DISTINCT properties->>'order' AS o FROM events
                WHERE workspace_id = ? AND type = 'delivery_damaged')
            SELECT e.properties->>'order' IN (SELECT o FROM damaged) AS damaged,
                   count(r.nps) FILTER (r.nps >= 9), count(r.nps) FILTER (r.nps BETWEEN 7 AND 8),
                   count(r.nps) FILTER (r.nps <= 6),
                   count(r.csat), count(r.csat) FILTER (r.csat >= 4),
                   count(r.ces), coalesce(sum(r.ces), 0), coalesce(sum(r.ces * r.ces), 0)
            FROM responses r JOIN events e ON e.workspace_id = r.workspace_id
                                          AND e.id = r.event_id
            WHERE r.workspace_id = ? AND r.started_at < ?
            GROUP BY 1""", [ws.id, ws.id, as_of]).fetchall()
    counts = {bool(r[0]): r[1:] for r in rows}
    zero = (0,) * 8
    groups = {"damaged": counts.get(True, zero),
              "all": tuple(a + b for a, b in zip(counts.get(True, zero),
                                                 counts.get(False, zero), strict=True))}
    nps = {g: scores.nps(int(c[0]), int(c[1]), int(c[2]), min_n) for g, c in groups.items()}
    csat = {g: scores.csat(int(c[4]), int(c[3]), min_n) for g, c in groups.items()}
    ces = {g: scores.ces(int(c[5]), float(c[6]), float(c[7]), min_n) for g, c in groups.items()}
    d = groups["damaged"]
    recovered = scores.share("recovered", int(d[0] + d[1]), int(d[0] + d[1] + d[2]), min_n)
    report = cases.recovery(kk.db, kk.events, ws, as_of=as_of)
    opened = cases.listing(kk.db, ws.id, cases.Filters(departments=("logistics",)), limit=1)[1]
    callbacks = cases.listing(kk.db, ws.id, cases.Filters(departments=("customer-service",)),
                              limit=1)[1]
    return Side(slug, keep, nps, csat, ces, recovered, report, opened, callbacks)


def compare(kk: Kokemus, as_of: datetime) -> Comparison:
    """Both workspaces' figures as of `as_of` (the day after the history ends)."""
    return Comparison(side(kk, SLUG, as_of), side(kk, RULE_SLUG, as_of))


def _score(s: Score, digits: int = 0) -> str:
    if s.value is None:
        return f"– (n = {s.n})"
    interval = ("" if s.low is None or s.high is None
                else f" [{s.low:.{digits}f}, {s.high:.{digits}f}]")
    small = "" if s.enough else ", too few to judge"
    return f"{s.value:.{digits}f}{interval} (n = {s.n}{small})"


def _rate(r: promises.Rate) -> str:
    return f"{_score(r.rate)[:-1]}; {r.kept} of {r.kept + r.broken} kept)".replace(
        f"(n = {r.rate.n}; ", "(")


def _group(g: cases.RecoveryGroup) -> str:
    if not g.detractors:
        return "no detractors"
    return (f"{g.detractors} detractors, {g.answered.n and round(g.answered.value or 0)} % "
            f"answered again, recovered {_score(g.recovered)}")


def table(c: Comparison) -> Table:
    """The two histories side by side, a row per figure."""
    grid = Table(title="Kodinkonekauppa: the damage rule and the detractor callback off "
                       "(kodinkone) and on (kodinkone-rule)", show_lines=False)
    grid.add_column("figure")
    grid.add_column(f"without the rule ({c.without.workspace})")
    grid.add_column(f"with the rule ({c.with_rule.workspace})")
    grid.add_row("[bold]promise scorecard[/bold] (keep rate %, 95 % interval)", "", "")
    for key in COMMITMENTS:
        grid.add_row(f"  {key}", _rate(c.without.keep[key]), _rate(c.with_rule.keep[key]))
    grid.add_row("[bold]scores[/bold] (95 % interval)", "", "")
    for name, field, digits in (("NPS", "nps", 0), ("CSAT %", "csat", 0), ("CES 1–7", "ces", 2)):
        for group in ("damaged", "all"):
            label = "damaged orders" if group == "damaged" else "all answers"
            off: dict[str, Score] = getattr(c.without, field)
            on: dict[str, Score] = getattr(c.with_rule, field)
            grid.add_row(f"  {name}, {label}", _score(off[group], digits),
                         _score(on[group], digits))
    grid.add_row("[bold]recovery[/bold]", "", "")
    grid.add_row("  damaged orders answering NPS 7–10 (%)", _score(c.without.recovered),
                 _score(c.with_rule.recovered))
    grid.add_row("  cases opened by the damage rule", str(c.without.cases),
                 str(c.with_rule.cases))
    grid.add_row("  cases opened by the detractor callback", str(c.without.callbacks),
                 str(c.with_rule.callbacks))
    grid.add_row("  report: detractors with a case", _group(c.without.recovery.with_case),
                 _group(c.with_rule.recovery.with_case))
    grid.add_row("  report: detractors without a case", _group(c.without.recovery.without_case),
                 _group(c.with_rule.recovery.without_case))
    grid.add_row("  report: recovered with a case minus without, points (95 % interval)",
                 _difference(c.without.recovery), _difference(c.with_rule.recovery))
    return grid


def _difference(r: Recovery) -> str:
    """The report's difference (Newcombe's interval), with the n of both groups."""
    if r.difference is None or r.low is None or r.high is None:
        return "– (nobody answered again in one of the groups)"
    small = "" if r.enough else ", too few to judge"
    return (f"{r.difference:+.0f} [{r.low:+.0f}, {r.high:+.0f}] (n = "
            f"{r.with_case.recovered.n} and {r.without_case.recovered.n}{small})")
