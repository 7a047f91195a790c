"""`kokemus signals`: the five warning signals of a customer experience in trouble."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

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
    write_json,
)


@reports_errors
def signals_command(
    workspace: WorkspaceOpt = None,
    as_of: Annotated[datetime | None, typer.Option(
        "--as-of", formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"],
        help="Judge as of this moment (UTC) [default: now].")] = None,
    output: OutputOpt = Output.table, data_dir: DataDir = None,
) -> None:
    """The five warning signals (complaints rising, hand-off stalls, channel inconsistency,
    no social listening, KPIs not tied to the experience), each with its severity and
    evidence. See docs/signals.md."""
    from kokemus.services import signals

    moment = None if as_of is None else as_of.replace(tzinfo=UTC)
    with stores(data_dir, events=True) as kk:
        ws = workspace_for(kk, workspace)
        found = signals.signals(kk, ws, as_of=moment)
    if output is not Output.table:  # the evidence is nested: JSON for CSV too
        write_json([s.as_dict() for s in found])
        return
    from rich.table import Table

    table = Table("signal", "severity", "fired", "figures", title=f"warning signals of {ws.slug}")
    for s in found:
        figures = "; ".join(f"{k} {v}" for k, v in s.summary.items())
        table.add_row(s.id.replace("_", " "), s.severity, "yes" if s.fired else "no", figures)
    out.print(table)
    for s in found:
        if s.fired and s.evidence:
            out.print(f"[bold]{s.id.replace('_', ' ')}[/bold]")
            for row in s.evidence[:5]:
                out.print("  " + ", ".join(f"{k}={v}" for k, v in row.items()))
