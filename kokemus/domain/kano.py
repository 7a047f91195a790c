"""Kano: what a feature does to satisfaction, from a functional and a dysfunctional answer.

Each respondent answers, per feature, how they feel if the product has it (functional) and
if it does not (dysfunctional): like, expect, neutral, live with or dislike. The pair is one
cell of the evaluation table (REFERENCE.md, "Kano"); a feature's category is the most
frequent cell category among its respondents, and its Better and Worse coefficients say how
much having it lifts satisfaction and how much lacking it hurts:

    Better = (A + O) / (A + O + M + I),   Worse = -(O + M) / (A + O + M + I)

Reverse and questionable answers are counted and shown, never in the coefficients.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from kokemus.domain.surveys import KANO_ANSWERS

Category = Literal["A", "O", "M", "I", "R", "Q"]
CATEGORIES: tuple[Category, ...] = ("A", "O", "M", "I", "R", "Q")
NAMES: dict[Category, str] = {"A": "attractive", "O": "one_dimensional", "M": "must_be",
                              "I": "indifferent", "R": "reverse", "Q": "questionable"}

# Rows: the functional answer; columns: the dysfunctional one, both in KANO_ANSWERS' order
# (like, expect, neutral, live_with, dislike).
TABLE: tuple[tuple[Category, ...], ...] = (
    ("Q", "A", "A", "A", "O"),
    ("R", "I", "I", "I", "M"),
    ("R", "I", "I", "I", "M"),
    ("R", "I", "I", "I", "M"),
    ("R", "R", "R", "R", "Q"),
)


def category(functional: str, dysfunctional: str) -> Category:
    """The table's cell for one respondent's pair of answers; ValueError for an unknown one."""
    try:
        row, column = KANO_ANSWERS.index(functional), KANO_ANSWERS.index(dysfunctional)
    except ValueError:
        raise ValueError(f"a Kano answer is one of {', '.join(KANO_ANSWERS)}, not "
                         f"{functional!r} / {dysfunctional!r}") from None
    return TABLE[row][column]


@dataclass(frozen=True)
class FeatureResult:
    """One feature's categories counted, its category and its coefficients (None when no
    answer falls in A, O, M or I)."""

    feature: str
    n: int  # respondents who answered both questions of the pair
    counts: dict[Category, int]
    category: Category | None  # the most frequent; None without answers
    tied: tuple[Category, ...]  # every category sharing the top count, when more than one
    better: float | None
    worse: float | None

    def as_dict(self) -> dict[str, object]:
        return {"feature": self.feature, "n": self.n, "counts": dict(self.counts),
                "category": self.category,
                "category_name": NAMES[self.category] if self.category else None,
                "tied": list(self.tied), "better": self.better, "worse": self.worse}


def classify(feature: str, pairs: Mapping[tuple[str, str], int]) -> FeatureResult:
    """A feature's result from the counts of its (functional, dysfunctional) answer pairs.
    A tie for the most frequent category is broken in the order M > O > A > I > R > Q (the
    usual rule: the category that matters most for the product), and the tie is reported."""
    counts: dict[Category, int] = {c: 0 for c in CATEGORIES}
    for (functional, dysfunctional), count in pairs.items():
        counts[category(functional, dysfunctional)] += int(count)
    n = sum(counts.values())
    top = max(counts.values()) if n else 0
    order: tuple[Category, ...] = ("M", "O", "A", "I", "R", "Q")
    tied = tuple(c for c in order if n and counts[c] == top)
    chosen: Category | None = tied[0] if tied else None
    base = counts["A"] + counts["O"] + counts["M"] + counts["I"]
    better = (counts["A"] + counts["O"]) / base if base else None
    worse = -(counts["O"] + counts["M"]) / base if base else None
    return FeatureResult(feature, n, counts, chosen, tied if len(tied) > 1 else (), better,
                         worse)
