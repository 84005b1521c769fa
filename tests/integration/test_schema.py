"""Behaviour that lives in the schema: derived location, category trigger, seed data."""

from decimal import Decimal

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from db.geocoding import COUNTRIES
from db.models import Provider, Service
from db.seed import scandinavian_towns
from geo.distance import Point, haversine_m
from tests.support.suite import SEEDED_PROVIDERS


async def _new_provider(session: AsyncSession, lat: float = 59.0, lng: float = 18.0) -> Provider:
    owner = (await session.execute(text("SELECT id FROM users ORDER BY id LIMIT 1"))).scalar_one()
    provider = Provider(user_id=owner, business_name="Test", latitude=lat, longitude=lng)
    session.add(provider)
    await session.flush()
    return provider


async def test_location_is_derived_from_latitude_and_longitude(db_session: AsyncSession) -> None:
    provider = await _new_provider(db_session, 61.5, 16.25)
    x, y = (
        await db_session.execute(
            select(
                func.ST_X(func.geometry(Provider.location)),
                func.ST_Y(func.geometry(Provider.location)),
            ).where(Provider.id == provider.id)
        )
    ).one()
    assert (y, x) == (61.5, 16.25)


@pytest.mark.parametrize(("lat", "lng"), [(91.0, 0.0), (0.0, 181.0), (-90.5, 10.0)])
async def test_out_of_range_coordinates_are_refused_by_the_database(
    db_session: AsyncSession, lat: float, lng: float
) -> None:
    with pytest.raises(IntegrityError):
        await _new_provider(db_session, lat, lng)


async def test_the_antimeridian_is_stored_as_plus_180_only(db_session: AsyncSession) -> None:
    """-180 and +180 are one meridian; PostGIS's nearest-first index fails on the pair."""
    with pytest.raises(IntegrityError, match="providers_one_antimeridian"):
        await _new_provider(db_session, 0.0, -180.0)


async def test_route_orders_too_store_the_antimeridian_as_plus_180_only(
    db_session: AsyncSession,
) -> None:
    insert = text(
        "INSERT INTO route_orders (customer_id, category, latitude, longitude, earliest, latest)"
        " SELECT min(id), 'farrier', 0, -180, current_date, current_date FROM users"
    )
    with pytest.raises(IntegrityError, match="route_orders_one_antimeridian"):
        await db_session.execute(insert)


async def _categories(session: AsyncSession, provider_id: int) -> list[str]:
    statement = select(Provider.categories).where(Provider.id == provider_id)
    return list((await session.execute(statement)).scalar_one())


async def test_categories_follow_the_active_services(db_session: AsyncSession) -> None:
    provider = await _new_provider(db_session)
    vet, farrier = (
        Service(
            provider_id=provider.id,
            name=category,
            category=category,
            duration_minutes=60,
            price=Decimal(900),
        )
        for category in ("vet", "farrier")
    )
    db_session.add_all([vet, farrier])
    await db_session.flush()
    assert await _categories(db_session, provider.id) == ["farrier", "vet"]

    vet.is_active = False
    await db_session.flush()
    assert await _categories(db_session, provider.id) == ["farrier"]

    await db_session.delete(farrier)
    await db_session.flush()
    assert await _categories(db_session, provider.id) == []


async def test_seeded_providers_cluster_around_real_towns(db_session: AsyncSession) -> None:
    towns: dict[str, list[Point]] = {}
    for town in scandinavian_towns():
        towns.setdefault(town.name, []).append(Point(town.latitude, town.longitude))
    assert len(towns) > 1000
    rows = (
        await db_session.execute(
            select(Provider.city, Provider.latitude, Provider.longitude)
            .where(Provider.id <= SEEDED_PROVIDERS)  # not those other tests add
            .order_by(Provider.id)
            .limit(2000)
        )
    ).all()
    for city, lat, lng in rows:  # names repeat (two Frederiksbergs): the nearest one counts
        assert city is not None
        assert min(haversine_m(Point(lat, lng), town) for town in towns[city]) < 80_000
    assert COUNTRIES == ("SE", "NO", "DK", "FI")


async def test_seeded_providers_each_have_services_matching_their_categories(
    db_session: AsyncSession,
) -> None:
    mismatches = await db_session.execute(
        text(
            "SELECT p.id FROM providers p WHERE p.categories IS DISTINCT FROM "
            "ARRAY(SELECT DISTINCT s.category FROM services s "
            "      WHERE s.provider_id = p.id AND s.is_active ORDER BY 1)::text[] "
            "AND p.city <> 'Edge' LIMIT 5"
        )
    )
    assert mismatches.all() == []


INTEGER_TYPES = {"smallint": "SMALLINT", "integer": "INTEGER", "bigint": "BIGINT"}


async def test_every_integer_column_of_the_models_has_the_migrated_width(
    db_session: AsyncSession,
) -> None:
    """A model that says INTEGER where the table says bigint casts ids past 2^31 to a
    type that can't hold them: a 500 for a request naming a large id."""
    rows = await db_session.execute(
        text(
            "SELECT table_name, column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = 'public' AND data_type IN ('smallint', 'integer', 'bigint')"
        )
    )
    migrated = {(table, column): INTEGER_TYPES[kind] for table, column, kind in rows}
    modelled = {
        (table.name, column.name): column.type.compile(dialect=db_session.get_bind().dialect)
        for table in Provider.metadata.sorted_tables
        for column in table.columns
        if (table.name, column.name) in migrated
    }
    assert len(modelled) > 20
    assert modelled == {key: migrated[key] for key in modelled}
