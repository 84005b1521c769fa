"""The Litestar application: one package per domain, each a controller and its schemas.

The SQL behind `app/<domain>/` lives in `db/<domain>.py` (search, profiles, hours,
bookings, notifications, accounts, geocoding).
"""
