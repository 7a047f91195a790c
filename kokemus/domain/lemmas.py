"""simplemma's dictionaries, opened in milliseconds: the lemmatiser kokemus.domain.text uses.

simplemma ships each language as an lzma-compressed, front-coded stream and decodes the
whole of it into a dict on first use: for Finnish 3.5 million entries, 6-12 s of Python on
this project's 2-core machine and about 500 MB resident, paid again by every process
(`kokemus report` is one). Here the decoded entries are written once per simplemma version
and language into a cache file, keys in the stream's own (sorted) order with two offset
arrays, and then memory-mapped: a lookup is a binary search over the offsets (22 probes for
Finnish), the pages read are the OS's to keep or drop.

The lemmas are simplemma's own: the same `DefaultStrategy` (not greedy) over the same
entries, only the mapping behind `dictionary.get` differs (tests/analytics/test_lemmas.py
compares the two). The cache folder is $KOKEMUS_CACHE_DIR, else $XDG_CACHE_HOME/kokemus,
else ~/.cache/kokemus; where it cannot be written, or simplemma's format is not the one
known here, the dictionary is decoded in memory as simplemma does.

The one file I/O of the domain package: a read-only cache of a dependency's data, no state
of kokemus.
"""

from __future__ import annotations

import mmap
import os
import struct
import tempfile
from array import array
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

_MAGIC = b"KKLEMMA1"
_HEADER = struct.Struct("<8sBxxxIQQ")  # magic, reverse flag, entries, key bytes, value bytes


def cache_dir() -> Path:
    """Where the decoded dictionaries are kept."""
    explicit = os.environ.get("KOKEMUS_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kokemus"


def _build(lang: str, path: Path) -> None:
    """Decode simplemma's stream for `lang` once and write it to `path` (atomically)."""
    from simplemma.strategies.dictionaries import frontcode
    from simplemma.strategies.dictionaries.dictionary_factory import _read_decompressed

    data = _read_decompressed(lang)
    reverse, count, pos = frontcode._read_header(data)
    keys, values = bytearray(), bytearray()
    key_ends, value_ends = array("I", [0]), array("I", [0])
    for _, key, value in frontcode._iter_records(data, pos):
        keys += key
        key_ends.append(len(keys))
        values += value
        value_ends.append(len(values))
    if len(key_ends) != count + 1 or len(keys) >= 2**32 or len(values) >= 2**32:
        raise ValueError(f"simplemma {lang}: unexpected dictionary stream")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{lang}.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(_HEADER.pack(_MAGIC, int(reverse), count, len(keys), len(values)))
            out.write(key_ends.tobytes())
            out.write(value_ends.tobytes())
            out.write(keys)
            out.write(values)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class MappedDictionary(Mapping[str, str]):
    """A read-only str -> str view of one cache file (see the module's docstring)."""

    def __init__(self, path: Path) -> None:
        with path.open("rb") as f:
            self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        magic, reverse, count, key_bytes, value_bytes = _HEADER.unpack_from(self._map, 0)
        at = _HEADER.size
        ends = 4 * (count + 1)
        if magic != _MAGIC or len(self._map) != at + 2 * ends + key_bytes + value_bytes:
            self._map.close()
            raise ValueError(f"{path}: not a lemma cache")
        view = memoryview(self._map)
        self._key_ends = view[at:at + ends].cast("I")
        self._value_ends = view[at + ends:at + 2 * ends].cast("I")
        self._keys_at = at + 2 * ends
        self._values_at = self._keys_at + key_bytes
        self._reverse = bool(reverse)
        self._count = count

    def _key(self, i: int) -> bytes:
        return self._map[self._keys_at + self._key_ends[i]:self._keys_at + self._key_ends[i + 1]]

    def get(self, key: str, default: Any = None) -> Any:
        target = key.encode()
        if self._reverse:
            target = target[::-1]
        lo, hi = 0, self._count
        while lo < hi:  # the first key >= target
            mid = (lo + hi) // 2
            if self._key(mid) < target:
                lo = mid + 1
            else:
                hi = mid
        if lo == self._count or self._key(lo) != target:
            return default
        at = self._values_at
        value = self._map[at + self._value_ends[lo]:at + self._value_ends[lo + 1]]
        return (value[::-1] if self._reverse else value).decode()

    def __getitem__(self, key: str) -> str:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return str(value)

    def __iter__(self) -> Iterator[str]:
        for i in range(self._count):
            key = self._key(i)
            yield (key[::-1] if self._reverse else key).decode()

    def __len__(self) -> int:
        return int(self._count)


def dictionary(lang: str) -> Mapping[str, str]:
    """The dictionary of `lang` from the cache, built there first if it is not."""
    import simplemma
    from simplemma.strategies.dictionaries.dictionary_factory import DEFAULT_DICTIONARY_FACTORY

    path = cache_dir() / f"simplemma-{simplemma.__version__}" / f"{lang}.lemmas"
    try:
        if not path.exists():
            _build(lang, path)
        return MappedDictionary(path)
    except (OSError, ValueError, ImportError, AttributeError):  # unwritable, or a format
        # this module does not know: simplemma's own in-memory dictionary
        return DEFAULT_DICTIONARY_FACTORY.get_dictionary(lang)


class _Factory:
    """A simplemma DictionaryFactory over the cached dictionaries, each opened once."""

    def __init__(self) -> None:
        self._opened: dict[str, Mapping[str, str]] = {}

    def get_dictionary(self, lang: str) -> Mapping[str, str]:
        found = self._opened.get(lang)
        if found is None:
            from simplemma.strategies.dictionaries.dictionary_factory import SUPPORTED_LANGUAGES

            if lang not in SUPPORTED_LANGUAGES:
                raise ValueError(f"Unsupported language: {lang}")
            found = self._opened[lang] = dictionary(lang)
        return found


@cache
def lemmatizer() -> Any:
    """simplemma's Lemmatizer as `simplemma.lemmatize` builds it, over the cached
    dictionaries."""
    import simplemma
    from simplemma.strategies.default import DefaultStrategy

    return simplemma.Lemmatizer(lemmatization_strategy=DefaultStrategy(
        greedy=False, dictionary_factory=_Factory()))
