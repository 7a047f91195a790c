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

    moment = None if as_of is None else as_of.replace(tzinfo=UTC)
    with stores(data_dir, events=True) as kk:
        ws = workspace_for(kk, workspace)
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), transient=True,
                      console=out, disable=format is not Format.terminal) as bar:
            task = bar.add_task("report", total=None)
            found = reports.build(kk, ws, as_of=moment, language=language,
                                  progress=lambda name: bar.update(task, description=name))
        if format is Format.html:
            from kokemus.web.report import html_file

            text = html_file(found, ws, language)
        elif format is Format.json:
            text = json.dumps(found.as_dict(), ensure_ascii=False, indent=1)
        else:
            _terminal(found, language)
            return
    if output is None:
        typer.echo(text)
    else:
        output.write_text(text, encoding="utf-8")
        out.print(f"wrote {output} ({len(text.encode()):,} bytes)")


def _terminal(found: Any, language: str = "en") -> None:
    """The report's tables in the terminal, the figures written as `language` writes them
    (kokemus.web.i18n.number: "−74", "37,2", "1 000" in Finnish)."""
    from rich.table import Table

    from kokemus.web.i18n import number

    def num(value: float | None, digits: int = 0) -> str:
        return "–" if value is None else number(value, language, digits)

    def shown(value: Any) -> str:  # a figure of the evidence: a count, a score, a share
        if isinstance(value, bool) or not isinstance(value, int | float):
            return str(value)
        return num(value, 1 if isinstance(value, float) else 0)

    out.print(f"[bold]report of {found.workspace}[/bold], as of "
              f"{found.as_of:%Y-%m-%d %H:%M} UTC")
    fixes = Table("#", "fix first", "gain (NPS points)", "evidence",
                  title="the three things to fix first")
    for i, f in enumerate(found.fixes, 1):
        evidence = ", ".join(f"{k} {shown(v)}" for k, v in f.evidence.items()
                             if v is not None)
        fixes.add_row(str(i), f.what, num(f.gain, 1), evidence)
    out.print(fixes)
    promises = found.sections.get("promises", {}).get("cards", [])
    table = Table("commitment", "keep rate % (95%)", "kept", "broken", "open",
                  title="promise scorecard")
    for c in promises:
        o = c.get("overall")
        if o is None:
            score = c.get("score") or {}
            table.add_row(c["commitment"], f"{(score.get('kind') or '').upper()} "
                          f"{num(score.get('value'))}: {c.get('verdict')}", "", "", "")
            continue
        k = o["keep_rate"]
        rate = (f"{num(k['value'])} ({num(k['low'])} – {num(k['high'])})" if k["enough"]
                else "too few to judge")
        table.add_row(c["commitment"], rate, num(o["kept"]), num(o["broken"]), num(o["open"]))
    out.print(table)
    signals = Table("signal", "severity", "fired", title="warning signals")
    for s in found.sections.get("signals", []):
        signals.add_row(s["id"].replace("_", " "), s["severity"], "yes" if s["fired"] else "no")
    out.print(signals)
    drivers = found.sections.get("drivers", {}).get("drivers", [])
    if drivers:
        table = Table("driver", "share of R² %", "performance %", title="key drivers")
        for d in drivers[:8]:
            share = "–" if d["share"] is None else num(100 * d["share"])
            table.add_row(d["driver"], share, num(100 * d["performance"]))
        out.print(table)
    for name, why in found.missing.items():
        out.print(f"[dim]{name}: left out, {why}[/dim]")
