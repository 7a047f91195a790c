"""The kokemus command end to end: init, apply, export, import, keys, schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kokemus import bootstrap
from kokemus.cli import app
from kokemus.config import Settings
from kokemus.services import workspaces

runner = CliRunner()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str | None) -> Path:
    """A folder after `kokemus init` and `kokemus apply`, as a newcomer would have it."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KOKEMUS_DATA_DIR", str(tmp_path / "kokemus-data"))
    if database_url:
        monkeypatch.setenv("KOKEMUS_DATABASE_URL", database_url)
    result = runner.invoke(app, ["init", "."])
    assert result.exit_code == 0, result.output
    assert "created user admin with password" in result.output
    result = runner.invoke(app, ["apply", "workspace.yaml"])
    assert result.exit_code == 0, result.output
    return tmp_path


def open_stores(home: Path) -> bootstrap.Kokemus:
    return bootstrap.build(Settings())


def test_apply_is_idempotent_and_keeps_history(home: Path) -> None:
    again = runner.invoke(app, ["apply", "workspace.yaml"])
    assert "no change: workspace 'my-company' is at version 1" in again.output
    text = (home / "workspace.yaml").read_text().replace("within: 48h", "within: 24h")
    (home / "workspace.yaml").write_text(text)
    changed = runner.invoke(app, ["apply", "workspace.yaml"])
    assert "is now version 2" in changed.output
    with open_stores(home) as kk:
        versions = [h["version"] for h in workspaces.history(kk.db, "my-company")]
        assert versions == [1, 2]
        promise = workspaces.get(kk.db, "my-company").document.promises[0]
        assert promise.commitments[0].within == "24h"
    history = runner.invoke(app, ["history"])
    assert "workspace.yaml" in history.output


def test_bad_file_is_refused_with_location_and_nothing_applied(home: Path) -> None:
    text = (home / "workspace.yaml").read_text()
    bad = text.replace("within: 48h", "within: 24h").replace("stage: receive", "stag: receive")
    (home / "broken.yaml").write_text(bad)
    result = runner.invoke(app, ["apply", "broken.yaml"])
    assert result.exit_code == 1
    line = bad.splitlines().index("        stag: receive") + 1
    assert f"broken.yaml:{line}: journeys[0].touchpoints[1].stag: unknown field" in result.output
    with open_stores(home) as kk:
        ws = workspaces.get(kk.db, "my-company")
        assert ws.version == 1 and ws.document.promises[0].commitments[0].within == "48h"


def test_export_round_trip_changes_nothing(home: Path) -> None:
    exported = runner.invoke(app, ["export", "-o", "exported.yaml"])
    assert exported.exit_code == 0, exported.output
    result = runner.invoke(app, ["apply", "exported.yaml"])
    assert "no change" in result.output


def test_import_events_keeps_good_rows_and_writes_rejects(home: Path) -> None:
    good = {"type": "order_placed", "customer": "c1", "channel": "web",
            "occurred_at": "2026-01-01T10:00:00+02:00"}
    lines = [json.dumps({"id": f"e{i}", **good}) for i in range(5)]
    lines.insert(2, json.dumps({"id": "bad", **good, "occurred_at": "2026-01-01T10:00:00"}))
    lines.insert(4, "{oops")
    lines.append(json.dumps({"id": "e0", **good}))
    (home / "events.jsonl").write_text("\n".join(lines) + "\n")
    result = runner.invoke(app, ["import", "events", "events.jsonl"])
    assert result.exit_code == 0, result.output
    assert "8 rows read, 5 accepted, 1 duplicates, 2 rejected" in result.output
    reject_file = home / "events.jsonl.rejects.jsonl"
    rejects = [json.loads(x) for x in reject_file.read_text().splitlines()]
    assert [(r["line"], r["reason"]) for r in rejects] == [
        (3, "occurred_at: Input should have timezone info"),
        (5, rejects[1]["reason"]),
    ]
    assert rejects[1]["reason"].startswith("not valid JSON") and rejects[1]["input"] == "{oops"
    again = runner.invoke(app, ["import", "events", "events.jsonl"])
    assert "0 accepted, 6 duplicates" in again.output


def test_import_events_from_stdin_and_csv(home: Path) -> None:
    row = ('{"id": "s1", "type": "delivered", "customer": "c1", "channel": "web", '
           '"occurred_at": "2026-01-02T10:00:00Z"}\n')
    result = runner.invoke(app, ["import", "events", "-"], input=row)
    assert "1 accepted" in result.output, result.output
    (home / "ev.csv").write_text(
        "id,type,customer,channel,occurred_at,properties.carrier\n"
        "c1,order_placed,c9,web,2026-01-01T08:00:00+02:00,Kiito\n"
        "c2,order_placed,c9,web,2026-01-01 08:00,Kiito\n")
    result = runner.invoke(app, ["import", "events", "ev.csv"])
    assert "1 accepted, 0 duplicates, 1 rejected" in result.output
    reject = json.loads((home / "ev.csv.rejects.jsonl").read_text())
    assert reject["line"] == 3 and "timezone" in reject["reason"]
    (home / "props.csv").write_text(
        "id,type,customer,channel,occurred_at,properties\n"
        "p1,order_placed,c9,web,2026-01-01T08:00:00Z,{oops\n")
    runner.invoke(app, ["import", "events", "props.csv"])
    reject = json.loads((home / "props.csv.rejects.jsonl").read_text())
    assert reject["line"] == 2 and reject["reason"].startswith("properties: ")
    with open_stores(home) as kk, kk.events.reading() as cur:
        props = cur.execute("SELECT properties FROM events WHERE id = 'c1'").fetchone()
    assert props == ('{"carrier":"Kiito"}',)


def test_import_customers_and_accounts(home: Path) -> None:
    (home / "customers.csv").write_text(
        "id,email,language,segments,attributes.postal_code\n"
        "c1,anna@example.fi,fi,households;vip,00100\n"
        "c2,bad-email,fi,,\n")
    result = runner.invoke(app, ["import", "customers", "customers.csv"])
    assert "1 accepted, 0 duplicates, 1 rejected" in result.output
    account = {"id": "a1", "name": "Rakennus Oy",
               "stakeholders": [{"customer": "c1", "role": "decider"}]}
    (home / "accounts.jsonl").write_text(json.dumps(account) + "\n")
    result = runner.invoke(app, ["import", "accounts", "accounts.jsonl"])
    assert "1 accepted" in result.output
    from kokemus.storage import people
    with open_stores(home) as kk:
        ws = workspaces.get(kk.db, "my-company")
        c1 = people.get_customer(kk.db, ws.id, "c1")
        assert c1 is not None
        assert c1["segments"] == ["households", "vip"]
        assert c1["attributes"] == {"postal_code": "00100"}
        assert (c1["account_id"], c1["role"]) == ("a1", "decider")


def test_all_rows_rejected_exits_nonzero(home: Path) -> None:
    (home / "bad.jsonl").write_text('{"id": 1}\n')
    result = runner.invoke(app, ["import", "events", "bad.jsonl"])
    assert result.exit_code == 2


def test_missing_file_and_unknown_workspace_are_clear(home: Path) -> None:
    result = runner.invoke(app, ["apply", "nope.yaml"])
    assert result.exit_code == 1 and "nope.yaml" in result.output
    assert "No such file" in result.output
    result = runner.invoke(app, ["export", "--workspace", "ghost"])
    assert result.exit_code == 1 and "no workspace 'ghost'" in result.output


def test_keys_create_list_revoke(home: Path) -> None:
    created = runner.invoke(app, ["keys", "create", "--scope", "ingest", "--scope", "read"])
    secret = created.stdout.strip().splitlines()[-1]
    assert secret.startswith("kk_")
    listed = runner.invoke(app, ["keys", "list"])
    prefix = secret.split("_")[1]
    assert prefix in listed.output and secret not in listed.output
    assert runner.invoke(app, ["keys", "revoke", prefix]).exit_code == 0
    assert runner.invoke(app, ["keys", "revoke", prefix]).exit_code == 1
    bad = runner.invoke(app, ["keys", "create", "--scope", "everything"])
    assert bad.exit_code == 1 and "scopes must be some of" in bad.output


def test_schema_is_json_schema(tmp_path: Path) -> None:
    result = runner.invoke(app, ["schema"])
    schema = json.loads(result.stdout)
    assert schema["title"] == "kokemus workspace"


def test_every_command_has_help() -> None:
    for command in (["init"], ["apply"], ["export"], ["history"], ["schema"], ["serve"],
                    ["demo"], ["import", "events"], ["import", "customers"],
                    ["import", "accounts"], ["keys", "create"], ["keys", "list"],
                    ["keys", "revoke"], ["users", "create"]):
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0 and "Usage:" in result.output, command


def test_demo_starts_clean_each_run_and_prints_a_working_login(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KOKEMUS_DATA_DIR", raising=False)
    args = ["demo", "--customers", "600", "--end", "2026-06-30", "--no-serve"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    second = runner.invoke(app, args)
    assert "together" in second.output
    password = second.output.split("password ")[-1].split()[0]
    from kokemus.services import access
    with bootstrap.build(Settings(data_dir=tmp_path / "kokemus-demo")) as kk:
        assert access.authenticate(kk.db, "admin", password) is not None
        assert set(workspaces.slugs(kk.db)) == {"kodinkone", "konekauppa", "asiakkaan-valinta"}
        counts = [kk.events.count(workspaces.get(kk.db, s).id) for s in workspaces.slugs(kk.db)]
    # The second run replaced the first: the same seeded data, not twice as much.
    assert str(sum(counts)) in second.output.replace(",", "")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "app.sqlite").write_text("precious")
    refused = runner.invoke(app, ["demo", "--data-dir", "mine", "--no-serve"])
    assert refused.exit_code == 1 and "did not make" in refused.output
    assert (tmp_path / "mine" / "app.sqlite").read_text() == "precious"


def test_users_commands_grant_revoke_disable_and_list(home: Path) -> None:
    from kokemus.services import access, audit

    made = runner.invoke(app, ["users", "create", "eeva", "--workspace", "my-company",
                               "--role", "editor"])
    assert made.exit_code == 0, made.output
    assert "created user eeva with password" in made.output
    wrong = runner.invoke(app, ["users", "grant", "eeva", "my-company", "boss"])
    assert wrong.exit_code == 2 and "boss" in wrong.output
    missing = runner.invoke(app, ["users", "grant", "eeva", "nobodys", "analyst"])
    assert missing.exit_code == 1 and "no workspace 'nobodys'" in missing.output
    assert runner.invoke(app, ["users", "grant", "eeva", "my-company", "analyst"]
                         ).exit_code == 0
    listed = runner.invoke(app, ["users", "list"])
    assert "my-company: analyst" in listed.output and "2 users" in listed.output
    assert runner.invoke(app, ["users", "disable", "eeva"]).exit_code == 0
    assert runner.invoke(app, ["users", "revoke", "eeva", "my-company"]).exit_code == 0
    again = runner.invoke(app, ["users", "revoke", "eeva", "my-company"])
    assert again.exit_code == 1 and "has no role" in again.output
    with bootstrap.build(Settings()) as kk:
        rows, _ = audit.entries(kk.db)
        eeva = next(p for p in access.list_users(kk.db) if p["username"] == "eeva")
    assert [r["action"] for r in rows][:5] == ["role.revoke", "user.disable", "role.grant",
                                                "role.grant", "user.create"]
    assert all(r["actor"].startswith("cli") for r in rows[:5])
    assert eeva["roles"] == {} and eeva["disabled_at"] is not None


def test_users_list_pages_and_says_how_many_in_all(home: Path) -> None:
    for name in ("aaro", "bea", "cecilia"):
        assert runner.invoke(app, ["users", "create", name]).exit_code == 0
    listed = runner.invoke(app, ["users", "list", "--limit", "2", "--offset", "1"])
    assert "2–3 of 4 users" in listed.output
    assert "admin" in listed.output and "bea" in listed.output  # by name: aaro, admin, ...
    assert "aaro" not in listed.output and "cecilia" not in listed.output
