"""`kokemus report`: every insight of a workspace and the three things to fix first, in the
terminal, as one self-contained HTML file, or as JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from kokemus.cli.common import DataDir, WorkspaceOpt, out, reports_errors, stores, workspace_for


class Format(StrEnum):
    terminal = "terminal"
    html = "html"
    json = "json"


@reports_errors
def report_command(
    workspace: WorkspaceOpt = None,
    format: Annotated[Format, typer.Option("--format", "-f", help="terminal (Rich), html "
                                           "(one printable file with its charts) or json.")]
    = Format.terminal,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write to this file [default: standard output].")] = None,
    language: Annotated[str, typer.Option(help="fi or en.")] = "en",
    as_of: Annotated[datetime | None, typer.Option(
        "--as-of", formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"],
        help="Judge as of this moment (UTC) [default: now].")] = None,
    data_dir: DataDir = None,
) -> None:
    """The report a board can read: promise scorecard, gaps, drivers, value, outcomes,
    silent moments, comments, warning signals, drop-off, and the three things to fix
    first with their evidence and value (NPS points). See docs/report.md."""
    if language not in ("fi", "en"):
        raise typer.BadParameter("fi or en", param_hint="--language")
    from rich.progress import Progress, SpinnerColumn, TextColumn

    from kokemus.services import report as reports
    from kokemus.web import i18n
    from kokemus.web.report_view import TITLES

    t = i18n.translator(language)
    moment = None if as_of is None else as_of.replace(tzinfo=UTC)
    with stores(data_dir, events=True) as kk:
        ws = workspace_for(kk, workspace)
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), transient=True,
                      console=out, disable=format is not Format.terminal) as bar:
            task = bar.add_task(t("report.nav"), total=None)
            found = reports.build(kk, ws, as_of=moment, language=language, progress=lambda
                                  name: bar.update(task, description=t(TITLES.get(name, name))))
        if format is Format.html:
            from kokemus.web.report import html_file

            text = html_file(found, ws, language)
        elif format is Format.json:
            text = json.dumps(found.as_dict(), ensure_ascii=False, indent=1)
        else:
            _terminal(found, ws, language)
            return
    if output is None:
        typer.echo(text)
    else:
        output.write_text(text, encoding="utf-8")
        out.print(f"wrote {output} ({len(text.encode()):,} bytes)")


def _terminal(found: Any, ws: Any, language: str = "en") -> None:
    """The report in the terminal: the same sections, words and figures as the page and the
    HTML file (kokemus.web.report_view), in `language` (the catalogs'
    headings, i18n.number's figures: "−74", "37,2", "1 000" in Finnish), without the charts."""
    from rich.table import Table
    from rich.text import Text

    from kokemus.web import i18n, report_view

    t = i18n.translator(language)
    view = report_view.build(found, ws, language, with_charts=False)
    styles = {"too-few": "italic dim", "muted": "dim", "strong": "bold"}

    def cell(c: report_view.Cell) -> Text:
        return Text(c.text + (f" n = {c.n}" if c.n else ""), style=styles.get(c.style, ""))

    out.print(Text(view.title, style="bold"))
    out.print(Text(view.intro, style="dim"))
    for s in view.sections:
        out.print()
        out.rule(Text(s.title, style="bold"), align="left")
        if s.missing:
            out.print(Text(t("report.left_out", why=s.missing), style="dim"))
            continue
        if s.help:
            out.print(Text(s.help, style="dim"))
        for note in s.notes:
            out.print(Text(note))
        for i, item in enumerate(s.items, 1):
            out.print(Text.assemble(f"{i}. ", (item.name, "bold"), ": ", item.text))
        for g in s.grids:
            table = Table(*g.headings, title=g.caption or None)
            for row in g.rows:
                table.add_row(*[cell(c) for c in row])
            out.print(table)
        if s.empty:
            out.print(Text(s.empty, style="dim"))
