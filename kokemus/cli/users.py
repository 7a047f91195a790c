"""`kokemus users ...`: people who sign in to the web UI, and their role in each workspace.

The command line acts with the data folder's own rights (whoever can read the stores can
change them), so it needs no sign-in; every change is written to the audit log under the
operating-system user's name."""

from __future__ import annotations

from typing import Annotated

import typer

from kokemus.cli.common import (
    DataDir,
    LimitOpt,
    OffsetOpt,
    actor,
    caption,
    out,
    reports_errors,
    stores,
)
from kokemus.domain.roles import Role

users_app = typer.Typer(help="People who sign in to the web UI, and their roles.",
                        no_args_is_help=True)

RoleArg = Annotated[Role, typer.Argument(help="owner, editor, analyst or agent.")]
WorkspaceArg = Annotated[str, typer.Argument(help="The workspace id.")]
UserArg = Annotated[str, typer.Argument(help="The user's name.")]


@users_app.command("create")
@reports_errors
def users_create(
    username: UserArg,
    admin: Annotated[bool, typer.Option(
        help="An instance administrator: every workspace, every permission.")] = False,
    language: Annotated[str, typer.Option(help="fi or en.")] = "fi",
    workspace: Annotated[str | None, typer.Option(
        "--workspace", "-w", help="Grant a role in this workspace at once.")] = None,
    role: Annotated[Role | None, typer.Option(help="The role for --workspace.")] = None,
    data_dir: DataDir = None,
) -> None:
    """Create a user with a generated password, printed once."""
    from kokemus.services import access

    if (workspace is None) != (role is None):
        raise typer.BadParameter("--workspace and --role go together")
    with stores(data_dir) as kk:
        password = access.create_user(kk.db, username, admin=admin, language=language,
                                      actor=actor())
        if workspace is not None and role is not None:
            access.grant(kk.db, username, workspace, role, actor=actor())
    out.print(f"created user {username} with password {password} (shown only now)")


@users_app.command("grant")
@reports_errors
def users_grant(username: UserArg, workspace: WorkspaceArg, role: RoleArg,
                data_dir: DataDir = None) -> None:
    """Give a user a role in a workspace (replacing the role they had there)."""
    from kokemus.services import access

    with stores(data_dir) as kk:
        access.grant(kk.db, username, workspace, role, actor=actor())
    out.print(f"{username} is {role.value} in {workspace}")


@users_app.command("revoke")
@reports_errors
def users_revoke(username: UserArg, workspace: WorkspaceArg, data_dir: DataDir = None) -> None:
    """Take away a user's role in a workspace; their next request no longer sees it."""
    from kokemus.services import access

    with stores(data_dir) as kk:
        access.revoke(kk.db, username, workspace, actor=actor())
    out.print(f"{username} has no role in {workspace} any more")


@users_app.command("disable")
@reports_errors
def users_disable(
    username: UserArg,
    enable: Annotated[bool, typer.Option("--enable", help="Enable the user again.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Disable a user: their sessions end at once and they cannot sign in (--enable undoes)."""
    from kokemus.services import access

    with stores(data_dir) as kk:
        access.disable_user(kk.db, username, disabled=not enable, actor=actor())
    out.print(f"{username} {'enabled' if enable else 'disabled; their sessions have ended'}")


@users_app.command("list")
@reports_errors
def users_list(
    workspace: Annotated[str | None, typer.Option(
        "--workspace", "-w", help="Only the members of this workspace.")] = None,
    limit: LimitOpt = 50,
    offset: OffsetOpt = 0,
    data_dir: DataDir = None,
) -> None:
    """List users with their roles per workspace."""
    from rich.table import Table

    from kokemus.services import access

    with stores(data_dir) as kk:
        rows = access.list_users(kk.db, workspace)
    page = rows[offset:offset + limit]
    table = Table("user", "roles", "admin", "lang", "created", "disabled",
                  caption=caption(len(page), len(rows), "users", offset))
    for r in page:
        roles = ", ".join(f"{ws}: {role}" for ws, role in r["roles"].items())
        table.add_row(r["username"], roles, "yes" if r["admin"] else "", r["language"],
                      f"{r['created_at']:%Y-%m-%d}",
                      f"{r['disabled_at']:%Y-%m-%d}" if r["disabled_at"] else "")
    out.print(table)
