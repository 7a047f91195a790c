"""One vocabulary: the UI's catalogs and the docs use the glossary's word for each domain
term (kokemus/web/locales/glossary.yaml), never a synonym it rejects."""

from __future__ import annotations

from pathlib import Path

import pytest

from kokemus.web import glossary, i18n

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted((ROOT / "docs").glob("*.md"))
# the workspace files that ship (the starter, the demo's), whose words the pages show too
WORKSPACES = sorted([*(ROOT / "kokemus" / "demo").glob("*.yaml"),
                     *(ROOT / "kokemus" / "workspace").glob("*.yaml")])


def test_a_rejected_synonym_is_found_inflected_and_in_compounds() -> None:
    found = glossary.misuses("Kontaktipisteittäin ja asiakasmatkan varrella", "fi")
    assert [(m.found, m.term.name) for m in found] == [
        ("Kontaktipisteittäin", "touchpoint"), ("asiakasmatkan", "journey")]
    assert "kosketuspiste" in str(found[0])
    assert glossary.misuses("Kosketuspisteittäin asiakaspolun varrella", "fi") == []
    assert [m.found for m in glossary.misuses("Open a ticket.", "en")] == ["ticket"]


def test_every_term_has_both_words_and_its_stems_fit_the_finnish_word() -> None:
    terms = glossary.terms()
    assert len({t.fi for t in terms}) == len(terms)  # one Finnish word per term
    for term in terms:
        assert term.en and term.fi, term.name
        assert any(s in term.fi.casefold() for s in term.stems), term.name
        # a rejected synonym is never the word itself
        for rejected in term.rejected.get("fi", ()):
            assert rejected.stem not in term.fi.casefold(), term.name


@pytest.mark.parametrize("language", i18n.LANGUAGES)
def test_the_catalog_uses_no_rejected_synonym(language: str) -> None:
    found = [f"{key}: {m}" for key, text in i18n.catalog(language).items()
             for m in glossary.misuses(text, language)]
    assert found == []


@pytest.mark.parametrize("doc", DOCS + WORKSPACES, ids=[d.name for d in DOCS + WORKSPACES])
def test_the_docs_use_no_rejected_synonym(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    found = [str(m) for language in i18n.LANGUAGES for m in glossary.misuses(text, language)]
    assert found == []


def test_a_term_shown_alone_is_the_glossary_word() -> None:
    """A label that is just the term in English ("Touchpoint", "Outcomes") is the
    glossary's Finnish word (inflected as it may be) in Finnish."""
    en, fi = i18n.catalog("en"), i18n.catalog("fi")
    wrong = []
    for term in glossary.terms():
        names = {term.en.casefold(), f"{term.en}s".casefold()}
        for key, text in en.items():
            if (text.strip().casefold() in names and key not in term.other_sense
                    and not any(s in fi.get(key, "").casefold() for s in term.stems)):
                wrong.append(f"{key}: {text!r} -> {fi.get(key)!r} (glossary: {term.fi})")
    assert wrong == []
