"""Request and response bodies of the export endpoints."""

from datetime import date, datetime
from typing import Literal

import msgspec

from app.exports.files import FORMATS_OF_KIND
from db.exports import ExportRequest
from db.models import Export, ExportStatus

ExportKind = Literal["bookings", "route_orders", "routes"]
ExportFormat = Literal["csv", "json", "ics", "gpx"]


class ExportDraft(msgspec.Struct, forbid_unknown_fields=True):
    """What to export: the caller's bookings (as a customer, or at their providers), route
    orders or routes, optionally those from..to (dates, inclusive)."""

    kind: ExportKind
    format: ExportFormat
    from_: date | None = msgspec.field(default=None, name="from")
    to: date | None = None
    bom: bool = False
    """CSV only: a UTF-8 byte order mark first, for Excel."""

    def __post_init__(self) -> None:
        if self.format not in FORMATS_OF_KIND[self.kind]:
            offered = ", ".join(FORMATS_OF_KIND[self.kind])
            raise ValueError(f"{self.kind} export as {offered}, not {self.format}")
        if self.from_ and self.to and self.from_ > self.to:
            raise ValueError("from must not be after to")
        if self.bom and self.format != "csv":
            raise ValueError("bom is for csv exports")

    def span_days(self) -> int | None:
        if self.from_ is None or self.to is None:
            return None
        return (self.to - self.from_).days + 1

    def as_request(self) -> ExportRequest:
        return ExportRequest(self.kind, self.format, self.from_, self.to, self.bom)


class ExportState(msgspec.Struct, omit_defaults=True):
    id: str
    kind: ExportKind
    format: ExportFormat
    status: ExportStatus
    progress: float
    """0..1: the share of the rows written."""
    created_at: datetime
    rows: int | None = None
    """Once done: how many bookings, route orders or routes the file holds."""
    download_url: str | None = None
    """Once done, until `expires_at`."""
    expires_at: datetime | None = None
    error: str | None = None
    """Once failed: why its last attempt failed."""

    @classmethod
    def of(cls, export: Export) -> "ExportState":
        done = export.status is ExportStatus.done
        return cls(
            str(export.id),
            export.kind,  # type: ignore[arg-type]
            export.format,  # type: ignore[arg-type]
            export.status,
            round(export.progress, 4),
            export.created_at,
            rows=export.rows if done else None,
            download_url=f"/api/exports/{export.id}/download" if done else None,
            expires_at=export.expires_at,
            error=export.error if export.status is ExportStatus.failed else None,
        )
