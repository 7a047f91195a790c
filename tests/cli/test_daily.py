"""Daily operation: commands beside a running `kokemus serve` (the same output as without
it), the data folder found from the working folder, light start-up, paged listings that
say how many rows exist, backup and restore."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from kokemus.cli import app

KOKEMUS = [sys.executable, "-m", "kokemus"]
WS = "kodinkone"
runner = CliRunner()


def kokemus(*args: str, env: dict[str, str], cwd: Path | None = None, stdin: str | None = None,
            check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([*KOKEMUS, *args], capture_output=True, text=True, env=env,
                            cwd=cwd, input=stdin, timeout=120)
    if check:
        assert result.returncode == 0, result.stderr + result.stdout
    return result


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def events(prefix: str, n: int = 3) -> str:
    return "".join(json.dumps({
        "id": f"{prefix}-{i}", "type": "order_placed", "customer": f"{prefix}-c{i}",
        "channel": "web", "occurred_at": f"2026-05-0{i + 1}T12:00:00+03:00"}) + "\n"
        for i in range(n))


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small demo (three workspaces), generated once for the module."""
    root = tmp_path_factory.mktemp("daily")
    env = {**os.environ, "COLUMNS": "100"}
    env.pop("KOKEMUS_DATA_DIR", None)
    env.pop("KOKEMUS_DATABASE_URL", None)
    kokemus("demo", "--customers", "500", "--days", "30", "--end", "2026-06-30", "--no-serve",
            "--data-dir", str(root / "kokemus-data"), env=env, cwd=root)
    return root


def env_for(root: Path) -> dict[str, str]:
    env = {**os.environ, "COLUMNS": "100", "KOKEMUS_DATA_DIR": str(root / "kokemus-data")}
    env.pop("KOKEMUS_DATABASE_URL", None)
    return env


class Served:
    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root, self.env = root, env
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([*KOKEMUS, "serve", "--port", str(self.port),
                                      "--no-worker"], env=env, cwd=root,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.file = root / "kokemus-data" / "server.json"
        for _ in range(300):
            if self.file.exists():
                return
            assert self.proc.poll() is None, self.proc.communicate()[0]
            time.sleep(0.1)
        raise AssertionError("the server never announced itself")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)


@pytest.fixture
def served(demo: Path) -> Iterator[Served]:
    server = Served(demo, env_for(demo))
    try:
        yield server
    finally:
        server.stop()


COMMANDS = [
    ("scores", "-w", WS),
    ("scores", "-w", WS, "--by", "touchpoint", "--limit", "3"),
    ("journeys", "variants", "-w", WS),
    ("journeys", "variants", "-w", WS, "--limit", "5", "--offset", "5", "-o", "json"),
    ("journeys", "dfg", "-w", WS, "--journey", "nope"),  # an error, exit code 1
    ("feedback", "invitations", "-w", WS, "--limit", "5"),
    ("keys", "list", "-w", WS),
    ("users", "list"),
    ("history", "-w", WS),
]


def test_every_command_gives_the_same_output_while_the_server_runs(demo: Path) -> None:
    env = env_for(demo)
    before = kokemus("import", "events", "-w", WS, "-", env=env, stdin=events("alone"))
    (demo / "first.jsonl").write_text(events("file-alone"))
    from_file = kokemus("import", "events", "-w", WS, "first.jsonl", env=env, cwd=demo)
    alone = {args: kokemus(*args, env=env, check=False) for args in COMMANDS}

    server = Served(demo, env)
    try:
        info = json.loads(server.file.read_text())
        assert info["pid"] == server.proc.pid and info["url"] == server.url
        assert server.file.stat().st_mode & 0o777 == 0o600
        for args in COMMANDS:
            beside = kokemus(*args, env=env, check=False)
            assert (beside.returncode, beside.stdout, beside.stderr) == (
                alone[args].returncode, alone[args].stdout, alone[args].stderr), args
        # events through the server: standard input streamed, a file read where it lies
        piped = kokemus("import", "events", "-w", WS, "-", env=env, stdin=events("served"))
        assert piped.stdout == before.stdout == "events: 3 rows read, 3 accepted, " \
            "0 duplicates, 0 rejected\n"
        (demo / "second.jsonl").write_text(events("file-served"))
        second = kokemus("import", "events", "-w", WS, "second.jsonl", env=env, cwd=demo)
        assert second.stdout == from_file.stdout
        again = kokemus("import", "events", "-w", WS, "second.jsonl", env=env, cwd=demo)
        assert "0 accepted, 3 duplicates" in again.stdout
        # a bad row: the rejects file lands beside the input, named as it would be
        (demo / "bad.jsonl").write_text('{"id": "x"}\n')
        bad = kokemus("import", "events", "-w", WS, "bad.jsonl", env=env, cwd=demo,
                      check=False)
        assert bad.returncode == 2 and "bad.jsonl.rejects.jsonl" in bad.stdout
        assert (demo / "bad.jsonl.rejects.jsonl").exists()
        # the served store holds them: the API of the same server counts them
        counted = kokemus("journeys", "starts", "-w", WS, "-o", "json", env=env)
        assert json.loads(counted.stdout)
    finally:
        server.stop()
    assert not server.file.exists()  # removed on exit
    after = kokemus("journeys", "variants", "-w", WS, env=env)
    assert after.returncode == 0


def test_a_revoked_key_is_refused_by_the_running_server_within_seconds(
        served: Served) -> None:
    key = kokemus("keys", "create", "-w", WS, "--scope", "ingest", env=served.env).stdout
    key = key.strip().splitlines()[-1]
    headers = {"Authorization": f"Bearer {key}"}
    event = json.loads(events("revoked", 1))
    answer = httpx.post(f"{served.url}/api/v1/events", json=[event], headers=headers)
    assert answer.status_code == 200, answer.text
    revoked = kokemus("keys", "revoke", key.split("_")[1], env=served.env)
    assert revoked.stdout.startswith("revoked ")
    started = time.monotonic()
    while True:
        answer = httpx.post(f"{served.url}/api/v1/events", json=[event], headers=headers)
        if answer.status_code == 401:
            break
        assert time.monotonic() - started < 8, "the revoked key still works"
        time.sleep(0.25)
    listed = kokemus("keys", "list", "-w", WS, env=served.env).stdout
    assert key.split("_")[1] in listed


def test_a_stale_server_file_is_ignored(demo: Path, tmp_path: Path) -> None:
    env = env_for(demo)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = demo / "kokemus-data" / "server.json"
    stale.write_text(json.dumps({"url": "http://127.0.0.1:9", "pid": dead.pid, "token": "x"}))
    try:
        result = kokemus("journeys", "variants", "-w", WS, "--limit", "1", env=env)
        assert "of" in result.stdout
    finally:
        stale.unlink(missing_ok=True)


def test_internal_route_wants_the_token(served: Served) -> None:
    spec = json.dumps({"args": ["users", "list"], "cwd": "/"})
    answer = httpx.post(f"{served.url}/api/internal/cli",
                        headers={"X-Kokemus-Token": "guess", "X-Kokemus-Command": spec})
    assert answer.status_code == 404
    token = json.loads(served.file.read_text())["token"]
    answer = httpx.post(f"{served.url}/api/internal/cli",
                        headers={"X-Kokemus-Token": token, "X-Kokemus-Command": spec})
    assert answer.status_code == 200 and "admin" in answer.json()["stdout"]
    assert "/api/internal/cli" not in httpx.get(f"{served.url}/api/openapi.json").text


# --- the data folder -----------------------------------------------------------------------

@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KOKEMUS_DATA_DIR", raising=False)
    monkeypatch.delenv("KOKEMUS_DATABASE_URL", raising=False)


def test_the_data_folder_is_found_above_the_working_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_env: None) -> None:
    monkeypatch.chdir(tmp_path)
    assert runner.invoke(app, ["init", "company"]).exit_code == 0
    deep = tmp_path / "company" / "docs" / "notes"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    result = runner.invoke(app, ["apply", "../../workspace.yaml"])
    assert result.exit_code == 0, result.output
    assert "1 version" in runner.invoke(app, ["history"]).output
    assert (tmp_path / "company" / "kokemus-data" / "app.sqlite").exists()
    assert not (deep / "kokemus-data").exists()


def test_no_data_folder_says_where_it_looked(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_env: None) -> None:
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    monkeypatch.chdir(empty)
    result = runner.invoke(app, ["keys", "list"])
    said = " ".join(result.output.split())  # one line, however the terminal wrapped it
    assert result.exit_code == 1
    assert f"no kokemus-data folder in {empty} or any folder above it" in said
    assert "kokemus init" in said
    assert not (empty / "kokemus-data").exists()  # nothing made in the wrong place
    named = runner.invoke(app, ["keys", "list", "--data-dir", str(tmp_path / "typo")])
    assert named.exit_code == 1 and "no data folder at" in " ".join(named.output.split())


def test_the_named_data_folder_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    clean_env: None) -> None:
    monkeypatch.chdir(tmp_path)
    assert runner.invoke(app, ["init", "a"]).exit_code == 0
    assert runner.invoke(app, ["init", "b"]).exit_code == 0
    monkeypatch.chdir(tmp_path / "a")
    assert runner.invoke(app, ["apply", "workspace.yaml"]).exit_code == 0
    assert "1 version" in runner.invoke(app, ["history"]).output
    monkeypatch.setenv("KOKEMUS_DATA_DIR", str(tmp_path / "b" / "kokemus-data"))
    result = runner.invoke(app, ["history"])  # b's data: no workspace applied there
    assert result.exit_code == 1 and "known: none" in " ".join(result.output.split())


def test_demo_says_how_to_point_the_cli_at_its_data(demo: Path) -> None:
    env = env_for(demo)
    env.pop("KOKEMUS_DATA_DIR")
    target = demo / "again"
    result = kokemus("demo", "--customers", "200", "--days", "10", "--no-serve",
                     "--data-dir", str(target), env=env)
    assert f"export KOKEMUS_DATA_DIR={target}" in result.stdout


# --- start-up ------------------------------------------------------------------------------

HEAVY = ["duckdb", "pyarrow", "pandas", "numpy", "fastapi", "uvicorn", "starlette",
         "sqlalchemy", "alembic", "jinja2", "argon2", "pydantic_settings", "rich",
         "kokemus.analytics", "kokemus.storage", "kokemus.services", "kokemus.engine"]


def test_help_imports_no_heavy_library() -> None:
    code = ("import sys\nfrom kokemus.cli import app\n"
            "try:\n    app(['--help'])\nexcept SystemExit:\n    pass\n"
            f"print([m for m in {HEAVY!r} if m in sys.modules])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert "Usage" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_a_light_command_loads_no_event_store_or_web_stack(demo: Path) -> None:
    code = ("import sys\nfrom kokemus.cli import app\n"
            "try:\n    app(['keys', 'list', '-w', 'kodinkone'])\nexcept SystemExit:\n    pass\n"
            "print([m for m in ['duckdb', 'pyarrow', 'pandas', 'fastapi', 'uvicorn', "
            "'jinja2', 'kokemus.analytics', 'kokemus.storage.events'] if m in sys.modules])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, env=env_for(demo))
    assert "prefix" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "[]"


# --- listings ------------------------------------------------------------------------------

def test_listings_say_how_many_rows_exist_and_fit_80_columns(demo: Path) -> None:
    env = {**env_for(demo), "COLUMNS": "80"}
    every = json.loads(kokemus("journeys", "variants", "-w", WS, "--limit", "100000", "-o",
                               "json", env=env).stdout)
    total = len(every)
    assert total > 50
    table = kokemus("journeys", "variants", "-w", WS, env=env).stdout
    assert f"50 of {total} variants" in table
    page = kokemus("journeys", "variants", "-w", WS, "--limit", "5", "--offset", "5",
                   env=env).stdout
    assert f"6–10 of {total} variants" in page
    paged = json.loads(kokemus("journeys", "variants", "-w", WS, "--limit", "5", "--offset",
                               "5", "-o", "json", env=env).stdout)
    assert [v["variant"] for v in paged] == [v["variant"] for v in every[5:10]]
    assert "share (%)" in table
    dfg = kokemus("journeys", "dfg", "-w", WS, env=env).stdout
    assert "median (" in dfg and " pairs" in dfg
    invitations = kokemus("feedback", "invitations", "-w", WS, "--limit", "3", env=env).stdout
    counts = dict(part.split(": ") for part in invitations.splitlines()[0].split("  "))
    assert f"3 of {sum(int(n) for n in counts.values())} invitations" in invitations
    by = kokemus("scores", "-w", WS, "--by", "touchpoint", "--limit", "2", env=env).stdout
    assert " of " in by and "touchpoints" in by and "CSAT (%)" in by
    keys = kokemus("keys", "list", "-w", WS, env=env).stdout
    history = kokemus("history", "-w", WS, "--limit", "1", env=env).stdout
    assert "1 version" in history
    for text in (table, page, dfg, invitations, by, keys, history):
        assert max(len(line) for line in text.splitlines()) <= 80, text


# --- backup and restore --------------------------------------------------------------------

def figures(env: dict[str, str]) -> dict[str, str]:
    shown = {}
    for ws in ("kodinkone", "konekauppa", "asiakkaan-valinta"):
        for args in (("scores", "-w", ws, "-o", "json"),
                     ("scores", "-w", ws, "--by", "touchpoint", "-o", "json"),
                     ("journeys", "variants", "-w", ws, "--limit", "100000", "-o", "json"),
                     ("journeys", "dfg", "-w", ws, "-o", "json"),
                     ("feedback", "invitations", "-w", ws, "--limit", "100000", "-o", "json"),
                     ("history", "-w", ws)):
            shown[" ".join(args)] = kokemus(*args, env=env).stdout
    return shown


def counts(data: Path) -> dict[str, dict[str, int]]:
    from kokemus import bootstrap
    from kokemus.cli.backup import app_store_counts, event_counts
    from kokemus.config import Settings

    with bootstrap.build(Settings(data_dir=data)) as kk:
        return {"app": app_store_counts(kk.db), "events": event_counts(kk)}


def test_backup_while_serving_and_restore_into_a_fresh_folder(
        served: Served, tmp_path: Path) -> None:
    env = served.env
    backup = kokemus("backup", str(tmp_path / "backup"), env=env)
    assert "backed up" in backup.stdout
    manifest = json.loads((tmp_path / "backup" / "backup.json").read_text())
    assert manifest["tables"]["event store"]["events"] > 1000
    expected = figures(env)
    served.stop()
    original = counts(served.root / "kokemus-data")

    fresh = {**env, "KOKEMUS_DATA_DIR": str(tmp_path / "restored")}
    restored = kokemus("restore", str(tmp_path / "backup"), env=fresh)
    assert "restored" in restored.stdout
    assert figures(fresh) == expected
    assert counts(tmp_path / "restored") == original
    assert all(n > 0 for n in original["events"].values())
    again = kokemus("restore", str(tmp_path / "backup"), env=fresh, check=False)
    assert again.returncode == 1 and "--force" in " ".join(again.stderr.split())
    forced = kokemus("restore", str(tmp_path / "backup"), "--force", env=fresh)
    assert forced.returncode == 0
    assert counts(tmp_path / "restored") == original
    served.proc = subprocess.Popen([sys.executable, "-c", "pass"])  # stopped already


def test_a_large_standard_input_is_imported_whole_through_the_server(served: Served) -> None:
    """More than the 4 MiB request limit of other routes: the command's route streams it."""
    lines = "".join(json.dumps({
        "id": f"big-{i}", "type": "order_placed", "customer": f"big-c{i % 500}",
        "channel": "web", "occurred_at": "2026-05-01T12:00:00+03:00",
        "properties": {"note": "x" * 200}}) + "\n" for i in range(25_000))
    assert len(lines) > 6 * 2**20
    piped = kokemus("import", "events", "-w", WS, "-", env=served.env, stdin=lines)
    assert piped.stdout == ("events: 25000 rows read, 25000 accepted, 0 duplicates, "
                            "0 rejected\n"), piped.stdout + piped.stderr


def test_erasure_beside_the_server_asks_here_once_and_names_the_caller(
    served: Served
) -> None:
    """The question is asked at the caller's terminal, never on the server's; the audit log
    names the caller's operating-system user, not the server's."""
    from kokemus import bootstrap
    from kokemus.config import load_settings
    from kokemus.services import audit

    env = {**served.env, "LOGNAME": "aila", "USER": "aila"}  # the server runs as another
    refused = kokemus("customers", "erase", "nobody-here", "-w", WS, env=env,
                      stdin="n\n", check=False)
    assert refused.returncode == 1 and "for good?" in refused.stdout
    asked = kokemus("customers", "erase", "nobody-here", "-w", WS, env=env,
                    stdin="y\n", check=False)
    # confirmed here, run there with --yes: the answer is the erasure's own, not a prompt
    assert asked.returncode == 1
    assert "no customer 'nobody-here'" in asked.stderr, asked.stdout + asked.stderr
    kokemus("import", "events", "-w", WS, "-", env=env, stdin=events("audited", 1))
    kokemus("customers", "export", "audited-c0", "-w", WS, "-o", str(served.root / "x.json"),
            env=env)
    with bootstrap.build(load_settings(data_dir=served.root / "kokemus-data")) as kk:
        rows, _ = audit.entries(kk.db, workspace=WS)
    assert (rows[0]["action"], rows[0]["actor"]) == ("customer.export", "cli:aila")
