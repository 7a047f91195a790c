"""Webhooks as the Standard Webhooks specification (1.0) signs and sends them.

A call is an HTTP POST of a JSON body with three headers:

- `webhook-id`: the message's id, the same on every attempt, for the receiver to
  de-duplicate by. The spec wants it free of `.` (the signed content is joined with dots)
  and not controlled by users; an action's idempotency key is neither (it holds the
  cause's id, which comes from outside), so the id is derived from it: `msg_` and 24
  URL-safe base64 characters of sha256(workspace id, key) (`message_id`);
- `webhook-timestamp`: the attempt's time, integer Unix seconds;
- `webhook-signature`: `v1,` and the base64 HMAC-SHA256 of `{id}.{timestamp}.{body}`,
  keyed with the secret: `whsec_` followed by base64 of the key bytes (24 to 64 bytes
  recommended). As the reference libraries do, a secret without the prefix is read as the
  base64 alone.

A 2xx answer is success; `410 Gone` says the receiver wants no more (given up at once);
anything else, redirects included (not followed), is a failure to try again later, after
the answer's `Retry-After` when it gives one. Connections are kept open per origin and
reused; a connection that failed is dropped.

A rule's URL is typed by a workspace editor, so the worker must not become their way into
the network it runs in (server-side request forgery): every address the host resolves to
must be public, or inside the networks the `webhook_networks` setting allows; otherwise
nothing is sent. The check is made on the addresses actually connected to, after name
resolution, so a name that resolves to a private address (or changes to one) is caught.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import http.client
import socket
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from urllib.parse import urlsplit

TIMEOUT = 15.0  # seconds; the spec recommends 15 to 30
MAX_ANSWER = 64 * 1024  # bytes of an answer read; a longer one closes the connection
USER_AGENT = "kokemus-webhooks/1"


class SecretError(ValueError):
    """A signing secret that is not base64 (after an optional `whsec_`)."""


def message_id(workspace_id: int, key: str) -> str:
    """The stable, dot-free id of an action's message (webhook-id, and the local part of
    an email's Message-ID), the same on every attempt."""
    digest = hashlib.sha256(f"{workspace_id}\x00{key}".encode()).digest()
    return "msg_" + base64.urlsafe_b64encode(digest[:18]).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_...` secret."""
    text = secret.strip().removeprefix("whsec_")
    try:
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise SecretError("the secret is not whsec_ followed by base64") from None
    if not key:
        raise SecretError("the secret is empty")
    return key


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value: `v1,` and the base64 HMAC-SHA256 of the content."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()


def headers(key: bytes, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(key, msg_id, timestamp, body),
            "content-type": "application/json", "user-agent": USER_AGENT}


def verify(key: bytes, msg_id: str, timestamp: str, signature: str, body: bytes) -> bool:
    """Whether one of the space-separated `v1,` signatures matches (constant time): what a
    receiver checks (the tests' receivers do)."""
    expected = sign(key, msg_id, int(timestamp), body)
    return any(hmac.compare_digest(expected, given) for given in signature.split())


@dataclass(frozen=True)
class Answer:
    status: int
    retry_after: float | None  # seconds, when the receiver asked for a pause


class CallError(Exception):
    """No answer at all (refused, reset, timed out): the receiver is unreachable now."""


class AddressRefused(Exception):
    """The URL's host is, or resolves to, an address webhooks may not call."""


Networks = Sequence[IPv4Network | IPv6Network]


def allowed_address(text: str, networks: Networks = ()) -> bool:
    """Whether a webhook may connect to this address: a public one, or one inside the
    allowed networks (an IPv4 address mapped into IPv6 is judged as IPv4)."""
    address: IPv4Address | IPv6Address = ip_address(text.split("%", 1)[0])
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address in network for network in networks):
        return True
    return address.is_global and not address.is_multicast


def guarded_connection(networks: Networks) -> Callable[..., socket.socket]:
    """A `socket.create_connection` that resolves the host itself and connects only when
    every address it resolves to is allowed."""

    def connect(address: tuple[str, int], timeout: float | None = None,
                source_address: tuple[str, int] | None = None) -> socket.socket:
        host, port = address
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise CallError(f"{host}: {exc.strerror}") from exc
        for *_, sockaddr in infos:
            if not allowed_address(str(sockaddr[0]), networks):
                raise AddressRefused(
                    f"{host} resolves to {sockaddr[0]}, which is not a public address; "
                    "the webhook_networks setting can allow it")
        error: OSError | None = None
        for family, kind, proto, _, sockaddr in infos:
            sock = socket.socket(family, kind, proto)
            try:
                if timeout is not None:  # http.client always passes the Poster's
                    sock.settimeout(timeout)
                if source_address:
                    sock.bind(source_address)
                sock.connect(sockaddr)
                return sock
            except OSError as exc:
                sock.close()
                error = exc
        raise error or OSError(f"{host}: no address")

    return connect


class Poster:
    """POSTs over kept-alive connections, one per origin (scheme, host, port), to public
    addresses and those in `networks`."""

    def __init__(self, timeout: float = TIMEOUT, networks: Networks = ()) -> None:
        self.timeout = timeout
        self._connect = guarded_connection(networks)
        self._open: dict[tuple[str, str, int], http.client.HTTPConnection] = {}

    def post(self, url: str, body: bytes, head: dict[str, str]) -> Answer:
        parts = urlsplit(url)
        origin = origin_of(url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        while True:
            reused = origin in self._open
            conn = self._connection(origin)
            try:
                conn.request("POST", target, body=body, headers=head)
                response = conn.getresponse()
                data = response.read(MAX_ANSWER + 1)
            except AddressRefused:
                self._drop(origin)
                raise
            except (OSError, http.client.HTTPException) as exc:
                self._drop(origin)
                # a kept connection the receiver had closed while idle: once more on a new
                # one (a fresh connection that fails is the receiver's answer)
                if reused and _stale(exc):
                    continue
                raise CallError(f"{type(exc).__name__}: {exc}".strip().rstrip(":")) from exc
            if len(data) > MAX_ANSWER or response.will_close:
                self._drop(origin)
            return Answer(response.status, _retry_after(response.getheader("retry-after")))

    def _connection(self, origin: tuple[str, str, int]) -> http.client.HTTPConnection:
        conn = self._open.get(origin)
        if conn is None:
            scheme, host, port = origin
            if scheme == "https":
                conn = http.client.HTTPSConnection(host, port, timeout=self.timeout,
                                                   context=ssl.create_default_context())
            else:
                conn = http.client.HTTPConnection(host, port, timeout=self.timeout)
            # http.client connects through this attribute, HTTPS before wrapping in TLS
            conn._create_connection = self._connect  # type: ignore[attr-defined]
            self._open[origin] = conn
        return conn

    def _drop(self, origin: tuple[str, str, int]) -> None:
        conn = self._open.pop(origin, None)
        if conn is not None:
            conn.close()

    def close(self) -> None:
        for origin in list(self._open):
            self._drop(origin)

    def __enter__(self) -> Poster:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def origin_of(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, parts.hostname or "", parts.port or (443 if scheme == "https" else 80)


def _stale(exc: BaseException) -> bool:
    return isinstance(exc, http.client.RemoteDisconnected | BrokenPipeError |
                      ConnectionResetError | http.client.CannotSendRequest)


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())
