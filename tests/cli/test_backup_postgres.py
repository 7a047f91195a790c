"""Backup and restore with the app store on PostgreSQL: a folder backed up from one
database schema and restored into another holds the same rows, and the restored database
goes on numbering its rows after the restored ones (its sequences were moved on)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kokemus import bootstrap
from kokemus.cli import app
from kokemus.cli.backup import app_store_counts, event_counts
from kokemus.config import load_settings
from kokemus.services import access
from tests.cli.test_cli import home  # noqa: F401  (the fixture)
from tests.conftest import PG_URL, pg_schema

runner = CliRunner()
pytestmark = pytest.mark.skipif(not PG_URL, reason="needs KOKEMUS_TEST_DATABASE_URL")


@pytest.fixture
def second_schema() -> Iterator[str]:
    assert PG_URL
    with pg_schema(PG_URL) as url:
        yield url


def test_backup_from_postgresql_restores_into_another_database(
    home: Path, second_schema: str, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    (home / "events.jsonl").write_text("".join(
        f'{{"id": "e{i}", "type": "order_placed", "customer": "c{i % 7}", "channel": "web", '
        f'"occurred_at": "2026-05-0{1 + i % 9}T12:00:00+03:00"}}\n' for i in range(40)))
    assert runner.invoke(app, ["import", "events", "events.jsonl"]).exit_code == 0
    assert runner.invoke(app, ["users", "create", "eeva", "-w", "my-company",
                               "--role", "analyst"]).exit_code == 0
    made = runner.invoke(app, ["backup", str(home / "bk")])
    assert made.exit_code == 0, made.output
    with bootstrap.build(load_settings()) as kk:
        before = {"app": app_store_counts(kk.db), "events": event_counts(kk)}

    monkeypatch.setenv("KOKEMUS_DATABASE_URL", second_schema)
    restored = runner.invoke(app, ["restore", str(home / "bk"), "--data-dir",
                                   str(home / "restored")])
    assert restored.exit_code == 0, restored.output
    settings = load_settings(data_dir=home / "restored")
    with bootstrap.build(settings) as kk:
        assert {"app": app_store_counts(kk.db), "events": event_counts(kk)} == before
        assert before["events"]["events"] == 40 and before["app"]["memberships"] == 1
        # the sequences moved on: new rows number after the restored ones
        access.create_user(kk.db, "uusi", "salasana123")
        assert [u["username"] for u in access.list_users(kk.db)] == ["admin", "eeva", "uusi"]
        assert access.authenticate(kk.db, "eeva", "x" * 9) is None
    again = runner.invoke(app, ["restore", str(home / "bk"), "--data-dir",
                                str(home / "restored"), "--force"])
    assert again.exit_code == 1 and "holds data" in again.output
