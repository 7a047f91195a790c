"""`kokemus value`, `kano`, `outcomes`, `silent` and `comments`: what to fix first and what
it is worth, the same figures as the API and the value page (each share with n and its
Wilson 95% interval, each NPS with its adjusted-Wald interval)."""

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
from kokemus.domain.errors import KokemusError

if TYPE_CHECKING:
    from kokemus.analytics.scores import Filters
    from kokemus.domain.scores import Score
    from kokemus.services.workspaces import ActiveWorkspace

TOO_FEW = "too few answers"
SurveyOpt = Annotated[str | None, typer.Option("--survey", "-s", help="Only this survey.")]
TouchpointOpt = Annotated[str | None, typer.Option(help="Only answers about this touchpoint.")]
SinceOpt = Annotated[datetime | None, typer.Option(
    formats=["%Y-%m-%d"], help="Responses started from this day on (UTC), YYYY-MM-DD.")]
UntilOpt = Annotated[datetime | None, typer.Option(
    formats=["%Y-%m-%d"], help="Responses started before this day (UTC), YYYY-MM-DD.")]


class Kind(StrEnum):
    b2c = "b2c"
    b2b = "b2b"


class Outcome(StrEnum):
    repurchase = "repurchase"
    retention = "retention"
    churn = "churn"


def _utc(day: datetime | None) -> datetime | None:
    return None if day is None else day.replace(tzinfo=UTC)


def _filters(ws: ActiveWorkspace, survey: str | None, touchpoint: str | None,
             since: datetime | None, until: datetime | None) -> Filters:
    from kokemus.analytics.scores import Filters

    if survey is not None and ws.document.survey(survey) is None:
        raise KokemusError(f"no survey '{survey}' in workspace '{ws.slug}'")
    return Filters(survey=survey, touchpoint=touchpoint, since=_utc(since), until=_utc(until))


def _figure(s: Score, digits: int = 0, unit: str = "") -> str:
    if s.value is None or s.low is None or s.high is None:
        return "-"
    if not s.enough:
        return f"{TOO_FEW} (n={s.n})"
    return f"{s.value:.{digits}f}{unit} ({s.low:.{digits}f}–{s.high:.{digits}f}) n={s.n}"


def value_command(
    workspace: WorkspaceOpt = None,
    kind: Annotated[Kind | None, typer.Option(
        help="The B2C or B2B list [default: the value proposition's].")] = None,
    survey: SurveyOpt = None, touchpoint: TouchpointOpt = None, since: SinceOpt = None,
    until: UntilOpt = None, output: OutputOpt = Output.table, data_dir: DataDir = None,
) -> None:
    """Elements of value: claimed against perceived (4-5 of 5), elements perceived per
    respondent, and NPS by that number."""
    from kokemus.analytics import value

    with stores(data_dir, events=True) as kk:
        ws = workspace_for(kk, workspace)
        filters = _filters(ws, survey, touchpoint, since, until)
        with kk.events.reading() as cursor:
            r = value.report(cursor, ws.id, ws.document, filters,
                             kind.value if kind else None, ws.document.feedback.min_answers)
    if output is Output.json:
        write_json(r.as_dict())
        return
    rows = [{"element": e.element, "level": e.level, "claimed": e.claimed, "asked": e.asked,
             "n": e.n, "perceived": e.perceived, "share": e.share.value,
             "share_low": e.share.low, "share_high": e.share.high} for e in r.elements]
    if output is Output.csv:
        write_csv(rows, list(rows[0]) if rows else ["element"])
        return
    from rich.table import Table

    table = Table("element", "level", "claimed", "perceived (%)", title=(
        f"elements of value ({r.kind.upper()}) of {ws.slug}: {r.respondents} respondents"),
        caption="perceived: answered 4 or 5 of 5; 95% Wilson intervals in brackets")
    for e in r.elements:
        table.add_row(e.element, e.level or "", "yes" if e.claimed else "",
                      _figure(e.share) if e.asked else "not asked")
    out.print(table)
    counts = Table("elements perceived", "respondents", "NPS", title="NPS by the number of "
                   "elements perceived" + (f" (mean {r.mean_perceived:.1f})"
                                           if r.mean_perceived is not None else ""))
    for c in r.counts:
        counts.add_row(c.group, str(c.respondents), _figure(c.nps))
    out.print(counts)


def kano_command(
    workspace: WorkspaceOpt = None, survey: SurveyOpt = None, touchpoint: TouchpointOpt = None,
    since: SinceOpt = None, until: UntilOpt = None, output: OutputOpt = Output.table,
    data_dir: DataDir = None,
) -> None:
    """Kano category per feature (most frequent), with Better and Worse."""
    from kokemus.analytics import kano

    with stores(data_dir, events=True) as kk:
        ws = workspace_for(kk, workspace)
        filters = _filters(ws, survey, touchpoint, since, until)
        with kk.events.reading() as cursor:
            found = kano.report(cursor, ws.id, ws.document, filters)
        min_n = ws.document.feedback.min_answers
    rows = [f.as_dict() for f in found]
    if output is Output.json:
        write_json({"min_answers": min_n, "features": rows})
        return
    flat = [{"survey": f.survey, "question": f.question, "feature": f.result.feature,
             "n": f.result.n, "category": f.result.category, "better": f.result.better,
             "worse": f.result.worse, **{c: n for c, n in f.result.counts.items()}}
            for f in found]
    if output is Output.csv:
        write_csv(flat, list(flat[0]) if flat else ["feature"])
        return
    from rich.table import Table

    table = Table("feature", "n", "category", "A", "O", "M", "I", "R", "Q", "Better", "Worse",
                  title=f"Kano of {ws.slug}", caption="A attractive, O one-dimensional, M "
                  "must-be, I indifferent, R reverse, Q questionable; Better = (A+O)/(A+O+M+I)"
                  ", Worse = -(O+M)/(A+O+M+I)")
    for f in found:
        r = f.result
        few = r.n < min_n
        table.add_row(r.feature, str(r.n), (TOO_FEW if few else r.category or "-"),
                      *(str(n) for n in r.counts.values()),
                      "-" if r.better is None else f"{r.better:.2f}",
                      "-" if r.worse is None else f"{r.worse:.2f}")
    out.print(table)


def outcomes_command(
    outcome: Annotated[Outcome, typer.Argument(
        help="repurchase, retention or churn (event types from insights.outcomes).")
    ] = Outcome.repurchase,
    workspace: WorkspaceOpt = None,
    days: Annotated[int, typer.Option(min=1, max=3660,
                                      help="The window after the answer, in days.")] = 90,
    as_of: Annotated[datetime | None, typer.Option(
        "--as-of", formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"],
        help="Judge as of this time (UTC) [default: the latest event].",
        show_default=False)] = None,
    survey: SurveyOpt = None, touchpoint: TouchpointOpt = None, since: SinceOpt = None,
    until: UntilOpt = None, output: OutputOpt = Output.table, data_dir: DataDir = None,
) -> None:
    """The share followed by an outcome within N days of the answer, by effort band and NPS
    group: does low effort keep customers here?"""
    from kokemus.analytics import outcomes

    with stores(data_dir, events=True) as kk:
        ws = workspace_for(kk, workspace)
        filters = _filters(ws, survey, touchpoint, since, until)
        with kk.events.reading() as cursor:
            try:
                r = outcomes.report(cursor, ws.id, ws.document.insights.outcomes,
                                    outcome.value, days=days, as_of=_utc(as_of),
                                    filters=filters, min_n=ws.document.feedback.min_answers)
            except outcomes.NoOutcomeEvents as exc:
                raise KokemusError(str(exc)) from None
    if output is Output.json:
        write_json(r.as_dict())
        return
    rows = [{"by": by, "group": g.group, "n": g.share.n, "followed": g.followed,
             "share": g.share.value, "low": g.share.low, "high": g.share.high}
            for by, groups in (("effort", r.by_effort), ("nps", r.by_nps)) for g in groups]
    if output is Output.csv:
        write_csv(rows, list(rows[0]))
        return
    from rich.table import Table

    table = Table("group", f"{r.outcome} within {r.days} d (%)", title=(
        f"{r.outcome} ({', '.join(r.events)}) after an answer, {ws.slug}: {r.judged} answers "
        f"judged as of {r.as_of:%Y-%m-%d}, {r.open} still open"),
        caption="effort: CES 1-3 hard, 4 neutral, 5-7 easy; 95% Wilson intervals")
    table.add_row("all", _figure(r.overall))
    for g in (*r.by_effort, *r.by_nps):
        table.add_row(g.group, _figure(g.share))
    out.print(table)
    for d in (r.easy_vs_hard, r.promoter_vs_detractor):
        if d.value is None or d.low is None or d.high is None:
            out.print(f"{d.a} - {d.b}: -")
        else:
            out.print(f"{d.a} - {d.b}: {d.value:+.1f} points ({d.low:+.1f} to {d.high:+.1f})"
                      f"{', significant' if d.significant else ', not significant'}")


def silent_command(
    workspace: WorkspaceOpt = None,
    since: Annotated[datetime | None, typer.Option(
        formats=["%Y-%m-%d"], help="Traffic from this day on (UTC).")] = None,
    until: Annotated[datetime | None, typer.Option(
        formats=["%Y-%m-%d"], help="Traffic before this day (UTC).")] = None,
    output: OutputOpt = Output.table, data_dir: DataDir = None,
) -> None:
    """What each silent moment could be worth a year: people per occasion x share who buy
    x basket x occasions per day x days per year, with every input shown."""
    from kokemus.analytics import silent

    with stores(data_dir, events=True) as kk:
        ws = workspace_for(kk, workspace)
        with kk.events.reading() as cursor:
            r = silent.report(cursor, ws.id, ws.document, _utc(since), _utc(until))
    if output is Output.json:
        write_json(r.as_dict())
        return
    rows: list[dict[str, Any]] = [
        {"touchpoint": m.touchpoint, "people_per_occasion": m.people_per_occasion,
         "people_source": m.people_source, "share_buying": m.share_buying,
         "basket": m.basket, "occasions_per_day": m.occasions_per_day,
         "days_per_year": m.days_per_year, "events_per_day": m.traffic.per_day,
         "per_year": m.per_year} for m in r.moments]
    if output is Output.csv:
        write_csv(rows, list(rows[0]) if rows else ["touchpoint"])
        return
    from rich.table import Table

    table = Table("touchpoint", "people × share × basket × occasions × days", "€ a year",
                  title=f"silent moments of {ws.slug}",
                  caption="people from the workspace, or (events) the touchpoint's events "
                          "per day / occasions per day")
    for m in r.moments:
        people = ("-" if m.people_per_occasion is None
                  else f"{m.people_per_occasion:,.1f}" + (" (events)"
                                                          if m.people_source == "events" else ""))
        table.add_row(m.touchpoint, f"{people} × {m.share_buying:.3g} × {m.basket:,.2f} € × "
                      f"{m.occasions_per_day:g} × {m.days_per_year:g}",
                      "-" if m.per_year is None else f"{m.per_year:,.0f}")
    out.print(table)
    if r.candidates:
        out.print("not sized (traffic, no survey): " + ", ".join(
            f"{c.touchpoint} {c.per_day or 0:,.1f}/day" for c in r.candidates))


def comments_command(
    workspace: WorkspaceOpt = None, survey: SurveyOpt = None, touchpoint: TouchpointOpt = None,
    since: SinceOpt = None, until: UntilOpt = None,
    min_count: Annotated[int, typer.Option(
        min=1, help="Uses a term needs in detractors' and promoters' comments together.")] = 2,
    output: OutputOpt = Output.table, data_dir: DataDir = None,
) -> None:
    """Words and phrases detractors use more than promoters (log-odds with an informative
    Dirichlet prior, z-scores; lemmatised offline), the workspace's themes and comments per
    touchpoint."""
    from kokemus.analytics import text

    with stores(data_dir, events=True) as kk:
        ws = workspace_for(kk, workspace)
        filters = _filters(ws, survey, touchpoint, since, until)
        doc = ws.document
        with kk.events.reading() as cursor:
            r = text.report(cursor, ws.id, list(doc.insights.themes), filters,
                            default_language=doc.languages[0],
                            min_n=doc.feedback.min_answers, min_count=min_count)
    if output is Output.json:
        write_json(r.as_dict())
        return
    rows = [{"kind": kind, **d.as_dict()} for kind, found in (("word", r.words),
                                                               ("phrase", r.phrases))
            for d in found]
    if output is Output.csv:
        write_csv(rows, list(rows[0]) if rows else ["kind", "term"])
        return
    from rich.table import Table

    table = Table("term", "detractors", "promoters", "z", title=(
        f"what customers say, {ws.slug}: {r.comments} comments, {r.detractors} by detractors, "
        f"{r.promoters} by promoters"), caption="z > 1.96: detractors say it more; "
        "z < -1.96: promoters do")
    for d in (*r.words, *r.phrases):
        table.add_row(d.term, str(d.count_i), str(d.count_j), f"{d.z:+.2f}")
    out.print(table)
    if r.themes:
        themes = Table("theme", "mentions (% of comments)", "NPS of those", "NPS of others",
                       title="themes")
        for t in r.themes:
            themes.add_row(t.theme, _figure(t.share, unit=" %"), _figure(t.nps),
                           _figure(t.nps_others))
        out.print(themes)


def register(app: typer.Typer) -> None:
    for name, command in (("value", value_command), ("kano", kano_command),
                          ("outcomes", outcomes_command), ("silent", silent_command),
                          ("comments", comments_command)):
        app.command(name)(reports_errors(command))
