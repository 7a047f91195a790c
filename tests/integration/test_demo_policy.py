"""`kokemus demo --compare-policy`: the appliance shop with its damage rule on
(kodinkone-rule) against the shop as it is (kodinkone), the same customers and damages.
The planted differences (docs/demo.md, "With the rule and without") are found by the
product's own figures: the scorecard's keep rates, the scores, the recovered share, the
cases in the app store; and the history without the rule is the default demo's."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from kokemus import bootstrap
from kokemus.api.app import create_app
from kokemus.cli import app as cli
from kokemus.config import Settings
from kokemus.demo import appliance_shop, compare, generate
from kokemus.domain import scores
from kokemus.domain.roles import Role
from kokemus.engine import rules as engine
from kokemus.services import access, cases, workspaces
from kokemus.web import i18n
from tests.web.test_pages import PASSWORD, log_in

AS_OF = datetime(2026, 7, 1, tzinfo=UTC)
CUSTOMERS = 8_000  # the analytics tests' size: 4,000 customers in each workspace


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("policy")


@pytest.fixture(scope="module")
def made(folder: Path) -> Iterator[bootstrap.Kokemus]:
    with bootstrap.build(Settings(data_dir=folder, secret_key="test-secret")) as kk:
        generate.run(kk, customers=CUSTOMERS, end=date(2026, 6, 30),
                     scenarios=(appliance_shop.SCENARIO, appliance_shop.RULE_SCENARIO))
        yield kk


@pytest.fixture(scope="module")
def side_by_side(made: bootstrap.Kokemus) -> compare.Comparison:
    return compare.compare(made, AS_OF)


def test_the_same_damages_in_both(made: bootstrap.Kokemus) -> None:
    """The appliances' damages are drawn alike; the accessories ordered later are not (who
    comes back follows the first order's experience, which the rule changes)."""
    with made.events.reading() as cur:
        rows = dict(cur.execute("""
            SELECT w.slug, count(*) FROM events e JOIN (SELECT ? AS slug, ? AS id UNION ALL
                                                        SELECT ?, ?) w ON w.id = e.workspace_id
            WHERE type = 'delivery_damaged' AND properties->>'order' LIKE '%-o1'
            GROUP BY 1""", [
            "kodinkone", workspaces.get(made.db, "kodinkone").id,
            "kodinkone-rule", workspaces.get(made.db, "kodinkone-rule").id]).fetchall())
    assert rows["kodinkone"] == rows["kodinkone-rule"] > 50


def test_told_within_the_hour_offered_cancellation_and_asked_once(
        side_by_side: compare.Comparison) -> None:
    off, on = side_by_side.without.keep, side_by_side.with_rule.keep
    notice = "delay-told-2h.damage-notice-2h"
    assert off[notice].kept == 0 and off[notice].broken > 50
    assert on[notice].broken == 0 and on[notice].kept > 50
    refused = "one-whole.no-refused-cancellation"
    assert on[refused].broken == 0 and off[refused].broken > 30
    first = "one-whole.solved-first-contact"
    low, high = on[first].rate.low, off[first].rate.high
    assert low is not None and high is not None and low > high  # intervals apart


def test_damaged_customers_score_higher_with_the_rule(side_by_side: compare.Comparison) -> None:
    off, on = side_by_side.without, side_by_side.with_rule
    for kind in ("nps", "ces"):
        a, b = getattr(off, kind)["damaged"], getattr(on, kind)["damaged"]
        assert a.n >= 25 and b.n >= 25
        assert a.high is not None and b.low is not None
        assert b.low > a.high, kind  # the 95 % intervals do not overlap
    assert on.nps["damaged"].value - off.nps["damaged"].value > 50  # type: ignore[operator]
    # CSAT (a share of 4-5) at ~35 answers a side: the difference's interval excludes 0
    a, b = off.csat["damaged"], on.csat["damaged"]
    diff = scores.difference(round(b.value * b.n / 100), b.n,  # type: ignore[operator]
                             round(a.value * a.n / 100), a.n)  # type: ignore[operator]
    assert diff is not None and diff[1] > 0


def test_recovered_share_higher_with_the_rule(side_by_side: compare.Comparison) -> None:
    off, on = side_by_side.without, side_by_side.with_rule
    assert off.recovered.high is not None and on.recovered.low is not None
    assert on.recovered.low > off.recovered.high


def test_the_recovery_report_finds_the_callbacks_planted_effect(
        side_by_side: compare.Comparison) -> None:
    """With the rules, half of the detractors are called back (a case) and half held out
    (none), and all are asked again alike: the report's difference is the call's effect,
    clear of zero and near what was planted. Without them nobody has a case and nobody is
    asked again."""
    off, on = side_by_side.without.recovery, side_by_side.with_rule.recovery
    assert off.with_case.detractors == 0 and off.without_case.detractors > 100
    assert off.without_case.answered.value == 0 and off.difference is None
    called, held = on.with_case, on.without_case
    assert called.detractors >= 30 and held.detractors >= 30
    assert 0.35 < held.detractors / (called.detractors + held.detractors) < 0.65  # holdout 0.5
    # about half of each group answered again (FOLLOW_UP_RATE 0.6, HELD_OUT_RATE 0.5)
    for group, rate in ((called, appliance_shop.FOLLOW_UP_RATE),
                        (held, appliance_shop.HELD_OUT_RATE)):
        assert group.answered.low is not None and group.answered.high is not None
        assert group.answered.low < 100 * rate < group.answered.high
    assert called.recovered.n >= 20 and held.recovered.n >= 15
    planted = 100 * (appliance_shop.planted_recovery(appliance_shop.RECOVERED)
                     - appliance_shop.planted_recovery(appliance_shop.UNCALLED))
    assert 35 < planted < 45  # docs/demo.md: 84 % against 43 %
    assert on.difference is not None and on.low is not None and on.high is not None
    assert on.low > 0  # the whole interval above zero
    assert on.low < planted < on.high and abs(on.difference - planted) < 15
    # the held out recover too, well above none (regression to the mean): the control group
    # is what keeps the call from being credited with that
    assert held.recovered.low is not None and held.recovered.low > 5


def test_the_callback_spares_its_holdout_as_the_engine_would(
        made: bootstrap.Kokemus, side_by_side: compare.Comparison) -> None:
    """The history's cases are the engine's: no held-out customer has a callback case, and
    replaying the rule over the last 30 days fires for every case's detractor answer then and
    for none of the held out. (The replay fires for more: the re-ask's own answers of 0-6,
    whose second round the history leaves out, docs/demo.md.)"""
    ws = workspaces.get(made.db, "kodinkone-rule")
    callback = next(r for r in ws.document.rules if r.id == appliance_shop.CALLBACK)
    assert callback.holdout == 0.5 and callback.enabled
    found, _ = cases.listing(made.db, ws.id, cases.Filters(departments=("customer-service",)),
                             limit=cases.MAX_LIST)
    assert found and not any(callback.holds_out(c.customer) for c in found)
    since, until = AS_OF - timedelta(days=30), AS_OF
    replayed = engine.replay(made, ws, callback, since, until)
    fired = {f.cause.customer for f in replayed.fired}
    assert replayed.not_targeted > 0 and not any(callback.holds_out(c) for c in fired)
    recent = {c.customer for c in found
              if since + timedelta(minutes=5) <= c.created_at.astimezone(UTC) < until}
    assert recent and recent <= fired


def test_the_recovery_page_api_and_cli_show_both_groups_and_the_difference(
        made: bootstrap.Kokemus, side_by_side: compare.Comparison, folder: Path) -> None:
    report = side_by_side.with_rule.recovery
    assert report.difference is not None and report.low is not None
    assert report.high is not None
    settings = Settings(data_dir=folder, secret_key="test-secret")
    access.create_user(made.db, "ana", PASSWORD)
    access.grant(made.db, "ana", "kodinkone-rule", Role.ANALYST)
    key = access.create_key(made.db, "kodinkone-rule", "bi", {"read"})
    with TestClient(create_app(settings, made)) as client:
        log_in(client, username="ana")
        page = client.get("/w/kodinkone-rule/cases/recovery")
        assert page.status_code == 200
        text = html.unescape(page.text)
        for key_name, group in (("with_case", report.with_case),
                                ("without_case", report.without_case)):
            row = re.search(rf'<tr id="recovery-{key_name}">(.*?)</tr>', text, re.S)
            assert row is not None
            cells = re.findall(r'<td class="num">\s*([^<]*)', row.group(1))
            assert cells[0].strip() == str(group.detractors)
            assert f"(n = {group.answered.n})" in row.group(1)
            assert f"(n = {group.recovered.n})" in row.group(1)
            assert i18n.number(group.recovered.value or 0, "fi", 1) in row.group(1)
        said = re.search(r'<p id="recovery-difference">(.*?)</p>', text, re.S)
        assert said is not None
        for value in (report.difference, report.low, report.high):
            assert i18n.number(value, "fi", 1, signed=True) in said.group(1)
        answer = client.get("/api/v1/cases/recovery", headers={"Authorization": f"Bearer {key}"})
        assert answer.status_code == 200
        body = answer.json()
        assert body["difference"]["value"] == pytest.approx(report.difference)
        assert (body["difference"]["low"], body["difference"]["high"]) == pytest.approx(
            (report.low, report.high))
        assert body["with_case"]["recovered"]["n"] == report.with_case.recovered.n
        assert body["without_case"]["recovered"]["n"] == report.without_case.recovered.n
    shown = CliRunner(env={"COLUMNS": "200"}).invoke(
        cli, ["cases", "recovery", "-w", "kodinkone-rule", "--data-dir", str(folder)])
    assert shown.exit_code == 0, shown.output
    line = " ".join(shown.stdout.split())
    assert (f"difference: {report.difference:+.1f} points, 95% interval "
            f"[{report.low:+.1f}, {report.high:+.1f}]") in line
    for group in (report.with_case, report.without_case):
        assert f"(n = {group.recovered.n})" in line


def test_a_callback_case_for_customer_service_per_detractor(
        made: bootstrap.Kokemus, side_by_side: compare.Comparison) -> None:
    assert side_by_side.without.callbacks == 0
    on = side_by_side.with_rule
    assert on.callbacks == on.recovery.with_case.detractors  # one detractor answer each
    ws = workspaces.get(made.db, "kodinkone-rule")
    found, _ = cases.listing(made.db, ws.id, cases.Filters(departments=("customer-service",)),
                             limit=cases.MAX_LIST)
    assert {c.rule for c in found} == {"detractor-callback"}
    assert sum(c.resolved_at is not None for c in found) >= len(found) - 3


def test_a_case_for_logistics_per_damage_resolved_when_the_machine_left(
        made: bootstrap.Kokemus, side_by_side: compare.Comparison) -> None:
    assert side_by_side.without.cases == 0
    ws = workspaces.get(made.db, "kodinkone-rule")
    found, total = cases.listing(made.db, ws.id, cases.Filters(departments=("logistics",)),
                                 limit=cases.MAX_LIST)
    assert total == side_by_side.with_rule.keep["delay-told-2h.damage-notice-2h"].kept
    assert {c.department for c in found} == {"logistics"}
    resolved = [c for c in found if c.resolved_at is not None]
    assert len(resolved) >= total - 2  # a damage in the last hours may still be open
    within = sum(c.sla_due_at is not None and c.resolved_at is not None
                 and c.resolved_at <= c.sla_due_at for c in found)
    assert within / total > 0.6  # 4 h: most by day; a damage at night waits for the morning


def test_a_second_run_stores_nothing_twice(made: bootstrap.Kokemus,
                                           side_by_side: compare.Comparison) -> None:
    generate.run(made, customers=CUSTOMERS, end=date(2026, 6, 30),
                 scenarios=(appliance_shop.SCENARIO, appliance_shop.RULE_SCENARIO))
    assert compare.compare(made, AS_OF).with_rule.cases == side_by_side.with_rule.cases
