"""The `kokemus` command: thin over the services; every error is one clear message."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn
from rich.table import Table

from kokemus import bootstrap
from kokemus.cli.common import (
    DataDir,
    WorkspaceOpt,
    err,
    out,
    reports_errors,
    settings_for,
    workspace_for,
)
from kokemus.cli.feedback import feedback_app
from kokemus.cli.journeys import journeys_app
from kokemus.cli.scores import scores_app
from kokemus.cli.users import users_app
from kokemus.config import load_settings
from kokemus.domain.errors import KokemusError
from kokemus.services import access, audit, imports
from kokemus.services import workspaces as workspace_service
from kokemus.workspace import document

app = typer.Typer(
    help="kokemus: customer experience management, from the promise to the action.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
import_app = typer.Typer(help="Import events, customers or accounts from JSONL or CSV.",
                         no_args_is_help=True)
keys_app = typer.Typer(help="API keys for machines that send events.", no_args_is_help=True)
app.add_typer(import_app, name="import")
app.add_typer(keys_app, name="keys")
app.add_typer(users_app, name="users")
app.add_typer(journeys_app, name="journeys")
app.add_typer(feedback_app, name="feedback")
app.add_typer(scores_app, name="scores")

@app.command()
@reports_errors
def init(
    directory: Annotated[Path, typer.Argument(help="Folder for the workspace and data.")] = Path(
        "."),
) -> None:
    """Write a starter workspace.yaml and an empty data directory, and create the first admin."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / "workspace.yaml"
    if target.exists():
        err.print(f"{target} exists already; left as it is")
    else:
        starter = Path(document.__file__).parent / "starter.yaml"
        target.write_text(starter.read_text(encoding="utf-8"), encoding="utf-8")
        out.print(f"wrote {target}")
    settings = load_settings(data_dir=directory / "kokemus-data")
    with bootstrap.build(settings) as kk:
        out.print(f"data in {settings.data_dir}/ (app store and event store)")
        _first_admin(kk)
    go = "" if directory.resolve() == Path.cwd() else f"cd {directory} && "
    out.print(f"next: {go}kokemus apply workspace.yaml && kokemus serve")


def _first_admin(kk: bootstrap.Kokemus) -> None:
    if access.has_users(kk.db):
        return
    password = access.create_user(kk.db, "admin", admin=True)
    out.print(f"created user [bold]admin[/bold] with password [bold]{password}[/bold] "
              "(shown only now)")


@app.command("apply")
@reports_errors
def apply_(
    file: Annotated[Path, typer.Argument(help="Workspace YAML file.")],
    data_dir: DataDir = None,
) -> None:
    """Validate and apply a workspace file; applying the same file twice changes nothing."""
    workspace = document.load(file)
    with bootstrap.build(settings_for(data_dir)) as kk:
        result = workspace_service.apply(kk.db, workspace, source=str(file),
                                         applied_by=os.environ.get("USER"))
    if result.changed:
        out.print(f"applied {file}: workspace '{result.slug}' is now version {result.version}")
    else:
        out.print(f"no change: workspace '{result.slug}' is at version {result.version}")


@app.command()
@reports_errors
def export(
    workspace: WorkspaceOpt = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write.")] = None,
    version: Annotated[int | None, typer.Option(help="An earlier version.")] = None,
    data_dir: DataDir = None,
) -> None:
    """Write the current workspace (or an earlier version) as YAML."""
    with bootstrap.build(settings_for(data_dir)) as kk:
        ws = workspace_for(kk, workspace)
        if version is not None:
            ws = workspace_service.get(kk.db, ws.slug, version)
    text = document.dump(ws.document)
    if output:
        output.write_text(text, encoding="utf-8")
        err.print(f"wrote {output}")
    else:
        sys.stdout.write(text)


@app.command()
@reports_errors
def history(workspace: WorkspaceOpt = None, data_dir: DataDir = None) -> None:
    """List the applied versions of a workspace."""
    with bootstrap.build(settings_for(data_dir)) as kk:
        ws = workspace_for(kk, workspace)
        rows = workspace_service.history(kk.db, ws.slug)
    table = Table("version", "applied at", "by", "source", "digest")
    for r in rows:
        table.add_row(str(r["version"]), f"{r['applied_at']:%Y-%m-%d %H:%M:%S}",
                      r["applied_by"] or "", r["source"] or "", r["digest"][:12])
    out.print(table)


@app.command()
def schema(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write.")] = None,
) -> None:
    """Print the JSON Schema of workspace files, for editors that validate YAML."""
    text = json.dumps(document.json_schema(), indent=2, ensure_ascii=False) + "\n"
    if output:
        output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


def _import(kind: imports.Kind, file: str, workspace: str | None, fmt: str | None,
            rejects: Path | None, data_dir: Path | None) -> None:
    with bootstrap.build(settings_for(data_dir)) as kk:
        ws = workspace_for(kk, workspace)
        size = None if file == "-" else Path(file).stat().st_size
        with Progress(
            "[progress.description]{task.description}", BarColumn(), DownloadColumn(),
            TimeRemainingColumn(), console=err, transient=True,
        ) as bar:
            task = bar.add_task(f"importing {kind}", total=size)
            result = imports.import_file(
                kind, file, ws, db=kk.db, events=kk.events, fmt=fmt, rejects=rejects,
                progress=lambda done: bar.update(task, completed=done),
            )
    o = result.outcome
    out.print(f"{kind}: {result.rows} rows read, {o.accepted} accepted, "
              f"{o.duplicates} duplicates, {len(o.rejected)} rejected")
    if result.rejects_path:
        out.print(f"rejected rows and reasons: {result.rejects_path}")
        raise typer.Exit(2 if o.accepted == 0 else 0)


FileArg = Annotated[str, typer.Argument(help="JSONL or CSV file, or - for standard input.")]
FormatOpt = Annotated[str | None, typer.Option("--format", help="jsonl or csv [default: by name]")]
RejectsOpt = Annotated[Path | None, typer.Option(help="Reject file [default: FILE.rejects.jsonl].")]


@import_app.command("events")
@reports_errors
def import_events(file: FileArg, workspace: WorkspaceOpt = None, fmt: FormatOpt = None,
                  rejects: RejectsOpt = None, data_dir: DataDir = None) -> None:
    """Import events; each id is stored once, however often it is imported."""
    _import("events", file, workspace, fmt, rejects, data_dir)


@import_app.command("customers")
@reports_errors
def import_customers(file: FileArg, workspace: WorkspaceOpt = None, fmt: FormatOpt = None,
                     rejects: RejectsOpt = None, data_dir: DataDir = None) -> None:
    """Import customers (created or replaced by id)."""
    _import("customers", file, workspace, fmt, rejects, data_dir)


@import_app.command("accounts")
@reports_errors
def import_accounts(file: FileArg, workspace: WorkspaceOpt = None, fmt: FormatOpt = None,
                    rejects: RejectsOpt = None, data_dir: DataDir = None) -> None:
    """Import B2B accounts with their stakeholders and buying roles."""
    _import("accounts", file, workspace, fmt, rejects, data_dir)


@import_app.command("log")
@reports_errors
def import_log(
    file: Annotated[Path, typer.Argument(help="CSV or Parquet export of an event log.")],
    case: Annotated[str, typer.Option(help="Column of the case id, e.g. case:concept:name.")],
    activity: Annotated[str, typer.Option(help="Column of the activity, e.g. concept:name.")],
    timestamp: Annotated[str, typer.Option(
        help="Column of the time, e.g. time:timestamp (no zone: taken as UTC).")],
    channel: Annotated[str, typer.Option(help="Channel the events get.")] = "log",
    fmt: Annotated[str | None, typer.Option("--format", help="csv or parquet "
                                            "[default: by the file name]")] = None,
    workspace: WorkspaceOpt = None,
    data_dir: DataDir = None,
) -> None:
    """Import a process-mining event log (case, activity, timestamp columns named here) as
    events: activities become touchpoints, so every journey analysis runs on it."""
    from kokemus.services.logs import import_log as run_import

    with bootstrap.build(settings_for(data_dir)) as kk:
        ws = workspace_for(kk, workspace)
        with err.status(f"importing {file}"):
            result = run_import(file, case=case, activity=activity, timestamp=timestamp,
                                workspace=ws, events=kk.events, fmt=fmt,
                                channel=channel)
    out.print(f"log: {result.rows} rows, {result.stored} events stored, {result.duplicates} "
              f"duplicates, {result.skipped} skipped; {result.cases} cases, "
              f"{result.activities} activities")


@keys_app.command("create")
@reports_errors
def keys_create(
    workspace: WorkspaceOpt = None,
    name: Annotated[str, typer.Option(help="What the key is for.")] = "ingest",
    scope: Annotated[list[str] | None, typer.Option(
        help="ingest, read or admin; repeat for several [default: ingest].")] = None,
    data_dir: DataDir = None,
) -> None:
    """Create an API key; its secret is printed once and stored only as a hash."""
    with bootstrap.build(settings_for(data_dir)) as kk:
        ws = workspace_for(kk, workspace)
        secret = access.create_key(kk.db, ws.slug, name, set(scope or ["ingest"]),
                                   actor=audit.cli_actor())
    err.print(f"key for workspace '{ws.slug}' (shown only now):")
    print(secret)


@keys_app.command("list")
@reports_errors
def keys_list(workspace: WorkspaceOpt = None, data_dir: DataDir = None) -> None:
    """List a workspace's keys (prefix, name, scopes; never the secret)."""
    with bootstrap.build(settings_for(data_dir)) as kk:
        ws = workspace_for(kk, workspace)
        rows = access.list_keys(kk.db, ws.slug)
    table = Table("prefix", "name", "scopes", "created", "revoked")
    for r in rows:
        table.add_row(str(r["prefix"]), str(r["name"]), str(r["scopes"]),
                      f"{r['created_at']:%Y-%m-%d}", f"{r['revoked_at'] or ''}")
    out.print(table)


@keys_app.command("revoke")
@reports_errors
def keys_revoke(prefix: Annotated[str, typer.Argument(help="The key's prefix.")],
                data_dir: DataDir = None) -> None:
    """Revoke a key by its prefix (the part after kk_)."""
    with bootstrap.build(settings_for(data_dir)) as kk:
        access.revoke_key(kk.db, prefix, actor=audit.cli_actor())
    out.print(f"revoked {prefix}")


@app.command()
@reports_errors
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    data_dir: DataDir = None,
    worker: Annotated[bool | None, typer.Option(
        "--worker/--no-worker", help="Plan and send survey invitations in the background "
        "[default: KOKEMUS_WORKER, on].")] = None,
) -> None:
    """Serve the API and the web UI."""
    import gc

    import uvicorn

    from kokemus.api.app import create_app
    from kokemus.engine.worker import Worker

    settings = load_settings(data_dir=data_dir, host=host, port=port, worker=worker)
    # uvicorn shuts down gracefully on SIGTERM and then raises it again: as an exit, not a
    # kill, so the `finally` below stops the worker between runs and closes the stores
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    kk = bootstrap.build(settings)
    running: Worker | None = None
    try:
        # DuckDB gets all cores but one: the one left runs the event loop, which parses and
        # validates requests while DuckDB writes (on 2 cores: DuckDB 1 thread, no contention)
        kk.events.set_threads(max(1, (os.cpu_count() or 2) - 1))
        application = create_app(settings, kk)
        # survey invitations: planned from new events and sent, beside the server's requests
        running = Worker(kk, settings.worker_interval).start() if settings.worker else None
        # what start-up built lives as long as the server: out of the cycle collector's way,
        # so its full collections walk only what requests leave behind
        gc.collect()
        gc.freeze()
        out.print(f"kokemus on http://{host}:{port}/  (API docs: /api/docs)")
        # loop and http "auto": uvloop and httptools where installed (uvicorn[standard])
        uvicorn.run(application, host=host, port=port, log_level="warning", access_log=False)
    finally:
        if running is not None:
            running.stop()
        kk.close()


def _exit_on_sigterm(_signal: int, _frame: object) -> None:
    raise SystemExit(0)


@app.command()
@reports_errors
def demo(
    customers: Annotated[int, typer.Option(help="Customers over the three scenarios.")] = 20_000,
    days: Annotated[int, typer.Option(help="Days of history.")] = 180,
    end: Annotated[datetime | None, typer.Option(
        formats=["%Y-%m-%d"], help="Last day of history, YYYY-MM-DD [default: today].")] = None,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed, the same data.")] = 7,
    serve_after: Annotated[bool, typer.Option("--serve/--no-serve",
                                              help="Serve the web UI afterwards.")] = True,
    port: Annotated[int, typer.Option(help="Port for --serve.")] = 8000,
    data_dir: Annotated[Path, typer.Option(
        help="Folder for the demo's stores; made anew on every run.")] = Path("kokemus-demo"),
) -> None:
    """Generate the three demo scenarios (seeded, repeatable) and serve them."""
    from kokemus.demo import generate

    _fresh_demo_folder(data_dir)
    settings = settings_for(data_dir)
    with bootstrap.build(settings) as kk:
        summary = generate.run(kk, customers=customers, days=days, seed=seed, console=out,
                               end=end.date() if end else None)
        password = access.reset_password(kk.db, "admin", admin=True)
    for line in summary:
        out.print(line)
    out.print(f"\nweb UI: http://127.0.0.1:{port}/  log in as [bold]admin[/bold], "
              f"password [bold]{password}[/bold]")
    if serve_after:
        # the demo's customers are made up: no invitation emails to their addresses
        serve(host="127.0.0.1", port=port, data_dir=settings.data_dir, worker=False)


DEMO_MARKER = ".kokemus-demo"


def _fresh_demo_folder(path: Path) -> None:
    """Remove the previous demo's folder (only one the demo made) so each run starts clean."""
    if path.exists() and any(path.iterdir()):
        if not (path / DEMO_MARKER).exists():
            raise KokemusError(f"{path} holds data that the demo did not make; "
                               "choose another --data-dir")
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / DEMO_MARKER).write_text("made by `kokemus demo`; the next run removes this folder\n")


def main() -> None:
    app()
