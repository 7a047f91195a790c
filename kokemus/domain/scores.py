"""Honest scores: NPS, CES and CSAT from answer counts, each with its n and a 95% interval.

Formulas as in REFERENCE.md: NPS with the adjusted-Wald interval (Rocks 2016), CSAT as
top-2-box with a Wilson interval, CES 2.0 as the mean (normal interval) and the share of 5-7
answers. The engine counts; this module only does arithmetic on counts, so the same code
serves a score card, a breakdown row and a trend point.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Z95 = 1.959963984540054


@dataclass(frozen=True)
class Score:
    """A figure with its sample size and 95% interval; `enough` is False below the minimum n,
    and then a person must see "too few answers" rather than the value."""

    kind: str
    n: int
    value: float | None
    low: float | None
    high: float | None
    enough: bool
    se: float | None = None  # standard error, for comparing two periods

    def as_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "n": self.n, "value": self.value, "low": self.low,
                "high": self.high, "enough": self.enough}


def _empty(kind: str) -> Score:
    return Score(kind, 0, None, None, None, False)


def nps(promoters: int, passives: int, detractors: int, min_n: int = 1) -> Score:
    """NPS = %promoters - %detractors; the adjusted-Wald 95% interval (x100)."""
    n = promoters + passives + detractors
    if n == 0:
        return _empty("nps")
    value = 100 * (promoters - detractors) / n
    n_adj = n + 3
    p = (promoters + 0.75) / n_adj
    d = (detractors + 0.75) / n_adj
    centre = p - d
    se = math.sqrt(max(p + d - centre**2, 0.0) / n_adj)
    low, high = max(-1.0, centre - Z95 * se), min(1.0, centre + Z95 * se)
    return Score("nps", n, value, 100 * low, 100 * high, n >= min_n, 100 * se)


def wilson(successes: int, n: int) -> tuple[float, float]:
    """Wilson 95% interval of a proportion, in [0, 1]."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    z2 = Z95**2
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def difference(successes_a: int, n_a: int, successes_b: int,
               n_b: int) -> tuple[float, float, float] | None:
    """p_a - p_b with its 95% interval, in [-1, 1]: Newcombe's hybrid score interval
    (method 10, Newcombe 1998), built from the two Wilson intervals; None when either group
    is empty."""
    if n_a == 0 or n_b == 0:
        return None
    p_a, p_b = successes_a / n_a, successes_b / n_b
    (low_a, high_a), (low_b, high_b) = wilson(successes_a, n_a), wilson(successes_b, n_b)
    d = p_a - p_b
    low = d - math.sqrt((p_a - low_a) ** 2 + (high_b - p_b) ** 2)
    high = d + math.sqrt((high_a - p_a) ** 2 + (p_b - low_b) ** 2)
    return d, max(-1.0, low), min(1.0, high)


def _share(kind: str, successes: int, n: int, min_n: int) -> Score:
    if n == 0:
        return _empty(kind)
    low, high = wilson(successes, n)
    p = successes / n
    return Score(kind, n, 100 * p, 100 * low, 100 * high, n >= min_n,
                 100 * math.sqrt(p * (1 - p) / n))


def share(kind: str, successes: int, n: int, min_n: int = 1) -> Score:
    """Any share in percent with its Wilson interval (a recovery rate, a reply rate)."""
    return _share(kind, successes, n, min_n)


def csat(top2: int, n: int, min_n: int = 1) -> Score:
    """CSAT: the percent of 4 and 5 answers among all (1-5), Wilson interval."""
    return _share("csat", top2, n, min_n)


def ces_easy(easy: int, n: int, min_n: int = 1) -> Score:
    """The percent of CES answers 5-7 ("easy"), Wilson interval."""
    return _share("ces_easy", easy, n, min_n)


def keep_rate(kept: int, n: int, min_n: int = 1) -> Score:
    """A promise's keep rate: the percent of judged occurrences (kept + broken) kept,
    Wilson interval (REFERENCE.md, "Promise keep rates")."""
    return _share("keep_rate", kept, n, min_n)


def ces(n: int, total: float, total_squares: float, min_n: int = 1) -> Score:
    """Mean CES (1-7) from the count, sum and sum of squares; normal 95% interval."""
    if n == 0:
        return _empty("ces")
    mean = total / n
    if n == 1:
        return Score("ces", 1, mean, 1.0, 7.0, min_n <= 1, None)
    variance = max(total_squares - n * mean**2, 0.0) / (n - 1)
    se = math.sqrt(variance / n)
    return Score("ces", n, mean, max(1.0, mean - Z95 * se), min(7.0, mean + Z95 * se),
                 n >= min_n, se)


@dataclass(frozen=True)
class Change:
    kind: str
    before: Score
    after: Score
    difference: float | None
    significant: bool  # the 95% interval of the difference excludes zero

    def as_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "before": self.before.as_dict(),
                "after": self.after.as_dict(), "difference": self.difference,
                "significant": self.significant}


def change(before: Score, after: Score) -> Change:
    """Did the score move between two periods? Significant only when both have enough
    answers and |difference| > 1.96 x the standard error of the difference."""
    if before.value is None or after.value is None:
        return Change(after.kind, before, after, None, False)
    diff = after.value - before.value
    if before.se is None or after.se is None or not (before.enough and after.enough):
        return Change(after.kind, before, after, diff, False)
    se = math.sqrt(before.se**2 + after.se**2)
    return Change(after.kind, before, after, diff, se > 0 and abs(diff) > Z95 * se)


def band(kind: str, value: int) -> str:
    """The answer band a person filters by: promoter/passive/detractor for NPS,
    easy/neutral/hard for CES, satisfied/neutral/dissatisfied for CSAT."""
    if kind == "nps":
        return "promoter" if value >= 9 else "passive" if value >= 7 else "detractor"
    if kind == "ces":
        return "easy" if value >= 5 else "neutral" if value == 4 else "hard"
    if kind == "csat":
        return "satisfied" if value >= 4 else "neutral" if value == 3 else "dissatisfied"
    raise ValueError(f"no bands for {kind}")


def margin_sample_size(margin_points: float, variance: float = 1.0) -> int:
    """Answers needed for an NPS margin of +-`margin_points` (REFERENCE.md: n = z²·var/d² − 3)."""
    d = margin_points / 100
    return round(Z95**2 * variance / d**2 - 3)
