"""The vocabulary: one Finnish and one English word per domain term (locales/glossary.yaml),
and the synonyms it rejects, found in any text: inflected and compound Finnish words
included, since a rejected word is given by its stem."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

GLOSSARY = Path(__file__).parent / "locales" / "glossary.yaml"
_WORD = re.compile(r"[\w-]+")


@dataclass(frozen=True)
class Rejected:
    word: str  # as written in the glossary, without its bar
    stem: str  # the part every form of it contains, lower case


@dataclass(frozen=True)
class Term:
    name: str
    en: str
    fi: str
    stems: tuple[str, ...]  # how the Finnish word begins in each of its forms
    rejected: dict[str, tuple[Rejected, ...]] = field(default_factory=dict)
    other_sense: frozenset[str] = frozenset()


def _rejected(entry: str) -> Rejected:
    stem, _, ending = entry.partition("|")
    return Rejected(stem + ending, stem.casefold())


@cache
def terms() -> tuple[Term, ...]:
    with GLOSSARY.open(encoding="utf-8") as file:
        tree = yaml.safe_load(file)["terms"]
    return tuple(
        Term(name, item["en"], item["fi"], tuple(s.casefold() for s in item["stems"]),
             {lang: tuple(_rejected(e) for e in entries)
              for lang, entries in (item.get("rejected") or {}).items()},
             frozenset(item.get("other_sense") or ()))
        for name, item in tree.items())


@dataclass(frozen=True)
class Misuse:
    found: str  # the word (or phrase) as it stands in the text
    term: Term
    rejected: Rejected

    def __str__(self) -> str:
        return (f"'{self.found}' ({self.rejected.word}): the glossary's word for "
                f"{self.term.name} is '{self.term.fi}' (fi), '{self.term.en}' (en)")


def misuses(text: str, language: str) -> list[Misuse]:
    """Where `text` uses a synonym the glossary rejects in `language`."""
    folded = text.casefold()
    found: list[tuple[int, Misuse]] = []
    for term in terms():
        for rejected in term.rejected.get(language, ()):
            for at in (m.start() for m in re.finditer(re.escape(rejected.stem), folded)):
                # the whole word (or, for a phrase, the phrase and the rest of its last word)
                start = at
                while start > 0 and (folded[start - 1].isalnum() or folded[start - 1] == "-"):
                    start -= 1
                end = _WORD.match(folded, at + len(rejected.stem) - 1)
                stop = end.end() if end else at + len(rejected.stem)
                found.append((at, Misuse(text[start:stop], term, rejected)))
    return [misuse for _, misuse in sorted(found, key=lambda pair: pair[0])]
