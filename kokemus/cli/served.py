"""Commands beside a running server: `kokemus serve` holds the event store (DuckDB lets one
process write a database file), so a command that needs it is run by the server.

The server writes `server.json` into the data folder when it listens (its URL, pid and a
random token; mode 0600, readable only by whoever may read the stores) and removes it when
it stops. A command that needs the event store finds the file and posts its arguments, the
folder it was started in, its terminal width and (for `-`) its standard input to the
server's loopback-only route `/api/internal/cli`. The server runs the very same Typer
command in-process, on its own stores, and answers with its standard output, standard
error and exit code, which the command prints and exits with: the same output either way.

A file left by a server that was killed is recognised by its pid (no such process) or by
not answering, and ignored.
"""

from __future__ import annotations

import http.client
import io
import json
import os
import secrets
import shutil
import sys
import tempfile
import threading
import traceback
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import typer

from kokemus.domain.errors import KokemusError

if TYPE_CHECKING:
    from fastapi import FastAPI

    from kokemus.bootstrap import Kokemus

SERVER_FILE = "server.json"
ROUTE = "/api/internal/cli"
TOKEN_HEADER = "X-Kokemus-Token"
LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


@dataclass(frozen=True)
class Server:
    token: str
    url: str = ""
    pid: int = 0

    @classmethod
    def new(cls) -> Server:
        return cls(secrets.token_urlsafe(32))


# --- the server's side ---------------------------------------------------------------------

def write_server_file(data_dir: Path, server: Server, host: str, port: int) -> None:
    """Announce a listening server in its data folder (0600; replaced atomically)."""
    local = "127.0.0.1" if host in ("0.0.0.0", "", "localhost") else (
        "::1" if host == "::" else host)
    netloc = f"[{local}]" if ":" in local else local
    url = f"http://{netloc}:{port}"
    path = data_dir / SERVER_FILE
    part = data_dir / f".{SERVER_FILE}.{os.getpid()}"
    with suppress(FileNotFoundError):  # a leftover (pids repeat in containers) or a plant
        part.unlink()
    # a new file of our own, 0600 from its first byte: never through a link, never reused
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as file:
        json.dump({"url": url, "pid": os.getpid(), "token": server.token}, file)
    os.replace(part, path)


def remove_server_file(data_dir: Path, server: Server) -> None:
    """Remove the file if it is still this server's."""
    path = data_dir / SERVER_FILE
    with suppress(OSError, ValueError):
        if json.loads(path.read_text()).get("token") == server.token:
            path.unlink()


_one_at_a_time = threading.Lock()


def run_here(kk: Kokemus, args: list[str], cwd: Path, columns: int, color: bool,
             stdin: Path | None, user: str | None = None) -> tuple[str, str, int]:
    """Run a command in this process on `kk`: its standard output, error and exit code."""
    import click
    from rich.console import Console

    from kokemus.cli import app
    from kokemus.cli.common import Invocation, running_for

    out, err = io.StringIO(), io.StringIO()
    inv = Invocation(
        kokemus=kk, cwd=cwd, stdin=stdin, user=user,
        out=Console(file=out, width=columns, force_terminal=color, highlight=color,
                    color_system="standard" if color else None),
        err=Console(file=err, width=columns, highlight=False, color_system=None),
    )
    command = typer.main.get_command(app)
    with _one_at_a_time, running_for(inv):
        try:
            result = command.main(args, prog_name="kokemus", standalone_mode=False)
            code = result if isinstance(result, int) else 0
        except click.exceptions.Exit as exc:
            code = exc.exit_code
        except click.ClickException as exc:
            exc.show(err)
            code = exc.exit_code
        except click.exceptions.Abort:
            code = 1
        except Exception:
            err.write(traceback.format_exc())
            code = 1
    return out.getvalue(), err.getvalue(), code


def install(app: FastAPI, kk: Kokemus, server: Server) -> None:
    """The route that runs forwarded commands: loopback callers with the token only."""
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import JSONResponse

    async def run_command(request: Request) -> JSONResponse:
        client = request.client.host if request.client else ""
        token = request.headers.get(TOKEN_HEADER, "")
        if client not in LOOPBACK or not secrets.compare_digest(token.encode(),
                                                              server.token.encode()):
            return JSONResponse({"detail": "not found"}, status_code=404)
        try:
            spec = json.loads(request.headers.get("X-Kokemus-Command", ""))
            args = [str(a) for a in spec["args"]]
            cwd = Path(spec["cwd"])
            columns = int(spec.get("columns", 80))
            color = bool(spec.get("color", False))
            reads_stdin = bool(spec.get("stdin", False))
            user = str(spec["user"])[:100] if spec.get("user") else None
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"detail": "bad command"}, status_code=400)
        stdin = None
        folder = None
        try:
            if reads_stdin:  # streamed into a file: the import reads it as it would a file
                folder = Path(tempfile.mkdtemp(prefix="kokemus-stdin-"))
                stdin = folder / "stdin"
                with stdin.open("wb") as file:
                    async for chunk in request.stream():
                        file.write(chunk)
            text, errors, code = await run_in_threadpool(run_here, kk, args, cwd, columns,
                                                         color, stdin, user)
        finally:
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)
        return JSONResponse({"stdout": text, "stderr": errors, "exit_code": code})

    # a plain Starlette route: no parameters for FastAPI to read, none in the OpenAPI schema
    app.router.add_route(ROUTE, run_command, methods=["POST"], include_in_schema=False)


# --- the command's side --------------------------------------------------------------------

def running_server(data_dir: Path) -> Server | None:
    """The server announced in `data_dir`, unless its process is gone."""
    try:
        found: Any = json.loads((data_dir / SERVER_FILE).read_text())
        server = Server(str(found["token"]), str(found["url"]), int(found["pid"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        os.kill(server.pid, 0)
    except ProcessLookupError:
        return None  # left by a server that was killed
    except PermissionError:
        pass  # alive, someone else's
    return server


def forward_if_served(data_dir: Path, *, stdin: bool = False) -> None:
    """If a server holds the stores of `data_dir`, have it run this command, print what it
    printed and exit with its code; otherwise return and let the command run here."""
    server = running_server(data_dir)
    if server is None:
        return
    from kokemus.cli import common

    if common.argv is None:
        raise KokemusError(f"`kokemus serve` (pid {server.pid}) holds the event store of "
                           f"{data_dir}; stop it, or run this as the `kokemus` command")
    answer = _post(server, common.argv, stdin)
    if answer is None:
        return  # not answering: a stale file (its pid now another process's)
    sys.stdout.write(answer["stdout"])
    sys.stdout.flush()
    sys.stderr.write(answer["stderr"])
    raise typer.Exit(int(answer["exit_code"]))


def _post(server: Server, args: list[str], stdin: bool) -> dict[str, Any] | None:
    from kokemus.cli import common

    parts = urlsplit(server.url)
    columns = shutil.get_terminal_size().columns
    spec = {"args": args, "cwd": str(Path.cwd()), "columns": columns,
            "color": sys.stdout.isatty() and "NO_COLOR" not in os.environ, "stdin": stdin,
            "user": common.os_user()}
    headers = {TOKEN_HEADER: server.token, "X-Kokemus-Command": json.dumps(spec)}
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port)
    streamed = [0]
    try:
        if stdin:
            headers["Transfer-Encoding"] = "chunked"
            connection.request("POST", ROUTE, body=_chunks(sys.stdin.buffer, streamed),
                               headers=headers, encode_chunked=True)
        else:
            connection.request("POST", ROUTE, headers=headers)
        response = connection.getresponse()
        body = response.read()
    except (ConnectionRefusedError, ConnectionResetError, BrokenPipeError):
        if streamed[0]:
            # part of standard input is gone to the server: running here would import only
            # the rest, and the server stores nothing of a body it did not read whole
            raise KokemusError(f"the server at {server.url} closed the connection while "
                               "reading standard input; nothing was imported, run the "
                               "command again") from None
        return None  # nobody answering: a stale file (its pid now another process's)
    finally:
        connection.close()
    if response.status != 200:
        raise KokemusError(f"the server at {server.url} refused the command "
                           f"(HTTP {response.status}); is {SERVER_FILE} its own?")
    answer: dict[str, Any] = json.loads(body)
    return answer


def _chunks(stream: io.BufferedReader | Any, streamed: list[int],
            size: int = 1 << 20) -> Any:
    while chunk := stream.read(size):
        streamed[0] += len(chunk)
        yield chunk
