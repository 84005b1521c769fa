"""Vector tiles of providers, decoded and held against the providers selected by hand."""

import math
from typing import Any

import mapbox_vector_tile
import msgspec
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.main import create_app
from app.settings import Settings
from db.models import Provider
from geo.tiles import MERCATOR_MAX_LAT, Tile
from geo.viewport import parse_viewport
from tests.support.bookings import Client, OpenProvider
from tests.support.clusters import active_providers, clusters_in, inside

pytestmark = pytest.mark.pgbouncer

MVT = "application/vnd.mapbox-vector-tile"
STOCKHOLM = (59.3294, 18.0687)
EXTENT = 4096


def _path(tile: Tile) -> str:
    return f"/api/tiles/providers/{tile.z}/{tile.x}/{tile.y}.mvt"


async def _tile(client: Client, tile: Tile, **params: Any) -> dict[str, Any]:
    response = await client.get(_path(tile), params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == MVT
    decoded: dict[str, Any] = mapbox_vector_tile.decode(
        response.content, default_options={"y_coord_down": True}
    )
    return decoded


def _tile_position(tile: Tile, latitude: float, longitude: float) -> tuple[float, float]:
    """Where a point lands in the tile, in tile coordinates (0..EXTENT, y down)."""
    n = 2**tile.z
    x = ((longitude + 180) / 360 * n - tile.x) * EXTENT
    mercator_y = math.asinh(math.tan(math.radians(latitude)))
    y = ((1 - mercator_y / math.pi) / 2 * n - tile.y) * EXTENT
    return x, y


@pytest.mark.parametrize("z", [13, 14])
async def test_a_deep_tile_holds_every_provider_in_it_and_no_other(
    client: Client, db_session: AsyncSession, z: int
) -> None:
    tile = Tile.containing(*STOCKHOLM, z)
    layers = await _tile(client, tile)
    assert set(layers) == {"providers"}
    features = layers["providers"]["features"]
    rows = await db_session.execute(
        select(
            Provider.id,
            Provider.business_name,
            Provider.categories,
            Provider.latitude,
            Provider.longitude,
        ).where(Provider.is_active)
    )
    viewport = tile.viewport()
    expected = {
        row.id: row for row in rows if inside(viewport, row.latitude, row.longitude, tile=True)
    }
    assert len(expected) > 1
    assert {feature["id"] for feature in features} == set(expected)
    for feature in features:
        provider = expected[feature["id"]]
        assert feature["properties"] == {
            "name": provider.business_name,
            "categories": ",".join(provider.categories),
        }
        x, y = _tile_position(tile, provider.latitude, provider.longitude)
        assert feature["geometry"]["coordinates"] == pytest.approx([x, y], abs=1)


@pytest.mark.parametrize("z", [3, 7, 12])
async def test_a_coarse_tile_holds_the_clusters_whose_centroid_is_in_it(
    client: Client, db_session: AsyncSession, z: int
) -> None:
    tile = Tile.containing(*STOCKHOLM, z)
    layers = await _tile(client, tile)
    assert set(layers) == {"clusters"}
    counts = sorted(f["properties"]["count"] for f in layers["clusters"]["features"])
    expected = clusters_in(await active_providers(db_session), tile.viewport(), z, tile=True)
    assert counts == sorted(count for *_, count in expected)
    assert len(counts) > 1


async def test_the_tiles_of_a_zoom_count_every_provider_on_the_map_once(
    client: Client, db_session: AsyncSession
) -> None:
    z = 2
    total = 0
    for x in range(2**z):
        for y in range(2**z):
            layers = await _tile(client, Tile(z, x, y))
            total += sum(
                f["properties"]["count"] for f in layers.get("clusters", {}).get("features", [])
            )
    world = clusters_in(await active_providers(db_session), parse_viewport("-180,-90,180,90"), z)
    assert total == sum(
        count for lat, _, count in world if -MERCATOR_MAX_LAT <= lat < MERCATOR_MAX_LAT
    )


@pytest.mark.parametrize("z", [5, 14])
async def test_tiles_of_one_category(client: Client, db_session: AsyncSession, z: int) -> None:
    tile = Tile.containing(*STOCKHOLM, z)
    every, dentists = await _tile(client, tile), await _tile(client, tile, category="dentist")
    if z > 12:
        features = dentists["providers"]["features"]
        assert 0 < len(features) < len(every["providers"]["features"])
        assert all("dentist" in f["properties"]["categories"].split(",") for f in features)
        return
    counts = sorted(f["properties"]["count"] for f in dentists["clusters"]["features"])
    providers = await active_providers(db_session)
    expected = clusters_in(providers, tile.viewport(), z, category="dentist", tile=True)
    assert counts == sorted(count for *_, count in expected)


async def test_an_empty_tile_is_an_empty_body(client: Client) -> None:
    response = await client.get(_path(Tile.containing(-40.0, -130.0, 14)))  # the South Pacific
    assert response.status_code == 200
    assert response.headers["content-type"] == MVT
    assert response.content == b""


@pytest.mark.parametrize(
    "path",
    [
        "21/0/0.mvt",
        "3/8/0.mvt",
        "3/0/8.mvt",
        "3/-1/0.mvt",
        "3/0/-1.mvt",
        "-1/0/0.mvt",
        "3/0/0.png",
        "3/0/0",
        "3/0/x.mvt",
        "3/0/02.mvt",
        "3/0/+2.mvt",
        "3/0/-0.mvt",
        "3/0/٣.mvt",
        "3/0/99999999999999999999.mvt",
    ],
)
async def test_a_tile_outside_the_pyramid_is_a_400(client: Client, path: str) -> None:
    response = await client.get(f"/api/tiles/providers/{path}")
    assert response.status_code == 400, response.text


async def test_a_tile_has_an_etag_and_is_not_sent_again(client: Client) -> None:
    path = _path(Tile.containing(*STOCKHOLM, 9))
    first = await client.get(path)
    assert first.headers["cache-control"].startswith("public, max-age=")
    again = await client.get(path, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""


async def test_provider_writes_change_the_next_tile(client: Client, provider: OpenProvider) -> None:
    tile = Tile.containing(67.0, 5.0, 14)  # where the tests open their providers
    before = await client.get(_path(tile))
    renamed = await client.patch(
        f"/api/providers/{provider.id}",
        json={"business_name": f"Tile test {provider.id}"},
        headers=provider.owner.headers,
    )
    assert renamed.status_code == 200, renamed.text
    after = await client.get(_path(tile), headers={"If-None-Match": before.headers["etag"]})
    assert after.status_code == 200
    features = mapbox_vector_tile.decode(after.content)["providers"]["features"]
    names = {f["id"]: f["properties"]["name"] for f in features}
    assert names[provider.id] == f"Tile test {provider.id}"
    deleted = await client.delete(f"/api/providers/{provider.id}", headers=provider.owner.headers)
    assert deleted.status_code == 204
    gone = mapbox_vector_tile.decode((await client.get(_path(tile))).content)
    left = gone.get("providers", {"features": []})["features"]  # it may have been alone
    assert provider.id not in {f["id"] for f in left}


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8443"])
async def test_a_forged_host_never_reaches_the_tile_urls(client: Client, host: str) -> None:
    """TileJSON is public and cached for an hour: a Host header anyone can send must not
    point map clients elsewhere. Only a trusted proxy's is believed."""
    response = await client.get("/api/tiles/providers.json", headers={"Host": host})
    assert response.json()["tiles"][0].startswith("http://testserver.local/api/tiles/")
    assert "vary" not in response.headers


async def test_tilejson_takes_its_urls_from_the_public_base_url(
    settings: Settings, client: Client
) -> None:
    configured = msgspec.structs.replace(settings, public_base_url="https://maps.example.com/")
    async with AsyncTestClient(app=create_app(configured)) as other:
        response = await other.get("/api/tiles/providers.json", headers={"Host": "evil.example"})
    assert response.json()["tiles"] == [
        "https://maps.example.com/api/tiles/providers/{z}/{x}/{y}.mvt"
    ]


async def test_tilejson_names_the_tiles_and_their_layers(client: Client) -> None:
    response = await client.get("/api/tiles/providers.json", params={"category": "vet"})
    assert response.status_code == 200
    document = response.json()
    assert document["tilejson"] == "3.0.0"
    assert document["tiles"] == [
        "http://testserver.local/api/tiles/providers/{z}/{x}/{y}.mvt?category=vet"
    ]
    layers = {layer["id"]: layer for layer in document["vector_layers"]}
    assert layers["clusters"]["maxzoom"] == 12
    assert layers["providers"]["minzoom"] == 13
    assert set(response.headers["cache-control"].split(", ")) == {"public", "max-age=3600"}
