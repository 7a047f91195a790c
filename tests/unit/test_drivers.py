"""Johnson's relative weights against a hand computation: the drivers orthogonalised
(Z = X R^-1/2), the outcome regressed on Z with numpy's least squares, Λ as the sample
correlations of X with Z; and a two-driver case worked out in closed form. The weights sum
to R² of the ordinary regression; the bootstrap intervals hold the estimate and are the same
for the same seed."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kokemus.domain import drivers


def sample(n: int = 400, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    x[:, 1] += 0.7 * x[:, 0]  # correlated drivers: where the weights differ from r²
    x[:, 2] += 0.4 * x[:, 1] - 0.3 * x[:, 3]
    y = 0.6 * x[:, 0] + 0.25 * x[:, 1] - 0.3 * x[:, 2] + 0.05 * x[:, 3] + rng.normal(size=n)
    return x, y


def by_hand(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    xs = (x - x.mean(0)) / x.std(0)
    ys = (y - y.mean()) / y.std()
    values, vectors = np.linalg.eigh(np.corrcoef(xs.T))
    z = xs @ vectors @ np.diag(values**-0.5) @ vectors.T  # orthogonal counterparts of X
    beta, *_ = np.linalg.lstsq(z, ys, rcond=None)
    lam = np.array([[np.corrcoef(xs[:, j], z[:, k])[0, 1] for k in range(x.shape[1])]
                    for j in range(x.shape[1])])
    b, *_ = np.linalg.lstsq(np.column_stack([np.ones(len(y)), x]), y, rcond=None)
    fitted = np.column_stack([np.ones(len(y)), x]) @ b
    r2 = 1 - ((y - fitted) ** 2).sum() / ((y - y.mean()) ** 2).sum()
    return (lam**2) @ (beta**2), float(r2)


def test_weights_match_the_hand_computation_and_sum_to_r2() -> None:
    x, y = sample()
    expected, r2 = by_hand(x, y)
    found = drivers.analyse(np.column_stack([x, y]), ["a", "b", "c", "d"], "y", min_n=30)
    weights = {d.name: d.weight for d in found.drivers}
    assert [weights[k] for k in "abcd"] == pytest.approx(list(expected), abs=1e-10)
    assert found.r2 == pytest.approx(r2, abs=1e-10)
    assert sum(weights.values()) == pytest.approx(found.r2, abs=1e-12)
    assert sum(d.share for d in found.drivers) == pytest.approx(1.0)
    assert found.drivers[0].name == "a"
    signs = {d.name: d.sign for d in found.drivers}
    assert signs["c"] == -1 and signs["a"] == 1  # signed like the coefficient


def test_two_drivers_in_closed_form() -> None:
    # two drivers with correlation r12: R^(1/2) has diagonal (√(1+r) + √(1-r))/2 and
    # off-diagonal (√(1+r) - √(1-r))/2, so the weights follow from r1y, r2y, r12 alone
    x, y = sample(600, seed=11)
    x = x[:, :2]
    r = np.corrcoef(np.column_stack([x, y]).T)
    r12, r1y, r2y = r[0, 1], r[0, 2], r[1, 2]
    d = (math.sqrt(1 + r12) + math.sqrt(1 - r12)) / 2
    o = (math.sqrt(1 + r12) - math.sqrt(1 - r12)) / 2
    det = d * d - o * o
    b1, b2 = (d * r1y - o * r2y) / det, (d * r2y - o * r1y) / det
    w1, w2 = d * d * b1 * b1 + o * o * b2 * b2, o * o * b1 * b1 + d * d * b2 * b2
    found = drivers.analyse(np.column_stack([x, y]), ["x1", "x2"], "y")
    weights = {dr.name: dr.weight for dr in found.drivers}
    assert weights["x1"] == pytest.approx(w1) and weights["x2"] == pytest.approx(w2)
    r2 = (r1y**2 + r2y**2 - 2 * r1y * r2y * r12) / (1 - r12**2)
    assert w1 + w2 == pytest.approx(r2)


def test_uncorrelated_drivers_weigh_their_squared_correlation() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(200, 3))
    q, _ = np.linalg.qr(x - x.mean(0))  # centred, orthogonal columns: uncorrelated
    y = q @ np.array([3.0, 2.0, 1.0]) + rng.normal(size=200) * 0.5
    found = drivers.analyse(np.column_stack([q, y]), ["a", "b", "c"], "y")
    r = np.corrcoef(np.column_stack([q, y]).T)
    for d in found.drivers:
        j = "abc".index(d.name)
        assert d.weight == pytest.approx(r[j, 3] ** 2, rel=0.02)


def test_bootstrap_intervals_hold_the_estimate_and_repeat() -> None:
    x, y = sample()
    data = np.column_stack([x, y])
    first = drivers.analyse(data, ["a", "b", "c", "d"], "y", resamples=200, seed=1)
    again = drivers.analyse(data, ["a", "b", "c", "d"], "y", resamples=200, seed=1)
    assert [(d.low, d.high) for d in first.drivers] == [(d.low, d.high) for d in again.drivers]
    assert first.resamples == 200
    for d in first.drivers:
        assert 0 <= d.low <= d.share <= d.high <= 1
    assert first.r2_low < first.r2 < first.r2_high
    top = first.drivers[0]
    assert top.high - top.low < 0.3  # 400 respondents: a usable interval


def test_blocks_give_intervals_like_the_row_bootstrap() -> None:
    x, y = sample(3000, seed=8)
    data = np.column_stack([x, y])
    rows = drivers.analyse(data, list("abcd"), "y", blocks=3000, resamples=300, seed=2)
    blocked = drivers.analyse(data, list("abcd"), "y", blocks=300, resamples=300, seed=2)
    for a, b in zip(rows.drivers, blocked.drivers, strict=True):
        assert a.name == b.name
        assert b.high - b.low == pytest.approx(a.high - a.low, rel=0.35)


def test_pairwise_uses_every_answer_and_listwise_the_complete_rows() -> None:
    x, y = sample(600)
    data = np.column_stack([x, y])
    data[:200, 3] = np.nan  # a driver a third of the respondents were not asked
    pairwise = drivers.analyse(data, list("abcd"), "y")
    listwise = drivers.analyse(data, list("abcd"), "y", missing="listwise")
    assert pairwise.used == 600 and listwise.used == 400
    by_name = {d.name: d for d in pairwise.drivers}
    assert by_name["a"].n == 600 and by_name["d"].n == 400
    _, r2 = by_hand(x[200:], y[200:])
    assert listwise.r2 == pytest.approx(r2)


def test_a_driver_answered_by_too_few_with_the_others_is_left_out() -> None:
    x, y = sample(300)
    data = np.column_stack([x, y])
    data[:290, 2] = np.nan  # ten answers only
    found = drivers.analyse(data, list("abcd"), "y", min_n=30)
    assert found.dropped == ["c"]
    assert {d.name for d in found.drivers} == {"a", "b", "d"}
    assert sum(d.weight for d in found.drivers) == pytest.approx(found.r2)


def test_a_constant_driver_is_left_out_and_nothing_to_explain_is_no_analysis() -> None:
    x, y = sample(200)
    data = np.column_stack([x[:, :2], np.full(200, 4.0), y])
    found = drivers.analyse(data, ["a", "b", "flat"], "y")
    assert found.dropped == ["flat"] and len(found.drivers) == 2
    nothing = drivers.analyse(np.column_stack([x, np.ones(200)]), list("abcd"), "y")
    assert nothing.drivers == [] and not nothing.enough


def test_a_driver_the_others_determine_is_left_out() -> None:
    x, y = sample(300)
    total = x[:, 0] + x[:, 1]  # a sum of two others: the three weights are not identified
    data = np.column_stack([x[:, 0], x[:, 1], total, x[:, 2], y])
    found = drivers.analyse(data, ["a", "b", "a+b", "c"], "y")
    assert len(found.dropped) == 1 and len(found.drivers) == 3
    assert 0 < found.r2 < 1
    assert sum(d.weight for d in found.drivers) == pytest.approx(found.r2)
