"""SQLAlchemy models. The schema itself is owned by the alembic migrations; these map it."""

import enum
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, cast

from advanced_alchemy.base import IdentityAuditBase, IdentityBase
from advanced_alchemy.types import DateTimeUTC
from geoalchemy2 import Geography
from sqlalchemy import (
    Boolean,
    Computed,
    Date,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    String,
    Text,
    Time,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSTZRANGE, Range
from sqlalchemy.orm import Mapped, mapped_column, relationship

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
    password_hash: Mapped[str] = mapped_column(Text)
    role: Mapped[Role] = mapped_column(_pg_enum(Role, "user_role"))

    __table_args__ = (Index("users_email_lower_key", text("lower(email)"), unique=True),)


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
