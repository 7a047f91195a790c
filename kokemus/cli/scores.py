"""`kokemus scores`: NPS, CES and CSAT with their n and 95% intervals, overall or by group."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
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
from kokemus.domain.errors import KokemusError

if TYPE_CHECKING:
    from kokemus.analytics import scores
    from kokemus.analytics.breakdowns import Contrast
    from kokemus.domain.scores import Change, Score

TOO_FEW = "too few answers"
GROUPS_SHOWN = 50  # groups in a table when --limit is not given

scores_app = typer.Typer(
    help="Scores from the survey answers: NPS, CES (mean and % easy) and CSAT, each with n "
         "and a 95% interval; 'too few answers' below the workspace's minimum n.",
    invoke_without_command=True,
)


ByOpt = Annotated[str | None, typer.Option(
    "--by", help="A row per touchpoint, channel, segment, account, role, survey, week or "
                 "month, or per value of anything the data knows: property:<name> (e.g. "
                 "property:carrier), attribute:<name>, event:<type> (yes/no).")]
WhereOpt = Annotated[list[str] | None, typer.Option(
    "--where", help="Only answers where <breakdown>=<value>, e.g. "
                          "property:carrier=Kiito or event:delivery_damaged=yes; repeat for "
                          "several (all must hold).")]
WorstOpt = Annotated[bool, typer.Option(
    "--worst", help="With --by: where is it worst? Each group against the rest, the "
                    "difference with its 95% interval, significantly worse groups first.")]



SurveyOpt = Annotated[str | None, typer.Option("--survey", "-s", help="Only this survey.")]
TouchpointOpt = Annotated[str | None, typer.Option(help="Only answers about this touchpoint.")]
ChannelOpt = Annotated[str | None, typer.Option("--channel", "-c", help="Only this channel.")]
SegmentOpt = Annotated[str | None, typer.Option(help="Only customers in this segment.")]
SinceOpt = Annotated[datetime | None, typer.Option(
    formats=["%Y-%m-%d"], help="Responses started from this day on (UTC), YYYY-MM-DD.")]
UntilOpt = Annotated[datetime | None, typer.Option(
    formats=["%Y-%m-%d"], help="Responses started before this day (UTC), YYYY-MM-DD.")]
CompleteOpt = Annotated[bool, typer.Option(
    "--complete", help="Only finished responses [default: partial answers count too].")]


def _utc(day: datetime | None) -> datetime | None:
    return None if day is None else day.replace(tzinfo=UTC)


@scores_app.callback()
@reports_errors
def scores_command(
    ctx: typer.Context,
    workspace: WorkspaceOpt = None, survey: SurveyOpt = None,
    by: ByOpt = None, where: WhereOpt = None, worst: WorstOpt = False,
    touchpoint: TouchpointOpt = None, channel: ChannelOpt = None, segment: SegmentOpt = None,
    since: SinceOpt = None, until: UntilOpt = None, complete: CompleteOpt = False,
    limit: Annotated[int | None, typer.Option(
        min=0, help="Groups shown with --by [default: 50 in a table, all in JSON and CSV].",
        show_default=False)] = None,
    offset: OffsetOpt = 0,
    output: OutputOpt = Output.table, data_dir: DataDir = None,
) -> None:
    """NPS, CES and CSAT overall, or one row per group with --by."""
    if ctx.invoked_subcommand is not None:
        return
    from kokemus.analytics import breakdowns, scores

    dimension = breakdowns.parse(by, scores.BREAKDOWNS) if by else None
    conditions = breakdowns.parse_conditions(where, scores.WHERE_COLUMNS)
    filters = scores.Filters(survey, touchpoint, channel, segment, _utc(since), _utc(until),
                             complete, conditions)
    lookups = [d for d in [dimension, *(c.dimension for c in conditions)]
               if d is not None and not d.plain]
    with stores(data_dir, events=True) as kk:
        ws = workspace_for(kk, workspace)
        if survey is not None and ws.document.survey(survey) is None:
            raise KokemusError(f"no survey '{survey}' in workspace '{ws.slug}'")
        min_n = ws.document.feedback.min_answers
        tables = breakdowns.tables_for(kk.db, ws.id, lookups)
        with kk.events.reading() as cursor, breakdowns.attached(cursor, tables):
            if lookups:
                breakdowns.check(lookups, breakdowns.discover(cursor, kk.db, ws.id), cursor,
                                 ws.id)
            result = scores.report(cursor, ws.id, (dimension,) if dimension else (), filters,
                                   min_n)
    name = dimension.text if dimension else "all"
    if worst:
        if dimension is None or dimension.text in scores.TRENDS:
            raise KokemusError("--worst needs --by with groups (not a week or month)")
        show_worst(result.worst[name], output, name, f"where is it worst in {ws.slug}?")
        return
    groups = result.breakdowns[name] if dimension else [result.overall]
    total = len(groups)
    rows = limit if limit is not None else (GROUPS_SHOWN if output is Output.table else None)
    groups = groups[offset:] if rows is None else groups[offset:offset + rows]
    noun = f"{name}s" if dimension and dimension.plain else "groups"
    note = caption(len(groups), total, noun, offset) if dimension else None
    if any(g.pooled for g in groups):
        note = f"{note}; other: groups under {min_n} answers pooled"
    show(groups, output, name, f"scores of {ws.slug}", note)


def show_worst(worst: dict[str, list[Contrast]], output: Output, by: str, title: str) -> None:
    """Each score's groups against the rest, worst first."""
    rows = [{"score": kind, by: c.key, "pooled": c.pooled, "n": c.group.n,
             "value": c.group.value, "rest": c.rest.value, "rest_n": c.rest.n,
             "difference": c.difference, "low": c.low, "high": c.high,
             "significant": c.significant, "worse": c.worse}
            for kind, contrasts in worst.items() for c in contrasts]
    if output is Output.json:
        write_json(rows)
        return
    if output is Output.csv:
        write_csv(rows, list(rows[0]) if rows else ["score", by])
        return
    from rich.table import Table

    table = Table("score", by, "group (n)", "rest (n)", "difference (95%)", "",
                  title=title, caption="each group against the rest of the answers; "
                                       "significantly worse groups first")
    for kind, contrasts in worst.items():
        digits = 2 if kind == "ces" else 0
        for c in contrasts:
            name = f"other ({c.pooled} groups)" if c.pooled else c.key
            diff = "-" if c.difference is None else f"{c.difference:+.{digits}f}" + (
                "" if c.low is None or c.high is None
                else f" ({c.low:+.{digits}f}–{c.high:+.{digits}f})")
            mark = "worse" if c.worse else "better" if c.significant else ""
            table.add_row(kind, name, f"{_figure(c.group, digits)} n={c.group.n}",
                          f"{_figure(c.rest, digits)} n={c.rest.n}", diff, mark)
    out.print(table)


def _figure(s: Score, digits: int = 0) -> str:
    if s.value is None or s.low is None or s.high is None:
        return "-"
    if not s.enough:
        return TOO_FEW
    return f"{s.value:.{digits}f} ({s.low:.{digits}f}–{s.high:.{digits}f})"


def _flat(group: scores.Scores, by: str) -> dict[str, Any]:
    from kokemus.analytics import scores

    row: dict[str, Any] = {by: group.key, "responses": group.responses}
    for kind in scores.KINDS:
        s = group.score(kind)
        row.update({f"{kind}_n": s.n, kind: s.value, f"{kind}_low": s.low,
                    f"{kind}_high": s.high, f"{kind}_enough": s.enough})
    return row


def show(groups: list[scores.Scores], output: Output, by: str, title: str,
         note: str | None = None) -> None:
    if output is Output.json:
        records = [{"by": by, **g.as_dict()} for g in groups]
        write_json(records)
        return
    if output is Output.csv:
        rows = [_flat(g, by) for g in groups]
        write_csv(rows, list(_flat(groups[0], by)) if rows else [by, "responses"])
        return
    from rich.table import Table

    # each cell: the figure with its interval, and its n below, so the table fits 80 columns
    table = Table(by, "NPS (-100–100)", "CES mean (1–7)", "CES easy (%)", "CSAT (%)",
                  title=title, caption="; ".join(
                      part for part in (note, "95% intervals in brackets") if part))
    for g in groups:
        table.add_row(f"other ({g.pooled} groups)" if g.pooled else g.key or "all", *(
            f"{_figure(s, digits)}\nn={s.n}" for s, digits in (
                (g.nps, 0), (g.ces, 2), (g.ces_easy, 0), (g.csat, 0))))
    out.print(table)


def _period(text: str) -> tuple[datetime, datetime]:
    try:
        start, end = (datetime.strptime(part, "%Y-%m-%d").replace(tzinfo=UTC)
                      for part in text.split(".."))
    except ValueError:
        raise KokemusError(f"a period is YYYY-MM-DD..YYYY-MM-DD, not '{text}'") from None
    if end < start:
        raise KokemusError(f"the period {text} ends before it starts")
    return start, end + timedelta(days=1)  # the last day is included


@scores_app.command("compare")
@reports_errors
def compare_command(
    before: Annotated[str, typer.Option(help="YYYY-MM-DD..YYYY-MM-DD, both days included.")],
    after: Annotated[str, typer.Option(help="YYYY-MM-DD..YYYY-MM-DD, both days included.")],
    workspace: WorkspaceOpt = None, survey: SurveyOpt = None, touchpoint: TouchpointOpt = None,
    channel: ChannelOpt = None, segment: SegmentOpt = None, complete: CompleteOpt = False,
    where: WhereOpt = None,
    output: OutputOpt = Output.table, data_dir: DataDir = None,
) -> None:
    """Each score in two periods and its change, marked significant only when it is."""
    from rich.table import Table

    from kokemus.analytics import breakdowns, scores

    conditions = breakdowns.parse_conditions(where, scores.WHERE_COLUMNS)
    filters = scores.Filters(survey, touchpoint, channel, segment, complete_only=complete,
                             where=conditions)
    lookups = [c.dimension for c in conditions if not c.dimension.plain]
    with stores(data_dir, events=True) as kk:
        ws = workspace_for(kk, workspace)
        tables = breakdowns.tables_for(kk.db, ws.id, lookups)
        with kk.events.reading() as cursor, breakdowns.attached(cursor, tables):
            if lookups:
                breakdowns.check(lookups, breakdowns.discover(cursor, kk.db, ws.id), cursor,
                                 ws.id)
            result = scores.compare(cursor, ws.id, _period(before), _period(after), filters,
                                    ws.document.feedback.min_answers)
    if output is Output.json:
        write_json(result.as_dict())
        return
    rows = [_change_row(kind, c) for kind, c in result.changes.items()]
    if output is Output.csv:
        write_csv(rows, list(rows[0]))
        return
    table = Table("score", f"before {before}", "n", f"after {after}", "n", "change",
                  "significant", title="change between two periods",
                  caption="NPS -100–100, CES mean 1–7, CES easy and CSAT in %; "
                          "95% intervals in brackets")
    for kind, c in result.changes.items():
        digits = 2 if kind == "ces" else 0
        table.add_row(kind, _figure(c.before, digits), str(c.before.n),
                      _figure(c.after, digits), str(c.after.n),
                      "-" if c.difference is None else f"{c.difference:+.{digits or 1}f}",
                      "yes" if c.significant else "no")
    out.print(table)


def _change_row(kind: str, c: Change) -> dict[str, Any]:
    return {"score": kind, "before": c.before.value, "before_n": c.before.n,
            "after": c.after.value, "after_n": c.after.n, "difference": c.difference,
            "significant": c.significant}

