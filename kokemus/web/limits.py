"""Rate limits: a small token bucket per client address, kept in memory.

A flood of survey answers from one address is refused before it reaches the stores; a
person answering a survey never comes near the limit. One process keeps its own buckets:
with several server processes each one counts separately, which is enough to stop a flood.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimit:
    """`per_minute` requests per key, in bursts of up to `per_minute`; 0 means no limit."""

    # Buckets kept at most; past this the full (idle) ones are dropped, so a flood from many
    # addresses cannot grow memory without bound.
    MAX_KEYS = 50_000

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, updated)
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """Take one token for `key`: 0.0 if allowed, else the seconds until one is free."""
        if self.per_minute <= 0:
            return 0.0
        rate = self.per_minute / 60.0
        now = self.clock()
        with self._lock:
            tokens, updated = self._buckets.get(key, (float(self.per_minute), now))
            tokens = min(float(self.per_minute), tokens + (now - updated) * rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                return (1.0 - tokens) / rate
            if len(self._buckets) >= self.MAX_KEYS and key not in self._buckets:
                self._prune(now, rate)
            self._buckets[key] = (tokens - 1.0, now)
            return 0.0

    def _prune(self, now: float, rate: float) -> None:
        full = [k for k, (tokens, updated) in self._buckets.items()
                if tokens + (now - updated) * rate >= self.per_minute]
        for k in full:
            del self._buckets[k]
        if len(self._buckets) >= self.MAX_KEYS:  # all busy: start over rather than grow
            self._buckets.clear()
