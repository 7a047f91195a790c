"""`kokemus journeys ...`: the journey analytics on a workspace's events, as tables."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import pyarrow as pa
import typer
from rich.table import Table

from kokemus import bootstrap
from kokemus.analytics import journeys
from kokemus.analytics.engines import DuckDBEngine, Engine
from kokemus.analytics.logs import Log, Subject, selection
from kokemus.cli.common import (
    DataDir,
    WorkspaceOpt,
    out,
    reports_errors,
    settings_for,
    workspace_for,
)
from kokemus.domain.errors import KokemusError
from kokemus.services.workspaces import ActiveWorkspace

journeys_app = typer.Typer(
    help="How customers actually travel: paths, variants, conformance, drop-off.",
    no_args_is_help=True,
)


class Output(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


JourneyOpt = Annotated[str | None, typer.Option(
    "--journey", "-j", help="Journey id; default: all touchpoints of the workspace.")]
ChannelOpt = Annotated[list[str] | None, typer.Option(
    "--channel", "-c", help="Only events on this channel; repeat for several.")]
SinceOpt = Annotated[datetime | None, typer.Option(
    formats=["%Y-%m-%d"], help="From this day on (UTC), YYYY-MM-DD.")]
UntilOpt = Annotated[datetime | None, typer.Option(
    formats=["%Y-%m-%d"], help="Before this day (UTC), YYYY-MM-DD.")]
AccountOpt = Annotated[bool, typer.Option(
    "--accounts", help="Cases are B2B accounts (all their people together), not customers.")]
OutputOpt = Annotated[Output, typer.Option("--output", "-o", help="table, json or csv.")]


def _journey_log(kk: bootstrap.Kokemus, ws: ActiveWorkspace, journey_id: str | None,
                 channels: list[str] | None, since: datetime | None,
                 until: datetime | None, accounts: bool) -> Log:
    journey = None
    if journey_id is not None:
        known = {j.id: j for j in ws.document.journeys}
        if journey_id not in known:
            raise KokemusError(f"no journey '{journey_id}' in workspace '{ws.slug}' "
                               f"(known: {', '.join(known) or 'none'})")
        journey = known[journey_id]
    subject: Subject = "account" if accounts else "customer"
    return selection(ws.id, journey, channels=channels or (), since=since, until=until,
                     subject=subject)


def show(table: pa.Table, output: Output, title: str) -> None:
    """Print an analysis result as a table, JSON records or CSV."""
    rows = table.to_pylist()
    if output is Output.json:
        sys.stdout.write(json.dumps(rows, default=str, ensure_ascii=False, indent=1) + "\n")
        return
    if output is Output.csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=table.column_names)
        writer.writeheader()
        writer.writerows({k: _cell(v) for k, v in row.items()} for row in rows)
        return
    shown = Table(*table.column_names, title=title)
    for row in rows:
        shown.add_row(*(duration(v) if k.endswith("_s") else _cell(v) for k, v in row.items()))
    out.print(shown)


def duration(seconds: float | None) -> str:
    """Seconds as a person reads them: 45 s, 12 min, 5.2 h, 3.1 d."""
    if seconds is None:
        return ""
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if abs(seconds) >= size * (1.5 if unit != "min" else 1):
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1 else f"{value:,.1f}"
    if isinstance(value, list):
        return " → ".join(str(v) for v in value)
    return str(value)


def run_analysis(
    workspace: str | None, data_dir: Path | None, journey: str | None,
    channel: list[str] | None, since: datetime | None, until: datetime | None,
    accounts: bool, analysis: Callable[[Engine, Log, ActiveWorkspace], pa.Table],
) -> pa.Table:
    with bootstrap.build(settings_for(data_dir)) as kk:
        ws = workspace_for(kk, workspace)
        log = _journey_log(kk, ws, journey, channel, since, until, accounts)
        with kk.events.reading() as cursor:
            return analysis(DuckDBEngine(cursor), log, ws)


def _command(name: str, help_text: str,
             analysis: Callable[[Engine, Log, ActiveWorkspace], pa.Table]) -> None:
    @journeys_app.command(name, help=help_text)
    @reports_errors
    def command(workspace: WorkspaceOpt = None, journey: JourneyOpt = None,
                channel: ChannelOpt = None, since: SinceOpt = None, until: UntilOpt = None,
                accounts: AccountOpt = False, output: OutputOpt = Output.table,
                data_dir: DataDir = None) -> None:
        table = run_analysis(workspace, data_dir, journey, channel, since, until, accounts,
                             analysis)
        show(table, output, help_text.split(":")[0])


_command("dfg", "Directly-follows graph: pairs of consecutive touchpoints with counts and "
         "the time between them (median, p90, seconds).",
         lambda engine, log, _ws: journeys.dfg(engine, log))
_command("variants", "Variants: the distinct ordered paths, with cases and share.",
         lambda engine, log, _ws: journeys.variants(engine, log, limit=50))
_command("starts", "Starts and ends: how many journeys begin and end at each touchpoint.",
         lambda engine, log, _ws: journeys.start_end(engine, log))
