"""Rate limits: a small token bucket per client address, kept in memory.

A flood of survey answers from one address is refused before it reaches the stores; a
person answering a survey never comes near the limit. One process keeps its own buckets:
with several server processes each one counts separately, which is enough to stop a flood.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from ipaddress import IPv4Network, IPv6Network, ip_address

from starlette.requests import Request


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


class FailureLimit:
    """At most `allowed` failures per key within `window` seconds; past that, the key waits
    until its oldest failure ages out. Successes cost nothing: only failures are counted,
    so a person who mistypes once is never slowed down."""

    MAX_KEYS = 50_000

    def __init__(self, allowed: int, window: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.allowed = allowed
        self.window = window
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def wait(self, key: str) -> float:
        """Seconds until `key` may try again; 0.0 when it may now."""
        now = self.clock()
        with self._lock:
            times = self._failures.get(key)
            if times is None:
                return 0.0
            while times and now - times[0] >= self.window:
                times.popleft()
            if len(times) < self.allowed:
                return 0.0
            return self.window - (now - times[0])

    def fail(self, key: str) -> None:
        now = self.clock()
        with self._lock:
            if len(self._failures) >= self.MAX_KEYS and key not in self._failures:
                self._failures = {k: t for k, t in self._failures.items()
                                  if t and now - t[-1] < self.window}
            times = self._failures.setdefault(key, deque(maxlen=self.allowed))
            times.append(now)

    def clear(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)

    def refund(self, key: str) -> None:
        """Take back the newest failure of `key` (a try counted in advance that succeeded)."""
        with self._lock:
            times = self._failures.get(key)
            if times:
                times.pop()


def client_address(request: Request,
                   trusted: Sequence[IPv4Network | IPv6Network] = ()) -> str:
    """The client's address: the connection's peer, unless the peer is a trusted proxy;
    then the nearest address in X-Forwarded-For that is not one (read from the right, as
    every proxy appends, so a client cannot forge the part a trusted proxy wrote)."""
    peer = request.client.host if request.client else "unknown"
    if not trusted or not _within(peer, trusted):
        return peer
    hops = [hop.strip() for hop in request.headers.get("x-forwarded-for", "").split(",")]
    hops = [hop for hop in hops if hop]
    for hop in reversed(hops):
        if not _within(hop, trusted):
            return hop
    return hops[0] if hops else peer


def _within(address: str, networks: Sequence[IPv4Network | IPv6Network]) -> bool:
    try:
        parsed = ip_address(address)
    except ValueError:
        return False
    return any(parsed in network for network in networks)
