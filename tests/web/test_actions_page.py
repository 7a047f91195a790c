"""The actions page: the outbox's counts and rows with their reasons for whoever reads
analyses, and the dead ones put back by editors and owners (audited), never by analysts."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from kokemus import bootstrap
from kokemus.domain.roles import Role
from kokemus.services import access
from kokemus.storage.tables import actions, audit_log
from tests.engine.test_deliver import EMAIL, HOOK, apply, cause, plan, row, workspace_text
from tests.web.test_pages import PASSWORD, csrf, log_in


def stocked(kk: bootstrap.Kokemus) -> tuple[str, str, str]:
    ws = apply(kk, workspace_text(9))
    dead = plan(kk, ws, "damaged", HOOK, "aino", cause("ord-1"))
    other = plan(kk, ws, "damaged", HOOK, "emma", cause("ord-2"))
    done = plan(kk, ws, "damaged", EMAIL, "aino", cause("ord-1"))
    with kk.db.begin() as conn:
        conn.execute(update(actions).where(actions.c.id.in_([dead, other])).values(
            status="dead", attempts=6,
            reason="gave up after 6 tries: the receiver answered 500"))
        conn.execute(update(actions).where(actions.c.id == done).values(status="done",
                                                                       attempts=1))
    for role in (Role.OWNER, Role.EDITOR, Role.ANALYST, Role.AGENT):
        access.create_user(kk.db, role.value, PASSWORD)
        access.grant(kk.db, role.value, "my-company", role)
    return dead, other, done


def test_an_analyst_sees_the_outbox_and_its_reasons_but_puts_nothing_back(
        client: TestClient, kk: bootstrap.Kokemus) -> None:
    dead, _other, done = stocked(kk)
    log_in(client, username="analyst")
    page = client.get("/w/my-company/actions")
    assert page.status_code == 200
    html = page.text
    assert "luovutettu: <strong>2</strong>" in html and "toimitettu: <strong>1</strong>" in html
    assert f'id="action-{dead}"' in html and f'id="action-{done}"' in html
    assert "gave up after 6 tries: the receiver answered 500" in html
    assert 'name="action"' not in html and "/actions/retry" not in html
    assert 'href="/w/my-company/actions"' in client.get("/w/my-company").text  # in the menu
    only_done = client.get("/w/my-company/actions", params={"status": "done"}).text
    assert f'id="action-{done}"' in only_done and f'id="action-{dead}"' not in only_done
    by_kind = client.get("/w/my-company/actions", params={"kind": "email"}).text
    assert f'id="action-{done}"' in by_kind and f'id="action-{dead}"' not in by_kind
    log_in(client, username="agent")
    assert client.get("/w/my-company/actions").status_code == 403


def test_an_editor_puts_chosen_dead_actions_back_then_all_of_them(
        client: TestClient, kk: bootstrap.Kokemus) -> None:
    dead, other, done = stocked(kk)
    log_in(client, username="editor")
    page = client.get("/w/my-company/actions", params={"status": "dead"}).text
    assert f'name="action" value="{dead}"' in page and "Lähetä kaikki 2 luovutettua" in page
    token = csrf(page)
    answer = client.post("/w/my-company/actions/retry", data={"csrf": token, "action": dead},
                         follow_redirects=False)
    assert answer.status_code == 303
    after = client.get(answer.headers["location"]).text
    assert "1 toimenpidettä palautettiin jonoon" in after
    assert (row(kk, dead)["status"], row(kk, dead)["attempts"]) == ("planned", 0)
    assert row(kk, other)["status"] == "dead"
    # nothing chosen: said so, nothing changes
    refused = client.post("/w/my-company/actions/retry", data={"csrf": token})
    assert refused.status_code == 422 and "Valitse ensin" in refused.text
    # a row that is not dead (any more): refused, nothing put back
    stale = client.post("/w/my-company/actions/retry", data={"csrf": token, "action": done})
    assert stale.status_code == 422 and row(kk, done)["status"] == "done"
    # every dead one
    assert client.post("/w/my-company/actions/retry", data={"csrf": token, "every": "dead"},
                       follow_redirects=False).status_code == 303
    assert row(kk, other)["status"] == "planned"
    with kk.db.connect() as conn:
        audited = conn.execute(select(audit_log.c.actor, audit_log.c.target).where(
            audit_log.c.action == "actions.retry").order_by(audit_log.c.id)).all()
    assert audited == [("user:editor", dead), ("user:editor", "dead")]
    # an expired form changes nothing
    assert client.post("/w/my-company/actions/retry",
                       data={"csrf": "forged", "every": "dead"}).status_code == 400
