"""`kokemus promises`: is each promise kept? Keep rates with n and 95% intervals, the
broken and at-risk occurrences, and what a broken promise costs."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kokemus.cli.common import (
    DataDir,
    OffsetOpt,
    Output,
    OutputOpt,
    WorkspaceOpt,
    caption,
    out,
    reports_errors,
    stores,
    workspace_for,
    write_csv,
    write_json,
)
from kokemus.domain.errors import Invalid, KokemusError

if TYPE_CHECKING:
    import pyarrow as pa

    from kokemus.analytics.breakdowns import Condition
    from kokemus.bootstrap import Kokemus
    from kokemus.domain.scores import Score
    from kokemus.services import promises
    from kokemus.services.workspaces import ActiveWorkspace

TOO_FEW = "too few to judge"
ROWS_SHOWN = 50  # list rows in a table when --limit is not given

promises_app = typer.Typer(
    help="Promise keep rates judged on the events: kept / (kept + broken) with n and a 95% "
         "Wilson interval, open and at-risk occurrences beside it; 'too few to judge' below "
         "the workspace's minimum n.",
    invoke_without_command=True,
)


class By(StrEnum):
    channel = "channel"
    segment = "segment"
    department = "department"
    week = "week"
    month = "month"


WhereOpt = Annotated[list[str] | None, typer.Option(
    "--where", help="Only occurrences where <breakdown>=<value>, e.g. "
                          "property:carrier=Kiito or event:delivery_damaged=yes (also "
                          "channel, touchpoint, promise, commitment); repeat for several.")]
PLAIN_WHERE = ("channel", "touchpoint", "promise", "commitment")


class Which(StrEnum):
    broken = "broken"
    at_risk = "at_risk"
    open = "open"
    kept = "kept"


SinceOpt = Annotated[datetime | None, typer.Option(
    formats=["%Y-%m-%d"], help="Occurrences started from this day on (UTC), YYYY-MM-DD.")]
UntilOpt = Annotated[datetime | None, typer.Option(
    formats=["%Y-%m-%d"], help="Occurrences started before this day (UTC), YYYY-MM-DD.")]
AsOfOpt = Annotated[datetime | None, typer.Option(
    "--as-of", formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"],
    help="Judge as of this moment (UTC) [default: now], so a figure can be reproduced.")]


def _period(since: datetime | None, until: datetime | None,
            as_of: datetime | None) -> promises.Period:
    from kokemus.services import promises

    def utc(day: datetime | None) -> datetime | None:
        return None if day is None else day.replace(tzinfo=UTC)

    return promises.Period(utc(as_of) or datetime.now(UTC), utc(since), utc(until))


@promises_app.callback()
@reports_errors
def promises_command(
    ctx: typer.Context,
    workspace: WorkspaceOpt = None,
    by: Annotated[str | None, typer.Option(
        "--by", help="Rows per channel, segment, week or month of each commitment, or per "
                     "value of anything the data knows: property:<name> (e.g. "
                     "property:carrier), attribute:<name>, event:<type> (yes/no); "
                     "'department': each department's promises together.")] = None,
    where: WhereOpt = None,
    worst: Annotated[bool, typer.Option(
        "--worst", help="With --by: where is it worst? Each group against the rest of the "
                        "commitment's occurrences, significantly worse groups first.")] = False,
    since: SinceOpt = None, until: UntilOpt = None, as_of: AsOfOpt = None,
    output: OutputOpt = Output.table, data_dir: DataDir = None,
) -> None:
    """The scorecard: each commitment's keep rate, counts and time used against its limit."""
    if ctx.invoked_subcommand is not None:
        return
    from kokemus.analytics import breakdowns, keep_rates
    from kokemus.services import promises

    period = _period(since, until, as_of)
    dimension = breakdowns.parse(by, keep_rates.BREAKDOWNS) if by else None
    conditions = _conditions(where)
    name = dimension.text if dimension else None
    with stores(data_dir, events=True) as kk:
        ws = workspace_for(kk, workspace)
        promises.check(kk, ws, name, conditions)
        grouped = name if name != "department" else None
        table = promises.occurrences(kk, ws, period, where=conditions)
        card = promises.scorecard(kk, ws, period, by=grouped, table=table)
    if worst:
        if name in (None, "department", "week", "month"):
            raise KokemusError("--worst needs --by with groups (not department, week, month)")
        _show_worst(card.cards, output, str(name),
                    f"where is it worst in {ws.slug}? (keep rates by {name})")
        return
    rows: list[dict[str, Any]] = []
    if name == "department":
        rows = [{"department": d.key, **_rate(d)} for d in card.departments]
    else:
        for c in card.cards:
            base = {"promise": c.promise, "commitment": c.commitment, "kind": c.kind,
                    "limit_h": None if c.limit_s is None else round(c.limit_s / 3600, 2)}
            if c.score is not None:
                rows.append({**base, "score": c.score.kind, "value": c.score.value,
                             "low": c.score.low, "high": c.score.high, "n": c.score.n,
                             "target": c.target, "verdict": c.verdict})
                continue
            groups = c.groups if name else [c.overall] if c.overall else []
            rows += [{**base, **({name: g.key} if name else {}), **_rate(g)} for g in groups]
    title = f"promises of {ws.slug}, as of {period.as_of:%Y-%m-%d %H:%M} UTC"
    _show(rows, output, title)


def _show_worst(cards: list[promises.Card], output: Output, by: str, title: str) -> None:
    rows = [{"commitment": c.commitment, by: w.key, "pooled": w.pooled, "n": w.group.n,
             "keep_rate": w.group.value, "rest": w.rest.value, "rest_n": w.rest.n,
             "difference": w.difference, "low": w.low, "high": w.high,
             "significant": w.significant, "worse": w.worse}
            for c in cards for w in c.worst]
    if output is not Output.table:
        (write_json if output is Output.json else _csv)(rows)
        return
    from rich.table import Table

    table = Table("commitment", by, "keep rate % (n)", "rest % (n)", "difference (95%)", "",
                  title=title, caption="each group against the rest of the commitment's "
                                       "judged occurrences; significantly worse first")
    for r in rows:
        value = "-" if r["keep_rate"] is None else f"{r['keep_rate']:.0f}"
        rest = "-" if r["rest"] is None else f"{r['rest']:.0f}"
        diff = "-" if r["difference"] is None else f"{r['difference']:+.1f}" + (
            "" if r["low"] is None else f" ({r['low']:+.1f}–{r['high']:+.1f})")
        name = f"other ({r['pooled']} groups)" if r["pooled"] else str(r[by])
        table.add_row(str(r["commitment"]), name, f"{value} ({r['n']})", f"{rest} ({r['rest_n']})",
                      diff, "worse" if r["worse"] else "better" if r["significant"] else "")
    out.print(table)


def _rate(r: promises.Rate) -> dict[str, Any]:
    s = r.rate
    return {"kept": r.kept, "broken": r.broken, "open": r.open, "at_risk": r.at_risk,
            **({"pooled": r.pooled} if r.pooled else {}),
            "keep_rate": s.value, "low": s.low, "high": s.high, "n": s.n,
            "enough": s.enough,
            "median_h": None if r.median_s is None else round(r.median_s / 3600, 2),
            "p90_h": None if r.p90_s is None else round(r.p90_s / 3600, 2)}


def _figure(value: float | None, low: float | None, high: float | None, enough: bool,
            unit: str = "%") -> str:
    if value is None or low is None or high is None:
        return "-"
    if not enough:
        return TOO_FEW
    return f"{value:.0f}{unit} ({low:.0f}–{high:.0f})"


def _show(rows: list[dict[str, Any]], output: Output, title: str,
          note: str | None = None) -> None:
    if output is Output.json:
        write_json(rows)
        return
    if output is Output.csv:
        columns = list(dict.fromkeys(k for row in rows for k in row))
        write_csv(rows, columns or ["commitment"])
        return
    from rich.table import Table

    if not rows:
        out.print(f"{title}: nothing to show")
        return
    keys = [k for k in rows[0] if k in ("department", "commitment", *By.__members__)
            or ":" in k]
    table = Table(*keys, "keep rate % (95%)", "n", "kept", "broken", "open", "at risk",
                  "median / p90 / limit (h)", title=title, caption=note)
    for row in rows:
        if "score" in row:
            figure = _figure(row["value"], row["low"], row["high"], row["verdict"] != "too_few",
                             unit="")
            table.add_row(*[str(row.get(k) or "") for k in keys],
                          f"{row['score'].upper()} {figure} target {row['target']}: "
                          f"{row['verdict']}", str(row["n"]), "", "", "", "", "")
            continue
        times = " / ".join("-" if row.get(k) is None else f"{row[k]:g}"
                           for k in ("median_h", "p90_h", "limit_h"))
        table.add_row(*[str(row.get(k) or "") for k in keys],
                      _figure(row["keep_rate"], row["low"], row["high"], row["enough"], ""),
                      str(row["n"]), str(row["kept"]), str(row["broken"]), str(row["open"]),
                      str(row["at_risk"]), times)
    out.print(table)


@promises_app.command("list")
@reports_errors
def list_command(
    which: Annotated[Which, typer.Argument(help="broken, at_risk, open or kept.")],
    workspace: WorkspaceOpt = None,
    commitment: Annotated[str | None, typer.Option(help="Only this commitment.")] = None,
    where: WhereOpt = None,
    since: SinceOpt = None, until: UntilOpt = None, as_of: AsOfOpt = None,
    limit: Annotated[int | None, typer.Option(
        min=0, help="Rows shown [default: 50 in a table, all in JSON and CSV].",
        show_default=False)] = None,
    offset: OffsetOpt = 0,
    output: OutputOpt = Output.table, data_dir: DataDir = None,
) -> None:
    """Occurrences of one verdict (or at risk now), the latest first, with the customer."""
    from kokemus.services import promises

    period = _period(since, until, as_of)
    conditions = _conditions(where)
    shown = limit if limit is not None else (ROWS_SHOWN if output is Output.table else None)
    with stores(data_dir, events=True) as kk:
        ws = workspace_for(kk, workspace)
        known = {c.id for _, c in ws.document.commitments()}
        if commitment is not None and commitment not in known:
            raise KokemusError(f"no commitment '{commitment}' in workspace '{ws.slug}' "
                               f"(known: {', '.join(sorted(known)) or 'none'})")
        rows, total = promises.listing(kk, ws, period, which.value, commitment=commitment,
                                       limit=shown if shown is not None else 1 << 62,
                                       offset=offset,
                                       table=_occurrences(kk, ws, period, conditions))
    records = [{"commitment": r["commitment"], "customer": r["customer"],
                "case": r["case_id"], "occurrence": r["occurrence"],
                "started": r["start_ts"].isoformat(),
                "ended": r["end_ts"].isoformat() if r["end_ts"] else None,
                "used_h": round(r["used_s"] / 3600, 2),
                "limit_h": None if r["limit_s"] is None else round(r["limit_s"] / 3600, 2)}
               for r in rows]
    if output is not Output.table:
        (write_json if output is Output.json else _csv)(records)
        return
    from rich.table import Table

    table = Table("commitment", "customer", "started (UTC)", "used / limit (h)",
                  title=f"{which.value.replace('_', ' ')} in {ws.slug}{_where_text(conditions)}",
                  caption=caption(len(records), total, "occurrences", offset))
    for r in records:
        limit_h = "-" if r["limit_h"] is None else f"{r['limit_h']:g}"
        table.add_row(r["commitment"], r["customer"], r["started"][:16].replace("T", " "),
                      f"{r['used_h']:g} / {limit_h}")
    out.print(table)


def _csv(records: list[dict[str, Any]]) -> None:
    write_csv(records, list(records[0]) if records else ["commitment", "customer"])


def _conditions(where: list[str] | None) -> tuple[Condition, ...]:
    """--where as the scorecard, the page and the API read it: <breakdown>=<value>, by
    anything the data knows or an occurrence's own channel, touchpoint, promise,
    commitment (an error naming what is wrong otherwise)."""
    from kokemus.analytics import breakdowns

    return breakdowns.parse_conditions(where, PLAIN_WHERE)


def _occurrences(kk: Kokemus, ws: ActiveWorkspace, period: promises.Period,
                 conditions: tuple[Condition, ...]) -> pa.Table | None:
    """The period's occurrences that meet the conditions; None without any (the service
    reads them all). A property, attribute or event type the data does not have is an
    error naming those it has."""
    from kokemus.services import promises

    if not conditions:
        return None
    try:
        promises.check(kk, ws, None, conditions)
    except Invalid as exc:
        raise Invalid(f"where: {exc}") from None
    return promises.occurrences(kk, ws, period, where=conditions)


def _where_text(conditions: tuple[Condition, ...]) -> str:
    return f" where {' and '.join(c.text for c in conditions)}" if conditions else ""


@promises_app.command("costs")
@reports_errors
def costs_command(
    workspace: WorkspaceOpt = None,
    outcome: Annotated[str | None, typer.Option(
        help="An event type that follows (a repurchase, a churn): the share that saw it.")]
    = None,
    days: Annotated[float, typer.Option(min=1, max=3650,
                                        help="How long after the start to look.")] = 30,
    where: WhereOpt = None,
    since: SinceOpt = None, until: UntilOpt = None, as_of: AsOfOpt = None,
    output: OutputOpt = Output.table, data_dir: DataDir = None,
) -> None:
    """Kept against broken: the first answer's NPS and CES after the occurrence (and the
    outcome event's share), with the difference and whether its 95% interval excludes 0."""
    from kokemus.services import promises

    period = _period(since, until, as_of)
    conditions = _conditions(where)
    with stores(data_dir, events=True) as kk:
        ws = workspace_for(kk, workspace)
        found = promises.consequences(kk, ws, period, days=days, outcome=outcome,
                                      table=_occurrences(kk, ws, period, conditions))
    if output is Output.json:
        write_json([c.as_dict() for c in found])
        return
    rows = [_cost_row(c) for c in found]
    if output is Output.csv:
        _csv(rows)
        return
    from rich.table import Table

    table = Table("commitment", "NPS kept", "NPS broken", "difference", "CES kept",
                  "CES broken", *(["outcome kept", "outcome broken"] if outcome else []),
                  title=f"what a broken promise costs in {ws.slug}{_where_text(conditions)} "
                        "('*': any promise)")
    for c in found:
        cells = [c.commitment, _score(c.nps_change.before), _score(c.nps_change.after),
                 _difference(c.nps_change), _score(c.ces_change.before, 1),
                 _score(c.ces_change.after, 1)]
        if c.outcome_change is not None:
            cells += [_score(c.outcome_change.before), _score(c.outcome_change.after)]
        table.add_row(*cells)
    out.print(table)


def _cost_row(c: promises.Consequence) -> dict[str, Any]:
    return {"promise": c.promise, "commitment": c.commitment,
            "nps_kept": c.nps_change.before.value, "nps_kept_n": c.nps_change.before.n,
            "nps_broken": c.nps_change.after.value, "nps_broken_n": c.nps_change.after.n,
            "nps_difference": c.nps_change.difference,
            "nps_significant": c.nps_change.significant,
            "ces_kept": c.ces_change.before.value, "ces_broken": c.ces_change.after.value}


def _score(s: Score, digits: int = 0) -> str:
    if s.value is None or s.low is None or s.high is None:
        return "-"
    if not s.enough:
        return f"too few (n={s.n})"
    return f"{s.value:.{digits}f} ({s.low:.{digits}f}–{s.high:.{digits}f}) n={s.n}"


def _difference(change: Any) -> str:
    if change.difference is None:
        return "-"
    mark = " *" if change.significant else ""
    return f"{change.difference:+.0f}{mark}"


@promises_app.command("advance")
@reports_errors
def advance_command(data_dir: DataDir = None) -> None:
    """Advance the promise clocks once, as the server's worker does on every run: mark the
    recent occurrences at risk or breached as events (promise_at_risk, promise_breached),
    each once."""
    from kokemus.engine import clocks
    from kokemus.engine.worker import RUNS

    with stores(data_dir, events=True) as kk, RUNS:
        marked = clocks.advance(kk)
    out.print(f"promise clocks: {marked.commitments} commitments watched; marked "
              f"{marked.at_risk} at risk and {marked.breached} breached now "
              f"({marked.again} marked before)")
