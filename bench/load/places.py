"""What the load scenarios' map visitors type into geocoding, and what the Nominatim
stand-in the runner starts answers for it (latitude, longitude, display name). The last
is a place nobody can find: its "no such place" is cached too."""

PLACES: dict[str, tuple[float, float, str] | None] = {
    "Uppsala": (59.8586, 17.6389, "Uppsala, Uppsala kommun, Uppsala län, Sverige"),
    "Storgatan 1, Uppsala": (59.8595, 17.6448, "Storgatan 1, Uppsala, Sverige"),
    "Göteborg": (57.7089, 11.9746, "Göteborg, Västra Götalands län, Sverige"),
    "Malmö": (55.605, 13.0038, "Malmö, Skåne län, Sverige"),
    "Örebro": (59.2741, 15.2066, "Örebro, Örebro län, Sverige"),
    "Lund": (55.7047, 13.191, "Lund, Skåne län, Sverige"),
    "Oslo": (59.9127, 10.7461, "Oslo, Norge"),
    "Hästhagsvägen 999, Ingenstans": None,
}
