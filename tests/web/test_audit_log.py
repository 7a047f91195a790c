"""The audit log: who changed what, written with the change and readable by owners
(their workspace) and administrators (the instance)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from kokemus import bootstrap
from kokemus.services import access, audit
from kokemus.services.workspaces import ActiveWorkspace
from tests.web.test_pages import PASSWORD, log_in


def test_changes_are_recorded_and_owners_read_their_workspaces_log(
    client: TestClient, kk: bootstrap.Kokemus, workspace: ActiveWorkspace
) -> None:
    access.create_user(kk.db, "olli", PASSWORD, actor="cli:root")
    access.grant(kk.db, "olli", workspace.slug, "owner", actor="cli:root")
    access.create_user(kk.db, "eeva", PASSWORD, actor="cli:root")
    access.grant(kk.db, "eeva", workspace.slug, "editor", actor="user:olli")
    secret = access.create_key(kk.db, workspace.slug, "crm", {"ingest"}, actor="user:olli")
    access.revoke_key(kk.db, secret.split("_")[1], actor="user:olli")
    access.disable_user(kk.db, "eeva", actor="cli:root")

    rows, total = audit.entries(kk.db, workspace=workspace.slug)
    assert total == 4
    assert [(r["actor"], r["action"], r["target"]) for r in rows] == [
        ("user:olli", "key.revoke", secret.split("_")[1]),
        ("user:olli", "key.create", secret.split("_")[1]),
        ("user:olli", "role.grant", "eeva"),
        ("cli:root", "role.grant", "olli"),
    ]
    assert rows[2]["detail"] == {"role": "editor", "was": None}
    instance, _ = audit.entries(kk.db, instance=True)
    assert [(r["action"], r["target"]) for r in instance] == [
        ("user.disable", "eeva"), ("user.create", "eeva"), ("user.create", "olli")]

    log_in(client, username="olli")
    page = client.get(f"/w/{workspace.slug}/audit")
    assert page.status_code == 200
    assert "Rivit 1–4 / 4" in page.text
    assert "API-avain mitätöity" in page.text and "Rooli annettu" in page.text
    assert "user:olli" in page.text
    assert client.get("/audit").status_code == 404  # an owner is not an administrator


def test_a_refused_change_leaves_no_record(kk: bootstrap.Kokemus,
                                          workspace: ActiveWorkspace) -> None:
    access.create_user(kk.db, "olli", PASSWORD)
    before = audit.entries(kk.db)[1]
    try:
        access.grant(kk.db, "olli", workspace.slug, "superuser")
    except Exception as exc:
        assert "role must be one of owner, editor, analyst, agent" in str(exc)
    assert audit.entries(kk.db)[1] == before


def test_administrators_read_the_instance_log_a_page_at_a_time(
    client: TestClient, kk: bootstrap.Kokemus, workspace: ActiveWorkspace
) -> None:
    access.create_user(kk.db, "root", PASSWORD, admin=True)
    with kk.db.begin() as conn:
        for i in range(120):
            audit.record(conn, "cli:root", "user.disable", target=f"u{i:03d}")
    log_in(client, username="root")
    first = client.get("/audit")
    assert "Rivit 1–100 / 122" in first.text  # root's creation, 120 more and a sign-in
    assert "u119" in first.text and "u005" not in first.text
    second = client.get("/audit?page=2")
    assert "Rivit 101–122 / 122" in second.text and "u005" in second.text
    assert client.get("/audit?page=x").status_code == 200
