"""The cached, memory-mapped dictionaries give simplemma's own lemmas (kokemus.domain.lemmas)."""

from __future__ import annotations

from pathlib import Path

import pytest
import simplemma

from kokemus.demo import appliance_shop
from kokemus.domain import lemmas, text

EXTRA = {
    "fi": ["kuljetukset", "myöhästyi", "asentajat", "toimitukseen", "asiakaspalvelussa",
           "rikkinäinen", "pesukoneen", "ilmoitettu", "peruutusta", "zzyzx"],
    "en": ["deliveries", "broken", "ran", "better", "installers", "was", "zzyzx"],
}


def _words() -> dict[tuple[str, str], None]:
    found: dict[tuple[str, str], None] = {}
    for pools in (appliance_shop.COMMENTS, appliance_shop.PRAISE):
        for by_language in pools.values():
            for lang, phrases in by_language.items():
                if lang in EXTRA:
                    for phrase in phrases:
                        found.update(((w, lang), None) for w in text.words(phrase))
    for lang, words in EXTRA.items():
        found.update(((w, lang), None) for w in words)
    return found


def test_cached_dictionaries_lemmatise_as_simplemma(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KOKEMUS_CACHE_DIR", str(tmp_path))
    words = _words()
    cached = {lang: lemmas.dictionary(lang) for lang in EXTRA}
    assert all(isinstance(d, lemmas.MappedDictionary) for d in cached.values())
    mine = simplemma.Lemmatizer(lemmatization_strategy=simplemma.strategies.DefaultStrategy(
        dictionary_factory=lemmas._Factory()))
    for word, lang in words:
        assert mine.lemmatize(word, lang) == simplemma.lemmatize(word, lang=lang), (word, lang)
    # the mapping itself: the same entries as simplemma's dictionary
    from simplemma.strategies.dictionaries.dictionary_factory import DEFAULT_DICTIONARY_FACTORY

    theirs = DEFAULT_DICTIONARY_FACTORY.get_dictionary("en")
    assert len(cached["en"]) == len(theirs)
    for key in list(theirs)[::997]:
        assert cached["en"][key] == theirs[key]
    assert cached["en"].get("zzyzx-not-a-word") is None


def test_an_unwritable_cache_falls_back_to_simplemma(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("KOKEMUS_CACHE_DIR", str(blocked))
    found = lemmas.dictionary("en")
    assert not isinstance(found, lemmas.MappedDictionary)
    assert found.get("deliveries") == "delivery"


def test_a_corrupt_cache_file_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / "en.lemmas"
    path.write_bytes(b"KKLEMMA1" + b"\0" * 40)
    with pytest.raises(ValueError):
        lemmas.MappedDictionary(path)
