"""Pure geospatial logic: no database, no server."""

import math
import random
import string
from datetime import UTC, datetime

import msgspec
import pytest

from geo.bbox import boxes_around
from geo.clusters import cell_count, cell_size_deg, check_cell_count
from geo.cursor import CursorCodec, DistanceKey, InvalidCursorError, TimeKey
from geo.distance import EARTH_RADIUS_M, Point, canonical_longitude, haversine_m
from geo.geojson import feature_collection, point_feature
from geo.viewport import InvalidViewportError, check_span, parse_viewport


class Search(msgspec.Struct, frozen=True, tag=True):
    """A scope, as query values are: the filters a page belongs to."""

    radius_km: float = 25.0


class Bookings(msgspec.Struct, frozen=True, tag=True):
    radius_km: float = 25.0


SCOPE = Search()


def _destination(origin: Point, bearing_deg: float, distance_m: float) -> Point:
    """The point `distance_m` from `origin` along a great circle (spherical direct problem)."""
    lat1, lng1 = math.radians(origin.latitude), math.radians(origin.longitude)
    bearing, angular = math.radians(bearing_deg), distance_m / EARTH_RADIUS_M
    lat2 = math.asin(
        math.sin(lat1) * math.cos(angular) + math.cos(lat1) * math.sin(angular) * math.cos(bearing)
    )
    lng2 = lng1 + math.atan2(
        math.sin(bearing) * math.sin(angular) * math.cos(lat1),
        math.cos(angular) - math.sin(lat1) * math.sin(lat2),
    )
    return Point(math.degrees(lat2), (math.degrees(lng2) + 540) % 360 - 180)


def test_haversine_stockholm_to_gothenburg_is_about_398_km() -> None:
    distance = haversine_m(Point(59.3293, 18.0686), Point(57.7089, 11.9746))
    assert distance == pytest.approx(397_900, rel=0.005)


def test_haversine_is_zero_for_the_same_point_and_symmetric() -> None:
    a, b = Point(60.1, 24.9), Point(-33.9, 151.2)
    assert haversine_m(a, a) == 0
    assert haversine_m(a, b) == pytest.approx(haversine_m(b, a))


@pytest.mark.parametrize(
    ("center", "radius_m"),
    [
        (Point(59.33, 18.07), 100_000),
        (Point(65.0, 179.99), 50_000),
        (Point(-10.0, -179.5), 100_000),
        (Point(89.5, 10.0), 100_000),
        (Point(-89.9, 0.0), 20_000),
        (Point(0.0, 0.0), 1),
    ],
)
def test_boxes_around_hold_every_point_on_the_circle(center: Point, radius_m: float) -> None:
    boxes = boxes_around(center, radius_m)
    for bearing in range(0, 360, 3):
        point = _destination(center, bearing, radius_m)
        assert any(
            b.min_lat <= point.latitude <= b.max_lat and b.min_lng <= point.longitude <= b.max_lng
            for b in boxes
        ), (bearing, point, boxes)


def test_boxes_split_at_the_antimeridian() -> None:
    boxes = boxes_around(Point(65.0, 179.9), 20_000)
    assert len(boxes) == 2
    assert {(b.min_lng < 0, b.max_lng == 180.0) for b in boxes} == {(False, True), (True, False)}


def test_boxes_take_every_longitude_around_a_pole() -> None:
    [box] = boxes_around(Point(89.5, 0.0), 100_000)
    assert (box.min_lng, box.max_lng, box.max_lat) == (-180.0, 180.0, 90.0)


def test_boxes_are_tight_away_from_poles_and_antimeridian() -> None:
    [box] = boxes_around(Point(59.33, 18.07), 10_000)
    assert box.max_lat - box.min_lat == pytest.approx(2 * 10_000 / 111_195, rel=1e-3)


def test_cursor_round_trip_keeps_the_exact_key() -> None:
    codec = CursorCodec(b"k" * 32)
    key = DistanceKey(1234.567891234567, 42)
    assert codec.decode(codec.encode(key, SCOPE), SCOPE, DistanceKey) == key


def test_time_cursor_round_trip_keeps_microseconds_and_zone() -> None:
    codec = CursorCodec(b"k" * 32)
    key = TimeKey(datetime(2027, 3, 28, 0, 59, 59, 999_999, tzinfo=UTC), 42)
    assert codec.decode(codec.encode(key, SCOPE), SCOPE, TimeKey) == key


def test_cursor_of_another_kind_of_list_is_rejected_not_misread() -> None:
    codec = CursorCodec(b"k" * 32)
    cursor = codec.encode(DistanceKey(100.0, 7), Search())
    with pytest.raises(InvalidCursorError, match=r"^cursor belongs to a different query$"):
        codec.decode(cursor, Bookings(), TimeKey)


def test_cursor_is_opaque_and_needs_no_escaping_in_a_query_string() -> None:
    codec = CursorCodec(b"k" * 32)
    cursors = [codec.encode(DistanceKey(1.5, n), SCOPE) for n in (42, 10**6, 10**12, 2**62)]
    assert "42" not in cursors[0]
    for cursor in cursors:
        assert set(cursor) <= set(string.ascii_letters + string.digits + "-_"), cursor
        assert codec.decode(cursor, SCOPE, DistanceKey).distance_m == 1.5


def test_every_cursor_round_trips_whatever_its_last_character() -> None:
    """Cursors drop base64 padding; none may lose more than the padding."""
    codec = CursorCodec(b"k" * 32)
    keys = [DistanceKey(d * 0.37, n) for n in range(0, 2000, 7) for d in (0, 1, 12345.678)]
    cursors = [codec.encode(key, SCOPE) for key in keys]
    assert len({cursor[-1] for cursor in cursors}) > 10
    assert [codec.decode(cursor, SCOPE, DistanceKey) for cursor in cursors] == keys


@pytest.mark.parametrize("position", [0, 5, 10, -1])
def test_cursor_tampering_is_detected(position: int) -> None:
    codec = CursorCodec(b"k" * 32)
    cursor = list(codec.encode(DistanceKey(100.0, 7), SCOPE))
    cursor[position] = "A" if cursor[position] != "A" else "B"
    with pytest.raises(InvalidCursorError, match=r"^cursor is not valid$"):
        codec.decode("".join(cursor), SCOPE, DistanceKey)


@pytest.mark.parametrize("garbage", ["", "x", "!!!!", "a" * 50, "====", "AAAAAAAAAAAAAAAAAAAAAAAA"])
def test_cursor_garbage_is_rejected(garbage: str) -> None:
    with pytest.raises(InvalidCursorError, match=r"^cursor is not valid$"):
        CursorCodec(b"k" * 32).decode(garbage, SCOPE, DistanceKey)


def test_cursor_from_another_search_is_rejected() -> None:
    codec = CursorCodec(b"k" * 32)
    cursor = codec.encode(DistanceKey(100.0, 7), Search(radius_km=25.0))
    with pytest.raises(InvalidCursorError, match=r"^cursor belongs to a different query$"):
        codec.decode(cursor, Search(radius_km=50.0), DistanceKey)


def test_cursor_signed_with_another_key_is_rejected() -> None:
    cursor = CursorCodec(b"a" * 32).encode(DistanceKey(100.0, 7), SCOPE)
    with pytest.raises(InvalidCursorError):
        CursorCodec(b"b" * 32).decode(cursor, SCOPE, DistanceKey)


def test_viewport_parses_rfc7946_order() -> None:
    viewport = parse_viewport("17.9,59.2,18.2,59.4")
    assert (viewport.min_lng, viewport.min_lat, viewport.max_lng, viewport.max_lat) == (
        17.9,
        59.2,
        18.2,
        59.4,
    )
    assert viewport.center == pytest.approx(Point(59.3, 18.05))


def test_viewport_across_the_antimeridian() -> None:
    viewport = parse_viewport("179,60,-179,61")
    assert viewport.crosses_antimeridian
    assert viewport.lng_span == pytest.approx(2)
    assert abs(viewport.center.longitude) == pytest.approx(180)


FOUR_NUMBERS = "bbox must be four numbers: minLng,minLat,maxLng,maxLat"
LONGITUDES = "bbox longitudes must be within [-180, 180]"
LATITUDES = "bbox latitudes must be within [-90, 90]"


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("", FOUR_NUMBERS),
        ("1,2,3", FOUR_NUMBERS),
        ("1,2,3,4,5", FOUR_NUMBERS),
        ("a,b,c,d", "bbox values must be numbers, written as in JSON"),
        ("nan,1,2,3", "bbox values must be numbers, written as in JSON"),
        ("inf,1,2,3", "bbox values must be numbers, written as in JSON"),
        ("1e999,1,2,3", "bbox values must be finite numbers"),
        ("-180.5,0,1,1", LONGITUDES),
        ("180.5,0,1,1", LONGITUDES),
        ("0,0,-180.5,1", LONGITUDES),
        ("0,0,180.5,1", LONGITUDES),
        ("0,-90.5,1,1", LATITUDES),
        ("0,90.5,1,91", LATITUDES),
        ("0,0,1,-90.5", LATITUDES),
        ("0,0,1,90.5", LATITUDES),
        ("0,10,1,5", "bbox minLat must be less than maxLat"),
        ("0,10,1,10", "bbox minLat must be less than maxLat"),
        ("5,0,5,1", "bbox minLng and maxLng must differ"),
    ],
)
def test_viewport_rejects_malformed_or_out_of_range(text: str, detail: str) -> None:
    with pytest.raises(InvalidViewportError) as raised:
        parse_viewport(text)
    assert str(raised.value) == detail


@pytest.mark.parametrize("text", ["-180,-90,180,90", "180,0,-179,1", "179,0,-180,1"])
def test_viewport_edges_of_the_world_are_valid(text: str) -> None:
    assert parse_viewport(text)


@pytest.mark.parametrize("text", ["10,50,20,59", "10,50,19,60"])
def test_viewport_of_exactly_the_span_limit_is_valid(text: str) -> None:
    assert check_span(parse_viewport(text), 10)


@pytest.mark.parametrize("text", ["0,50,30,51", "10,50,11,70"])
def test_viewport_wider_or_taller_than_the_span_limit_is_rejected(text: str) -> None:
    with pytest.raises(InvalidViewportError) as raised:
        check_span(parse_viewport(text), 10)
    assert str(raised.value) == "bbox spans more than 10 degrees; zoom in or use /clusters"


def test_enclosing_radius_holds_the_whole_rectangle() -> None:
    rng = random.Random(3)
    for text in ["17.9,59.2,18.2,59.4", "5,60,15,70", "179,60,-179,61", "-10,-5,0,5"]:
        viewport = parse_viewport(text)
        radius = viewport.enclosing_radius_m()
        for _ in range(500):
            lng = viewport.min_lng + rng.random() * viewport.lng_span
            point = Point(
                viewport.min_lat + rng.random() * viewport.lat_span,
                lng - 360 if lng > 180 else lng,
            )
            assert haversine_m(viewport.center, point) <= radius


@pytest.mark.parametrize("text", ["17.9,59.2,18.2,59.4", "179,60,-179,61", "-10,-5,0,5"])
def test_enclosing_radius_spares_a_metre_beyond_the_farthest_corner_and_little_more(
    text: str,
) -> None:
    """The metre absorbs float error in PostGIS; more would only widen the scan."""
    viewport = parse_viewport(text)
    corners = [
        Point(lat, lng)
        for lat in (viewport.min_lat, viewport.max_lat)
        for lng in (viewport.min_lng, viewport.max_lng)
    ]
    farthest = max(haversine_m(viewport.center, corner) for corner in corners)
    assert farthest + 1.0 <= viewport.enclosing_radius_m() <= farthest + 1.5


def test_cluster_cells_halve_per_zoom_level() -> None:
    assert cell_size_deg(0) == 90
    assert cell_size_deg(5) == pytest.approx(cell_size_deg(4) / 2)
    assert cell_count(parse_viewport("-180,-90,180,90"), 0) == 4 * 2


def test_a_viewport_of_as_many_cells_as_allowed_is_clustered_one_more_is_not() -> None:
    world = parse_viewport("-180,-90,180,90")
    assert check_cell_count(world, 0, max_cells=8) == world
    with pytest.raises(InvalidViewportError) as raised:
        check_cell_count(world, 0, max_cells=7)
    assert str(raised.value) == (
        "bbox holds more than 7 cells at zoom 0; send the map's viewport and zoom"
    )


def test_geojson_positions_are_longitude_first() -> None:
    feature = point_feature(1, 59.3, 18.0, {"name": "x"})
    assert feature["geometry"] == {"type": "Point", "coordinates": [18.0, 59.3]}
    collection = feature_collection([feature], next_cursor=None)
    assert collection["type"] == "FeatureCollection"
    assert collection["next_cursor"] is None


@pytest.mark.parametrize(
    ("longitude", "canonical"),
    [
        (-180.0, 180.0),
        (-179.99999999999997, 180.0),
        (179.9999999999, 180.0),
        (179.999999, 179.999999),
        (-179.9999, -179.9999),
        (-0.0, 0.0),
        (1e-10, 0.0),
        (17.5, 17.5),
    ],
)
def test_the_antimeridian_and_zero_have_one_spelling(longitude: float, canonical: float) -> None:
    assert canonical_longitude(longitude) == canonical
