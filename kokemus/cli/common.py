"""What every command shares: consoles, options, error reporting, finding and opening the
stores.

Start-up is kept light: this module and the command modules import only typer and the
standard library at the top; a command imports the stores, the services and the analytics
it uses when it runs, so `kokemus --help` and `kokemus keys list` do not wait for DuckDB,
Arrow, FastAPI or the analytics to load.

A command runs in this process, or, when it needs the event store and `kokemus serve` holds
it, in the server (see cli/served.py): the same code, the server's stores, its output sent
back. `out`, `err`, `stdout()` and `here()` are what a command writes to and resolves paths
against, in both cases.
"""

from __future__ import annotations

import csv
import functools
import getpass
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any, TypeVar, cast

import typer

from kokemus.domain.errors import KokemusError

if TYPE_CHECKING:
    from rich.console import Console

    from kokemus.bootstrap import Kokemus
    from kokemus.config import Settings
    from kokemus.services.workspaces import ActiveWorkspace

F = TypeVar("F", bound=Callable[..., Any])

DATA_FOLDER = "kokemus-data"

# the arguments of the `kokemus` command being run (set by `kokemus.cli.main`), so that a
# command can be sent to the server as it was typed
argv: list[str] | None = None

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", envvar="KOKEMUS_DATA_DIR",
                 help=f"Where the embedded stores live [default: the nearest {DATA_FOLDER} "
                      "folder, here or above].",
                 show_default=False),
]
WorkspaceOpt = Annotated[
    str | None,
    typer.Option("--workspace", "-w", help="Workspace id; may be left out when there is one."),
]
LimitOpt = Annotated[int, typer.Option(min=0, help="Show at most this many rows.")]
OffsetOpt = Annotated[int, typer.Option(min=0, help="Skip this many rows first.")]


@dataclass(frozen=True)
class Invocation:
    """A command run for someone else: the server running a forwarded command."""

    kokemus: Kokemus
    out: Console
    err: Console
    cwd: Path
    stdin: Path | None = None  # the forwarded standard input, kept in a file
    user: str | None = None  # the caller's operating-system user, for the audit log


_invocation: ContextVar[Invocation | None] = ContextVar("kokemus_invocation", default=None)


def invocation() -> Invocation | None:
    return _invocation.get()


def actor() -> str:
    """Who the audit log names for this command: the operating-system user who typed it,
    also when a server runs it for them."""
    inv = invocation()
    user = inv.user if inv is not None and inv.user else os_user()
    return f"cli:{user}"[:200] if user else "cli"


def os_user() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a bare container)
        return None


def confirmed(flag: str) -> None:
    """The person at this terminal said yes: a server that runs the command for us gets
    the flag that says so, instead of asking on its own terminal."""
    if argv is not None and flag not in argv:
        argv.append(flag)


@contextmanager
def running_for(inv: Invocation) -> Iterator[None]:
    token = _invocation.set(inv)
    try:
        yield
    finally:
        _invocation.reset(token)


class _Console:
    """`out` or `err`: this process's console, or a forwarded command's."""

    def __init__(self, stderr: bool) -> None:
        self._stderr = stderr
        self._own: Console | None = None

    def current(self) -> Console:
        inv = _invocation.get()
        if inv is not None:
            return inv.err if self._stderr else inv.out
        if self._own is None:
            from rich.console import Console

            self._own = Console(stderr=self._stderr)
        return self._own

    def __getattr__(self, name: str) -> Any:
        return getattr(self.current(), name)

    def __enter__(self) -> Console:
        return self.current().__enter__()

    def __exit__(self, *exc: Any) -> None:
        self.current().__exit__(*exc)


out = cast("Console", _Console(stderr=False))
err = cast("Console", _Console(stderr=True))


def stdout() -> IO[str]:
    """Where plain output (JSON, CSV, YAML, a secret) goes."""
    file: IO[str] = out.file
    return file


def here() -> Path:
    """The folder the command was started in."""
    inv = _invocation.get()
    return inv.cwd if inv is not None else Path.cwd()


def resolve(path: Path | str) -> Path:
    """A path the user typed, relative to the folder the command was started in."""
    return here() / path


def shown(path: Path) -> str:
    """A path as the user would type it: relative to their folder when it is inside it."""
    try:
        return str(path.relative_to(here()))
    except ValueError:
        return str(path)


class Output(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


OutputOpt = Annotated[Output, typer.Option("--output", "-o", help="table, json or csv.")]


def write_json(value: Any, default: Callable[[Any], Any] = str) -> None:
    stdout().write(json.dumps(value, default=default, ensure_ascii=False, indent=1) + "\n")


def write_csv(rows: Iterable[Mapping[str, Any]], fieldnames: list[str]) -> None:
    writer = csv.DictWriter(stdout(), fieldnames=fieldnames)
    writer.writeheader()
    writer.writerows(rows)


def caption(shown_rows: int, total: int, noun: str, offset: int = 0) -> str:
    """'50 of 226 variants' (or '51–100 of 226 variants'; '12 variants' when all are
    shown)."""
    if total == 1 and noun.endswith("s"):
        noun = noun[:-1]
    if shown_rows >= total and offset == 0:
        return f"{total} {noun}"
    if offset:
        if shown_rows == 0:
            return f"none after the first {offset} of {total} {noun}"
        return f"{offset + 1}–{offset + shown_rows} of {total} {noun}"
    return f"{shown_rows} of {total} {noun}"


def reports_errors(fn: F) -> F:
    """Turn kokemus errors into a message and exit code 1 instead of a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except KokemusError as exc:
            from rich.markup import escape

            err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def find_data_dir(given: Path | None) -> Path:
    """The data folder: the one named (--data-dir, KOKEMUS_DATA_DIR), else the nearest
    `kokemus-data` folder in the working folder or above it, as git finds its repository."""
    if given is not None:
        path = resolve(given)
        if not path.is_dir():
            raise KokemusError(f"no data folder at {given} (named by --data-dir or "
                               "KOKEMUS_DATA_DIR); `kokemus init` makes one")
        return path
    start = here()
    for folder in (start, *start.parents):
        candidate = folder / DATA_FOLDER
        if candidate.is_dir():
            return candidate
    raise KokemusError(
        f"no {DATA_FOLDER} folder in {start} or any folder above it; `kokemus init` makes "
        "one, or name one with --data-dir or KOKEMUS_DATA_DIR")


def settings_for(data_dir: Path | None) -> Settings:
    from kokemus.config import load_settings

    return load_settings(data_dir=find_data_dir(data_dir))


@contextmanager
def stores(data_dir: Path | None, *, events: bool = False,
           stdin: bool = False) -> Iterator[Kokemus]:
    """The stores for a command. A command that needs the event store (`events`) while a
    server holds it is sent to that server, which runs it and whose output is printed here
    (`stdin`: the command reads standard input, which goes along); this then exits."""
    inv = _invocation.get()
    if inv is not None:  # run by the server: its stores, left open
        yield inv.kokemus
        return
    settings = settings_for(data_dir)
    if events:
        from kokemus.cli import served

        served.forward_if_served(settings.data_dir, stdin=stdin)
    from kokemus import bootstrap

    with bootstrap.build(settings) as kk:
        yield kk


def workspace_for(kk: Kokemus, slug: str | None) -> ActiveWorkspace:
    from kokemus.services import workspaces as workspace_service

    if slug is None:
        known = workspace_service.slugs(kk.db)
        if len(known) != 1:
            listed = ", ".join(known) or "none; apply a workspace file first"
            raise KokemusError(f"name the workspace with --workspace (known: {listed})")
        slug = known[0]
    return workspace_service.get(kk.db, slug)


def real(console: Console) -> Console:
    """The console `out` or `err` stands for now (for a thread that writes to it later)."""
    return console.current() if isinstance(console, _Console) else console
