"""Things shown by their names in the reader's language, not by their ids: a case's rule,
event types in a commitment's measure and on a timeline (the demo's appliance shop)."""

from __future__ import annotations

from datetime import date

from fastapi.testclient import TestClient
from sqlalchemy import select

from kokemus import bootstrap
from kokemus.demo import generate
from kokemus.services import workspaces
from kokemus.storage.tables import cases
from tests.web.test_pages import anna, log_in  # noqa: F401


def test_a_case_names_its_rule_and_its_customers_events(
    client: TestClient, anna: str, kk: bootstrap.Kokemus,  # noqa: F811
) -> None:
    generate.run(kk, customers=600, end=date(2026, 6, 30), scenarios=generate.WITH_RULE)
    ws = workspaces.get(kk.db, "kodinkone-rule")
    with kk.db.connect() as conn:
        number, rule = conn.execute(select(cases.c.number, cases.c.rule).where(
            cases.c.workspace_id == ws.id, cases.c.rule == "damaged-delivery")
            .order_by(cases.c.number).limit(1)).one()
    log_in(client)
    html = client.get(f"/w/kodinkone-rule/cases/{number}").text
    found = next(r for r in ws.document.rules if r.id == rule)
    name = found.name["fi"] if isinstance(found.name, dict) else found.name
    assert f"sääntö {name}" in html and f"säännön {name} avaama" in html
    assert "sääntö damaged-delivery" not in html
    # the customer's timeline beside it: the damage by its Finnish name, not its type
    assert '<span class="event-type">Kuljetusvaurio</span>' in html
    assert "delivery_damaged<" not in html

    overview = client.get("/w/kodinkone-rule").text
    commitments = overview.split('class="commitments"')[1].split("</table>")[0]
    assert "tapahtumasta Pikatoimitus valittu tapahtumaan Toimitettu" in commitments
    assert "express_delivery_selected" not in commitments

    # the report's outcomes name their events too
    report = " ".join(client.get("/w/kodinkone-rule/report").text.split())
    assert "Tapahtumat: Tilaus tehty." in report and "order_placed" not in report
