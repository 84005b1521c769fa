"""Typed settings. The environment is read in one place, `from_env`.

A field is read from its upper-cased name (`SECRET_KEY`), a group's fields from the
group's prefix and theirs (`SEARCH_MAX_RADIUS_KM`, `GEOCODER_INTERVAL_S`). A `Settings`
built by hand, as the tests build theirs, reads nothing from the environment.

A leaf: importing it loads none of the app, no ORM and no metrics, and hashes nothing, so
any module (or a tool) can read settings without starting the house.
"""

import enum
import os
from collections.abc import Mapping
from datetime import time
from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import Any, get_type_hints

import msgspec
from limits import RateLimitItem, parse

from geo.geocoding.base import GeocoderPolicy
from geo.strategies import SearchStrategy


class SearchLimits(msgspec.Struct, frozen=True):
    """The one source of every limit a search client controls."""

    max_radius_km: float = 100.0
    default_radius_km: float = 25.0
    max_limit: int = 100
    default_limit: int = 20
    viewport_max_span_deg: float = 10.0
    clusters_max_cells: int = 4096
    max_zoom: int = 20
    cache_max_age_s: int = 60
    """How long clients and proxies may reuse a search response (Cache-Control)."""
    server_cache_ttl_s: int = 300
    """How long a search response stays in the Redis cache, unless a provider write ends it."""
    strategies: str = "gist,bbox"
    """The nearby strategies clients may ask for, comma-separated; gist is always one."""
    costly_at_once: int = 2
    """How many nearby searches by a strategy other than gist one process runs at once."""

    def __post_init__(self) -> None:
        self.offered_strategies()  # a ValueError names the unknown strategy

    def offered_strategies(self) -> tuple[SearchStrategy, ...]:
        offered = tuple(SearchStrategy(name.strip()) for name in self.strategies.split(","))
        if SearchStrategy.gist not in offered:
            raise ValueError("SEARCH_STRATEGIES must include gist, the default strategy")
        return offered


class PageLimits(msgspec.Struct, frozen=True):
    """Page sizes of a user's own lists, bookings and notifications."""

    max_limit: int = 100
    default_limit: int = 20
    max_exceptions: int = 400
    """How many upcoming exceptions to a provider's hours one listing returns."""


class RoutePlanning(msgspec.Struct, frozen=True):
    """Day routes: how many stops one may have, how its arrival times are reckoned, and
    how far from it orders along it are looked for."""

    max_stops: int = 50
    day_start: time = time(8)
    """The shift of a provider who has set no weekly hours starts then (its time zone's
    clock, `ROUTE_DAY_START=08:00:00`) ..."""
    day_end: time = time(18)
    """... and ends then."""
    break_minutes: int = 30
    """A day route's break, unless the provider sets its own (0: none) ..."""
    break_window: str = "11:00-13:30"
    """... taken inside this window of the provider's clock."""
    speed_kmh: float = 60.0
    """Average speed between stables, along the straight line the distances measure."""
    max_radius_km: float = 100.0
    """No order farther than this from a route's start is claimed, whatever the provider's
    service radius says."""
    max_orders_per_day: int = 30
    """The most orders one provider's routes of one day may hold."""
    max_corridor_km: float = 25.0
    default_corridor_km: float = 5.0
    corridor_weighed: int = 1000
    """How many of the open orders nearest a route's line are ranked by detour, at most."""

    def __post_init__(self) -> None:
        if not 0 <= self.break_minutes <= 240:
            raise ValueError("ROUTE_BREAK_MINUTES must be 0 to 240")
        if self.day_start >= self.day_end:
            raise ValueError("ROUTE_DAY_START must be before ROUTE_DAY_END")
        self.break_span()

    def break_span(self) -> tuple[time, time]:
        """ROUTE_BREAK_WINDOW as two times."""
        try:
            start, end = (time.fromisoformat(part) for part in self.break_window.split("-"))
        except ValueError:
            raise ValueError("ROUTE_BREAK_WINDOW must be HH:MM-HH:MM, e.g. 11:00-13:30") from None
        if start >= end:
            raise ValueError("ROUTE_BREAK_WINDOW must end after it starts")
        return start, end


class RateLimits(msgspec.Struct, frozen=True):
    """Limits in the `limits` notation (env: RATE_LIMIT_<NAME>)."""

    client: str = "300/minute"
    """Every API request, per client address."""
    everyone: str = "30000/minute"
    """Every API request, all clients together: the ceiling the deployment is sized for."""
    login: str = "5/15 minutes"
    register: str = "3/hour"
    geocode: str = "30/minute"
    tiles: str = "3000/minute"
    """Map tiles, per client, instead of its limit for every API request: a map asks for a
    dozen tiles a view."""
    costly_search: str = "20/minute"
    """Nearby searches by a strategy other than gist."""
    booking: str = "10/hour"
    """Per user, not per address."""
    provider_write: str = "10/minute"
    """Per user: changes to profiles, services and hours (each can end cached searches)."""
    route_plan: str = "30/hour"
    """Per user: routes planned and re-planned (each claims orders and tells customers)."""
    password_reset: str = "3/hour"
    """Per client address: password-reset mails asked for."""
    verify_resend: str = "3/15 minutes"
    """Per user: verification mails sent again."""
    export: str = "20/hour"
    """Per user: exports started."""

    def items(self) -> dict[str, RateLimitItem]:
        return {name: parse(getattr(self, name)) for name in self.__struct_fields__}

    def __post_init__(self) -> None:
        for name, item in self.items().items():  # a ValueError names a malformed limit
            if item.amount < 1:
                raise ValueError(f"RATE_LIMIT_{name.upper()} allows nothing: {item}")


class PasswordHashing(msgspec.Struct, frozen=True):
    """Argon2id's cost (env: PASSWORD_HASH_<FIELD>). The defaults are argon2-cffi's, RFC
    9106's second recommendation: about 50 ms and 64 MiB a hash. Lower them only where
    nothing real is protected (the test suite does)."""

    time_cost: int = 3
    memory_kib: int = 65536
    parallelism: int = 4


class Jobs(msgspec.Struct, frozen=True):
    """The worker (`python -m app.jobs`) and its queue on REDIS_URL (env: JOBS_<FIELD>)."""

    queue: str = "equinet"
    concurrency: int = 4
    """Jobs one worker runs at once."""
    attempts: int = 5
    """A job that fails this often is a dead letter (outbox.failed_at), kept with its error."""
    retry_delay_s: float = 2.0
    """The first retry waits up to this long; each next one up to twice as long ..."""
    max_retry_delay_s: float = 300.0
    """... but never longer than this."""
    heartbeat_s: int = 30
    """A running job not heard of this long (its worker killed) is run again."""
    sweep_s: int = 10
    """How often a worker looks for such jobs."""
    shutdown_grace_s: int = 20
    """On SIGTERM, running jobs get this long to finish; then they are put back on the queue."""
    outbox_poll_s: float = 0.5
    """How often the relay moves committed outbox rows onto the queue."""
    expiry_cron: str = "* * * * *"
    """When expired exports' files are deleted (cron; a sixth field counts seconds)."""
    nice: int = 10
    """The worker's CPU niceness (0-19): on a machine it shares with the API, requests come
    first and exports take what is left."""

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.concurrency < 1:
            raise ValueError("JOBS_ATTEMPTS and JOBS_CONCURRENCY must be 1 or more")
        if not 0 <= self.nice <= 19:
            raise ValueError("JOBS_NICE must be 0 to 19")


class Exports(msgspec.Struct, frozen=True):
    """Exports run by the worker (env: EXPORT_<FIELD>)."""

    dir: str = ".devstack/exports"
    """Where finished files wait to be downloaded: one folder the API and every worker share."""
    ttl_h: int = 24
    """A finished file is deleted this long after it was made."""
    max_under_way: int = 3
    """Exports one user may have queued or running."""
    chunk_rows: int = 500
    """Rows read from the snapshot at a time."""
    max_days: int = 732
    """The longest span from..to one export may cover."""


Network = IPv4Network | IPv6Network


def networks(cidrs: str) -> tuple[Network, ...]:
    """Comma-separated CIDRs as networks; a ValueError names a malformed one."""
    return tuple(ip_network(cidr.strip()) for cidr in cidrs.split(",") if cidr.strip())


class GeocoderKind(enum.StrEnum):
    gazetteer = "gazetteer"
    nominatim = "nominatim"


class Routing(enum.StrEnum):
    """What route plans measure drives on."""

    roads = "roads"
    """The road network where one is loaded (make roads) and covers the places; the great
    circle elsewhere."""
    great_circle = "great_circle"


# Signing keys anyone could guess: a key with one of these in it is refused.
PLACEHOLDER_KEYS = ("change-me", "changeme", "change_me", "replace-me", "placeholder", "example")
SECRET_KEY_MIN_BYTES = 32
SECRET_KEY_MIN_DISTINCT = 10


def weak_secret_key(key: str) -> str | None:
    """Why this key could be guessed (a placeholder, too short, too repetitive), or None."""
    if any(word in key.casefold() for word in PLACEHOLDER_KEYS):
        return "is a placeholder"
    if len(key.encode()) < SECRET_KEY_MIN_BYTES:
        return f"is shorter than {SECRET_KEY_MIN_BYTES} bytes"
    if len(set(key)) < SECRET_KEY_MIN_DISTINCT:
        return f"has fewer than {SECRET_KEY_MIN_DISTINCT} different characters"
    return None


class Settings(msgspec.Struct, frozen=True):
    database_url: str
    redis_url: str
    secret_key: str
    """Signs access tokens and search cursors: 32 or more random bytes."""
    local_development: bool = False
    """True lets a weak SECRET_KEY through (with a warning), for a machine nobody else uses."""
    db_pool_size: int = 10
    db_max_overflow: int = 10
    db_pool_timeout_s: float = 5.0
    db_statement_timeout_ms: int = 10_000
    """No statement of the API runs longer (searches and every other path)."""
    db_lock_timeout_ms: int = 2_000
    """No statement waits longer for a lock: a row held by a stuck transaction is a fast
    503 with Retry-After, not a pile-up of requests behind it."""
    db_idle_in_transaction_timeout_ms: int = 15_000
    """A session idle this long inside a transaction is ended, and its locks released."""
    db_transaction_pooler: bool = False
    """True when a transaction-mode pooler (PgBouncer) sits between the API and PostgreSQL:
    searches then send their planner settings in their own transaction, as settings made
    on a connection would reach other clients. Otherwise index-ordered searches run on a
    pool of their own whose connections start with those settings (one round trip each)."""
    database_replica_url: str = ""
    """A streaming replica of the primary for public reads (searches, public profiles, open
    route orders); none when empty. Reads fall back to the primary (db.replica)."""
    db_replica_max_lag_s: float = 10.0
    """A replica further behind than this serves no reads until it catches up."""
    db_slow_info_ms: int = 500
    """Statements slower than this are logged at INFO, slower than the next at WARNING."""
    db_slow_warning_ms: int = 2000
    redis_cache_url: str = ""
    """A Redis for what may be evicted (cached searches and geocoding answers), run with
    `maxmemory` and an LRU policy; REDIS_URL then keeps only state that must not be
    (rate-limit windows, search generations, write positions, locks, token versions), run
    with `noeviction`. Empty: the caches share REDIS_URL (development)."""
    redis_max_connections: int = 50
    """Connections each of a process's Redis clients (the rate limits', the one of
    state and tokens, and the caches' with REDIS_CACHE_URL) may open; past it a command
    waits up to a second for one."""
    access_token_ttl_s: int = 3600
    processes: int = 1
    """API processes sharing one Redis (make serve: WORKERS). Without Redis, each process
    allows only its share of every rate limit."""
    body_max_bytes: int = 64 * 1024
    """The largest request body read; a larger one is a 413 (the largest valid is a few KB)."""
    rate_limits_enabled: bool = True
    """False switches every rate limit off (raw-capacity benchmarks), with a warning."""
    trusted_proxies: str = ""
    """CIDRs of the proxies whose X-Forwarded-For (and Host, X-Forwarded-Host and
    X-Forwarded-Proto) are believed, comma-separated."""
    public_base_url: str = ""
    """The URL clients reach the API at (`https://maps.example.com`), for links in answers
    (TileJSON's tile URLs). Empty: the address the server listens on, or the host a trusted
    proxy passes on; never a Host header anyone else sends."""
    cors_allow_origins: str = ""
    """Origins whose pages may call the API from a browser, comma-separated (none: no CORS)."""
    booking_horizon_days: int = 365
    """How far ahead visits can be booked, and exceptions to opening hours set."""
    slot_step_minutes: int = 15
    """Free slots start on this step of the provider's clock: 5, 10, 15, 20, 30 or 60."""
    booking_min_notice_minutes: int = 120
    """Free slots start at least this long after they are asked for."""
    free_time_max_days: int = 14
    """The most days one request for free slots or free providers covers."""
    routing: Routing = Routing.roads
    geocoder: GeocoderKind = GeocoderKind.gazetteer
    nominatim_url: str = "https://nominatim.openstreetmap.org"
    nominatim_user_agent: str = ""
    """Required with GEOCODER=nominatim: the usage policy asks for a contact in it."""
    geocoder_countrycodes: str = "se,no,dk,fi"
    geocoder_accept_language: str = "sv,nb,da,fi,en"
    geocoder_query_max_length: int = 200
    smtp_url: str = ""
    """Where mail goes: `smtp://user:password@host:587` (STARTTLS when offered),
    `smtps://host:465`. Empty: mails wait in the outbox, unsent, until it is set."""
    mail_from: str = "equinet-geo <no-reply@localhost>"
    password_reset_ttl_min: int = 30
    verify_email_ttl_h: int = 72
    search: SearchLimits = SearchLimits()
    pages: PageLimits = PageLimits()
    jobs: Jobs = Jobs()
    exports: Exports = Exports()
    geocoder_policy: GeocoderPolicy = GeocoderPolicy()
    rate_limits: RateLimits = RateLimits()
    routes: RoutePlanning = RoutePlanning()
    passwords: PasswordHashing = PasswordHashing()

    def __post_init__(self) -> None:
        weakness = weak_secret_key(self.secret_key)
        if weakness and not self.local_development:
            raise ValueError(
                f"SECRET_KEY {weakness}: set 32 or more random bytes "
                "(e.g. `openssl rand -base64 48`), or LOCAL_DEVELOPMENT=true on a machine "
                "nobody else uses"
            )
        networks(self.trusted_proxies)
        if self.public_base_url and not self.public_base_url.startswith(("http://", "https://")):
            raise ValueError("PUBLIC_BASE_URL must start with http:// or https://")
        if self.smtp_url and not self.smtp_url.startswith(("smtp://", "smtps://")):
            raise ValueError("SMTP_URL must start with smtp:// or smtps://")
        if self.slot_step_minutes not in (5, 10, 15, 20, 30, 60):
            raise ValueError("SLOT_STEP_MINUTES must be 5, 10, 15, 20, 30 or 60")
        if self.booking_min_notice_minutes < 1:
            raise ValueError("BOOKING_MIN_NOTICE_MINUTES must be 1 or more")
        if self.geocoder is GeocoderKind.nominatim and not self.nominatim_user_agent:
            raise ValueError(
                "GEOCODER=nominatim needs NOMINATIM_USER_AGENT with a contact, "
                'e.g. "equinet-geo/0.1 (ops@example.com)"'
            )


# The groups of settings, by the prefix of their variables.
GROUP_PREFIXES = {
    "search": "SEARCH_",
    "pages": "PAGE_",
    "geocoder_policy": "GEOCODER_",
    "rate_limits": "RATE_LIMIT_",
    "routes": "ROUTE_",
    "passwords": "PASSWORD_HASH_",
    "jobs": "JOBS_",
    "exports": "EXPORT_",
}


def from_env(environ: Mapping[str, str] = os.environ) -> Settings:
    """Settings from environment variables, converting strings to the field types."""

    def variables(struct: type[msgspec.Struct], prefix: str) -> dict[str, Any]:
        names = {field: prefix + field.upper() for field in struct.__struct_fields__}
        return {field: environ[name] for field, name in names.items() if name in environ}

    groups = get_type_hints(Settings)
    values = variables(Settings, "")
    for group, prefix in GROUP_PREFIXES.items():
        values[group] = variables(groups[group], prefix)
    try:
        return msgspec.convert(values, Settings, strict=False)
    except (msgspec.ValidationError, ValueError) as error:
        raise SystemExit(f"configuration error: {error}") from None
