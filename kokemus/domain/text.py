"""What customers say: comments as lemmas, the words that tell two groups apart, and themes.

A comment is split into words (letters only), each word lower-cased and lemmatised with
simplemma, offline (its dictionaries ship in the package: nothing is downloaded at run time;
kokemus.domain.lemmas opens them from a decoded cache in milliseconds), in the response's
language; stop words are dropped after lemmatising, so every inflection
of "olla" or "be" goes. A phrase is two content lemmas that stood next to each other.

Words that one group uses more than another: the log-odds ratio with an informative
Dirichlet prior (Monroe, Colaresi, Quinn 2008, "Fightin' Words"; REFERENCE.md). For term w,
groups i and j with counts y and totals n, prior counts alpha_w = the term's share of the
background (all comments) x alpha_0:

    delta_w = log[(y_wi + a_w) / (n_i + a_0 - y_wi - a_w)]
            - log[(y_wj + a_w) / (n_j + a_0 - y_wj - a_w)]
    var(delta_w) ~ 1/(y_wi + a_w) + 1/(y_wj + a_w),     z_w = delta_w / sqrt(var)

|z| > 1.96 marks a term one group uses more (z > 0: group i). The prior shrinks rare terms
toward zero, so a word said once by one detractor does not top the list.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

from kokemus.domain.scores import Z95

LANGUAGES = ("fi", "en", "sv")
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")

# Stop words as lemmas (what simplemma makes of each inflected form): function words,
# pronouns, auxiliaries, negation and fillers. Content words stay, "kukaan" and "nobody" too.
STOP_WORDS: dict[str, frozenset[str]] = {
    "fi": frozenset([
        "ja", "tai", "mutta", "sekä", "että", "jotta", "kun", "jos", "kuin", "koska", "vaikka",
        "eli", "siis", "kyllä", "ei", "eikä", "olla", "voida", "saada", "pitää", "alkaa", "minä",
        "sinä", "hän", "me", "te", "he", "se", "ne", "tämä", "tuo", "nämä", "nuo", "joka",
        "mikä", "kuka", "mikään", "jokin", "oma", "itse", "myös", "vain", "jo", "vielä", "nyt",
        "sitten", "aina", "niin", "näin", "noin", "sitä", "siinä", "siellä", "täällä", "tässä",
        "kanssa", "ilman", "mukaan", "kautta", "yli", "alle", "ennen", "jälkeen", "aikana",
        "asti", "hyvin", "ihan", "aivan", "vähän", "paljon", "kaikki", "joku", "muu", "toinen",
        "yksi", "on", "oli", "ollut", "olisi", "en", "et", "emme", "ette", "eivät",
    ]),
    "en": frozenset([
        "a", "an", "the", "and", "or", "but", "if", "of", "to", "in", "on", "at", "for", "with",
        "from", "by", "about", "as", "into", "onto", "it", "its", "this", "that", "these",
        "those", "i", "me", "my", "mine", "we", "our", "you", "your", "he", "him", "his", "she",
        "her", "they", "them", "their", "there", "here", "be", "have", "do", "not", "no", "so",
        "than", "then", "what", "which", "who", "whom", "when", "where", "why", "how", "all",
        "any", "some", "just", "only", "also", "very", "too", "can", "could", "would", "should",
        "will", "shall", "may", "might", "must", "am", "are", "is", "was", "were", "been",
        "being", "has", "had", "does", "did", "n't", "'s", "'m", "'re", "'ve", "'d", "up", "out",
        "off", "over", "again", "once", "both", "each", "few", "more", "most", "other", "such",
        "own", "same", "myself",
    ]),
    "sv": frozenset([
        "och", "eller", "men", "att", "som", "om", "när", "för", "till", "i", "på", "av", "med",
        "från", "det", "den", "de", "en", "ett", "jag", "du", "han", "hon", "vi", "ni", "dem",
        "sig", "vara", "ha", "inte", "nej", "så", "än", "då", "vad", "vem", "var", "här", "där",
        "hur", "alla", "någon", "bara", "också", "mycket", "kan", "skulle", "ska", "måste", "är",
        "var", "har", "hade",
    ]),
}


def words(text: str) -> list[str]:
    """The words of a text, lower case, in order (digits and punctuation dropped)."""
    return [w.replace("’", "'") for w in _WORD.findall(text.lower())]


@lru_cache(maxsize=200_000)
def lemma(word: str, language: str) -> str:
    """The lemma of one lower-case word in `language` (fi, en, sv), lower case."""
    from kokemus.domain import lemmas  # simplemma over its cached, memory-mapped dictionaries

    lang = language if language in LANGUAGES else "en"
    return str(lemmas.lemmatizer().lemmatize(word, lang)).lower()


@dataclass(frozen=True)
class Terms:
    """A comment's content lemmas and its two-lemma phrases ("kuljetus myöhästyä")."""

    words: tuple[str, ...]
    phrases: tuple[str, ...]

    def all(self) -> frozenset[str]:
        return frozenset(self.words) | frozenset(self.phrases)


def terms(text: str, language: str | None) -> Terms:
    """A comment as lemmas with the stop words dropped, and its phrases: two content lemmas
    that stood next to each other in the text (a stop word between them breaks a phrase)."""
    lang = language if language in LANGUAGES else "en"
    stop = STOP_WORDS[lang]
    kept: list[str | None] = []
    for word in words(text):
        found = lemma(word, lang)
        kept.append(None if found in stop or word in stop or len(found) < 2 else found)
    content = tuple(w for w in kept if w is not None)
    phrases = tuple(f"{a} {b}" for a, b in itertools.pairwise(kept)
                    if a is not None and b is not None and a != b)
    return Terms(content, phrases)


@dataclass(frozen=True)
class Distinctive:
    """One term's log-odds ratio between group i and group j, with its z-score."""

    term: str
    count_i: int
    count_j: int
    delta: float
    se: float
    z: float

    @property
    def significant(self) -> bool:
        return abs(self.z) > Z95

    def as_dict(self) -> dict[str, object]:
        return {"term": self.term, "count_i": self.count_i, "count_j": self.count_j,
                "delta": self.delta, "se": self.se, "z": self.z,
                "significant": self.significant}


def prior(background: Mapping[str, int], strength: float | None = None) -> dict[str, float]:
    """Informative Dirichlet prior counts: each term's share of the background x alpha_0;
    alpha_0 (`strength`) defaults to the background's own total, i.e. the background counts
    themselves."""
    total = sum(background.values())
    if total == 0:
        return {}
    alpha0 = float(total if strength is None else strength)
    return {w: alpha0 * c / total for w, c in background.items() if c > 0}


def log_odds(counts_i: Mapping[str, int], counts_j: Mapping[str, int],
             alpha: Mapping[str, float]) -> list[Distinctive]:
    """Every term of the prior with its log-odds ratio (group i over group j) and z-score,
    largest z first. Terms outside the prior (alpha 0) are left out: they have no estimate."""
    n_i, n_j = sum(counts_i.values()), sum(counts_j.values())
    alpha0 = sum(alpha.values())
    out: list[Distinctive] = []
    for term, a in alpha.items():
        if a <= 0:
            continue
        y_i, y_j = counts_i.get(term, 0), counts_j.get(term, 0)
        odds_i = (y_i + a) / (n_i + alpha0 - y_i - a)
        odds_j = (y_j + a) / (n_j + alpha0 - y_j - a)
        delta = math.log(odds_i) - math.log(odds_j)
        se = math.sqrt(1 / (y_i + a) + 1 / (y_j + a))
        out.append(Distinctive(term, y_i, y_j, delta, se, delta / se))
    out.sort(key=lambda d: (-d.z, d.term))
    return out


def count(items: Iterable[Iterable[str]]) -> Counter[str]:
    """Term counts over comments (a term said twice in one comment counts twice)."""
    return Counter(itertools.chain.from_iterable(items))


def mentions(theme_lemmas: Mapping[str, Iterable[str]], found: Terms,
             language: str | None) -> bool:
    """Does a comment (its terms) mention a theme given as lemmas per language? The comment's
    own language's lemmas are used, or every language's when the comment has none listed."""
    lang = language if language in theme_lemmas else None
    wanted = (set(theme_lemmas[lang]) if lang is not None
              else {w for ws in theme_lemmas.values() for w in ws})
    return not wanted.isdisjoint(found.all())
