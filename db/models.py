"""SQLAlchemy models. The schema itself is owned by the alembic migrations; these map it."""

import enum
import uuid
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, cast

from advanced_alchemy.base import DefaultBase, IdentityAuditBase, IdentityBase
from advanced_alchemy.types import DateTimeUTC
from geoalchemy2 import Geography
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Computed,
    Date,
    Enum,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    SmallInteger,
    String,
    Table,
    Text,
    Time,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSTZRANGE, Range
from sqlalchemy.orm import Mapped, mapped_column, relationship

from geo.distance import Point
from geo.travel import TravelBy

MAX_ROW_ID = 2**63 - 1
"""Ids are bigint identities."""

# lat/lng are the source of truth; the geography point is derived from them by the
# database, so the two can never disagree.
LOCATION_FROM_LAT_LNG = "(ST_SetSRID(ST_MakePoint(longitude, latitude), 4326)::geography)"


def _pg_enum(values: type[enum.StrEnum], name: str) -> Enum:
    """A PostgreSQL enum type whose labels are the members' values."""
    return Enum(values, name=name, values_callable=lambda members: [m.value for m in members])


class Role(enum.StrEnum):
    customer = "customer"
    provider = "provider"
    admin = "admin"


class User(IdentityAuditBase):
    __tablename__ = "users"

    email: Mapped[str] = mapped_column(String(320))
    email_skeleton: Mapped[str | None] = mapped_column(Text)
    """What the email looks like (db.accounts.email_skeleton), unique among live accounts;
    none for deleted and seeded ones."""
    password_hash: Mapped[str] = mapped_column(Text)
    role: Mapped[Role] = mapped_column(_pg_enum(Role, "user_role"))
    token_version: Mapped[int] = mapped_column(Integer, server_default="0")
    """Raised by a password change or deletion: tokens issued before stop working."""
    deleted_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    email_verified_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    """When the user showed the address is theirs; until then they may not book or order."""
    language: Mapped[str] = mapped_column(Text, server_default="sv")
    """The language of their e-mails: sv or en."""
    email_notifications: Mapped[bool] = mapped_column(Boolean, server_default="true")
    """Whether their notifications also go out by e-mail (migration 0015's trigger)."""

    __table_args__ = (
        Index("users_email_lower_key", text("lower(email)"), unique=True),
        Index("users_email_skeleton_key", "email_skeleton", unique=True),
    )


class Provider(IdentityAuditBase):
    __tablename__ = "providers"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    business_name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    address: Mapped[str | None] = mapped_column(String(300))
    city: Mapped[str | None] = mapped_column(String(120))
    postal_code: Mapped[str | None] = mapped_column(String(20))
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    location: Mapped[object] = mapped_column(
        Geography("POINT", srid=4326, spatial_index=False),
        Computed(LOCATION_FROM_LAT_LNG, persisted=True),
    )
    service_radius_km: Mapped[float] = mapped_column(Float, default=50)
    timezone: Mapped[str] = mapped_column(Text, default="Europe/Stockholm")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Distinct categories of the provider's active services, kept by a trigger on
    # services so that search can filter during the index-ordered scan, without a join.
    categories: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    # The provider's break on a day route (0 minutes: none); all None: the deployment's.
    break_minutes: Mapped[int | None] = mapped_column(SmallInteger)
    break_from: Mapped[time | None] = mapped_column(Time)
    break_until: Mapped[time | None] = mapped_column(Time)

    services: Mapped[list["Service"]] = relationship(
        back_populates="provider", order_by="Service.id", lazy="raise"
    )


class Service(IdentityAuditBase):
    __tablename__ = "services"

    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(40))
    duration_minutes: Mapped[int] = mapped_column(Integer)
    price: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)

    provider: Mapped[Provider] = relationship(back_populates="services", lazy="raise")


class Availability(IdentityAuditBase):
    """One interval of a provider's weekly hours, in the provider's time zone."""

    __tablename__ = "availability"

    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id", ondelete="CASCADE"))
    weekday: Mapped[int] = mapped_column(SmallInteger)  # Monday = 0
    opens: Mapped[time] = mapped_column(Time)
    closes: Mapped[time] = mapped_column(Time)


class ServiceCategory(enum.StrEnum):
    farrier = "farrier"
    vet = "vet"
    physiotherapist = "physiotherapist"
    trainer = "trainer"
    dentist = "dentist"
    saddle_fitter = "saddle_fitter"


class AvailabilityException(IdentityAuditBase):
    """A date whose hours differ from the weekly ones: closed (no hours) or these hours."""

    __tablename__ = "availability_exceptions"

    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id", ondelete="CASCADE"))
    date: Mapped[date] = mapped_column(Date)
    opens: Mapped[time | None] = mapped_column(Time)
    closes: Mapped[time | None] = mapped_column(Time)


class BookingStatus(enum.StrEnum):
    pending = "pending"
    confirmed = "confirmed"
    cancelled = "cancelled"
    completed = "completed"


# The statuses that hold a slot: exactly those of the partial exclusion constraint.
ACTIVE_BOOKING = (BookingStatus.pending, BookingStatus.confirmed)


class Booking(IdentityAuditBase):
    __tablename__ = "bookings"

    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"))
    horse_name: Mapped[str] = mapped_column(String(100))
    notes: Mapped[str] = mapped_column(Text, default="")
    during: Mapped[Range[datetime]] = mapped_column(TSTZRANGE)
    status: Mapped[BookingStatus] = mapped_column(
        _pg_enum(BookingStatus, "booking_status"), default=BookingStatus.pending
    )
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    """Where the visit is: the customer's stable, or the provider's own location."""

    # `during` is bounded on both sides (a CHECK constraint), so neither bound is None.
    @property
    def start(self) -> datetime:
        return cast(datetime, self.during.lower)

    @property
    def end(self) -> datetime:
        return cast(datetime, self.during.upper)


class Notification(IdentityBase):
    __tablename__ = "notifications"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    is_read: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTimeUTC(timezone=True), server_default=func.now()
    )


class RouteOrderStatus(enum.StrEnum):
    open = "open"
    planned = "planned"
    done = "done"
    cancelled = "cancelled"


class RouteOrder(IdentityAuditBase):
    """A customer's request for a visit to a stable, on some day between two dates."""

    __tablename__ = "route_orders"

    customer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    category: Mapped[str] = mapped_column(String(40))
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    location: Mapped[object] = mapped_column(
        Geography("POINT", srid=4326, spatial_index=False),
        Computed(LOCATION_FROM_LAT_LNG, persisted=True),
    )
    address: Mapped[str] = mapped_column(Text, default="")
    earliest: Mapped[date] = mapped_column(Date)
    latest: Mapped[date] = mapped_column(Date)
    status: Mapped[RouteOrderStatus] = mapped_column(
        _pg_enum(RouteOrderStatus, "route_order_status"), default=RouteOrderStatus.open
    )
    notes: Mapped[str] = mapped_column(Text, default="")
    arrive_after: Mapped[time | None] = mapped_column(Time)
    """The earliest arrival the stable allows, on the provider's clock."""
    arrive_before: Mapped[time | None] = mapped_column(Time)
    horses: Mapped[int] = mapped_column(SmallInteger, default=1)
    """How many horses the visit is for: the service's length, that many times."""

    @property
    def point(self) -> Point:
        return Point(self.latitude, self.longitude)


class RouteStatus(enum.StrEnum):
    planned = "planned"
    done = "done"
    cancelled = "cancelled"


class Route(IdentityAuditBase):
    """A provider's planned day: a start point and stops in visiting order."""

    __tablename__ = "routes"

    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id"))
    date: Mapped[date] = mapped_column(Date)
    status: Mapped[RouteStatus] = mapped_column(
        _pg_enum(RouteStatus, "route_status"), default=RouteStatus.planned
    )
    start_latitude: Mapped[float] = mapped_column(Float)
    start_longitude: Mapped[float] = mapped_column(Float)
    total_distance_m: Mapped[float] = mapped_column(Float)
    travel: Mapped[str] = mapped_column(Text, default=TravelBy.great_circle)
    """What measured the legs: roads, or the great circle (geo.travel.TravelBy)."""
    # Where the day ends (None: at its last visit), how far that is from it, and when.
    end_latitude: Mapped[float | None] = mapped_column(Float)
    end_longitude: Mapped[float | None] = mapped_column(Float)
    end_distance_m: Mapped[float] = mapped_column(Float, default=0)
    finish: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    break_start: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    break_minutes: Mapped[int | None] = mapped_column(SmallInteger)

    stops: Mapped[list["RouteStop"]] = relationship(
        back_populates="route", order_by="RouteStop.position", lazy="raise"
    )

    @property
    def start(self) -> Point:
        return Point(self.start_latitude, self.start_longitude)

    @property
    def end(self) -> Point | None:
        if self.end_latitude is None or self.end_longitude is None:
            return None
        return Point(self.end_latitude, self.end_longitude)


class RouteStopStatus(enum.StrEnum):
    planned = "planned"
    done = "done"


class RouteStop(IdentityBase):
    __tablename__ = "route_stops"

    route_id: Mapped[int] = mapped_column(BigInteger)  # its foreign key is the pair below
    # Kept equal to the route's status by the database (see migration 0004).
    route_status: Mapped[RouteStatus] = mapped_column(
        _pg_enum(RouteStatus, "route_status"), default=RouteStatus.planned
    )
    route_order_id: Mapped[int] = mapped_column(ForeignKey("route_orders.id"))
    position: Mapped[int] = mapped_column(SmallInteger)
    leg_distance_m: Mapped[float] = mapped_column(Float)
    leg_seconds: Mapped[int | None] = mapped_column(Integer)
    leg_travel: Mapped[str] = mapped_column(Text, default=TravelBy.great_circle)
    eta: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    service_minutes: Mapped[int] = mapped_column(Integer)
    status: Mapped[RouteStopStatus] = mapped_column(
        _pg_enum(RouteStopStatus, "route_stop_status"), default=RouteStopStatus.planned
    )

    route: Mapped[Route] = relationship(back_populates="stops", lazy="raise")
    order: Mapped[RouteOrder] = relationship(lazy="raise")

    __table_args__ = (
        ForeignKeyConstraint(
            ["route_id", "route_status"], ["routes.id", "routes.status"], onupdate="CASCADE"
        ),
    )


class CommitmentKind(enum.StrEnum):
    booking = "booking"
    visit = "visit"


class Commitment(IdentityBase):
    """What holds a provider's time: a booking, or a visit of a route. The database keeps
    each one from its booking or stop (triggers) and refuses two active ones of a provider
    that overlap (migration 0010)."""

    __tablename__ = "commitments"

    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id"))
    kind: Mapped[CommitmentKind] = mapped_column(_pg_enum(CommitmentKind, "commitment_kind"))
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("bookings.id"))
    route_stop_id: Mapped[int | None] = mapped_column(ForeignKey("route_stops.id"))
    during: Mapped[Range[datetime]] = mapped_column(TSTZRANGE)
    active: Mapped[bool] = mapped_column(Boolean)
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)

    @property
    def place(self) -> Point:
        return Point(self.latitude, self.longitude)


provider_days = Table(
    "provider_days",
    IdentityBase.metadata,
    Column("provider_id", BigInteger, ForeignKey("providers.id"), primary_key=True),
    Column("day", Date, primary_key=True),
)
"""A provider's days that have commitments: a write adding some locks its day's row, so
travel between neighbours is checked one write at a time (migration 0011)."""


EVERY_CATEGORY = ""
"""provider_cells.category of the counts of every provider, whatever they offer."""

provider_cells = Table(
    "provider_cells",
    IdentityBase.metadata,
    Column("zoom", SmallInteger, primary_key=True),
    Column("category", Text, primary_key=True),
    Column("cell_row", Integer, primary_key=True),
    Column("cell_column", Integer, primary_key=True),
    Column("providers", Integer, nullable=False),
    Column("latitude_sum", Float, nullable=False),
    Column("longitude_sum", Float, nullable=False),
)
"""Active providers per grid cell (geo.clusters), kept by the database (migration 0007)."""


class OutboxJob(enum.StrEnum):
    send_mail = "send_mail"
    run_export = "run_export"


class OutboxEntry(IdentityBase):
    """A job to run once the transaction that wrote it has committed (migration 0015)."""

    __tablename__ = "outbox"

    job: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    created_at: Mapped[datetime] = mapped_column(
        DateTimeUTC(timezone=True), server_default=func.now()
    )
    enqueued_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    done_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    failed_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    attempts: Mapped[int] = mapped_column(SmallInteger, default=0)
    error: Mapped[str | None] = mapped_column(Text)


class TokenPurpose(enum.StrEnum):
    password_reset = "password_reset"
    verify_email = "verify_email"


class AccountToken(IdentityBase):
    """A single-use, expiring token of an account, kept as its SHA-256 hash only."""

    __tablename__ = "account_tokens"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(Text)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary)
    expires_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    created_at: Mapped[datetime] = mapped_column(
        DateTimeUTC(timezone=True), server_default=func.now()
    )


class ExportStatus(enum.StrEnum):
    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"
    expired = "expired"


class Export(DefaultBase):
    """A user's export: what it holds, how far it has come, and until when its file lasts."""

    __tablename__ = "exports"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(Text)
    format: Mapped[str] = mapped_column(Text)
    from_date: Mapped[date | None] = mapped_column(Date)
    to_date: Mapped[date | None] = mapped_column(Date)
    excel_bom: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[ExportStatus] = mapped_column(
        _pg_enum(ExportStatus, "export_status"), default=ExportStatus.queued
    )
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    rows: Mapped[int | None] = mapped_column(Integer)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    attempts: Mapped[int] = mapped_column(SmallInteger, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(
        DateTimeUTC(timezone=True), server_default=func.now()
    )
    started_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))


class CalendarFeed(DefaultBase):
    """A user's iCalendar feed: one at a time, its token hashed."""

    __tablename__ = "calendar_feeds"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    token_hash: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(
        DateTimeUTC(timezone=True), server_default=func.now()
    )
