"""Errors the domain raises; adapters turn them into HTTP answers or CLI messages."""

from __future__ import annotations

from dataclasses import dataclass


class KokemusError(Exception):
    """Base of every error kokemus reports to a person."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: where (a path of keys and indexes) and what."""

    loc: tuple[str | int, ...]
    message: str

    @property
    def path(self) -> str:
        out = ""
        for part in self.loc:
            out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
        return out or "(document)"


class NotFound(KokemusError):
    pass


class Invalid(KokemusError):
    def __init__(self, message: str, problems: list[Problem] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []
