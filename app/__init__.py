"""The Litestar application: `create_app()` (main.py), the settings, failures as HTTP
(errors.py), the edge every request passes (edge/), and one package per domain, each a
controller (or, for cached public reads, their declarations) and its schemas.

The SQL behind `app/<domain>/` lives in `db/<domain>.py` (search, tiles, profiles, hours,
bookings, notifications, route orders, routes, accounts, geocoding).
"""
