"""The `kokemus` command: thin over the services; every error is one clear message.

Start-up stays light (see cli/common.py): the modules here import typer and the standard
library only, and each command imports what it uses when it runs."""

from __future__ import annotations

import os
import signal
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, cast

import typer

from kokemus.cli import common
from kokemus.cli.actions import actions_app, worker_command
from kokemus.cli.backup import backup_command, restore_command
from kokemus.cli.cases import cases_app
from kokemus.cli.common import (
    DataDir,
    LimitOpt,
    OffsetOpt,
    WorkspaceOpt,
    actor,
    caption,
    err,
    out,
    reports_errors,
    resolve,
    shown,
    stdout,
    stores,
    workspace_for,
)
from kokemus.cli.customers import customers_app
from kokemus.cli.feedback import feedback_app
from kokemus.cli.insights import drivers_command, gaps_command
from kokemus.cli.journeys import journeys_app
from kokemus.cli.promises import promises_app
from kokemus.cli.report import report_command
from kokemus.cli.rules import rules_app
from kokemus.cli.scores import scores_app
from kokemus.cli.signals import signals_command
from kokemus.cli.users import users_app
from kokemus.cli.value import register as register_value
from kokemus.domain.errors import KokemusError

if TYPE_CHECKING:
    from socket import socket

    from kokemus.bootstrap import Kokemus
    from kokemus.config import Settings
    from kokemus.services.imports import Kind
    from kokemus.storage.events import EventStore

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
app.add_typer(promises_app, name="promises")
app.add_typer(rules_app, name="rules")
app.command("signals")(signals_command)
app.command("report")(report_command)
app.command("gaps")(gaps_command)
app.command("drivers")(drivers_command)
app.add_typer(customers_app, name="customers")
app.add_typer(cases_app, name="cases")
register_value(app)
app.add_typer(actions_app, name="actions")
app.command("worker")(worker_command)
app.command("backup")(backup_command)
app.command("restore")(restore_command)


@app.command()
@reports_errors
def init(
    directory: Annotated[Path, typer.Argument(help="Folder for the workspace and data.")] = Path(
        "."),
) -> None:
    """Write a starter workspace.yaml and an empty data directory, and create the first admin."""
    from kokemus import bootstrap
    from kokemus.config import load_settings
    from kokemus.workspace import document

    directory = resolve(directory)
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / "workspace.yaml"
    if target.exists():
        err.print(f"{shown(target)} exists already; left as it is")
    else:
        starter = Path(document.__file__).parent / "starter.yaml"
        target.write_text(starter.read_text(encoding="utf-8"), encoding="utf-8")
        out.print(f"wrote {shown(target)}")
    settings = load_settings(data_dir=directory / common.DATA_FOLDER)
    with bootstrap.build(settings) as kk:
        out.print(f"data in {shown(settings.data_dir)}/ (app store and event store)")
        _first_admin(kk)
    go = "" if directory == common.here() else f"cd {shown(directory)} && "
    out.print(f"next: {go}kokemus apply workspace.yaml && kokemus serve")


def _first_admin(kk: Kokemus) -> None:
    from kokemus.services import access

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
    from kokemus.services import workspaces as workspace_service
    from kokemus.workspace import document

    workspace = document.load(file)
    with stores(data_dir) as kk:
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
    from kokemus.services import workspaces as workspace_service
    from kokemus.workspace import document

    with stores(data_dir) as kk:
        ws = workspace_for(kk, workspace)
        if version is not None:
            ws = workspace_service.get(kk.db, ws.slug, version)
    text = document.dump(ws.document)
    if output:
        output.write_text(text, encoding="utf-8")
        err.print(f"wrote {output}")
    else:
        stdout().write(text)


@app.command()
@reports_errors
def history(workspace: WorkspaceOpt = None, limit: LimitOpt = 50, offset: OffsetOpt = 0,
            data_dir: DataDir = None) -> None:
    """List the applied versions of a workspace, the latest first."""
    from rich.table import Table

    from kokemus.services import workspaces as workspace_service

    with stores(data_dir) as kk:
        ws = workspace_for(kk, workspace)
        rows = workspace_service.history(kk.db, ws.slug)
    rows = sorted(rows, key=lambda r: -int(r["version"]))
    page = rows[offset:offset + limit]
    table = Table("version", "applied at (UTC)", "by", "source", "digest",
                  caption=caption(len(page), len(rows), "versions", offset))
    for r in page:
        table.add_row(str(r["version"]), f"{r['applied_at']:%Y-%m-%d %H:%M:%S}",
                      r["applied_by"] or "", r["source"] or "", r["digest"][:12])
    out.print(table)


@app.command()
def schema(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write.")] = None,
) -> None:
    """Print the JSON Schema of workspace files, for editors that validate YAML."""
    import json

    from kokemus.workspace import document

    text = json.dumps(document.json_schema(), indent=2, ensure_ascii=False) + "\n"
    if output:
        output.write_text(text, encoding="utf-8")
    else:
        stdout().write(text)


def _import(kind: Kind, file: str, workspace: str | None, fmt: str | None,
            rejects: Path | None, data_dir: Path | None) -> None:
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    from kokemus.services import imports

    with stores(data_dir, events=kind == "events", stdin=file == "-") as kk:
        ws = workspace_for(kk, workspace)
        inv = common.invocation()
        if file == "-" and inv is not None and inv.stdin is not None:
            # forwarded to the server: standard input came along, kept in a file
            path, fmt = str(inv.stdin), fmt or "jsonl"  # as for "-"
            rejects = resolve(rejects or Path("kokemus-rejects.jsonl"))
        else:
            path = file if file == "-" else str(resolve(file))
            rejects = resolve(rejects) if rejects else None
        size = None if file == "-" else Path(path).stat().st_size
        # the event store only for events: customers and accounts go to the app store alone,
        # so their imports run beside a server
        events = kk.events if kind == "events" else cast("EventStore", None)
        with Progress(
            "[progress.description]{task.description}", BarColumn(), DownloadColumn(),
            TimeRemainingColumn(), console=common.real(err), transient=True,
        ) as bar:
            task = bar.add_task(f"importing {kind}", total=size)
            result = imports.import_file(
                kind, path, ws, db=kk.db, events=events, fmt=fmt, rejects=rejects,
                progress=lambda done: bar.update(task, completed=done),
            )
    o = result.outcome
    out.print(f"{kind}: {result.rows} rows read, {o.accepted} accepted, "
              f"{o.duplicates} duplicates, {len(o.rejected)} rejected")
    if result.rejects_path:
        out.print(f"rejected rows and reasons: {shown(result.rejects_path)}")
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

    with stores(data_dir, events=True) as kk:
        ws = workspace_for(kk, workspace)
        with err.status(f"importing {file}"):
            result = run_import(resolve(file), case=case, activity=activity,
                                timestamp=timestamp, workspace=ws, events=kk.events, fmt=fmt,
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
        help="ingest, read, cases or admin; repeat for several [default: ingest].")] = None,
    data_dir: DataDir = None,
) -> None:
    """Create an API key; its secret is printed once and stored only as a hash."""
    from kokemus.services import access

    with stores(data_dir) as kk:
        ws = workspace_for(kk, workspace)
        secret = access.create_key(kk.db, ws.slug, name, set(scope or ["ingest"]),
                                   actor=actor())
    err.print(f"key for workspace '{ws.slug}' (shown only now):")
    stdout().write(secret + "\n")


@keys_app.command("list")
@reports_errors
def keys_list(workspace: WorkspaceOpt = None, limit: LimitOpt = 50, offset: OffsetOpt = 0,
              data_dir: DataDir = None) -> None:
    """List a workspace's keys (prefix, name, scopes; never the secret), the newest first."""
    from rich.table import Table

    from kokemus.services import access

    with stores(data_dir) as kk:
        ws = workspace_for(kk, workspace)
        rows = access.list_keys(kk.db, ws.slug)
    rows = sorted(rows, key=lambda r: str(r["created_at"]), reverse=True)
    page = rows[offset:offset + limit]
    table = Table("prefix", "name", "scopes", "created (UTC)", "revoked (UTC)",
                  caption=caption(len(page), len(rows), "keys", offset))
    for r in page:
        revoked = r["revoked_at"]
        table.add_row(str(r["prefix"]), str(r["name"]), str(r["scopes"]),
                      f"{r['created_at']:%Y-%m-%d}",
                      f"{revoked:%Y-%m-%d %H:%M}" if revoked else "")
    out.print(table)


@keys_app.command("revoke")
@reports_errors
def keys_revoke(prefix: Annotated[str, typer.Argument(help="The key's prefix.")],
                data_dir: DataDir = None) -> None:
    """Revoke a key by its prefix (the part after kk_); a running server refuses it within
    seconds."""
    from kokemus.services import access

    with stores(data_dir) as kk:
        access.revoke_key(kk.db, prefix, actor=actor())
    out.print(f"revoked {prefix}")


@app.command()
@reports_errors
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    data_dir: DataDir = None,
    worker: Annotated[bool | None, typer.Option(
        "--worker/--no-worker", help="Run the worker in the background: survey invitations, "
        "promise clocks, rules and their actions [default: KOKEMUS_WORKER, on].")] = None,
) -> None:
    """Serve the API and the web UI."""
    from kokemus.config import load_settings

    settings = load_settings(data_dir=common.find_data_dir(data_dir), host=host, port=port,
                             worker=worker)
    _serve(settings)


def _serve(settings: Settings) -> None:
    import gc

    import uvicorn

    from kokemus import bootstrap
    from kokemus.api.app import create_app
    from kokemus.cli import served
    from kokemus.engine.worker import Worker

    host, port = settings.host, settings.port
    # uvicorn shuts down gracefully on SIGTERM and then raises it again: as an exit, not a
    # kill, so the `finally` below stops the worker between runs and closes the stores
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    kk = bootstrap.build(settings)
    running: Worker | None = None
    server = served.Server.new()
    announced = False
    try:
        # DuckDB gets all cores but one: the one left runs the event loop, which parses and
        # validates requests while DuckDB writes (on 2 cores: DuckDB 1 thread, no contention)
        kk.events.set_threads(max(1, (os.cpu_count() or 2) - 1))
        application = create_app(settings, kk)
        # the worker (invitations, clocks, rules, their actions), beside the server's requests
        running = Worker(kk, settings.worker_interval).start() if settings.worker else None

        class Listening(uvicorn.Server):
            async def startup(self, sockets: list[socket] | None = None) -> None:
                await super().startup(sockets)
                nonlocal announced
                if self.started:  # listening: announce it to commands in the data folder
                    bound = self.servers[0].sockets[0].getsockname()[1] if self.servers else port
                    served.write_server_file(settings.data_dir, server, host, int(bound))
                    announced = True

        served.install(application, kk, server)
        # what start-up built lives as long as the server: out of the cycle collector's way,
        # so its full collections walk only what requests leave behind
        gc.collect()
        gc.freeze()
        out.print(f"kokemus on http://{host}:{port}/  (API docs: /api/docs)")
        # loop and http "auto": uvloop and httptools where installed (uvicorn[standard])
        # proxy_headers off: only KOKEMUS_TRUSTED_PROXIES decides whether X-Forwarded-For
        # names the client (uvicorn would trust it from 127.0.0.1 by default)
        config = uvicorn.Config(application, host=host, port=port, log_level="warning",
                                access_log=False, proxy_headers=False)
        Listening(config).run()
    finally:
        if announced:
            served.remove_server_file(settings.data_dir, server)
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
    compare_policy: Annotated[bool, typer.Option(
        "--compare-policy",
        help="Also make the appliance shop with its damage rule on (workspace "
             "kodinkone-rule) and print the two side by side.")] = False,
) -> None:
    """Generate the three demo scenarios (seeded, repeatable) and serve them."""
    from kokemus import bootstrap
    from kokemus.config import load_settings
    from kokemus.demo import generate
    from kokemus.services import access

    data_dir = resolve(data_dir)
    _fresh_demo_folder(data_dir)
    settings = load_settings(data_dir=data_dir)
    with bootstrap.build(settings) as kk:
        last = end.date() if end else datetime.now(UTC).date()
        summary = generate.run(kk, customers=customers, days=days, seed=seed,
                               console=common.real(out), end=last,
                               scenarios=generate.WITH_RULE if compare_policy
                               else generate.SCENARIOS)
        compared = None
        if compare_policy:
            from kokemus.demo import compare

            # as of the day after the history ends, as the demo's tests judge it
            as_of = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)
            compared = compare.table(compare.compare(kk, as_of))
        password = access.reset_password(kk.db, "admin", admin=True)
    for line in summary:
        out.print(line)
    if compared is not None:
        out.print(compared)
    out.print(f"\nweb UI: http://127.0.0.1:{port}/  log in as [bold]admin[/bold], "
              f"password [bold]{password}[/bold]")
    out.print(f"the CLI on this data: export KOKEMUS_DATA_DIR={data_dir}  "
              f"(or --data-dir {data_dir})", highlight=False, soft_wrap=True)
    if serve_after:
        # the demo's customers are made up: no invitation emails to their addresses
        _serve(load_settings(data_dir=data_dir, host="127.0.0.1", port=port, worker=False))


DEMO_MARKER = ".kokemus-demo"


def _fresh_demo_folder(path: Path) -> None:
    """Remove the previous demo's folder (only one the demo made) so each run starts clean."""
    import shutil

    if path.exists() and any(path.iterdir()):
        if not (path / DEMO_MARKER).exists():
            raise KokemusError(f"{path} holds data that the demo did not make; "
                               "choose another --data-dir")
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / DEMO_MARKER).write_text("made by `kokemus demo`; the next run removes this folder\n")


def main() -> None:
    args = common.argv = sys.argv[1:]
    # Typer turns every command into a click command before running one; a command of a
    # group needs only its group's: a root holding just that group runs it the same way
    # (`kokemus keys list` starts ~0.1 s sooner)
    group = next((info for info in app.registered_groups if args and info.name == args[0]),
                 None)
    if group is None:
        app()
        return
    root = typer.Typer(no_args_is_help=True, rich_markup_mode=None)
    root.registered_groups.append(group)
    root(args=args, prog_name="kokemus")
