"""`kokemus customers ...`: a customer's data rights from the command line (docs/privacy.md).

Export and erasure read and change the event store, which one process holds at a time:
with `kokemus serve` running they are run by the server (cli/served.py). Every export,
erasure and consent is audited under the operating system's user (`cli:NAME`). Heavy
imports stay inside the commands, for start-up speed.
"""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from kokemus.cli.common import (
    DataDir,
    WorkspaceOpt,
    actor,
    confirmed,
    err,
    invocation,
    out,
    reports_errors,
    resolve,
    shown,
    stores,
    workspace_for,
    write_json,
)
from kokemus.domain.errors import KokemusError

customers_app = typer.Typer(
    help="A customer's data: export it, erase it, record and show consent.",
    no_args_is_help=True,
)

CustomerArg = Annotated[str, typer.Argument(help="The customer's id.")]


class Purpose(StrEnum):
    surveys = "surveys"
    marketing = "marketing"
    device_actions = "device_actions"


class Mode(StrEnum):
    anonymize = "anonymize"
    delete = "delete"


def _write(document: dict[str, Any], output: Path | None) -> None:
    if output is None:
        write_json(document)
        return
    path = resolve(output)
    path.write_text(json.dumps(document, ensure_ascii=False, indent=1) + "\n",
                    encoding="utf-8")
    err.print(f"wrote {shown(path)}")


@customers_app.command("export")
@reports_errors
def export(
    customer: CustomerArg,
    account: Annotated[bool, typer.Option(
        "--account", help="The id is a B2B account: export it with its people.")] = False,
    workspace: WorkspaceOpt = None,
    output: Annotated[Path | None, typer.Option("--output", "-o",
                                                help="File to write [default: stdout].")] = None,
    data_dir: DataDir = None,
) -> None:
    """Everything held about one customer (or account) as one JSON document."""
    from kokemus.services import privacy

    with stores(data_dir, events=True) as kk:
        ws = workspace_for(kk, workspace)
        if account:
            document = privacy.export_account(kk, ws, customer, actor=actor())
        else:
            document = privacy.export_customer(kk, ws, customer, actor=actor())
    _write(document, output)


@customers_app.command("erase")
@reports_errors
def erase(
    customer: CustomerArg,
    yes: Annotated[bool, typer.Option("--yes", help="Erase without asking.")] = False,
    mode: Annotated[Mode, typer.Option(
        help="anonymize: keep the events and answers without the person (counts and scores "
             "stay); delete: remove them too.")] = Mode.anonymize,
    workspace: WorkspaceOpt = None,
    data_dir: DataDir = None,
) -> None:
    """Erase one customer from both stores; it cannot be undone (see docs/privacy.md)."""
    from kokemus.services import privacy

    if not yes:
        if invocation() is not None:  # run for a caller by the server: nobody to ask here
            raise KokemusError("erasing needs --yes")
        if not typer.confirm(f"Erase customer '{customer}' for good?"):
            raise typer.Exit(1)
        confirmed("--yes")  # a server running this for us must not ask again
    with stores(data_dir, events=True) as kk:
        ws = workspace_for(kk, workspace)
        done = privacy.erase_customer(kk, ws, customer, actor=actor(),
                                      mode=mode.value)
    verb = "anonymized" if done.mode == "anonymize" else "deleted"
    out.print(f"erased {customer} from '{ws.slug}': profile {'removed' if done.profile else 'none'}"
              f", {done.invitations} invitations, {done.consents} consent statements removed; "
              f"{done.events} events and {done.responses} responses {verb}; "
              f"files scrubbed in {done.seconds:.1f} s")


@customers_app.command("consent")
@reports_errors
def consent(
    customer: CustomerArg,
    purpose: Annotated[Purpose, typer.Argument(help="surveys, marketing or device_actions.")],
    granted: Annotated[bool, typer.Option(
        "--grant/--withdraw", help="Agreed, or refused / withdrew.")],
    channel: Annotated[str | None, typer.Option(help="Where it was said (web, store...).")] = None,
    text_version: Annotated[str | None, typer.Option(
        help="Version of the consent text shown.")] = None,
    at: Annotated[datetime | None, typer.Option(
        formats=["%Y-%m-%dT%H:%M:%S%z"],
        help="When it was said, e.g. 2026-05-02T09:00:00+03:00 [default: now].")] = None,
    workspace: WorkspaceOpt = None,
    data_dir: DataDir = None,
) -> None:
    """Record one consent statement of a customer."""
    from kokemus.domain.privacy import ConsentStatement
    from kokemus.services import consents

    statement = ConsentStatement(purpose=purpose.value, granted=granted, at=at,
                                 channel=channel, text_version=text_version)
    with stores(data_dir) as kk:
        ws = workspace_for(kk, workspace)
        consents.record(kk.db, ws, customer, statement, source="cli", actor=actor())
    out.print(f"{customer}: {purpose.value} {'granted' if granted else 'withdrawn'}")


@customers_app.command("consents")
@reports_errors
def show_consents(customer: CustomerArg, workspace: WorkspaceOpt = None,
                  data_dir: DataDir = None) -> None:
    """A customer's consent in force per purpose, and every statement, as JSON."""
    from kokemus.services import consents

    with stores(data_dir) as kk:
        ws = workspace_for(kk, workspace)
        write_json(consents.summary(kk.db, ws.id, customer), default=_iso)


def _iso(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)
