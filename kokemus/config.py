"""Settings, read from the environment (prefix KOKEMUS_) by a function, never at import."""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KOKEMUS_", extra="ignore")

    data_dir: Path = Field(
        default=Path("kokemus-data"),
        description="Directory holding the embedded stores (app.sqlite, events.duckdb).",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the app store; default: SQLite in data_dir.",
    )
    event_store_path: Path | None = Field(
        default=None, description="DuckDB file of the event store; default: data_dir/events.duckdb."
    )
    events_memory_limit: str | None = Field(
        default=None, pattern=r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$",
        description="Most memory the event store's engine (DuckDB) holds, e.g. 2GB; beyond "
                    "it, large joins and sorts spill to disk next to the store. Default: "
                    "DuckDB's own, 80% of the machine's memory.")
    secret_key: str | None = Field(
        default=None,
        description="Signs session cookies; default: generated once into data_dir/secret.key.",
    )
    max_batch: int = Field(default=10_000, description="Largest event batch one request may carry.")
    max_body: int = Field(
        default=4 * 2**20, gt=0,
        description="Largest request body in bytes (every route but the batch routes); a "
                    "larger one is answered 413 before it is read.")
    max_batch_body: int = Field(
        default=16 * 2**20, gt=0,
        description="Largest request body in bytes of the batch routes (POST /api/v1/events, "
                    "/customers, /accounts): room for max_batch items of about 1.6 KB each.")
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str | None = Field(
        default=None,
        description="Base URL customers reach the server at, for survey links in emails; "
                    "default: http://HOST:PORT.",
    )
    smtp_host: str = Field(default="127.0.0.1", description="SMTP server for invitation emails.")
    smtp_port: int = Field(default=25, description="SMTP port (587 with smtp_starttls).")
    smtp_user: str | None = Field(default=None, description="SMTP login, if the server wants one.")
    smtp_password: str | None = None
    smtp_starttls: bool = Field(default=False, description="Upgrade the connection with STARTTLS.")
    mail_from: str = Field(default="kokemus <noreply@localhost>",
                           description="From address of invitation emails.")
    worker: bool = Field(default=True, description="`kokemus serve` runs the worker (survey "
                         "invitations, promise clocks, rules and their actions) in a "
                         "background thread.")
    worker_interval: float = Field(default=30.0, gt=0,
                                   description="Seconds between the worker's runs.")
    action_lease: float = Field(
        default=300.0, gt=0,
        description="Seconds a worker holds the rule actions it claimed for delivery; one "
                    "left by a killed worker is delivered by the next after this long. Keep "
                    "it well above the mail and webhook timeouts (15 s).")
    journey_order_interval: float = Field(
        default=300.0, ge=0,
        description="Seconds between the worker's rebuilds of the case-ordered copy of the "
                    "journeys (only when events came since); 0: never by the worker.")
    promise_clock_lookback: float = Field(
        default=7 * 24 * 3600, ge=0,
        description="Seconds beyond a commitment's limit for which the worker's promise "
                    "clocks still mark an occurrence at risk or breached; older starts get "
                    "no mark (their verdicts are computed as ever).")
    form_rate_limit: int = Field(
        default=30, ge=0,
        description="Survey form requests (answers posted or in a link) per minute per client "
                    "address; 0 turns the limit off.")

    session_idle_timeout: float = Field(
        default=8 * 3600, gt=0,
        description="Seconds a web session may stay unused before it ends (sign in again).")
    session_max_age: float = Field(
        default=7 * 24 * 3600, gt=0,
        description="Seconds after signing in that a web session ends, however busy.")
    secure_cookies: bool | None = Field(
        default=None,
        description="Send the session cookie only over HTTPS (`Secure`); default: on when "
                    "public_url is https.")
    trusted_proxies: str = Field(
        default="",
        description="Comma-separated addresses or networks (CIDR) of reverse proxies whose "
                    "X-Forwarded-For names the client; default: none, the client is the "
                    "peer of the connection.")
    signin_failures_per_account: int = Field(
        default=5, ge=1,
        description="Failed sign-ins one user name may have within signin_window before "
                    "further tries wait.")
    signin_failures_per_address: int = Field(
        default=20, ge=1,
        description="Failed sign-ins one client address may have within signin_window "
                    "before further tries wait.")
    signin_window: float = Field(
        default=900.0, gt=0, description="Seconds over which failed sign-ins are counted.")

    webhook_networks: str = Field(
        default="",
        description="Comma-separated addresses or networks (CIDR) that rule webhooks may "
                    "call besides the public internet, e.g. 10.0.0.0/8 for a help desk "
                    "inside your network; default: none, so a webhook URL cannot reach "
                    "loopback, private, link-local (cloud metadata) or reserved addresses.")

    @field_validator("trusted_proxies", "webhook_networks")
    @classmethod
    def _networks_parse(cls, value: str) -> str:
        parse_networks(value)
        return value

    @property
    def proxy_networks(self) -> list[IPv4Network | IPv6Network]:
        return parse_networks(self.trusted_proxies)

    @property
    def webhook_allowed(self) -> list[IPv4Network | IPv6Network]:
        return parse_networks(self.webhook_networks)

    @property
    def cookies_secure(self) -> bool:
        if self.secure_cookies is not None:
            return self.secure_cookies
        return self.base_url.startswith("https://")

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def app_store_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'app.sqlite').resolve()}"

    @property
    def events_path(self) -> Path:
        return self.event_store_path or self.data_dir / "events.duckdb"


def parse_networks(text: str) -> list[IPv4Network | IPv6Network]:
    networks = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        try:
            networks.append(ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"'{item}' is not an address or a network (CIDR)") from None
    return networks


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit overrides (CLI options) on top."""
    values = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**values)  # type: ignore[arg-type]
