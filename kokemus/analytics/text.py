"""What customers say: comments per touchpoint, the words and phrases detractors use more
than promoters, and the workspace's themes.

The engine selects the comments (responses.comment, non-empty) with their NPS, touchpoint
and language; lemmatising is Python's (kokemus.domain.text, simplemma offline), once per
distinct word. Then:

- words and phrases: the log-odds ratio with an informative Dirichlet prior, detractors
  (NPS 0-6) against promoters (9-10), the prior from every comment read (passives and
  comments without an NPS too), its strength alpha_0 a tenth of the terms read
  (PRIOR_SHARE, below); z > 1.96: detractors say it more, z < -1.96: promoters do.
  A term needs `min_count` uses in the two groups together to be listed.
- themes (insights.themes, lemma rules): per theme the comments that mention it, their share
  of all comments (Wilson 95% interval), and the NPS of those who mention it against those
  who do not (adjusted-Wald intervals).
- per touchpoint: how many comments, and the NPS of those who commented.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import duckdb

from kokemus.analytics.scores import Filters, answers_sql
from kokemus.analytics.value import share
from kokemus.domain import scores as score_math
from kokemus.domain import text
from kokemus.domain.insights import Theme
from kokemus.domain.scores import Score

TOP = 15  # terms listed each way
# alpha_0 as a share of the terms read. The prior's strength decides how far a term seen in
# one group only can stand out: with the whole corpus as alpha_0 (a share of 1) a term said
# 10 times by detractors and never by promoters has z ~ 1.8, never significant below ~12
# uses; with a share of 0.1 it has z ~ 2.4, while a term said once or twice stays shrunk
# (its 1/alpha_w variance dominates). Checked on the hand-made set in tests/analytics.
PRIOR_SHARE = 0.1


@dataclass(frozen=True)
class Comment:
    touchpoint: str | None
    language: str | None
    nps: int | None
    terms: text.Terms


@dataclass(frozen=True)
class ThemeResult:
    theme: str
    mentions: int
    share: Score  # of all comments
    nps: Score  # of those who mention it
    nps_others: Score  # of those who do not

    def as_dict(self) -> dict[str, Any]:
        return {"theme": self.theme, "mentions": self.mentions, "share": self.share.as_dict(),
                "nps": self.nps.as_dict(), "nps_others": self.nps_others.as_dict()}


@dataclass(frozen=True)
class TouchpointComments:
    touchpoint: str | None
    comments: int
    nps: Score

    def as_dict(self) -> dict[str, Any]:
        return {"touchpoint": self.touchpoint, "comments": self.comments,
                "nps": self.nps.as_dict()}


@dataclass(frozen=True)
class CommentReport:
    comments: int
    detractors: int  # comments by detractors
    promoters: int
    words: list[text.Distinctive]  # significant, detractors' first (largest z), then promoters'
    phrases: list[text.Distinctive]
    themes: list[ThemeResult]
    touchpoints: list[TouchpointComments]
    min_count: int = 2
    prior_share: float = PRIOR_SHARE  # alpha_0 / the terms read; alpha_w from all comments
    groups: tuple[str, str] = field(default=("detractor", "promoter"))

    def as_dict(self) -> dict[str, Any]:
        return {"comments": self.comments, "detractors": self.detractors,
                "promoters": self.promoters, "groups": list(self.groups),
                "min_count": self.min_count, "prior_share": self.prior_share,
                "words": [w.as_dict() for w in self.words],
                "phrases": [p.as_dict() for p in self.phrases],
                "themes": [t.as_dict() for t in self.themes],
                "touchpoints": [t.as_dict() for t in self.touchpoints]}


def comments(cursor: duckdb.DuckDBPyConnection, workspace_id: int, filters: Filters,
             default_language: str) -> list[Comment]:
    rows = cursor.execute(f"""
        SELECT touchpoint, language, nps, comment
        FROM ({answers_sql(workspace_id, filters)}) AS s
        WHERE comment IS NOT NULL AND trim(comment) <> ''""").fetchall()
    # a comment said word for word again ("Nopea toimitus.") is lemmatised once
    seen: dict[tuple[str, str], text.Terms] = {}

    def terms(body: str, language: str) -> text.Terms:
        found = seen.get((body, language))
        if found is None:
            found = seen[(body, language)] = text.terms(body, language)
        return found

    return [Comment(tp, lang, nps, terms(body, lang or default_language))
            for tp, lang, nps, body in rows]


def _nps(rows: list[Comment], min_n: int) -> Score:
    scores = [c.nps for c in rows if c.nps is not None]
    return score_math.nps(sum(s >= 9 for s in scores), sum(7 <= s <= 8 for s in scores),
                          sum(s <= 6 for s in scores), min_n)


def distinctive(found: list[Comment], which: str, min_count: int, top: int = TOP,
                prior_share: float = PRIOR_SHARE) -> list[text.Distinctive]:
    """Terms (`which`: words or phrases) detractors use more than promoters and the other way
    round: the significant ones, `top` each way."""

    def of(c: Comment) -> tuple[str, ...]:
        return c.terms.words if which == "words" else c.terms.phrases

    background = text.count(of(c) for c in found)
    detractors = text.count(of(c) for c in found if c.nps is not None and c.nps <= 6)
    promoters = text.count(of(c) for c in found if c.nps is not None and c.nps >= 9)
    alpha = text.prior(background, prior_share * sum(background.values()))
    scored = [d for d in text.log_odds(detractors, promoters, alpha)
              if d.count_i + d.count_j >= min_count and d.significant]
    more = [d for d in scored if d.z > 0][:top]
    less = sorted((d for d in scored if d.z < 0), key=lambda d: (d.z, d.term))[:top]
    return more + less


def report(cursor: duckdb.DuckDBPyConnection, workspace_id: int, themes: list[Theme],
           filters: Filters = Filters(), *, default_language: str = "fi", min_n: int = 1,
           min_count: int = 2, prior_share: float = PRIOR_SHARE) -> CommentReport:
    found = comments(cursor, workspace_id, filters, default_language)
    theme_results = []
    for theme in themes:
        lemmas: dict[str, list[str]] = {lang: [w.lower() for w in ws]
                                        for lang, ws in theme.lemmas.items()}
        hit = [c for c in found if text.mentions(lemmas, c.terms, c.language)]
        rest = [c for c in found if not text.mentions(lemmas, c.terms, c.language)]
        theme_results.append(ThemeResult(theme.id, len(hit), share(len(hit), len(found), min_n),
                                         _nps(hit, min_n), _nps(rest, min_n)))
    theme_results.sort(key=lambda t: (-t.mentions, t.theme))
    by_touchpoint: dict[str | None, list[Comment]] = {}
    for c in found:
        by_touchpoint.setdefault(c.touchpoint, []).append(c)
    touchpoints = sorted((TouchpointComments(tp, len(rows), _nps(rows, min_n))
                          for tp, rows in by_touchpoint.items()),
                         key=lambda t: (-t.comments, t.touchpoint or ""))
    groups = Counter("detractor" if c.nps <= 6 else "promoter" if c.nps >= 9 else "passive"
                     for c in found if c.nps is not None)
    return CommentReport(len(found), groups["detractor"], groups["promoter"],
                         distinctive(found, "words", min_count, prior_share=prior_share),
                         distinctive(found, "phrases", min_count, prior_share=prior_share),
                         theme_results, touchpoints, min_count, prior_share)
