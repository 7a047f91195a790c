"""What every command shares: consoles, options, error reporting, opening the stores."""

from __future__ import annotations

import csv
import functools
import json
import sys
from collections.abc import Callable, Iterable, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from kokemus import bootstrap
from kokemus.config import Settings, load_settings
from kokemus.domain.errors import KokemusError
from kokemus.services import workspaces as workspace_service

out = Console()
err = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", envvar="KOKEMUS_DATA_DIR",
                 help="Where the embedded stores live [default: ./kokemus-data]."),
]
WorkspaceOpt = Annotated[
    str | None,
    typer.Option("--workspace", "-w", help="Workspace id; may be left out when there is one."),
]



class Output(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


OutputOpt = Annotated[Output, typer.Option("--output", "-o", help="table, json or csv.")]


def write_json(value: Any, default: Callable[[Any], Any] = str) -> None:
    sys.stdout.write(json.dumps(value, default=default, ensure_ascii=False, indent=1) + "\n")


def write_csv(rows: Iterable[Mapping[str, Any]], fieldnames: list[str]) -> None:
    writer = csv.DictWriter(sys.stdout, fieldnames=fieldnames)
    writer.writeheader()
    writer.writerows(rows)


def reports_errors(fn: F) -> F:
    """Turn kokemus errors into a message and exit code 1 instead of a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except KokemusError as exc:
            err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def settings_for(data_dir: Path | None) -> Settings:
    return load_settings(data_dir=data_dir)


def workspace_for(kk: bootstrap.Kokemus, slug: str | None) -> workspace_service.ActiveWorkspace:
    if slug is None:
        known = workspace_service.slugs(kk.db)
        if len(known) != 1:
            listed = ", ".join(known) or "none; apply a workspace file first"
            raise KokemusError(f"name the workspace with --workspace (known: {listed})")
        slug = known[0]
    return workspace_service.get(kk.db, slug)
