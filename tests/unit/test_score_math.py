"""Every score against values computed by hand (REFERENCE.md's formulas)."""

from __future__ import annotations

import math

import pytest

from kokemus.domain import scores


def test_reference_worked_nps_example() -> None:
    # n = 400, 200 promoters, 120 passives, 80 detractors -> NPS 30, interval about 22 to 37
    s = scores.nps(200, 120, 80)
    assert s.n == 400 and s.value == pytest.approx(30.0)
    # by hand: n' = 403, p' = 200.75/403, d' = 80.75/403, centre = 120/403 = 0.29777;
    # var = p' + d' - centre² = 0.69727 - 0.08867 = 0.60861; se = sqrt(var/403) = 0.038862
    centre = 120 / 403
    se = math.sqrt((281.5 / 403 - centre**2) / 403)
    assert s.low == pytest.approx(100 * (centre - 1.959964 * se), abs=1e-4)
    assert s.high == pytest.approx(100 * (centre + 1.959964 * se), abs=1e-4)
    assert round(s.low) == 22 and round(s.high) == 37


def test_nps_codes_each_answer_plus_one_zero_minus_one() -> None:
    assert scores.nps(10, 0, 0).value == 100
    assert scores.nps(0, 0, 10).value == -100
    assert scores.nps(0, 10, 0).value == 0
    assert scores.nps(3, 1, 1).value == pytest.approx(40.0)
    # the interval stays within -100..100 even at the edges
    edge = scores.nps(10, 0, 0)
    assert edge.high is not None and edge.high <= 100 and edge.low is not None


def test_wilson_known_values() -> None:
    # textbook values (Newcombe 1998, Wilson score without continuity correction)
    low, high = scores.wilson(81, 263)
    assert (low, high) == (pytest.approx(0.2553, abs=1e-4), pytest.approx(0.3662, abs=1e-4))
    low, high = scores.wilson(0, 10)
    assert low == 0 and high == pytest.approx(0.2775, abs=1e-4)
    low, high = scores.wilson(10, 10)
    assert low == pytest.approx(0.7225, abs=1e-4) and high == pytest.approx(1.0)


def test_csat_is_top_two_box_with_wilson_interval() -> None:
    s = scores.csat(81, 263)
    assert s.value == pytest.approx(100 * 81 / 263)
    assert s.low == pytest.approx(25.53, abs=0.01) and s.high == pytest.approx(36.62, abs=0.01)


def test_ces_mean_and_normal_interval() -> None:
    answers = [7, 6, 6, 5, 4, 2]
    n, total, squares = len(answers), sum(answers), sum(a * a for a in answers)
    s = scores.ces(n, total, squares)
    assert s.value == pytest.approx(5.0)
    # sample variance: ((4+1+1+0+1+9) = 16) / 5 = 3.2; se = sqrt(3.2/6) = 0.730297
    half = 1.959964 * math.sqrt(3.2 / 6)
    assert s.low == pytest.approx(5 - half, abs=1e-5) and s.high == pytest.approx(5 + half,
                                                                                  abs=1e-5)
    easy = scores.ces_easy(sum(1 for a in answers if a >= 5), n)
    assert easy.value == pytest.approx(400 / 6)


def test_margin_sample_sizes() -> None:
    assert scores.margin_sample_size(5) == 1534
    assert scores.margin_sample_size(10) == 381


def test_change_is_significant_only_when_it_is() -> None:
    before = scores.nps(200, 120, 80)  # 30
    moved = scores.change(before, scores.nps(280, 80, 40))  # 60, n = 400
    assert moved.difference == pytest.approx(30.0) and moved.significant
    still = scores.change(before, scores.nps(208, 116, 76))  # 33
    assert still.difference == pytest.approx(3.0) and not still.significant


def test_change_needs_enough_answers_on_both_sides() -> None:
    before = scores.nps(2, 0, 8, min_n=30)  # -60 on 10 answers
    after = scores.nps(300, 60, 40, min_n=30)  # +65 on 400 answers
    result = scores.change(before, after)
    assert result.difference == pytest.approx(125.0) and not result.significant
    assert not scores.change(scores.nps(0, 0, 0), after).significant


def test_below_min_n_the_score_is_not_enough() -> None:
    assert not scores.nps(10, 10, 9, min_n=30).enough
    assert scores.nps(10, 10, 10, min_n=30).enough
    assert not scores.csat(20, 29, min_n=30).enough
    assert not scores.ces(29, 29 * 5, 29 * 25, min_n=30).enough
    empty = scores.ces(0, 0, 0)
    assert empty.value is None and not empty.enough
