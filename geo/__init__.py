"""Geospatial and geocoding logic, with no web framework and no database.

Everything here is plain computation on values (distances, boxes, viewports, cursors,
GeoJSON, opening hours, day routes), except `geo.geocoding`: its cache, limiter and single-flight
talk to Redis, and its upstream client to a geocoding service over HTTP, each through a
client handed in by the caller. Nothing in geo/ imports from db/ or app/.
"""
