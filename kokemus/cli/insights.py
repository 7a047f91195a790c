"""`kokemus gaps` and `kokemus drivers`: where the experience falls short, and what to fix
first; the same figures as the API and the gaps and drivers pages (each with n and a 95%
interval; "too few" below the workspace's minimum n)."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kokemus.cli.common import (
    DataDir,
    Output,
    OutputOpt,
    WorkspaceOpt,
    out,
    reports_errors,
    stores,
    workspace_for,
    write_csv,
    write_json,
)

if TYPE_CHECKING:
    from kokemus.domain.scores import Score

TOO_FEW = "too few"
SinceOpt = Annotated[datetime | None, typer.Option(
    formats=["%Y-%m-%d"], help="Answers started from this day on (UTC), YYYY-MM-DD.")]
UntilOpt = Annotated[datetime | None, typer.Option(
    formats=["%Y-%m-%d"], help="Answers started before this day (UTC), YYYY-MM-DD.")]


class Missing(StrEnum):
    pairwise = "pairwise"
    listwise = "listwise"


def _utc(day: datetime | None) -> datetime | None:
    return None if day is None else day.replace(tzinfo=UTC)


def _figure(s: Score | None, digits: int = 2, signed: bool = False) -> str:
    if s is None or s.value is None:
        return "-"
    if not s.enough:
        return f"{TOO_FEW} (n={s.n})"
    sign = "+" if signed else ""
    interval = ("" if s.low is None or s.high is None
                else f" ({s.low:{sign}.{digits}f}…{s.high:{sign}.{digits}f})")
    return f"{s.value:{sign}.{digits}f}{interval} n={s.n}"


def _score(s: Score) -> dict[str, Any]:
    return {"value": s.value, "low": s.low, "high": s.high, "n": s.n, "enough": s.enough}


@reports_errors
def gaps_command(
    workspace: WorkspaceOpt = None,
    touchpoint: Annotated[str | None, typer.Option(help="Only this touchpoint.")] = None,
    event: Annotated[str | None, typer.Option(
        help="Only the answers of customers who had an event of this type (see --without).")]
    = None,
    without: Annotated[bool, typer.Option(
        "--without", help="With --event: the customers who never had it instead.")] = False,
    since: SinceOpt = None, until: UntilOpt = None,
    output: OutputOpt = Output.table, data_dir: DataDir = None,
) -> None:
    """The gaps per touchpoint: experience (perceived − expected, per item and dimension,
    SERVQUAL unweighted and weighted, SERVPERF), strategy (target − expected), delivery
    (keep rate − 100 %, scores against their targets) and communication (promise kept)."""
    from kokemus.services import gaps

    with stores(data_dir, events=True) as kk:
        ws = workspace_for(kk, workspace)
        found = gaps.report(kk, ws, gaps.Filters(_utc(since), _utc(until), event,
                                                 not without, touchpoint))
    if output is Output.json:
        write_json(found.as_dict())
        return
    rows: list[dict[str, Any]] = []
    for t in found.touchpoints:
        base = {"touchpoint": t.touchpoint}
        if t.servqual is not None:
            for name, overall in (("servqual", t.servqual.unweighted),
                                  ("servqual_weighted", t.servqual.weighted),
                                  ("servperf", t.servqual.servperf)):
                rows.append({**base, "gap": "score", "what": name, **_score(overall)})
        for d in t.dimensions:
            rows.append({**base, "gap": "experience", "what": f"dimension:{d.dimension}",
                         "expected": d.expected.value, "perceived": d.perceived.value,
                         **_score(d.gap)})
        for i in t.items:
            rows.append({**base, "gap": "experience", "what": f"item:{i.item}",
                         "expected": i.expected.value, "perceived": i.perceived.value,
                         **_score(i.gap)})
            if i.strategy is not None:
                rows.append({**base, "gap": "strategy", "what": f"item:{i.item}",
                             "target": i.target, "expected": i.expected.value,
                             **_score(i.strategy)})
        for sg in t.scores:
            rows.append({**base, "gap": "delivery", "what": f"score:{sg.kind}",
                         "target": sg.target, "measured": sg.measured.value,
                         **_score(sg.gap)})
        for c in t.delivery:
            rows.append({**base, "gap": "delivery", "what": f"commitment:{c.commitment}",
                         "target": 100, "measured": c.rate.value, **_score(c.gap)})
        for p in t.communication:
            rows.append({**base, "gap": "communication", "what": f"promise:{p.promise}",
                         "target": 100, "measured": p.rate.value, **_score(p.gap)})
    if output is Output.csv:
        write_csv(rows, ["touchpoint", "gap", "what", "target", "expected", "perceived",
                         "measured", "value", "low", "high", "n", "enough"])
        return
    from rich.table import Table

    scope = f", customers {'without' if without else 'with'} {event}" if event else ""
    if not found.touchpoints:
        out.print(f"gaps of {ws.slug}{scope}: nothing to show")
        return
    for t in found.touchpoints:
        table = Table("gap", "dimension / item / measure", "expected or target",
                      "gap (95%) n", title=f"gaps at {t.touchpoint} in {ws.slug}{scope}")
        if t.servqual is not None:
            table.add_row("SERVQUAL", "unweighted (mean of dimension gaps)", "",
                          _figure(t.servqual.unweighted, signed=True))
            table.add_row("SERVQUAL", f"weighted ({t.servqual.weights_from} weights)", "",
                          _figure(t.servqual.weighted, signed=True))
            table.add_row("SERVPERF", "mean perceived", "", _figure(t.servqual.servperf))
        for d in t.dimensions:
            table.add_row("experience P−E", d.dimension, _figure(d.expected),
                          _figure(d.gap, signed=True))
        for i in t.items:
            table.add_row("experience P−E", f"  {i.item}", _figure(i.expected),
                          _figure(i.gap, signed=True))
        for i in t.items:
            if i.strategy is not None:
                table.add_row("strategy T−E", i.item, f"target {i.target:g}",
                              _figure(i.strategy, signed=True))
        for sg in t.scores:
            table.add_row("delivery (score)", f"{sg.kind.upper()} {_figure(sg.measured, 1)}",
                          f"target {sg.target:g}", _figure(sg.gap, 1, signed=True))
        for c in t.delivery:
            table.add_row("delivery (kept)", f"{c.commitment} {_figure(c.rate, 0)} %",
                          "100 %", _figure(c.gap, 0, signed=True))
        for p in t.communication:
            table.add_row("communication", f"{p.promise} {_figure(p.rate, 0)} %", "100 %",
                          _figure(p.gap, 0, signed=True))
        out.print(table)


@reports_errors
def drivers_command(
    workspace: WorkspaceOpt = None,
    outcome: Annotated[str, typer.Option(
        help="nps (the recommendation), ces, csat, <survey>.<question> (a rating), "
             "repurchase, churn, or event:<type> (0/1 within --days).")] = "nps",
    days: Annotated[float, typer.Option(min=1, max=3650,
                                        help="An event outcome's window after the first "
                                             "answer.")] = 30,
    missing: Annotated[Missing, typer.Option(
        help="pairwise: every answer; listwise: complete answers only.")] = Missing.pairwise,
    resamples: Annotated[int, typer.Option(min=20, max=5000,
                                           help="Bootstrap resamples.")] = 200,
    seed: Annotated[int, typer.Option(help="The bootstrap's seed.")] = 20_000,
    since: SinceOpt = None, until: UntilOpt = None,
    output: OutputOpt = Output.table, data_dir: DataDir = None,
) -> None:
    """Key drivers: Johnson's relative weights as shares of R² with 95% bootstrap
    intervals, signed like the coefficient, beside each driver's mean (performance)."""
    from kokemus.services import drivers

    with stores(data_dir, events=True) as kk:
        ws = workspace_for(kk, workspace)
        found = drivers.key_drivers(
            kk, ws, drivers.Filters(
                outcome, _utc(since), _utc(until), days=days,
                missing="listwise" if missing is Missing.listwise else "pairwise"),
            resamples=resamples, seed=seed)
    if output is Output.json:
        write_json(found.as_dict())
        return
    rows = [d.as_dict() for d in found.drivers]
    if output is Output.csv:
        for row in rows:
            row["scale"] = "-".join(f"{v:g}" for v in row["scale"])
        write_csv(rows, list(rows[0]) if rows else ["driver"])
        return
    from rich.table import Table

    a = found.analysis
    r2 = ("-" if a.r2 != a.r2 else
          f"{a.r2:.2f} ({a.r2_low:.2f}…{a.r2_high:.2f})" if a.enough
          else f"{TOO_FEW} (n={a.respondents})")
    table = Table("driver", "share of R² % (95%)", "sign", "mean (scale)", "performance %",
                  "n", title=f"what drives {outcome} in {ws.slug}: R² {r2}, "
                             f"{a.respondents} respondents, {a.missing}",
                  caption=("left out: " + ", ".join(a.dropped)) if a.dropped else None)
    for d in found.drivers:
        f = d.found
        share = (f"{100 * f.share:.0f} ({100 * f.low:.0f}…{100 * f.high:.0f})" if f.enough
                 else TOO_FEW)
        table.add_row(d.key, share, "+" if f.sign > 0 else "−",
                      f"{f.mean:.2f} ({d.scale[0]:g}–{d.scale[1]:g})",
                      f"{100 * d.performance:.0f}", str(f.n_with_outcome))
    out.print(table)
