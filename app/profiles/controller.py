"""Provider profiles: the public view, and the owner's writes to profile and services.

Someone else's provider (or a deleted one) is 404, as if it did not exist. Each write
commits before it invalidates cached searches, so no search can cache what it replaced.
"""

import msgspec
from litestar import Controller, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.auth import SignedInRequest, requires_role
from app.edge.headers import ANONYMOUS, PUBLIC
from app.edge.limits import PROVIDER_WRITES
from app.edge.parameters import RowId
from app.edge.public_reads import PublicServer, read_public
from app.errors import error_responses, not_found, not_yours
from app.geocoding.addresses import locate
from app.profiles.schemas import (
    ADDRESS_FIELDS,
    ProviderChanges,
    ProviderDraft,
    ProviderProfile,
    ServiceChanges,
    ServiceDraft,
    ServiceSummary,
)
from db import profiles
from db.models import Role
from db.profiles import Place, public_profile
from db.replica import PublicReads
from db.search_cache import SearchCache
from geo.geocoding.chain import GeocoderChain


async def _commit_provider_change(
    session: AsyncSession, search_cache: SearchCache, provider_id: int, was: Place | None = None
) -> None:
    """Commit, then make stale the cached searches that could see the provider where it
    was and where it is (both locked by now, so no other write moves it in between), and
    the cached reads of the provider itself (its free slots)."""
    now = await profiles.place_of(session, provider_id)
    await session.commit()
    places = (place for place in (was, now) if place is not None)
    await search_cache.invalidate(places, session, provider_id)


async def _profile(session: AsyncSession, provider_id: int) -> ProviderProfile:
    provider = await public_profile(session, provider_id)
    if provider is None:
        raise not_found("provider", provider_id)
    return ProviderProfile.of(provider)


async def _public_profile(server: PublicServer, provider_id: int) -> ProviderProfile:
    async with server.sessions() as session:
        return await _profile(session, provider_id)


class ProfileController(Controller):
    path = "/api/providers"
    tags = ["provider profiles"]  # noqa: RUF012

    @post(
        "/",
        guards=[requires_role(Role.provider, Role.admin)],
        opt=PROVIDER_WRITES,
        operation_id="createProvider",
        responses=error_responses(400, 401, 403, 413, 415, 422, 429, 503),
    )
    async def create(
        self,
        request: SignedInRequest,
        db_session: NamedDependency[AsyncSession],
        geocoder: NamedDependency[GeocoderChain],
        search_cache: NamedDependency[SearchCache],
        data: JSONBody[ProviderDraft],
    ) -> ProviderProfile:
        """A provider owned by the caller; the address is geocoded unless coordinates are sent."""
        values = msgspec.structs.asdict(data)
        if data.latitude is None:
            values |= await locate(geocoder, data.address, data.postal_code, data.city)
        provider_id = await profiles.create_provider(db_session, request.user.id, values)
        await _commit_provider_change(db_session, search_cache, provider_id)
        return await _profile(db_session, provider_id)

    @patch(
        "/{provider_id:int}",
        opt=PROVIDER_WRITES,
        operation_id="updateProvider",
        responses=error_responses(400, 401, 404, 413, 415, 422, 429, 503),
    )
    async def update(
        self,
        request: SignedInRequest,
        db_session: NamedDependency[AsyncSession],
        geocoder: NamedDependency[GeocoderChain],
        search_cache: NamedDependency[SearchCache],
        provider_id: RowId,
        data: JSONBody[ProviderChanges],
    ) -> ProviderProfile:
        """Change some fields; a changed address is geocoded again unless coordinates are sent."""
        values = data.values()
        if data.moves_address and "latitude" not in values:
            current = await profiles.owned_provider(db_session, request.user.id, provider_id)
            if current is None:
                raise not_yours("provider", provider_id)
            merged = {field: values.get(field, getattr(current, field)) for field in ADDRESS_FIELDS}
            # No connection should sit idle in a transaction while the geocoder waits its turn.
            await db_session.rollback()
            values |= await locate(geocoder, **merged)
        was = await profiles.place_of(db_session, provider_id, to_move=True)
        if not await profiles.update_provider(db_session, request.user.id, provider_id, values):
            raise not_yours("provider", provider_id)
        await _commit_provider_change(db_session, search_cache, provider_id, was)
        return await _profile(db_session, provider_id)

    @delete(
        "/{provider_id:int}",
        opt=PROVIDER_WRITES,
        operation_id="deactivateProvider",
        responses=error_responses(400, 401, 404, 429, 503),
    )
    async def deactivate(
        self,
        request: SignedInRequest,
        db_session: NamedDependency[AsyncSession],
        search_cache: NamedDependency[SearchCache],
        provider_id: RowId,
    ) -> None:
        """Take the provider off the map (soft delete: bookings keep their history)."""
        if not await profiles.deactivate_provider(db_session, request.user.id, provider_id):
            raise not_yours("provider", provider_id)
        await _commit_provider_change(db_session, search_cache, provider_id)

    @post(
        "/{provider_id:int}/services",
        opt=PROVIDER_WRITES,
        operation_id="addService",
        responses=error_responses(400, 401, 404, 413, 415, 429, 503),
    )
    async def add_service(
        self,
        request: SignedInRequest,
        db_session: NamedDependency[AsyncSession],
        search_cache: NamedDependency[SearchCache],
        provider_id: RowId,
        data: JSONBody[ServiceDraft],
    ) -> ServiceSummary:
        """A new service; its category becomes searchable at once."""
        values = msgspec.structs.asdict(data)
        service = await profiles.add_service(db_session, request.user.id, provider_id, values)
        if service is None:
            raise not_yours("provider", provider_id)
        await _commit_provider_change(db_session, search_cache, provider_id)
        return ServiceSummary.of(service)

    @patch(
        "/{provider_id:int}/services/{service_id:int}",
        opt=PROVIDER_WRITES,
        operation_id="updateService",
        responses=error_responses(400, 401, 404, 413, 415, 429, 503),
    )
    async def update_service(
        self,
        request: SignedInRequest,
        db_session: NamedDependency[AsyncSession],
        search_cache: NamedDependency[SearchCache],
        provider_id: RowId,
        service_id: RowId,
        data: JSONBody[ServiceChanges],
    ) -> ServiceSummary:
        service = await profiles.update_service(
            db_session, request.user.id, provider_id, service_id, data.values()
        )
        if service is None:
            raise not_yours("service", service_id)
        await _commit_provider_change(db_session, search_cache, provider_id)
        return ServiceSummary.of(service)

    @delete(
        "/{provider_id:int}/services/{service_id:int}",
        opt=PROVIDER_WRITES,
        operation_id="deactivateService",
        responses=error_responses(400, 401, 404, 429, 503),
    )
    async def deactivate_service(
        self,
        request: SignedInRequest,
        db_session: NamedDependency[AsyncSession],
        search_cache: NamedDependency[SearchCache],
        provider_id: RowId,
        service_id: RowId,
    ) -> None:
        """Stop offering a service (soft delete: past bookings still name it)."""
        if not await profiles.deactivate_service(
            db_session, request.user.id, provider_id, service_id
        ):
            raise not_yours("service", service_id)
        await _commit_provider_change(db_session, search_cache, provider_id)

    @get(
        "/{provider_id:int}",
        opt=PUBLIC,
        security=ANONYMOUS,
        operation_id="getProviderProfile",
        responses=error_responses(400, 404, 503),
    )
    async def profile(
        self, public_reads: NamedDependency[PublicReads[PublicServer]], provider_id: RowId
    ) -> ProviderProfile:
        """A provider's public profile with its active services (no personal data)."""
        return await read_public(public_reads, _public_profile, provider_id)
