"""Exports as jobs: asked for here, written by the worker, polled, then downloaded by
their owner until they expire."""

import uuid
from pathlib import Path
from typing import Annotated

from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import ValidationException
from litestar.params import JSONBody, PathParameter
from litestar.response import File
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.auth import SignedInRequest
from app.edge.limits import limited
from app.errors import ConflictException, GoneException, error_responses, not_yours
from app.exports.files import MEDIA_TYPES
from app.exports.schemas import ExportDraft, ExportState
from app.settings import Settings
from db import exports
from db.models import Export, ExportStatus

ExportId = Annotated[uuid.UUID, PathParameter()]


async def _mine(session: AsyncSession, user_id: int, export_id: uuid.UUID) -> Export:
    export = await exports.owned_export(session, user_id, export_id)
    if export is None:
        raise not_yours("export", export_id)
    return export


class ExportController(Controller):
    path = "/api/exports"
    tags = ["exports"]  # noqa: RUF012

    @post(
        "/",
        status_code=202,
        opt=limited(per_user=("export",)),
        operation_id="startExport",
        responses=error_responses(400, 401, 409, 413, 415, 503),
    )
    async def start(
        self,
        request: SignedInRequest,
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        data: JSONBody[ExportDraft],
    ) -> Response[ExportState]:
        """Starts writing the file; poll `Location` until its status is done, then fetch
        its `download_url`. 409 while the caller has EXPORT_MAX_UNDER_WAY (3) exports
        queued or running."""
        span = data.span_days()
        if span is not None and span > settings.exports.max_days:
            raise ValidationException(f"from..to spans at most {settings.exports.max_days} days")
        export = await exports.create(
            db_session, request.user.id, data.as_request(), settings.exports.max_under_way
        )
        await db_session.commit()
        location = f"/api/exports/{export.id}"
        return Response(ExportState.of(export), status_code=202, headers={"Location": location})

    @get(
        "/{export_id:uuid}", operation_id="getExport", responses=error_responses(400, 401, 404, 503)
    )
    async def state(
        self,
        request: SignedInRequest,
        db_session: NamedDependency[AsyncSession],
        export_id: ExportId,
    ) -> ExportState:
        """How far the export has come; once done, where to download it."""
        return ExportState.of(await _mine(db_session, request.user.id, export_id))

    @get(
        "/{export_id:uuid}/download",
        operation_id="downloadExport",
        responses=error_responses(400, 401, 404, 409, 410, 503),
    )
    async def download(
        self,
        request: SignedInRequest,
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        export_id: ExportId,
    ) -> File:
        """The file, streamed: only to its owner, until it expires (410 after)."""
        export = await _mine(db_session, request.user.id, export_id)
        if export.status is ExportStatus.expired:
            raise GoneException("the export expired and its file was deleted: export again")
        if export.status is not ExportStatus.done:
            raise ConflictException(f"the export is {export.status}, not done")
        path = Path(settings.exports.dir) / f"{export.id}.{export.format}"
        day = export.created_at.date().isoformat()
        return File(
            path=path,
            filename=f"equinet-{export.kind}-{day}.{export.format}",
            media_type=MEDIA_TYPES[export.format],
        )
