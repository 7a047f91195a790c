"""The demo's answers move together as real ones do: every answer of a respondent is cut from
the latent scores their journey left (docs/demo.md, "Answers that move together"). Each test
reads the stored responses and events in DuckDB and checks a planted correlation or effect
against the figure docs/demo.md gives for the default demo."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kokemus import bootstrap
from kokemus.config import Settings
from kokemus.demo import generate
from kokemus.services import workspaces

END = date(2026, 6, 30)
CUSTOMERS = 20_000  # the default demo: ~90 damaged deliveries answer the scores, ~90 RATER
# The appliance shop's two surveys that ask the scores (after the delivery or installation).
SCORED = "survey IN ('after-installation', 'after-delivery')"


@pytest.fixture(scope="module")
def kk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[bootstrap.Kokemus]:
    folder: Path = tmp_path_factory.mktemp("demo-coherence")
    with bootstrap.build(Settings(data_dir=folder, secret_key="test-secret")) as built:
        generate.run(built, customers=CUSTOMERS, end=END)
        yield built


@pytest.fixture(scope="module")
def shop(kk: bootstrap.Kokemus) -> int:
    return workspaces.get(kk.db, "kodinkone").id


def _rows(kk: bootstrap.Kokemus, sql: str, *params: object) -> list[tuple[Any, ...]]:
    with kk.events.reading() as cur:
        return cur.execute(sql, list(params)).fetchall()


def _columns(kk: bootstrap.Kokemus, sql: str, *params: object) -> list[np.ndarray]:
    rows = _rows(kk, sql, *params)
    assert rows
    return [np.array(c, float) for c in zip(*rows, strict=True)]


def _damaged(alias: str = "r") -> str:
    """SQL: whether the response's triggering order was damaged (needs events `e`)."""
    return (f"coalesce(e.properties->>'order' IN (SELECT properties->>'order' FROM events "
            f"WHERE workspace_id = {alias}.workspace_id AND type = 'delivery_damaged'), false)")


def _d(a: np.ndarray, b: np.ndarray) -> float:
    """Cohen's d of a against b (pooled standard deviation)."""
    pooled = math.sqrt(((len(a) - 1) * a.var(ddof=1) + (len(b) - 1) * b.var(ddof=1))
                       / (len(a) + len(b) - 2))
    return float((a.mean() - b.mean()) / pooled)


def _interval(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """95 % interval of mean(a) - mean(b) (Welch)."""
    diff = a.mean() - b.mean()
    se = math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
    return float(diff - 1.96 * se), float(diff + 1.96 * se)


def test_scores_of_one_respondent_correlate_like_real_ones(kk: bootstrap.Kokemus,
                                                           shop: int) -> None:
    nps, ces, csat = _columns(kk, f"""
        SELECT nps, ces, csat FROM responses WHERE workspace_id = ? AND {SCORED}""", shop)
    assert len(nps) > 1000
    r = np.corrcoef(np.vstack([nps, ces, csat]))
    # Documented (20k): NPS-CES 0.57, NPS-CSAT 0.64, CES-CSAT 0.52.
    for pair in ((0, 1), (0, 2), (1, 2)):
        assert 0.45 <= r[pair] <= 0.8, (pair, r[pair])
    valinta = workspaces.get(kk.db, "asiakkaan-valinta").id
    nps, ces = _columns(kk, "SELECT nps, ces FROM responses WHERE workspace_id = ?", valinta)
    assert 0.45 <= np.corrcoef(nps, ces)[0, 1] <= 0.8


def test_detractors_and_promoters_rate_satisfaction_their_way(kk: bootstrap.Kokemus,
                                                              shop: int) -> None:
    ((detractors, satisfied_detractors, promoters, unhappy_promoters),) = _rows(kk, f"""
        SELECT count(*) FILTER (WHERE nps <= 6), count(*) FILTER (WHERE nps <= 6 AND csat >= 4),
               count(*) FILTER (WHERE nps >= 9), count(*) FILTER (WHERE nps >= 9 AND csat <= 2)
        FROM responses WHERE workspace_id = ? AND {SCORED}""", shop)
    assert detractors > 200 and promoters > 700
    # Answers drawn each on its own gave 76 % and 5 %. With the scores correlating about 0.6
    # (and 81 % of all answers CSAT 4-5) about 35-40 % of detractors still rate CSAT 4-5: the
    # honest figure (documented 35 %); promoters rating CSAT 1-2: 1.3 %.
    assert satisfied_detractors / detractors < 0.45
    assert unhappy_promoters / promoters < 0.015


def test_expectations_stay_alike_while_reliability_falls_for_damaged_deliveries(
        kk: bootstrap.Kokemus, shop: int) -> None:
    dims = ("tangibles", "reliability", "responsiveness", "assurance", "empathy")
    sides = ", ".join(f"(r.answers->'quality'->'{d}'->>'{side}')::INT"
                      for side in ("expected", "perceived") for d in dims)
    damaged, *values = _columns(kk, f"""
        SELECT {_damaged()}::INT, {sides}
        FROM responses r JOIN events e ON e.workspace_id = r.workspace_id AND e.id = r.event_id
        WHERE r.workspace_id = ? AND r.survey IN ('quality', 'quality-after-damage')""", shop)
    hit = damaged == 1
    assert hit.sum() >= 60 and (~hit).sum() >= 400
    expected = np.mean(values[:5], axis=0)  # per respondent, over the five dimensions
    perceived = np.mean(values[5:], axis=0)
    # What customers expect was formed before the journey: it does not follow what happened,
    # neither the damage (few answers: the difference within its noise) nor anything else
    # that moves the perceptions (all answers: no correlation beyond noise, ~0.05).
    low, high = _interval(expected[hit], expected[~hit])
    assert low < 0 < high, (low, high)
    assert abs(_d(expected[hit], expected[~hit])) < 0.4  # its noise at n = 92: ~0.12
    assert abs(np.corrcoef(expected, perceived)[0, 1]) < 0.1
    # Perceived reliability falls far below it after a damage (documented: 2.2 vs 5.5).
    reliability = values[5 + dims.index("reliability")]
    assert _d(reliability[hit], reliability[~hit]) < -2.0
    assert _interval(reliability[hit], reliability[~hit])[1] < -1.5


def _relative_weights(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Johnson's relative weights (REFERENCE.md): the predictors' shares of R²."""
    r = np.corrcoef(np.column_stack([x, y]), rowvar=False)
    rxx, rxy = r[:-1, :-1], r[:-1, -1]
    values, vectors = np.linalg.eigh(rxx)
    lam = vectors @ np.diag(np.sqrt(values)) @ vectors.T
    beta = np.linalg.solve(lam, rxy)
    return (lam**2) @ (beta**2)  # type: ignore[no-any-return]


def test_delivery_is_the_top_driver_of_recommendation(kk: bootstrap.Kokemus,
                                                      shop: int) -> None:
    nps, checkout, delivery, installation = _columns(kk, """
        SELECT nps, (answers->>'checkout')::INT, (answers->>'delivery')::INT,
               (answers->>'installation')::INT
        FROM responses WHERE workspace_id = ? AND survey = 'after-installation'""", shop)
    assert len(nps) > 800
    r = {name: np.corrcoef(x, nps)[0, 1] for name, x in
         (("checkout", checkout), ("delivery", delivery), ("installation", installation))}
    # Documented (20k): delivery 0.44, installation 0.27, ordering 0.10.
    assert r["delivery"] > r["installation"] + 0.1 > r["checkout"] + 0.15
    weights = _relative_weights(np.column_stack([checkout, delivery, installation]), nps)
    share = weights / weights.sum()
    assert share[1] > 0.6 and share[1] > share[2] > share[0]


def test_customers_who_perceive_more_elements_recommend_more(kk: bootstrap.Kokemus,
                                                             shop: int) -> None:
    elements = ("saves_time", "avoids_hassles", "reduces_effort", "reduces_anxiety",
                "informs", "quality")
    nps, *scores = _columns(kk, "SELECT nps, " + ", ".join(
        f"(answers->'value'->>'{e}')::INT" for e in elements) + """
        FROM responses WHERE workspace_id = ? AND survey = 'after-installation'""", shop)
    high = np.sum([s >= 4 for s in scores], axis=0)  # elements delivered well, per customer
    assert np.corrcoef(high, nps)[0, 1] > 0.45
    means = [nps[(high >= lo) & (high <= hi)].mean() for lo, hi in ((0, 1), (2, 3), (4, 6))]
    assert means[0] + 1.5 < means[1] < means[2] - 1.0, means  # documented: 4.8, 7.8, 9.1
    # The shop claims to inform but tells nothing: `informs` is the one perceived poorly
    # (documented: 2.40; the others 3.36-3.71, saves_time lowest: it reads the delivery).
    mean = {e: s.mean() for e, s in zip(elements, scores, strict=True)}
    assert mean["informs"] < 2.6 and min(v for e, v in mean.items() if e != "informs") > 3.2


def test_low_effort_customers_buy_again(kk: bootstrap.Kokemus, shop: int) -> None:
    """CES 5-7 (easy) against 1-3 (hard) on the first order, and whether the customer ordered
    again later (`order_placed` of an `-o2` order, the repurchase the workspace declares)."""
    rows = _rows(kk, """
        WITH again AS (SELECT DISTINCT customer FROM events
                       WHERE workspace_id = ? AND type = 'order_placed'
                         AND properties->>'order' LIKE '%-o2')
        SELECT CASE WHEN r.ces >= 5 THEN 'low' WHEN r.ces <= 3 THEN 'high' END AS effort,
               count(*), count(*) FILTER (WHERE r.customer IN (SELECT customer FROM again))
        FROM responses r JOIN events e ON e.workspace_id = r.workspace_id AND e.id = r.event_id
        WHERE r.workspace_id = ? AND r.survey IN ('after-installation', 'after-delivery')
          AND e.properties->>'order' LIKE '%-o1'
          AND r.updated_at < TIMESTAMP '2026-05-01'  -- time left to come back
        GROUP BY 1""", shop, shop)
    by = {effort: (n, k) for effort, n, k in rows}
    (n_low, k_low), (n_high, k_high) = by["low"], by["high"]
    assert n_high >= 80 and n_low >= 500
    p_low, p_high = k_low / n_low, k_high / n_high
    se = math.sqrt(p_low * (1 - p_low) / n_low + p_high * (1 - p_high) / n_high)
    # Documented (20k): 16.0 % against 1.4 %.
    assert p_low - p_high - 1.96 * se > 0, (p_low, p_high, se)
    workspace = workspaces.get(kk.db, "kodinkone").document
    assert workspace.insights.outcomes.repurchase == ["order_placed"]


def test_detractors_and_promoters_use_their_own_words(kk: bootstrap.Kokemus,
                                                      shop: int) -> None:
    rows = _rows(kk, """
        SELECT nps, lower(comment) FROM responses
        WHERE workspace_id = ? AND comment IS NOT NULL""", shop)
    detractors = [c for nps, c in rows if nps <= 6]
    promoters = [c for nps, c in rows if nps >= 9]
    assert len(detractors) > 100 and len(promoters) > 50

    def share(words: tuple[str, ...], comments: list[str]) -> float:
        return sum(any(w in c for w in words) for c in comments) / len(comments)

    broken = ("rikki", "broken", "kuljetusliike", "carrier", "peru", "cancel")
    praise = ("nopea toimitus", "fast delivery", "ammattitaitoinen", "skilled")
    assert share(broken, detractors) > 0.05 and share(broken, promoters) == 0
    assert share(praise, promoters) > 0.3 and share(praise, detractors) == 0
    themes = {"delivery": ("toimitus", "delivery", "kuljet"), "installation": ("asen", "install"),
              "price": ("hinta", "price"), "service": ("asiakaspalvelu", "customer service")}
    for theme, words in themes.items():
        assert share(words, detractors + promoters) > 0.03, theme
